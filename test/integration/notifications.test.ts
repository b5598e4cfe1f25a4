import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import {
  attemptForWorker,
  masterTick,
  registerWorker,
  releaseLease,
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

const tickOptions = {
  limit: 2000,
  workerTtlSeconds: 3600,
  timeoutGraceSeconds: 30,
  maintenance: true,
  renewSeconds: null,
};

async function channelOf(worker: string): Promise<string> {
  const { rows } = await db.pool.query<{ channel: string }>(
    'SELECT rush_worker_channel($1) AS channel',
    [worker],
  );
  return rows[0]!.channel;
}

beforeAll(async () => {
  db = await createTestDatabase();
  await definePipeline(db.pool, 'etl', [
    { name: 'extract', timeout_minutes: 0.5 },
    { name: 'load' },
  ]);
  await db.pool.query(
    `INSERT INTO job_parameter VALUES ('etl', 'extract', 'path', '/in'), ('etl', 'extract', 'mode', 'full')`,
  );
});
afterAll(async () => {
  await db.close();
});
beforeEach(async () => {
  term = await resetWithMaster(db.pool, 'm');
});

describe('worker channels', () => {
  it('map any name to one valid, distinct channel that LISTEN accepts', async () => {
    const names = [
      'w1',
      'W1',
      'x'.repeat(500),
      `o'hara "quoted"; DROP TABLE worker; --`,
      'élan-ü-🚀',
      ' ',
    ];
    const channels = await Promise.all(names.map(channelOf));
    expect(new Set(channels).size).toBe(names.length);
    for (const channel of channels) expect(channel).toMatch(/^rush_w_[0-9a-f]{32}$/);
    const listener = await collectNotifications(db.url, channels);
    await db.pool.query('SELECT pg_notify($1, $2)', [channels[3], 'hello']);
    await listener.settle();
    expect(listener.received).toEqual([{ channel: channels[3], payload: 'hello' }]);
    await listener.close();
  });
});

describe('what each change notifies', () => {
  it('an assignment tells only its worker, with everything the job needs, and no master', async () => {
    await registerWorker(db.pool, 'w1', 'h', 1);
    await registerWorker(db.pool, 'w2', 'h', 2);
    const [c1, c2] = [await channelOf('w1'), await channelOf('w2')];
    const listener = await collectNotifications(db.url, [c1, c2, 'rush_master']);
    // The insert's own commit gives the attempt to the Free worker that waited longest.
    await insertRequest(db.pool, { pipeline: 'etl', params: { mode: 'delta', extra: 42 } });
    await listener.settle();
    expect(listener.received).toHaveLength(1);
    const assignment = listener.received[0]!;
    expect(assignment.channel).toBe(c1);
    expect(JSON.parse(assignment.payload)).toEqual({
      id: 1,
      pipeline: 'etl',
      job: 'extract',
      jobinstance: 1,
      retry: 0,
      class_name: 'jobs.dummy_job.DummyJob',
      timeout_minutes: 0.5,
      params: { path: '/in', mode: 'delta', extra: 42 },
    });
    await listener.close();
  });

  it('a payload too large to notify carries the id, and the worker fetches the rest', async () => {
    await registerWorker(db.pool, 'w1', 'h', 1);
    const listener = await collectNotifications(db.url, [await channelOf('w1')]);
    await insertRequest(db.pool, { pipeline: 'etl', params: { big: 'x'.repeat(10_000) } });
    await masterTick(db.pool, 'm', term, tickOptions);
    await listener.settle();
    expect(listener.received.map((n) => JSON.parse(n.payload) as unknown)).toEqual([{ id: 1 }]);
    const fetched = await attemptForWorker(db.pool, 'w1', 1);
    expect(fetched?.params.big).toHaveLength(10_000);
    expect(await attemptForWorker(db.pool, 'w2', 1)).toBeNull();
    await listener.close();
  });

  it('a finished attempt whose worker takes the next job wakes nobody', async () => {
    await registerWorker(db.pool, 'w1', 'h', 1);
    await insertRequest(db.pool, { pipeline: 'etl' });
    await masterTick(db.pool, 'm', term, tickOptions);
    const listener = await collectNotifications(db.url, ['rush_master', await channelOf('w1')]);
    const finished = await finishAttempt(db.pool, 'w1', 1, true, null, 'Free');
    expect(finished.next?.job).toBe('load');
    await listener.settle();
    expect(listener.received).toEqual([]);
    await listener.close();
  });

  it('a finish that leaves Ready work untaken, or a retry to time, wakes the master once', async () => {
    await registerWorker(db.pool, 'w1', 'h', 1);
    await insertRequest(db.pool, { pipeline: 'etl' });
    await masterTick(db.pool, 'm', term, tickOptions);
    await registerWorker(db.pool, 'w2', 'h', 2); // Free, so the master has someone to give it to
    const listener = await collectNotifications(db.url, ['rush_master']);
    await finishAttempt(db.pool, 'w1', 1, true, null, 'Offline'); // stopping: takes nothing
    await listener.settle();
    expect(listener.received).toEqual([{ channel: 'rush_master', payload: 'finished' }]);
    await listener.close();
  });

  it('a backlog that only busy workers will drain wakes nobody', async () => {
    await registerWorker(db.pool, 'w1', 'h', 1);
    await insertRequest(db.pool, { pipeline: 'etl' });
    await insertRequest(db.pool, { pipeline: 'etl' });
    await insertRequest(db.pool, { pipeline: 'etl' });
    await masterTick(db.pool, 'm', term, tickOptions);
    const listener = await collectNotifications(db.url, ['rush_master']);
    const finished = await finishAttempt(db.pool, 'w1', 1, true, null, 'Free');
    expect(finished.next?.jobinstance).toBe(2);
    await listener.settle();
    expect(listener.received).toEqual([]);
    await listener.close();
  });

  it('a heartbeat wakes nobody', async () => {
    await registerWorker(db.pool, 'w1', 'h', 1);
    const listener = await collectNotifications(db.url, [
      'rush_master',
      'rush_lease',
      await channelOf('w1'),
    ]);
    await heartbeat(db.pool, 'w1');
    await heartbeat(db.pool, 'w1');
    await listener.settle();
    expect(listener.received).toEqual([]);
    await listener.close();
  });

  it('a worker that becomes Free, or joins, wakes the master', async () => {
    const listener = await collectNotifications(db.url, ['rush_master']);
    await registerWorker(db.pool, 'w1', 'h', 1);
    await db.pool.query(`UPDATE worker SET status = 'Lost'`);
    await heartbeat(db.pool, 'w1');
    await listener.settle();
    expect(listener.received).toEqual([
      { channel: 'rush_master', payload: 'worker' },
      { channel: 'rush_master', payload: 'worker' },
    ]);
    await listener.close();
  });

  it('request status changes are told on rush_run_request, many per notification', async () => {
    const listener = await collectNotifications(db.url, ['rush_run_request']);
    const session = await db.pool.connect();
    try {
      // Left to the master, so that one tick changes them all.
      await session.query('SET rush.accept_at_commit = off');
      for (let i = 0; i < 3; i++)
        await session.query(`INSERT INTO run_request (pipeline) VALUES ('etl')`);
      await session.query(`INSERT INTO run_request (pipeline) VALUES ('nope')`);
    } finally {
      session.release(true);
    }
    await masterTick(db.pool, 'm', term, tickOptions);
    await listener.settle();
    expect(listener.received).toEqual([
      { channel: 'rush_run_request', payload: '1:Accepted,2:Accepted,3:Accepted,4:Rejected' },
    ]);
    await listener.close();
  });

  it('a large batch of changes is split across notifications under the payload limit', async () => {
    await db.pool.query(
      `INSERT INTO run_request (pipeline) SELECT 'nope' FROM generate_series(1, 1000)`,
    );
    const listener = await collectNotifications(db.url, ['rush_run_request']);
    await db.pool.query(`UPDATE run_request SET status = 'Cancelled'`);
    await listener.settle();
    const ids = listener.received.flatMap((n) => n.payload.split(','));
    expect(ids).toHaveLength(1000);
    expect(listener.received.length).toBeGreaterThan(1);
    for (const n of listener.received) expect(Buffer.byteLength(n.payload)).toBeLessThan(8000);
    await listener.close();
  });

  it('releasing the lease tells the standbys on rush_lease', async () => {
    const listener = await collectNotifications(db.url, ['rush_lease']);
    expect(await releaseLease(db.pool, 'someone-else', term)).toBe(false);
    expect(await releaseLease(db.pool, 'm', term)).toBe(true);
    await listener.settle();
    expect(listener.received).toEqual([{ channel: 'rush_lease', payload: 'released' }]);
    await listener.close();
  });
});

describe('the lease', () => {
  it('renews only its own term, and a takeover waits for a running tick', async () => {
    const { rows } = await db.pool.query('SELECT * FROM rush_renew_lease($1, $2, 60)', [
      'm',
      term + 1,
    ]);
    expect(rows).toEqual([]);
    // A tick in flight holds the lease row: a takeover must wait for it to commit.
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query('BEGIN');
    await client.query('SELECT rush_hold_lease($1, $2)', ['m', term]);
    let tookOver = false;
    const takeover = db.pool
      .query(`UPDATE master_token SET master = 'usurper' WHERE master = 'm' RETURNING term`)
      .then((result) => {
        tookOver = true;
        return result;
      });
    await waitUntil(
      db.url,
      [],
      async () => {
        const { rows } = await db.pool.query(
          `SELECT 1 FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock'
             AND query LIKE 'UPDATE master_token SET master = ''usurper''%'`,
        );
        return rows.length > 0 ? true : undefined;
      },
      { what: 'the takeover to wait on the lease row lock' },
    );
    expect(tookOver).toBe(false);
    await client.query('COMMIT');
    await takeover;
    await client.end();
  });
});
