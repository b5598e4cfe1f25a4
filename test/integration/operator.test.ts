/** rush_retry_attempt and rush_cancel_request (triggers/70_operator.sql), driven through SQL. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import '../../src/db/types.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { collectNotifications, definePipeline } from '../support/sql.js';

let db: TestDatabase;

/** A request in `status` with one attempt in `attemptStatus`, made by hand. */
async function makeRun(
  status: string,
  attemptStatus: string,
  jobinstance: number,
): Promise<{ request: number; attempt: number }> {
  const { rows } = await db.pool.query<{ request: number; attempt: number }>(
    `WITH r AS (
       INSERT INTO run_request (pipeline, job, jobinstance, status, message)
       VALUES ('etl', 'load', $3, $1, CASE WHEN $1 = 'Stuck' THEN 'job ''load'' is Stuck: boom' END)
       RETURNING id
     )
     INSERT INTO run_state (request_id, pipeline, job, jobinstance, retry, status, worker,
                            readytime, starttime, endtime, message)
     SELECT r.id, 'etl', 'load', $3, 2, $2,
            CASE WHEN $2 = 'Running' THEN 'w1' END, now(),
            CASE WHEN $2 = 'Running' THEN now() END,
            CASE WHEN $2 = 'Stuck' THEN now() END,
            CASE WHEN $2 = 'Stuck' THEN 'failed 3 time(s), no retries left: boom' END
     FROM r
     RETURNING request_id AS request, id AS attempt`,
    [status, attemptStatus, jobinstance],
  );
  return rows[0]!;
}

async function state(attempt: number): Promise<Record<string, unknown> | undefined> {
  const { rows } = await db.pool.query<Record<string, unknown>>(
    `SELECT s.status, s.retry, s.message, s.worker, s.endtime IS NOT NULL AS ended,
            s.readytime >= now() - interval '1 minute' AS ready_now,
            r.status AS request_status, r.message AS request_message
     FROM run_state s JOIN run_request r ON r.id = s.request_id WHERE s.id = $1`,
    [attempt],
  );
  return rows[0];
}

async function call(
  fn: 'rush_retry_attempt' | 'rush_cancel_request',
  id: number,
): Promise<unknown> {
  const { rows } = await db.pool.query<{ result: unknown }>(`SELECT ${fn}($1) AS result`, [id]);
  return rows[0]!.result;
}

beforeAll(async () => {
  // These tests drive the master's own path for requests: they stay Pending until a tick.
  db = await createTestDatabase({ settings: { 'rush.accept_at_commit': 'off' } });
  await definePipeline(db.pool, 'etl', [{ name: 'extract' }, { name: 'load', retry_limit: 2 }]);
});
afterAll(async () => {
  await db.close();
});
beforeEach(async () => {
  await db.pool.query('TRUNCATE run_state, archive, run_request RESTART IDENTITY');
});

describe('rush_retry_attempt', () => {
  it('makes a Stuck attempt Ready as one more retry, its request Accepted, and wakes the master', async () => {
    const { request, attempt } = await makeRun('Stuck', 'Stuck', 1);
    const listener = await collectNotifications(db.url, ['rush_master', 'rush_run_request']);
    try {
      expect(await call('rush_retry_attempt', attempt)).toEqual({
        attempt,
        request,
        pipeline: 'etl',
        job: 'load',
        jobinstance: 1,
        retry: 3,
        status: 'Ready',
        request_status: 'Accepted',
      });
      await listener.settle();
      expect(listener.received).toEqual(
        expect.arrayContaining([
          { channel: 'rush_master', payload: 'ready' },
          { channel: 'rush_run_request', payload: `${request}:Accepted` },
        ]),
      );
    } finally {
      await listener.close();
    }
    expect(await state(attempt)).toEqual({
      status: 'Ready',
      retry: 3,
      message: null,
      worker: null,
      ended: false,
      ready_now: true,
      request_status: 'Accepted',
      request_message: null,
    });
  });

  it('refuses an attempt that is not Stuck, saying what it is', async () => {
    const { attempt } = await makeRun('Accepted', 'Running', 1);
    await expect(call('rush_retry_attempt', attempt)).rejects.toThrow(
      `attempt ${attempt} is Running, not Stuck: only a Stuck attempt can be retried`,
    );
    await expect(call('rush_retry_attempt', 777)).rejects.toThrow('attempt 777 does not exist');
  });

  it('refuses an archived attempt, saying how it ended', async () => {
    await db.pool.query(
      `INSERT INTO archive (id, request_id, pipeline, job, jobinstance, retry, status)
       VALUES (900, 1, 'etl', 'load', 1, 0, 'Complete')`,
    );
    await expect(call('rush_retry_attempt', 900)).rejects.toThrow(
      'attempt 900 ended Complete and is archived: only a Stuck attempt can be retried',
    );
  });

  it('refuses while another run of the instance is in flight, and changes nothing', async () => {
    const stuck = await makeRun('Stuck', 'Stuck', 5);
    const live = await makeRun('Accepted', 'Running', 5);
    await expect(call('rush_retry_attempt', stuck.attempt)).rejects.toMatchObject({
      code: '23505',
      message:
        `instance 5 of pipeline 'etl' has another run in flight (run_request ${live.request}): ` +
        `retry attempt ${stuck.attempt} once that run has ended`,
    });
    expect(await state(stuck.attempt)).toMatchObject({
      status: 'Stuck',
      retry: 2,
      request_status: 'Stuck',
    });
  });
});

describe('rush_cancel_request', () => {
  it('cancels a Pending request', async () => {
    const { rows } = await db.pool.query<{ id: number }>(
      `INSERT INTO run_request (pipeline) VALUES ('etl') RETURNING id`,
    );
    const id = rows[0]!.id;
    expect(await call('rush_cancel_request', id)).toEqual({
      request: id,
      pipeline: 'etl',
      jobinstance: 1,
      was: 'Pending',
      status: 'Cancelled',
      stopped: [],
      running: [],
    });
    const { rows: after } = await db.pool.query(
      'SELECT status, message FROM run_request WHERE id = $1',
      [id],
    );
    expect(after).toEqual([{ status: 'Cancelled', message: 'cancelled by an operator' }]);
  });

  it('fails the attempts that have not started and leaves a Running one to its worker', async () => {
    const ready = await makeRun('Accepted', 'Ready', 1);
    const waiting = await makeRun('Accepted', 'Waiting', 2);
    const running = await makeRun('Accepted', 'Running', 3);

    expect(await call('rush_cancel_request', ready.request)).toMatchObject({
      was: 'Accepted',
      stopped: [ready.attempt],
      running: [],
    });
    expect(await call('rush_cancel_request', waiting.request)).toMatchObject({
      stopped: [waiting.attempt],
    });
    expect(await call('rush_cancel_request', running.request)).toMatchObject({
      stopped: [],
      running: [{ attempt: running.attempt, job: 'load', worker: 'w1' }],
    });

    for (const attempt of [ready.attempt, waiting.attempt]) {
      expect(await state(attempt)).toMatchObject({
        status: 'Failed',
        message: 'cancelled before it started',
        ended: true,
        request_status: 'Cancelled',
        request_message: 'cancelled by an operator',
      });
    }
    expect(await state(running.attempt)).toMatchObject({
      status: 'Running',
      request_status: 'Cancelled',
    });
  });

  it('lets the master archive a stopped attempt and queue nothing after it', async () => {
    const { request, attempt } = await makeRun('Accepted', 'Ready', 1);
    await call('rush_cancel_request', request);
    const { rows: lease } = await db.pool.query<{ term: number }>(
      `SELECT term FROM rush_acquire_lease('m', 60)`,
    );
    await db.pool.query('SELECT rush_master_tick($1, $2)', ['m', lease[0]!.term]);
    const { rows: archived } = await db.pool.query(
      'SELECT id, status, message FROM archive WHERE request_id = $1',
      [request],
    );
    expect(archived).toEqual([
      { id: attempt, status: 'Failed', message: 'cancelled before it started' },
    ]);
    const { rows: live } = await db.pool.query('SELECT 1 FROM run_state WHERE request_id = $1', [
      request,
    ]);
    expect(live).toHaveLength(0);
    await db.pool.query(`UPDATE master_token SET master = NULL, endtime = '-infinity'`);
  });

  it('refuses a request that has ended, or does not exist', async () => {
    const { request } = await makeRun('Stuck', 'Stuck', 1);
    await expect(call('rush_cancel_request', request)).rejects.toThrow(
      `run_request ${request} is Stuck already: only a Pending or Accepted run can be cancelled`,
    );
    await expect(call('rush_cancel_request', 4040)).rejects.toThrow(
      'run_request 4040 does not exist',
    );
  });
});
