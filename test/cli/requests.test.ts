/** rush run, cancel and retry with no worker running, so requests stay where they are put. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runCliJson } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { definePipeline } from '../support/sql.js';

let db: TestDatabase;
let env: Record<string, string>;

beforeAll(async () => {
  // Requests stay Pending (left to a master, and none runs here), so every status shows.
  db = await createTestDatabase({ settings: { 'rush.accept_at_commit': 'off' } });
  env = { DATABASE_URL: db.url };
  await definePipeline(db.pool, 'etl', [{ name: 'extract' }, { name: 'load' }]);
});
afterAll(async () => {
  await db.close();
});

describe('rush run', () => {
  it('inserts a run_request with the parameters, and prints it', async () => {
    const row = await runCliJson(
      [
        'run',
        'etl',
        '--job',
        'load',
        '--instance',
        '7',
        '--param',
        'day=2024-01-02',
        '--param',
        'q=a=b',
      ],
      env,
    );
    expect(row).toMatchObject({
      pipeline: 'etl',
      job: 'load',
      jobinstance: 7,
      status: 'Pending',
      params: { day: '2024-01-02', q: 'a=b' },
    });
    const text = await runCli(['run', 'etl'], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^run_request \d+: etl#8 from extract \(Pending\)\n$/);
  });

  it('refuses a --param that is not KEY=VALUE, and a bad --instance, with exit code 2', async () => {
    const param = await runCli(['run', 'etl', '--param', 'day'], env);
    expect(param).toMatchObject({ code: 2, stdout: '' });
    expect(param.stderr).toBe('rush: --param must be KEY=VALUE (got "day")\n');
    const instance = await runCli(['run', 'etl', '--instance', '1.5'], env);
    expect(instance.code).toBe(2);
    expect(instance.stderr).toBe(
      'rush: --instance must be a whole number from 0 to 2147483647 (got "1.5")\n',
    );
    const { rows } = await db.pool.query(
      `SELECT 1 FROM run_request WHERE params ? 'day' AND job = 'extract'`,
    );
    expect(rows).toHaveLength(0);
  });

  it('gives up waiting after --timeout with exit code 4', async () => {
    const result = await runCli(['run', 'etl', '--wait', '--timeout', '0.3'], env);
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(
      /^rush: gave up waiting after 0\.3 s: run_request \d+ is still Pending/,
    );
  });
});

describe('rush cancel', () => {
  it('cancels a Pending request', async () => {
    const { id } = await runCliJson<{ id: number }>(['run', 'etl'], env);
    const result = await runCliJson(['cancel', String(id)], env);
    expect(result).toEqual({
      request: id,
      pipeline: 'etl',
      jobinstance: expect.any(Number) as number,
      was: 'Pending',
      status: 'Cancelled',
      stopped: [],
      running: [],
    });
    const { rows } = await db.pool.query('SELECT status, message FROM run_request WHERE id = $1', [
      id,
    ]);
    expect(rows).toEqual([{ status: 'Cancelled', message: 'cancelled by an operator' }]);

    const again = await runCli(['cancel', String(id)], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(
      `rush: run_request ${id} is Cancelled already: only a Pending or Accepted run can be cancelled\n`,
    );
  });

  it('prints the stack with --verbose', async () => {
    const result = await runCli(['--verbose', 'cancel', '999999'], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^rush: CliError: run_request 999999 does not exist\n\s+at /);
  });

  it('says when there is no such request, and refuses an id that is not one', async () => {
    const missing = await runCli(['cancel', '999999'], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('rush: run_request 999999 does not exist\n');
    const bad = await runCli(['cancel', 'last'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('rush: REQUEST must be a whole number >= 1 (got "last")\n');
  });
});

describe('rush retry', () => {
  it('refuses an attempt that does not exist', async () => {
    const result = await runCli(['retry', '424242'], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'rush: attempt 424242 does not exist (rush status lists the Stuck attempts)\n',
    );
  });
});
