import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { definePipeline } from '../support/sql.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await definePipeline(db.pool, 'etl', [{ name: 'extract' }, { name: 'load' }]);
  await definePipeline(db.pool, 'twin', [{ name: 'only' }]);
});
afterAll(async () => {
  await db.close();
});

describe('run_request defaults', () => {
  it('fills the first job and the next instance, and accepts at once, queueing the first job', async () => {
    const { rows } = await db.pool.query<{ id: string } & Record<string, unknown>>(
      `INSERT INTO run_request (pipeline) VALUES ('etl'), ('etl')
       RETURNING id, job, jobinstance, status, message`,
    );
    expect(rows.map(({ id: _, ...row }) => row)).toEqual([
      { job: 'extract', jobinstance: 1, status: 'Accepted', message: null },
      { job: 'extract', jobinstance: 2, status: 'Accepted', message: null },
    ]);
    const { rows: attempts } = await db.pool.query(
      `SELECT request_id, job, retry, status FROM run_state WHERE request_id = ANY ($1) ORDER BY id`,
      [rows.map((row) => row.id)],
    );
    expect(attempts).toEqual(
      rows.map((row) => ({ request_id: row.id, job: 'extract', retry: 0, status: 'Ready' })),
    );
  });

  it('leaves a request Pending for the master under rush.accept_at_commit = off', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('SET rush.accept_at_commit = off');
      const { rows } = await client.query<{ id: string; status: string }>(
        `INSERT INTO run_request (pipeline, jobinstance) VALUES ('twin', 500) RETURNING id, status`,
      );
      expect(rows[0]!.status).toBe('Pending');
      const { rows: attempts } = await client.query(
        'SELECT 1 FROM run_state WHERE request_id = $1',
        [rows[0]!.id],
      );
      expect(attempts).toEqual([]);
    } finally {
      client.release(true);
    }
  });

  it('rejects a duplicate of a live run, in the same statement or a later one', async () => {
    const { rows } = await db.pool.query<{ id: string }>(
      `INSERT INTO run_request (pipeline, jobinstance) VALUES ('twin', 700), ('twin', 700)
       RETURNING id, status, message`,
    );
    expect(rows[0]).toMatchObject({ status: 'Accepted', message: null });
    expect(rows[1]).toMatchObject({
      status: 'Rejected',
      message: `duplicate: instance 700 of pipeline 'twin' is already running (request ${rows[0]!.id})`,
    });
  });

  it('serialises concurrent requests for one instance: one runs, the others are Rejected', async () => {
    const inserts = Array.from({ length: 10 }, () =>
      db.pool.query<{ status: string }>(
        `INSERT INTO run_request (pipeline, jobinstance) VALUES ('twin', 800) RETURNING status`,
      ),
    );
    const statuses = (await Promise.all(inserts)).map((r) => r.rows[0]!.status).sort();
    expect(statuses).toEqual(['Accepted', ...Array.from({ length: 9 }, () => 'Rejected')]);
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

  it('rejects an unknown pipeline at once, with a message', async () => {
    const { rows } = await db.pool.query(
      `INSERT INTO run_request (pipeline) VALUES ('nope') RETURNING job, jobinstance, status, message`,
    );
    expect(rows[0]).toEqual({
      job: null,
      jobinstance: 1,
      status: 'Rejected',
      message: "unknown pipeline 'nope'",
    });
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

  it('takes a bulk insert larger than the server lock table, numbering every row', async () => {
    // Twice what the lock table holds: one lock per row, held to commit, would not fit.
    const { rows: sizes } = await db.pool.query<{ n: number }>(
      `SELECT 2 * current_setting('max_locks_per_transaction')::int
                * current_setting('max_connections')::int AS n`,
    );
    const n = sizes[0]!.n;
    await definePipeline(db.pool, 'bulk', [{ name: 'only' }]);
    const { rows } = await db.pool.query<{ accepted: number; instances: number; top: number }>(
      `WITH added AS (
         INSERT INTO run_request (pipeline) SELECT 'bulk' FROM generate_series(1, $1)
         RETURNING status, jobinstance)
       SELECT count(*) FILTER (WHERE status = 'Accepted')::int AS accepted,
              count(DISTINCT jobinstance)::int AS instances, max(jobinstance) AS top
       FROM added`,
      [n],
    );
    expect(rows[0]).toEqual({ accepted: n, instances: n, top: n });
  });

  it('refuses a status outside the state machine', async () => {
    await expect(
      db.pool.query(`INSERT INTO run_request (pipeline, status) VALUES ('etl', 'Done')`),
    ).rejects.toThrow(/check constraint/);
  });
});
