import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { definePipeline } from '../support/sql.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await definePipeline(db.pool, 'etl', [{ name: 'extract' }, { name: 'load' }]);
});
afterAll(async () => {
  await db.close();
});

describe('run_request defaults', () => {
  it('fills the first job, the next instance and Pending', async () => {
    const { rows } = await db.pool.query(
      `INSERT INTO run_request (pipeline) VALUES ('etl'), ('etl') RETURNING job, jobinstance, status`,
    );
    expect(rows).toEqual([
      { job: 'extract', jobinstance: 1, status: 'Pending' },
      { job: 'extract', jobinstance: 2, status: 'Pending' },
    ]);
  });

  it('keeps what the client gives, and numbers after the highest instance', async () => {
    await db.pool.query(
      `INSERT INTO run_request (pipeline, job, jobinstance) VALUES ('etl', 'load', 40)`,
    );
    const { rows } = await db.pool.query(
      `INSERT INTO run_request (pipeline) VALUES ('etl') RETURNING jobinstance`,
    );
    expect(rows[0]).toEqual({ jobinstance: 41 });
  });

  it('leaves job empty for an unknown pipeline (the master rejects it)', async () => {
    const { rows } = await db.pool.query(
      `INSERT INTO run_request (pipeline) VALUES ('nope') RETURNING job, jobinstance, status`,
    );
    expect(rows[0]).toEqual({ job: null, jobinstance: 1, status: 'Pending' });
  });

  it('never hands two concurrent inserts the same instance', async () => {
    await definePipeline(db.pool, 'busy', [{ name: 'only' }]);
    const inserts = Array.from({ length: 30 }, () =>
      db.pool.query<{ jobinstance: number }>(
        `INSERT INTO run_request (pipeline) VALUES ('busy') RETURNING jobinstance`,
      ),
    );
    const instances = (await Promise.all(inserts)).map((r) => r.rows[0]!.jobinstance);
    expect(new Set(instances).size).toBe(30);
    expect(Math.max(...instances)).toBe(30);
  });

  it('refuses a status outside the state machine', async () => {
    await expect(
      db.pool.query(`INSERT INTO run_request (pipeline, status) VALUES ('etl', 'Done')`),
    ).rejects.toThrow(/check constraint/);
  });
});
