import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  acquireLease,
  finishAttempts,
  registerWorker,
  type TickSummary,
} from '../../src/db/queries.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import {
  collectNotifications,
  definePipeline,
  insertRequest,
  finishAttempt,
  heartbeat,
  resetWithMaster,
} from '../support/sql.js';
import { waitUntil } from '../support/wait.js';

let db: TestDatabase;
let term: number;

/** One tick, optionally at a steered time (seconds from now). */
async function tick(
  options: { inSeconds?: number; workerTtl?: number; grace?: number; asTerm?: number } = {},
): Promise<TickSummary> {
  const { rows } = await db.pool.query<{ summary: TickSummary }>(
    `SELECT rush_master_tick('m', $1, now() + $2 * interval '1 second', 2000, $3, $4) AS summary`,
    [
      options.asTerm ?? term,
      options.inSeconds ?? 0,
      options.workerTtl ?? 3600,
      options.grace ?? 30,
    ],
  );
  return rows[0]!.summary;
}

/** A tick that must not wait on a row or a lock another transaction holds. */
async function tickWithoutWaiting(
  options: Parameters<typeof tick>[0],
  what: string,
): Promise<TickSummary> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      tick(options),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the tick waited for ${what}`)), 5_000);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function attempts(pool: pg.Pool = db.pool): Promise<Record<string, unknown>[]> {
  const { rows } = await pool.query<Record<string, unknown>>(
    `SELECT id, request_id, job, retry, status, worker, message FROM run_state ORDER BY id`,
  );
  return rows;
}

async function request(id: number): Promise<{ status: string; message: string | null }> {
  const { rows } = await db.pool.query<{ status: string; message: string | null }>(
    'SELECT status, message FROM run_request WHERE id = $1',
    [id],
  );
  return rows[0]!;
}

async function runningOn(worker: string): Promise<number> {
  const { rows } = await db.pool.query<{ id: number }>(
    `SELECT id FROM run_state WHERE worker = $1 AND status = 'Running'`,
    [worker],
  );
  expect(rows).toHaveLength(1);
  return rows[0]!.id;
}

beforeAll(async () => {
  // These tests drive the master's own path for requests: they stay Pending until a tick.
  db = await createTestDatabase({ settings: { 'rush.accept_at_commit': 'off' } });
  await definePipeline(db.pool, 'etl', [
    { name: 'extract', retry_limit: 1, retry_gap_minutes: 10 },
    { name: 'transform' },
    { name: 'load' },
  ]);
});
afterAll(async () => {
  await db.close();
});

beforeEach(async () => {
  term = await resetWithMaster(db.pool, 'm');
  // This master has been in touch for long: silence is counted from the workers' last beats.
  await db.pool.query(
    `UPDATE master_token SET contact_since = now() - interval '1 day', last_tick = now()`,
  );
});

describe('requests', () => {
  it('rejects what cannot run, with a message that says why', async () => {
    const unknownPipeline = await insertRequest(db.pool, { pipeline: 'nope' });
    const unknownJob = await insertRequest(db.pool, { pipeline: 'etl', job: 'clean' });
    const negative = await insertRequest(db.pool, { pipeline: 'etl', jobinstance: -1 });
    const badParams = await insertRequest(db.pool, { pipeline: 'etl', params: ['a'] });
    const first = await insertRequest(db.pool, { pipeline: 'etl', jobinstance: 7 });
    const twin = await insertRequest(db.pool, { pipeline: 'etl', job: 'load', jobinstance: 7 });

    const summary = await tick();
    expect(summary).toMatchObject({ master: true, accepted: 1, rejected: 5 });
    expect(await request(unknownPipeline)).toEqual({
      status: 'Rejected',
      message: "unknown pipeline 'nope'",
    });
    expect(await request(unknownJob)).toEqual({
      status: 'Rejected',
      message: "unknown job 'clean' in pipeline 'etl' (its jobs: extract, transform, load)",
    });
    expect((await request(negative)).message).toBe('jobinstance must be 0 or more (got -1)');
    expect((await request(badParams)).message).toMatch(/params must be a JSON object/);
    expect(await request(first)).toEqual({ status: 'Accepted', message: null });
    expect((await request(twin)).message).toMatch(
      /duplicate: instance 7 of pipeline 'etl' is requested twice/,
    );

    const again = await insertRequest(db.pool, { pipeline: 'etl', jobinstance: 7 });
    await tick();
    expect((await request(again)).message).toBe(
      `duplicate: instance 7 of pipeline 'etl' is already running (request ${first})`,
    );
  });

  it('leaves the requests of a pipeline a client is inserting into for the next tick', async () => {
    const pending = await insertRequest(db.pool, { pipeline: 'etl', jobinstance: 9 });
    const client = await db.pool.connect();
    try {
      // A client judging its own request holds the pipeline until it commits.
      await client.query('BEGIN');
      await client.query('SET LOCAL rush.accept_at_commit = on');
      const { rows } = await client.query<{ id: string; status: string }>(
        `INSERT INTO run_request (pipeline, jobinstance) VALUES ('etl', 9) RETURNING id, status`,
      );
      expect(rows[0]!.status).toBe('Accepted');
      // Racing it, the tick would wait on the client's uncommitted duplicate, then fail.
      const summary = await tickWithoutWaiting({}, 'the client');
      expect(summary).toMatchObject({ accepted: 0, rejected: 0 });
      expect(await request(pending)).toEqual({ status: 'Pending', message: null });
      await client.query('COMMIT');
      expect(await tick()).toMatchObject({ accepted: 0, rejected: 1 });
      expect((await request(pending)).message).toBe(
        `duplicate: instance 9 of pipeline 'etl' is already running (request ${rows[0]!.id})`,
      );
    } finally {
      await client.query('ROLLBACK').catch(() => {});
      client.release();
    }
  });

  it('queues the requested job, not always the first', async () => {
    await insertRequest(db.pool, { pipeline: 'etl', job: 'load' });
    await tick();
    expect(await attempts()).toMatchObject([{ job: 'load', status: 'Ready', retry: 0 }]);
  });
});

describe('a run through its jobs', () => {
  it('assigns; a worker finishing settles its attempt and takes the next job itself', async () => {
    await registerWorker(db.pool, 'w1', 'host', 1);
    const id = await insertRequest(db.pool, { pipeline: 'etl' });
    expect(await tick()).toMatchObject({ accepted: 1, assigned: 1 });
    const { rows: busy } = await db.pool.query(
      `SELECT status, run_id FROM worker WHERE name = 'w1'`,
    );
    const first = await runningOn('w1');
    expect(busy[0]).toEqual({ status: 'Busy', run_id: first });

    for (const job of ['transform', 'load']) {
      const finished = await finishAttempt(
        db.pool,
        'w1',
        await runningOn('w1'),
        true,
        null,
        'Free',
      );
      expect(finished.taken).toBe(true);
      expect(finished.next).toMatchObject({ job, pipeline: 'etl', retry: 0 });
      expect(await attempts()).toMatchObject([{ job, status: 'Running', worker: 'w1' }]);
      const { rows } = await db.pool.query(`SELECT status, run_id FROM worker WHERE name = 'w1'`);
      expect(rows[0]).toEqual({ status: 'Busy', run_id: finished.next!.id });
    }
    const last = await finishAttempt(db.pool, 'w1', await runningOn('w1'), true, null, 'Free');
    expect(last).toEqual({ taken: true, next: null });
    expect(await request(id)).toMatchObject({ status: 'Complete' });
    expect(await attempts()).toEqual([]);
    // The master had nothing left to do.
    expect(await tick()).toMatchObject({ archived: 0, assigned: 0 });
    const { rows: history } = await db.pool.query(
      'SELECT job, status, worker FROM archive WHERE request_id = $1 ORDER BY id',
      [id],
    );
    expect(history).toEqual([
      { job: 'extract', status: 'Complete', worker: 'w1' },
      { job: 'transform', status: 'Complete', worker: 'w1' },
      { job: 'load', status: 'Complete', worker: 'w1' },
    ]);
    const { rows: worker } = await db.pool.query(`SELECT status, run_id FROM worker`);
    expect(worker).toEqual([{ status: 'Free', run_id: null }]);
  });

  it('takes the oldest Ready attempt, not its own next job, when others waited longer', async () => {
    await registerWorker(db.pool, 'w1', 'host', 1);
    const a = await insertRequest(db.pool, { pipeline: 'etl' });
    const b = await insertRequest(db.pool, { pipeline: 'etl' });
    await tick(); // a's extract runs on w1, b's waits Ready
    const finished = await finishAttempt(db.pool, 'w1', await runningOn('w1'), true, null, 'Free');
    expect(finished.next).toMatchObject({ job: 'extract', jobinstance: 2 });
    const { rows } = await db.pool.query(
      `SELECT request_id, job, status FROM run_state ORDER BY id`,
    );
    expect(rows).toEqual([
      { request_id: b, job: 'extract', status: 'Running' },
      { request_id: a, job: 'transform', status: 'Ready' },
    ]);
  });

  it('records the outcomes of several slots in one statement, each taking the next oldest', async () => {
    for (const name of ['p/1', 'p/2']) await registerWorker(db.pool, name, 'host', 1);
    for (let i = 0; i < 4; i++) await insertRequest(db.pool, { pipeline: 'etl' });
    await tick(); // instances 1 and 2 run; 3 and 4 wait
    const one = await runningOn('p/1');
    const two = await runningOn('p/2');
    const results = await finishAttempts(db.pool, [
      { worker: 'p/1', attempt: one, ok: true, message: null, then: 'Free' },
      { worker: 'p/2', attempt: two, ok: false, message: 'boom', then: 'Offline' },
    ]);
    expect(results[0]).toMatchObject({ taken: true, next: { job: 'extract', jobinstance: 3 } });
    expect(results[1]).toEqual({ taken: true, next: null });
    const { rows } = await db.pool.query(`SELECT name, status FROM worker ORDER BY name`);
    expect(rows).toEqual([
      { name: 'p/1', status: 'Busy' },
      { name: 'p/2', status: 'Offline' },
    ]);
    const { rows: archived } = await db.pool.query(`SELECT id, status FROM archive ORDER BY id`);
    expect(archived).toEqual([
      { id: one, status: 'Complete' },
      { id: two, status: 'Failed' },
    ]);
  });

  it('retries after the gap (a timer the tick asks for), then leaves a Stuck row', async () => {
    await registerWorker(db.pool, 'w1', 'host', 1);
    const id = await insertRequest(db.pool, { pipeline: 'etl' });
    await tick();
    const failed = await finishAttempt(
      db.pool,
      'w1',
      await runningOn('w1'),
      false,
      'disk full',
      'Free',
    );
    expect(failed).toEqual({ taken: true, next: null });
    expect(await attempts()).toMatchObject([
      { job: 'extract', retry: 1, status: 'Waiting', message: 'retry 1 after: disk full' },
    ]);
    // retry_gap_minutes 10: the master is told to come back in about 600 s.
    const afterFailure = await tick();
    expect(afterFailure.next_wake_in_ms).toBeGreaterThan(590_000);
    expect(afterFailure.next_wake_in_ms).toBeLessThanOrEqual(600_000);

    expect(await tick({ inSeconds: 599 })).toMatchObject({ released: 0 });
    expect(await tick({ inSeconds: 601 })).toMatchObject({ released: 1, assigned: 1 });
    await finishAttempt(db.pool, 'w1', await runningOn('w1'), false, 'disk still full', 'Free');

    expect(await attempts()).toMatchObject([
      {
        job: 'extract',
        retry: 1,
        status: 'Stuck',
        message: 'failed 2 time(s), no retries left: disk still full',
      },
    ]);
    expect(await request(id)).toEqual({
      status: 'Stuck',
      message: "job 'extract' is Stuck: disk still full",
    });
    const { rows } = await db.pool.query(`SELECT retry, status, message FROM archive ORDER BY id`);
    expect(rows).toEqual([
      { retry: 0, status: 'Failed', message: 'disk full' },
      { retry: 1, status: 'Failed', message: 'disk still full' },
    ]);
  });

  it('does not start the next job of a cancelled request', async () => {
    await registerWorker(db.pool, 'w1', 'host', 1);
    const id = await insertRequest(db.pool, { pipeline: 'etl' });
    await tick();
    await db.pool.query(`UPDATE run_request SET status = 'Cancelled' WHERE id = $1`, [id]);
    const finished = await finishAttempt(db.pool, 'w1', await runningOn('w1'), true, null, 'Free');
    expect(finished).toEqual({ taken: true, next: null });
    expect(await attempts()).toEqual([]);
    expect(await request(id)).toMatchObject({ status: 'Cancelled' });
    const { rows } = await db.pool.query(`SELECT job, status FROM archive`);
    expect(rows).toEqual([{ job: 'extract', status: 'Complete' }]);
  });

  it('the master settles attempts finished outside a worker (by hand, or failed by itself)', async () => {
    await registerWorker(db.pool, 'w1', 'host', 1);
    await insertRequest(db.pool, { pipeline: 'etl' });
    await tick();
    await db.pool.query(`UPDATE run_state SET status = 'Complete', endtime = now()`);
    expect(await tick()).toMatchObject({ archived: 1, next_jobs: 1 });
  });

  it('pairs many Ready attempts with many Free workers in one tick, one each', async () => {
    for (const name of ['w1', 'w2', 'w3']) await registerWorker(db.pool, name, 'host', 1);
    for (let i = 0; i < 5; i++) await insertRequest(db.pool, { pipeline: 'etl' });
    expect(await tick()).toMatchObject({ accepted: 5, assigned: 3 });
    const { rows } = await db.pool.query(
      `SELECT worker, count(*)::int AS n FROM run_state WHERE status = 'Running' GROUP BY worker ORDER BY worker`,
    );
    expect(rows).toEqual([
      { worker: 'w1', n: 1 },
      { worker: 'w2', n: 1 },
      { worker: 'w3', n: 1 },
    ]);
  });
});

describe('fencing', () => {
  it('a tick under a stale term changes nothing', async () => {
    await insertRequest(db.pool, { pipeline: 'etl' });
    await db.pool.query(`UPDATE master_token SET endtime = now() - interval '1 second'`);
    const newTerm = (await acquireLease(db.pool, 'other', 60))!.term;
    expect(newTerm).toBe(term + 1);
    expect(await tick()).toEqual({ master: false });
    expect(await tick({ asTerm: newTerm })).toEqual({ master: false }); // right term, wrong name
    const { rows } = await db.pool.query(`SELECT status FROM run_request`);
    expect(rows).toEqual([{ status: 'Pending' }]);
  });

  it('a tick renews the lease in the same statement when asked', async () => {
    await db.pool.query(`UPDATE master_token SET endtime = now() + interval '5 seconds'`);
    const { rows } = await db.pool.query<{ summary: TickSummary }>(
      `SELECT rush_master_tick('m', $1, p_renew_seconds => 120) AS summary`,
      [term],
    );
    expect(rows[0]!.summary).toMatchObject({ master: true, renewed: true });
    const { rows: lease } = await db.pool.query<{ left: number }>(
      `SELECT extract(epoch FROM endtime - now())::float8 AS left FROM master_token`,
    );
    expect(lease[0]!.left).toBeGreaterThan(100);
  });

  it("a tick beats for the master's own slots first, pinging in the same statement", async () => {
    await registerWorker(db.pool, 'm-1', 'host', 1);
    await registerWorker(db.pool, 'm-2', 'host', 1);
    await db.pool.query(`UPDATE worker SET lastseen = now() - interval '1 hour', status = 'Lost'
                         WHERE name = 'm-2'`);
    const listener = await collectNotifications(db.url, ['rush_test_ping']);
    const { rows } = await db.pool.query<{ summary: TickSummary }>(
      `SELECT rush_master_tick('m', $1, p_beat_workers => $2, p_ping => 'rush_test_ping') AS summary`,
      [term, ['m-1', 'm-2']],
    );
    expect(rows[0]!.summary.master).toBe(true);
    expect(rows[0]!.summary.beat).toEqual([
      expect.objectContaining({ worker: 'm-1', status: 'Free', was_lost: false }),
      expect.objectContaining({ worker: 'm-2', status: 'Free', was_lost: true }),
    ]);
    const { rows: beats } = await db.pool.query(
      `SELECT count(*)::int AS n FROM worker WHERE lastseen > now() - interval '1 minute'
       AND name IN ('m-1', 'm-2')`,
    );
    expect(beats).toEqual([{ n: 2 }]);
    await listener.settle();
    expect(listener.received).toEqual([{ channel: 'rush_test_ping', payload: '{"ping":true}' }]);
    await listener.close();
  });

  it('a master whose lease expired stops, even before anyone takes over', async () => {
    await db.pool.query(`UPDATE master_token SET endtime = now() - interval '1 second'`);
    expect(await tick()).toEqual({ master: false });
  });

  it('a late result from a worker that lost its attempt is dropped', async () => {
    await registerWorker(db.pool, 'w1', 'host', 1);
    await registerWorker(db.pool, 'w2', 'host', 2);
    await definePipeline(db.pool, 'fast', [{ name: 'only', retry_limit: 1, retry_gap_minutes: 0 }]);
    await insertRequest(db.pool, { pipeline: 'fast' });
    await tick();
    const { rows } = await db.pool.query<{ id: number; worker: string }>(
      `SELECT id, worker FROM run_state WHERE status = 'Running'`,
    );
    const { id, worker } = rows[0]!;
    // The master gives up on the worker (lost), and the retry runs elsewhere.
    await db.pool.query(`UPDATE worker SET lastseen = now() - interval '1 hour' WHERE name = $1`, [
      worker,
    ]);
    await db.pool.query(`UPDATE worker SET lastseen = now() + interval '1 hour' WHERE name <> $1`, [
      worker,
    ]);
    expect(await tick({ workerTtl: 60 })).toMatchObject({
      lost_workers: 1,
      archived: 1,
      assigned: 1,
    });
    expect(await finishAttempt(db.pool, worker, id, true, 'late', 'Free')).toEqual({
      taken: false,
      next: null,
    });
    const { rows: archived } = await db.pool.query<{ status: string; message: string }>(
      `SELECT status, message FROM archive WHERE id = $1`,
      [id],
    );
    expect(archived[0]?.status).toBe('Failed');
    expect(archived[0]?.message).toMatch(
      new RegExp(`^worker '${worker}' was lost: no heartbeat since`),
    );
    // The retry went to the other worker.
    expect(await attempts()).toMatchObject([{ retry: 1, status: 'Running' }]);
    expect((await attempts())[0]?.worker).not.toBe(worker);
  });
});

describe('attempts the master fails itself', () => {
  it('fails an attempt past its timeout and grace', async () => {
    await definePipeline(db.pool, 'quick', [{ name: 'only', timeout_minutes: 1 }]);
    await registerWorker(db.pool, 'w1', 'host', 1);
    await insertRequest(db.pool, { pipeline: 'quick' });
    const first = await tick({ grace: 30 });
    expect(first.next_wake_in_ms).toBeGreaterThan(85_000); // 60 s timeout + 30 s grace
    expect(await tick({ inSeconds: 80, grace: 30 })).toMatchObject({ timed_out: 0 });
    expect(await tick({ inSeconds: 95, grace: 30 })).toMatchObject({
      timed_out: 1,
      archived: 1,
      stuck: 1,
    });
    const { rows } = await db.pool.query<{ message: string }>(`SELECT message FROM archive`);
    expect(rows[0]?.message).toBe(
      "timed out after 1.000 minute(s), and worker 'w1' did not fail it within 30 s",
    );
  });

  it('fails an attempt whose worker restarted, at once', async () => {
    await registerWorker(db.pool, 'w1', 'host', 1);
    await insertRequest(db.pool, { pipeline: 'etl' });
    await tick();
    await registerWorker(db.pool, 'w1', 'host', 2);
    expect(await attempts()).toMatchObject([
      { status: 'Failed', message: "worker 'w1' restarted while running this attempt" },
    ]);
    expect(await tick()).toMatchObject({ retries: 1 });
  });

  it('skips a silent worker whose row is held, rather than wait for it', async () => {
    await registerWorker(db.pool, 'w1', 'host', 1);
    await db.pool.query(`UPDATE worker SET lastseen = now() - interval '1 hour'`);
    const holder = await db.pool.connect();
    try {
      // As a finish of that worker's slots holds it.
      await holder.query('BEGIN');
      await holder.query(`SELECT 1 FROM worker WHERE name = 'w1' FOR UPDATE`);
      const summary = await tickWithoutWaiting({ workerTtl: 60 }, 'the worker row');
      expect(summary).toMatchObject({ lost_workers: 0 });
      await holder.query('COMMIT');
      expect(await tick({ workerTtl: 60 })).toMatchObject({ lost_workers: 1 });
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      holder.release();
    }
  });

  it('a Lost worker that comes back is Free again and gets new work', async () => {
    await registerWorker(db.pool, 'w1', 'host', 1);
    await db.pool.query(`UPDATE worker SET lastseen = now() - interval '1 hour'`);
    expect(await tick({ workerTtl: 60 })).toMatchObject({ lost_workers: 1 });
    const beat = await heartbeat(db.pool, 'w1');
    expect(beat).toMatchObject({ status: 'Free', wasLost: true, attempt: null });
    expect(await heartbeat(db.pool, 'w1')).toMatchObject({ status: 'Free', wasLost: false });
  });
});

describe('after the master was out of touch', () => {
  it('gives every worker a whole --worker-ttl to beat again before it is Lost', async () => {
    await registerWorker(db.pool, 'w1', 'host', 1);
    await db.pool.query(`UPDATE worker SET lastseen = now() - interval '1 hour'`);
    // The database was gone for an hour: nobody could beat, the master could not tick.
    await db.pool.query(`UPDATE master_token SET last_tick = now() - interval '1 hour'`);
    expect(await tick({ workerTtl: 60 })).toMatchObject({ lost_workers: 0 });
    expect(await tick({ workerTtl: 60, inSeconds: 30 })).toMatchObject({ lost_workers: 0 });
    expect(await tick({ workerTtl: 60, inSeconds: 61 })).toMatchObject({ lost_workers: 1 });
  });

  it('a new master too', async () => {
    await registerWorker(db.pool, 'w1', 'host', 1);
    await db.pool.query(`UPDATE worker SET lastseen = now() - interval '1 hour'`);
    await db.pool.query(`UPDATE master_token SET endtime = now() - interval '1 second'`);
    const newTerm = (await acquireLease(db.pool, 'm', 60))!.term;
    expect(await tick({ workerTtl: 60, asTerm: newTerm })).toMatchObject({ lost_workers: 0 });
  });
});

describe('going Offline', () => {
  it('hands back an attempt assigned but never started, without spending a retry', async () => {
    await registerWorker(db.pool, 'w1', 'host', 1);
    await insertRequest(db.pool, { pipeline: 'etl' });
    await tick();
    await db.pool.query(`SELECT rush_worker_offline('w1')`);
    expect(await attempts()).toMatchObject([{ status: 'Ready', worker: null, retry: 0 }]);
    const { rows } = await db.pool.query(`SELECT status, run_id FROM worker`);
    expect(rows).toEqual([{ status: 'Offline', run_id: null }]);
  });

  it('a worker finishing while stopping goes Offline in the same transaction', async () => {
    await registerWorker(db.pool, 'w1', 'host', 1);
    await insertRequest(db.pool, { pipeline: 'etl' });
    await tick();
    const finished = await finishAttempt(
      db.pool,
      'w1',
      await runningOn('w1'),
      true,
      null,
      'Offline',
    );
    expect(finished).toEqual({ taken: true, next: null });
    expect(await attempts()).toMatchObject([{ job: 'transform', status: 'Ready' }]);
    const { rows } = await db.pool.query(`SELECT status, run_id FROM worker`);
    expect(rows).toEqual([{ status: 'Offline', run_id: null }]);
    expect(await tick()).toMatchObject({ assigned: 0 });
  });
});

describe('lock order', () => {
  it('a heartbeat locks its worker rows in name order, as a finish does: they never deadlock', async () => {
    // Stored in the opposite order to their names, so that a scan meets lock-b first.
    await registerWorker(db.pool, 'lock-b', 'host', 1);
    await registerWorker(db.pool, 'lock-a', 'host', 1);
    const [holder, beater, prober] = await Promise.all([
      db.pool.connect(),
      db.pool.connect(),
      db.pool.connect(),
    ]);
    try {
      // Where a finish of lock-a stands: it holds lock-a and will lock lock-b next.
      await holder.query('BEGIN');
      await holder.query(`SELECT 1 FROM worker WHERE name = 'lock-a' FOR UPDATE`);
      const { rows } = await beater.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const beat = beater.query(`SELECT * FROM rush_worker_heartbeat($1, 'p')`, [
        ['lock-a', 'lock-b'],
      ]);
      beat.catch(() => undefined); // awaited below; a failure before must not go unhandled
      await waitUntil(
        db.url,
        [],
        async () => {
          const { rows: waiting } = await prober.query(
            `SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'`,
            [rows[0]!.pid],
          );
          return waiting.length > 0 ? true : undefined;
        },
        { safetyNetMs: 10, what: 'the heartbeat waiting for lock-a' },
      );
      // The waiting heartbeat must hold nothing that finish needs next.
      await prober.query('BEGIN');
      await expect(
        prober.query(`SELECT 1 FROM worker WHERE name = 'lock-b' FOR UPDATE NOWAIT`),
      ).resolves.toMatchObject({ rowCount: 1 });
      await prober.query('ROLLBACK');
      await holder.query('COMMIT');
      await expect(beat).resolves.toMatchObject({ rowCount: 2 });
    } finally {
      for (const client of [holder, beater, prober]) client.release(true);
    }
  });
});
