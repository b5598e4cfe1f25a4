import pg from 'pg';
import { connectionConfig } from '../db/pool.js';

export interface AttemptState {
  id: number;
  job: string;
  retry: number;
  status: string;
  worker: string | null;
  ms: number | null;
  message: string | null;
  readytime: string | null;
}

export interface RunState {
  id: number;
  pipeline: string;
  jobinstance: number | null;
  status: string;
  message: string | null;
  jobs: string[];
  attempts: AttemptState[];
}

export const TERMINAL = ['Complete', 'Stuck', 'Cancelled', 'Rejected'];

/** A run with every attempt, finished (archive) or live (run_state), oldest first. */
export async function loadRun(
  db: pg.Pool | pg.Client,
  requestId: number,
): Promise<RunState | undefined> {
  const { rows } = await db.query<RunState>(
    `SELECT r.id, r.pipeline, r.jobinstance, r.status, r.message,
            coalesce((SELECT array_agg(pj.job ORDER BY pj.position) FROM pipeline_job pj
                      WHERE pj.pipeline = r.pipeline), '{}') AS jobs,
            coalesce((SELECT json_agg(a ORDER BY a.id) FROM (
                SELECT id, job, retry, status, worker, message, readytime,
                       round(extract(epoch FROM endtime - starttime) * 1000)::int AS ms
                FROM archive WHERE request_id = r.id
                UNION ALL
                SELECT id, job, retry, status, worker, message, readytime,
                       round(extract(epoch FROM endtime - starttime) * 1000)::int AS ms
                FROM run_state WHERE request_id = r.id) a), '[]') AS attempts
     FROM run_request r WHERE r.id = $1`,
    [requestId],
  );
  return rows[0];
}

export type RunEvent =
  | { kind: 'attempt'; run: RunState; attempt: AttemptState; position: number }
  | { kind: 'run'; run: RunState };

/**
 * Follows a run until it ends, calling `onEvent` for every change of an attempt or of the
 * request. Woken by the database's notifications, with a short timer for what they do not
 * cover (an attempt starting). Resolves with the run's final state.
 */
export async function watchRun(
  databaseUrl: string | undefined,
  requestId: number,
  onEvent: (event: RunEvent) => void,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<RunState> {
  const client = new pg.Client({ ...connectionConfig(databaseUrl), application_name: 'rush cli' });
  await client.connect();
  const seen = new Map<number, string>();
  let lastStatus = '';
  let checking = false;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<RunState>((resolve, reject) => {
      const deadline = options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs;
      const check = async (): Promise<void> => {
        if (checking) {
          again = true;
          return;
        }
        checking = true;
        try {
          do {
            again = false;
            const run = await loadRun(client, requestId);
            if (!run) throw new Error(`run_request ${requestId} does not exist`);
            for (const attempt of run.attempts) {
              const key = `${attempt.status}/${attempt.worker ?? ''}`;
              if (seen.get(attempt.id) === key) continue;
              seen.set(attempt.id, key);
              onEvent({
                kind: 'attempt',
                run,
                attempt,
                position: run.jobs.indexOf(attempt.job) + 1,
              });
            }
            if (run.status !== lastStatus) {
              lastStatus = run.status;
              onEvent({ kind: 'run', run });
            }
            if (TERMINAL.includes(run.status)) return resolve(run);
            if (deadline !== undefined && Date.now() > deadline) {
              return reject(
                new Error(
                  `run_request ${requestId} is still ${run.status} after ${options.timeoutMs} ms`,
                ),
              );
            }
          } while (again);
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        } finally {
          checking = false;
        }
      };
      client.on('notification', () => void check());
      client.on('error', reject);
      // Set before anything can settle, so that the finally below always clears it (the
      // client runs queries in order: no check overtakes the LISTEN).
      timer = setInterval(() => void check(), options.intervalMs ?? 250);
      void client.query('LISTEN rush_run_request; LISTEN rush_master').then(check, reject);
    });
  } finally {
    clearInterval(timer);
    await client.end().catch(() => {});
  }
}

/** One line per event, for people: "[2/3] transform started on w1". */
export function describeEvent(event: RunEvent): string {
  const { run } = event;
  const label = `${run.pipeline}#${run.jobinstance ?? '?'}`;
  if (event.kind === 'run') {
    return `${label}: ${run.status}${run.message ? ` — ${run.message}` : ''}`;
  }
  const { attempt, position } = event;
  const step = `[${position || '?'}/${run.jobs.length}] ${attempt.job}`;
  const retry = attempt.retry > 0 ? ` (retry ${attempt.retry})` : '';
  switch (attempt.status) {
    case 'Ready':
      return `${step}${retry} queued`;
    case 'Running':
      return `${step}${retry} started on ${attempt.worker ?? '?'}`;
    case 'Complete':
      return `${step}${retry} complete in ${attempt.ms ?? '?'} ms`;
    case 'Failed':
      return `${step}${retry} failed: ${attempt.message ?? ''}`;
    case 'Waiting':
      return `${step} will retry (retry ${attempt.retry}) at ${attempt.readytime ?? '?'}`;
    case 'Stuck':
      return `${step} is Stuck: ${attempt.message ?? ''}`;
    default:
      return `${step}${retry} ${attempt.status}`;
  }
}
