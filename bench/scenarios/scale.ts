import { statementCounter, withClient } from '../lib/db.js';
import type { Mode } from './latency.js';
import { throughput, type Throughput } from './throughput.js';

export interface Scale extends Throughput {
  archivedBefore: number;
  /** Mean time of a master tick, from pg_stat_statements (undefined without it). */
  tickMeanMs: number | undefined;
  ticks: number | undefined;
}

/**
 * Many worker processes (one slot each) and many requests, with `archived` finished attempts
 * already in archive: throughput must hold, and a tick must cost what its work costs, not
 * what the history weighs.
 */
export async function scale(
  url: string,
  mode: Mode,
  options: { workers: number; runs: number; archived: number },
): Promise<Scale> {
  const counter = await withClient(url, async (client) => {
    if (options.archived > 0) {
      await client.query(
        `INSERT INTO archive (id, request_id, pipeline, job, jobinstance, retry, status, worker,
                              starttime, endtime, message)
         SELECT -i, -i, 'history', 'old', i, 0, 'Complete', 'gone', now(), now(), NULL
         FROM generate_series(1, $1) AS i`,
        [options.archived],
      );
      await client.query('ANALYZE archive');
    }
    const stats = await statementCounter(client);
    if (stats.counted === 'pg_stat_statements')
      await client.query('SELECT pg_stat_statements_reset()');
    return stats.counted;
  });
  const result = await throughput(url, mode, {
    runs: options.runs,
    jobsPerRun: 1,
    slots: options.workers,
    processes: options.workers,
  });
  const tick =
    counter === 'pg_stat_statements'
      ? await withClient(url, async (client) => {
          const { rows } = await client.query<{ mean: number; calls: string }>(
            `SELECT mean_exec_time AS mean, calls FROM pg_stat_statements s
             JOIN pg_database d ON d.oid = s.dbid
             WHERE d.datname = current_database() AND s.query LIKE 'SELECT rush_master_tick(%'`,
          );
          return rows[0];
        })
      : undefined;
  return {
    ...result,
    archivedBefore: options.archived,
    tickMeanMs: tick ? Math.round(tick.mean * 100) / 100 : undefined,
    ticks: tick ? Number(tick.calls) : undefined,
  };
}
