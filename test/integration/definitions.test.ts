import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.close();
});

async function insert(name: string, definition: unknown): Promise<void> {
  await db.pool.query('INSERT INTO pipeline (name, definition) VALUES ($1, $2)', [
    name,
    JSON.stringify(definition),
  ]);
}

const job = { name: 'a', class_name: 'jobs.dummy_job.DummyJob' };

describe('pipeline definitions are checked by the database', () => {
  it.each([
    ['not an object', [], /definition must be a JSON object/],
    ['no jobs', {}, /jobs must be an array of jobs/],
    ['jobs not an array', { jobs: {} }, /jobs must be an array of jobs/],
    ['empty jobs', { jobs: [] }, /jobs must hold at least one job/],
    ['unknown top-level field', { jobs: [job], owner: 'x' }, /owner is not a known field/],
    ['job not an object', { jobs: ['a'] }, /jobs\[0\] must be an object/],
    [
      'missing name',
      { jobs: [{ class_name: 'x.Y' }] },
      /jobs\[0\]\.name must be a non-empty string/,
    ],
    ['blank name', { jobs: [{ ...job, name: ' ' }] }, /jobs\[0\]\.name must be a non-empty string/],
    [
      'duplicate name',
      { jobs: [job, { ...job }] },
      /jobs\[1\]\.name "a" is used by an earlier job/,
    ],
    [
      'missing class_name',
      { jobs: [{ name: 'a' }] },
      /jobs\[0\] \(a\)\.class_name must be a non-empty string/,
    ],
    [
      'empty class_name',
      { jobs: [{ name: 'a', class_name: '' }] },
      /class_name must be a non-empty/,
    ],
    [
      'zero timeout',
      { jobs: [{ ...job, timeout_minutes: 0 }] },
      /\(a\)\.timeout_minutes must be a number > 0 \(got 0\)/,
    ],
    [
      'string timeout',
      { jobs: [{ ...job, timeout_minutes: '5' }] },
      /timeout_minutes must be a number > 0 \(got "5"\)/,
    ],
    [
      'negative gap',
      { jobs: [{ ...job, retry_gap_minutes: -1 }] },
      /retry_gap_minutes must be a number >= 0 \(got -1\)/,
    ],
    [
      'fractional limit',
      { jobs: [{ ...job, retry_limit: 1.5 }] },
      /retry_limit must be a whole number >= 0 \(got 1.5\)/,
    ],
    [
      'negative limit',
      { jobs: [{ ...job, retry_limit: -1 }] },
      /retry_limit must be a whole number >= 0/,
    ],
    [
      'typo field',
      { jobs: [{ ...job, retry_limt: 1 }] },
      /jobs\[0\]\.retry_limt is not a known field/,
    ],
  ])('refuses %s, naming the field', async (_case, definition, message) => {
    const error = await insert(`bad-${Math.random()}`, definition).then(
      () => undefined,
      (e: unknown) => e as { message: string; code: string },
    );
    expect(error?.message).toMatch(message);
    expect(error?.code).toBe('23514');
  });

  it('names the pipeline in the message', async () => {
    await expect(insert('sales "daily"', { jobs: [] })).rejects.toThrow(/pipeline 'sales "daily"'/);
  });

  it('checks updates too', async () => {
    await insert('updated', { jobs: [job] });
    await expect(
      db.pool.query(
        `UPDATE pipeline SET definition = '{"jobs":[{"name":"a"}]}' WHERE name = 'updated'`,
      ),
    ).rejects.toThrow(/class_name/);
  });

  it('accepts fractional minutes and fills defaults in pipeline_job', async () => {
    await insert('fractions', {
      description: 'ok',
      jobs: [
        {
          ...job,
          timeout_minutes: 0.01,
          retry_gap_minutes: 0,
          retry_limit: 3,
          description: 'first',
        },
        { name: 'b', class_name: 'x.Y' },
      ],
    });
    const { rows } = await db.pool.query(
      `SELECT job, position, class_name, timeout_minutes::float8 AS timeout, retry_gap_minutes::float8 AS gap,
              retry_limit, is_last
       FROM pipeline_job WHERE pipeline = 'fractions' ORDER BY position`,
    );
    expect(rows).toEqual([
      {
        job: 'a',
        position: 1,
        class_name: job.class_name,
        timeout: 0.01,
        gap: 0,
        retry_limit: 3,
        is_last: false,
      },
      {
        job: 'b',
        position: 2,
        class_name: 'x.Y',
        timeout: 60,
        gap: 1,
        retry_limit: 0,
        is_last: true,
      },
    ]);
  });
});
