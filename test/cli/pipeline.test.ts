import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runCliJson } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;
let env: Record<string, string>;
let dir: string;

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const ETL_JSON = JSON.stringify(
  {
    name: 'etl',
    description: 'extract and load',
    jobs: [
      { name: 'extract', class_name: 'jobs.dummy_job.DummyJob', retry_limit: 2 },
      { name: 'load', class_name: 'jobs.dummy_job.DummyJob', timeout_minutes: 0.5 },
    ],
    parameters: { extract: { sleep_ms: 10 } },
  },
  null,
  2,
);

beforeAll(async () => {
  db = await createTestDatabase();
  env = { DATABASE_URL: db.url };
  dir = mkdtempSync(join(tmpdir(), 'rush-cli-pipeline-'));
});
afterAll(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('rush pipeline apply', () => {
  it('creates a pipeline from JSON, then updates it', async () => {
    const path = file('etl.json', ETL_JSON);
    const first = await runCli(['pipeline', 'apply', path], env);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toContain('created pipeline etl (2 jobs, its parameters replaced)');
    const second = await runCliJson(['pipeline', 'apply', path], env);
    expect(second).toEqual({ name: 'etl', outcome: 'updated', jobs: 2, file: path });
  });

  it('reads YAML', async () => {
    const path = file(
      'report.yaml',
      [
        'name: report',
        'jobs:',
        '  - name: build',
        '    class_name: jobs.dummy_job.DummyJob',
        'parameters:',
        '  build:',
        '    sleep_ms: 5',
        '',
      ].join('\n'),
    );
    const result = await runCli(['pipeline', 'apply', path], env);
    expect(result.stdout).toContain('created pipeline report (1 job');
    expect(result.code).toBe(0);
  });

  it('points a bad field at its line, and exits 1', async () => {
    const path = file(
      'bad.yaml',
      [
        'name: bad',
        'jobs:',
        '  - name: a',
        '    class_name: jobs.dummy_job.DummyJob',
        '  - name: b',
        '    class_name: jobs.dummy_job.DummyJob',
        '    retry_limit: many',
        '',
      ].join('\n'),
    );
    const result = await runCli(['pipeline', 'apply', path], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `rush: ${path}:7: pipeline 'bad': jobs[1] (b).retry_limit must be a whole number >= 0 (got "many")\n`,
    );
    expect(result.stdout).toBe('');
  });

  it('says which file it cannot read', async () => {
    const result = await runCli(['pipeline', 'apply', join(dir, 'missing.json')], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^rush: cannot read .*missing\.json: ENOENT/);
  });

  it('refuses a missing argument as a usage error', async () => {
    const result = await runCli(['pipeline', 'apply'], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("rush: missing required argument 'file'");
  });
});

describe('rush pipeline list and show', () => {
  it('lists the pipelines with their jobs', async () => {
    const list = await runCliJson<{ name: string; jobs: string[] }[]>(['pipeline', 'list'], env);
    expect(list.map(({ name, jobs }) => ({ name, jobs }))).toEqual([
      { name: 'etl', jobs: ['extract', 'load'] },
      { name: 'report', jobs: ['build'] },
    ]);
    const table = await runCli(['pipeline', 'list'], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/etl\s+│ 2\s+│ extract, load/);
  });

  it('shows the effective settings and the parameters of every job', async () => {
    const shown = await runCliJson(['pipeline', 'show', 'etl'], env);
    expect(shown).toMatchObject({
      name: 'etl',
      description: 'extract and load',
      jobs: [
        {
          position: 1,
          job: 'extract',
          class_name: 'jobs.dummy_job.DummyJob',
          timeout_minutes: 60,
          retry_gap_minutes: 1,
          retry_limit: 2,
          parameters: { sleep_ms: '10' },
        },
        { position: 2, job: 'load', timeout_minutes: 0.5, retry_limit: 0, parameters: {} },
      ],
    });
    const text = await runCli(['pipeline', 'show', 'etl'], env);
    expect(text.stdout).toContain('pipeline etl — extract and load');
    expect(text.stdout).toMatch(/extract\s+│ sleep_ms\s+│ 10/);
  });

  it('names the known pipelines when asked for an unknown one', async () => {
    const result = await runCli(['pipeline', 'show', 'elt'], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe("rush: no pipeline named 'elt' (known: etl, report)\n");
  });
});

describe('rush param set', () => {
  it('sets a parameter and says what it replaced', async () => {
    const first = await runCliJson(['param', 'set', 'etl', 'load', 'table', 'sales'], env);
    expect(first).toEqual({
      pipeline: 'etl',
      job: 'load',
      key: 'table',
      value: 'sales',
      previous: null,
    });
    const second = await runCli(['param', 'set', 'etl', 'load', 'table', 'orders'], env);
    expect(second.stdout).toBe('etl load: table = "orders" (was "sales")\n');
    const { rows } = await db.pool.query(
      `SELECT value FROM job_parameter WHERE pipeline = 'etl' AND job = 'load' AND key = 'table'`,
    );
    expect(rows).toEqual([{ value: 'orders' }]);
  });

  it('refuses a job the pipeline does not have, naming its jobs', async () => {
    const result = await runCli(['param', 'set', 'etl', 'transform', 'k', 'v'], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      "rush: pipeline 'etl' has no job named 'transform' (its jobs: extract, load)\n",
    );
  });

  it('refuses an unknown pipeline', async () => {
    const result = await runCli(['param', 'set', 'nope', 'load', 'k', 'v'], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe("rush: no pipeline named 'nope' (known: etl, report)\n");
    const { rows } = await db.pool.query(`SELECT 1 FROM job_parameter WHERE pipeline = 'nope'`);
    expect(rows).toHaveLength(0);
  });
});
