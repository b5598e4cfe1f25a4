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
