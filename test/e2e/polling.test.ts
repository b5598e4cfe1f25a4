import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { definePipeline, insertRequest } from '../support/sql.js';
import { waitForRequest } from '../support/wait.js';
import { assertNoLeakedWorkers, startWorker, stopAllWorkers } from '../support/workers.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await stopAllWorkers();
  assertNoLeakedWorkers();
  await db.close();
});

describe('--no-listen (PgBouncer in transaction mode, or the old behaviour)', () => {
  it('runs everything from the sweep alone, and says so in the logs', async () => {
    const worker = startWorker({
      name: 'poller',
      databaseUrl: db.url,
      args: ['--no-listen', '--poll-interval', '0.2'],
    });
    await worker.waitForLog((l) => l.msg === 'worker started' && l.listen === false);
    await definePipeline(db.pool, 'polled', [{ name: 'one' }, { name: 'two' }]);
    const id = await insertRequest(db.pool, { pipeline: 'polled' });
    const row = await waitForRequest(db.pool, db.url, id, ['Complete', 'Stuck', 'Rejected']);
    expect(row.status).toBe('Complete');
    const started = worker.logs.filter((l) => l.msg === 'attempt started');
    // The second job was taken by the worker itself as it finished the first.
    expect(started.map((l) => l.woke)).toEqual(['sweep', 'handoff']);
    expect(worker.logs.some((l) => l.woke === 'notify')).toBe(false);
    expect(await worker.stop()).toBe(0);
  });
});

describe('--concurrency', () => {
  it('runs several attempts at once in one process, one worker row per slot', async () => {
    const worker = startWorker({
      name: 'multi',
      databaseUrl: db.url,
      args: ['--concurrency', '3'],
    });
    await worker.waitForLog((l) => l.msg === 'worker started');
    await definePipeline(db.pool, 'wide', [{ name: 'nap' }]);
    await db.pool.query(`INSERT INTO job_parameter VALUES ('wide', 'nap', 'sleep_ms', '300')`);
    const ids = await Promise.all(
      [1, 2, 3].map(() => insertRequest(db.pool, { pipeline: 'wide' })),
    );
    for (const id of ids) {
      expect((await waitForRequest(db.pool, db.url, id, ['Complete', 'Stuck'])).status).toBe(
        'Complete',
      );
    }
    const { rows } = await db.pool.query<{ worker: string; starttime: Date; endtime: Date }>(
      `SELECT worker, starttime, endtime FROM archive WHERE pipeline = 'wide' ORDER BY worker`,
    );
    expect(rows.map((r) => r.worker)).toEqual(['multi/1', 'multi/2', 'multi/3']);
    // All three ran at the same time: each started before any ended.
    const firstEnd = Math.min(...rows.map((r) => r.endtime.getTime()));
    for (const row of rows) expect(row.starttime.getTime()).toBeLessThan(firstEnd);
    expect(await worker.stop()).toBe(0);
    const { rows: slots } = await db.pool.query(
      `SELECT name, status FROM worker WHERE name LIKE 'multi/%' ORDER BY name`,
    );
    expect(slots.map((r: { status: string }) => r.status)).toEqual([
      'Offline',
      'Offline',
      'Offline',
    ]);
  });
});
