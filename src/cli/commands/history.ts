import type { Command } from 'commander';
import type { Pool } from 'pg';
import { parseWholeNumber } from '../args.js';
import { print, withPool, type GlobalOptions } from '../context.js';
import { formatDuration, formatTime, runLabel, shorten, type AttemptRef } from '../format.js';
import { renderTable } from '../table.js';

export interface HistoryRow extends AttemptRef {
  status: string;
  worker: string | null;
  starttime: Date | null;
  endtime: Date | null;
  /** endtime − starttime; null for an attempt that never started. */
  duration_ms: number | null;
  message: string | null;
}

/**
 * Finished attempts from `archive`, newest first. By id (the order attempts were made), which
 * the primary key serves without sorting a table that grows forever.
 */
export async function loadHistory(
  pool: Pool,
  pipeline: string | undefined,
  limit: number,
): Promise<HistoryRow[]> {
  const { rows } = await pool.query<HistoryRow>(
    `SELECT a.id AS attempt, a.request_id AS request, a.pipeline, a.job, a.jobinstance, a.retry,
            a.status, a.worker, a.starttime, a.endtime,
            round(extract(epoch FROM a.endtime - a.starttime) * 1000)::float8 AS duration_ms,
            a.message
     FROM archive a
     WHERE $1::text IS NULL OR a.pipeline = $1
     ORDER BY a.id DESC
     LIMIT $2`,
    [pipeline ?? null, limit],
  );
  return rows;
}

export function renderHistory(rows: HistoryRow[], pipeline: string | undefined): string {
  return renderTable(
    ['attempt', 'run', 'job', 'retry', 'status', 'worker', 'started', 'duration', 'message'],
    rows.map((r) => [
      r.attempt,
      runLabel(r.pipeline, r.jobinstance),
      r.job,
      r.retry,
      r.status,
      r.worker,
      formatTime(r.starttime),
      formatDuration(r.duration_ms),
      shorten(r.message, 50),
    ]),
    {
      empty:
        pipeline === undefined
          ? '(no finished attempts yet)'
          : `(no finished attempts of pipeline '${pipeline}')`,
    },
  );
}

export function historyCommand(program: Command, global: () => GlobalOptions): void {
  program
    .command('history')
    .description('finished attempts (the archive), newest first, with their durations')
    .argument('[pipeline]', 'only this pipeline')
    .option('--limit <n>', 'how many attempts', '20')
    .action(async (pipeline: string | undefined, options: { limit: string }) => {
      const limit = parseWholeNumber('--limit', options.limit, { min: 1 });
      const rows = await withPool(global(), (pool) => loadHistory(pool, pipeline, limit));
      print(global(), rows, () => renderHistory(rows, pipeline));
    });
}
