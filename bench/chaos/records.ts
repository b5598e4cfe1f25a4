/** Reads what a chaos run left behind: the execution records, the logs and the tables. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import type { AttemptRow, Execution, JobDef, LogLine, RequestRow } from './types.js';

interface RecordLine {
  event: 'start' | 'end';
  at: number;
  attempt: number;
  pipeline: string;
  job: string;
  jobinstance: number;
  retry: number;
  worker: string;
  pid: number;
  outcome?: 'ok' | 'fail' | 'aborted';
}

function jsonLines(text: string): unknown[] {
  const out: unknown[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // A line cut short by a kill -9 in the middle of a write: nothing to learn from it.
    }
  }
  return out;
}

/** Pairs each start the job noted with the end the same process noted for that attempt. */
export function pairExecutions(lines: readonly RecordLine[]): Execution[] {
  const executions: Execution[] = [];
  const open = new Map<string, Execution>();
  for (const line of lines) {
    const key = `${line.attempt}:${line.pid}`;
    if (line.event === 'start') {
      const execution: Execution = {
        attempt: line.attempt,
        pipeline: line.pipeline,
        job: line.job,
        jobinstance: line.jobinstance,
        retry: line.retry,
        worker: line.worker,
        pid: line.pid,
        start: line.at,
        end: null,
        outcome: null,
      };
      executions.push(execution);
      open.set(key, execution);
    } else {
      const execution = open.get(key);
      if (!execution) continue;
      execution.end = line.at;
      execution.outcome = line.outcome ?? null;
      open.delete(key);
    }
  }
  return executions;
}

export function readExecutions(file: string): Execution[] {
  if (!existsSync(file)) return [];
  return pairExecutions(jsonLines(readFileSync(file, 'utf8')) as RecordLine[]);
}

/** Every worker's log lines, from all the files in the log directory, in time order. */
export function readLogs(dir: string): LogLine[] {
  if (!existsSync(dir)) return [];
  const lines: LogLine[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.log'))) {
    for (const line of jsonLines(readFileSync(join(dir, file), 'utf8'))) {
      if (typeof line === 'object' && line !== null && typeof (line as LogLine).time === 'number') {
        lines.push(line as LogLine);
      }
    }
  }
  return lines.sort((a, b) => a.time - b.time);
}

const ms = (value: Date | null): number | null => (value === null ? null : value.getTime());

export interface Snapshot {
  requests: RequestRow[];
  attempts: AttemptRow[];
  jobs: JobDef[];
}

/** The rows the checks need, read in one transaction so that they agree with each other. */
export async function snapshot(client: pg.ClientBase): Promise<Snapshot> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const requests = await client.query<RequestRow & { id: string }>(
      `SELECT id, pipeline, jobinstance, status, message FROM run_request ORDER BY id`,
    );
    const attempts = await client.query<
      Omit<AttemptRow, 'endtime' | 'id' | 'request_id'> & {
        id: string;
        request_id: string;
        endtime: Date | null;
      }
    >(
      `SELECT id, request_id, pipeline, job, jobinstance, retry, status, worker, endtime, message,
              'archive' AS place FROM archive
       UNION ALL
       SELECT id, request_id, pipeline, job, jobinstance, retry, status, worker, endtime, message,
              'live' AS place FROM run_state
       ORDER BY id`,
    );
    const jobs = await client.query<JobDef>(
      `SELECT pipeline, job, position, retry_limit FROM pipeline_job ORDER BY pipeline, position`,
    );
    return {
      requests: requests.rows.map((r) => ({ ...r, id: Number(r.id) })),
      attempts: attempts.rows.map((a) => ({
        ...a,
        id: Number(a.id),
        request_id: Number(a.request_id),
        endtime: ms(a.endtime),
      })),
      jobs: jobs.rows,
    };
  } finally {
    await client.query('COMMIT');
  }
}
