/** Small SQL helpers shared by the tests: define pipelines, collect notifications. */
import pg from 'pg';
import { acquireLease, finishAttempts, heartbeat as beatAll } from '../../src/db/queries.js';

export interface JobSpec {
  name: string;
  class_name?: string;
  timeout_minutes?: number;
  retry_gap_minutes?: number;
  retry_limit?: number;
}

export async function definePipeline(pool: pg.Pool, name: string, jobs: JobSpec[]): Promise<void> {
  const definition = {
    jobs: jobs.map((job) => ({ class_name: 'jobs.dummy_job.DummyJob', ...job })),
  };
  await pool.query(
    `INSERT INTO pipeline (name, definition) VALUES ($1, $2)
     ON CONFLICT (name) DO UPDATE SET definition = EXCLUDED.definition`,
    [name, definition],
  );
}

export async function insertRequest(
  pool: pg.Pool,
  values: { pipeline: string; job?: string; jobinstance?: number; params?: object },
): Promise<number> {
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO run_request (pipeline, job, jobinstance, params) VALUES ($1, $2, $3, $4)
     RETURNING id`,
    [
      values.pipeline,
      values.job ?? null,
      values.jobinstance ?? null,
      values.params === undefined ? null : JSON.stringify(values.params),
    ],
  );
  return Number(rows[0]!.id);
}

export interface Notification {
  channel: string;
  payload: string;
}

/**
 * A connection that LISTENs and keeps every notification it receives, in order. `settle()`
 * waits until everything committed before it was delivered: the queue is in commit order, so
 * once a sentinel sent after those commits comes back, all earlier ones have arrived.
 */
export async function collectNotifications(
  url: string,
  channels: string[],
): Promise<{ received: Notification[]; settle(): Promise<void>; close(): Promise<void> }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const sentinel = `rush_test_sentinel_${process.pid}`;
  const received: Notification[] = [];
  let sentinelArrived: (() => void) | undefined;
  client.on('notification', (n) => {
    if (n.channel === sentinel) sentinelArrived?.();
    else received.push({ channel: n.channel, payload: n.payload ?? '' });
  });
  for (const channel of [...channels, sentinel]) {
    await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
  }
  return {
    received,
    settle: async () => {
      const arrived = new Promise<void>((resolve) => (sentinelArrived = resolve));
      await client.query(`NOTIFY ${pg.escapeIdentifier(sentinel)}`);
      await arrived;
    },
    close: async () => {
      await client.end();
    },
  };
}

/** One worker's finish, as a batch of one. */
export async function finishAttempt(
  pool: pg.Pool,
  worker: string,
  attempt: number,
  ok: boolean,
  message: string | null,
  then: 'Free' | 'Offline',
) {
  return (await finishAttempts(pool, [{ worker, attempt, ok, message, then }]))[0]!;
}

/** One worker's heartbeat. */
export async function heartbeat(pool: pg.Pool, worker: string) {
  const beat = await beatAll(pool, [worker], worker);
  return { ...beat.slots[0]!, leaseFree: beat.leaseFree };
}

/**
 * Empties the runs, workers and the lease, then makes `master` the master: the state a test of
 * the master's or the workers' statements starts from. Returns the lease's term.
 */
export async function resetWithMaster(pool: pg.Pool, master: string): Promise<number> {
  await pool.query(
    `TRUNCATE run_state, archive, worker, run_request RESTART IDENTITY;
     UPDATE master_token SET master = NULL, endtime = '-infinity'`,
  );
  return (await acquireLease(pool, master, 60))!.term;
}
