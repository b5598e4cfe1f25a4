import type pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { registerWorker } from '../../src/db/queries.js';
import { Completer } from '../../src/executor/completer.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { definePipeline, insertRequest } from '../support/sql.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await definePipeline(db.pool, 'etl', [{ name: 'only' }]);
});
afterAll(async () => {
  await db.close();
});

/** The test's pool, counting the statements sent through it. */
function counting(pool: pg.Pool): { pool: pg.Pool; statements: () => number } {
  let statements = 0;
  const proxy = new Proxy(pool, {
    get(target, property) {
      if (property !== 'query') return Reflect.get(target, property, target) as unknown;
      return (...args: unknown[]) => {
        statements++;
        return (target.query as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { pool: proxy, statements: () => statements };
}

it('records the outcomes of slots that finish in one turn in one statement, handing each its next attempt', async () => {
  const slots = ['p-1', 'p-2', 'p-3'];
  for (const slot of slots) await registerWorker(db.pool, slot, 'host', 1);
  // Three run at once on the three slots (handed on at commit); three more wait Ready.
  for (let n = 0; n < 6; n++) await insertRequest(db.pool, { pipeline: 'etl' });
  const { rows: running } = await db.pool.query<{ id: string; worker: string }>(
    `SELECT id, worker FROM run_state WHERE status = 'Running' ORDER BY worker`,
  );
  expect(running.map((row) => row.worker)).toEqual(slots);

  const { pool, statements } = counting(db.pool);
  const completer = new Completer(pool, pino({ level: 'silent' }));
  const results = await Promise.all(
    running.map((row) =>
      completer.finish({
        worker: row.worker,
        attempt: Number(row.id),
        ok: true,
        message: null,
        then: 'Free',
      }),
    ),
  );
  expect(statements()).toBe(1);
  expect(results.map((result) => result.taken)).toEqual([true, true, true]);
  const nexts = results.map((result) => result.next?.id);
  expect(new Set(nexts).size).toBe(3);
  const { rows: after } = await db.pool.query(
    `SELECT count(*)::int AS running FROM run_state WHERE status = 'Running' AND id = ANY ($1)`,
    [nexts],
  );
  expect(after).toEqual([{ running: 3 }]);
});
