/**
 * SQL injection through every field a user controls, driven through the paths users take: SQL
 * from a client, `rush` commands (node dist/cli/main.js), real worker processes with odd
 * --name values, a job module at an odd path, MoveToDb into an oddly named table. Every value
 * must come back exactly as it went in, and every table must still be there at the end.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runCliJson } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { waitForRequest, type RunRequestRow } from '../support/wait.js';
import {
  assertNoLeakedWorkers,
  startWorker,
  stopAllWorkers,
  type WorkerProcess,
} from '../support/workers.js';

const DROP = `x'; DROP TABLE run_request; --`;
const QUOTES = `it's "double" \`back\` ''doubled'' ""`;
const DOLLAR = `$1 $$ $body$ %s %L %I ? :name`;
const BACKSLASH = `back\\slash \\' \\" \\n \\x41 E'\\\\'`;
const UNICODE = `Ünïcødé 日本語 🚀 \u202Ertl\u202C \u00A0nbsp`;
const NEWLINES = `line one\nline two\r\n\ttabbed`;

/** In code unit order, whatever the database's collation. */
function sorted(values: string[]): string[] {
  return [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Exactly `length` code points, `text` repeated. */
function exactly(length: number, text: string): string {
  return [...text.repeat(Math.ceil(length / [...text].length))].slice(0, length).join('');
}

/**
 * 200 code points, with an emoji where `rush listen <name>` and `rush <name>` are cut to the
 * 63 characters of an application_name (a surrogate pair split in two).
 */
const LONG_NAME = (() => {
  const head = `w2 $1 \\ '" ${DROP}`;
  const cutListen = 63 - 'rush listen '.length - 1;
  const cutPool = 63 - 'rush '.length - 1;
  const name = `${head.padEnd(cutListen, '.')}🚀${'.'.repeat(cutPool - cutListen - 2)}🚀`;
  return name + exactly(200 - [...name].length, ` ${UNICODE} ${DROP}`);
})();

const WORKERS = [`w1 ${DROP} ${QUOTES}`, LONG_NAME];

const PIPELINE = `p ${DROP} ${QUOTES}`;
const JOBS = [
  `j1 ${DOLLAR} ${BACKSLASH}`,
  `j2 ${UNICODE} ${NEWLINES}`,
  exactly(200, `j3 ${DROP} ${QUOTES} `),
];

let db: TestDatabase;
let env: Record<string, string>;
let dir: string;
/** class_name of the Echo job: an absolute path full of odd characters, then #Echo. */
let echoClass: string;
let workers: WorkerProcess[];
let tablesBefore: string[];

async function publicTables(): Promise<string[]> {
  const { rows } = await db.pool.query<{ tablename: string }>(
    `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`,
  );
  return rows.map((row) => row.tablename);
}

/** What PostgreSQL's format() makes of the values: the text the database itself writes. */
async function format(template: string, ...values: string[]): Promise<string> {
  const placeholders = values.map((_, i) => `$${i + 2}::text`).join(', ');
  const { rows } = await db.pool.query<{ text: string }>(
    `SELECT format($1::text${values.length > 0 ? `, ${placeholders}` : ''}) AS text`,
    [template, ...values],
  );
  return rows[0]!.text;
}

/** A value as COPY's text format spells it. */
function copyText(value: string | null): string {
  if (value === null) return '\\N';
  return value
    .replace(/\\/g, '\\\\')
    .replace(/\t/g, '\\t')
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r');
}

async function waitForEnd(id: number | string): Promise<RunRequestRow> {
  return waitForRequest(db.pool, db.url, id, ['Complete', 'Stuck', 'Rejected', 'Cancelled']);
}

beforeAll(async () => {
  db = await createTestDatabase();
  env = { DATABASE_URL: db.url };
  await db.pool.query(
    `CREATE TABLE job_log (attempt bigint, pipeline text, job text, jobinstance int,
                           worker text, params jsonb)`,
  );
  tablesBefore = await publicTables();

  dir = await mkdtemp(join(tmpdir(), 'rush-injection-'));
  // No backslash: Node refuses to import a file URL holding an encoded one (%5C).
  const oddDir = join(dir, `dir #1 ${DROP} ${QUOTES} ${UNICODE}`);
  await mkdir(oddDir);
  const distIndex = new URL('../../dist/index.js', import.meta.url).href;
  const module = join(oddDir, `echo ${DOLLAR} #2.mjs`);
  await writeFile(
    module,
    `import { Job } from ${JSON.stringify(distIndex)};
export class Echo extends Job {
  async run() {
    await this.db.query(
      'INSERT INTO job_log (attempt, pipeline, job, jobinstance, worker, params) ' +
        'VALUES ($1, $2, $3, $4, $5, $6)',
      [this.context.attempt, this.context.pipeline, this.context.job, this.context.jobinstance,
       this.context.worker, JSON.stringify(this.params)],
    );
    if (this.params.sleep_ms) await new Promise((r) => setTimeout(r, Number(this.params.sleep_ms)));
    if (this.params.fail_with !== undefined) throw new Error(this.params.fail_with);
  }
}
`,
  );
  echoClass = `${module}#Echo`;

  workers = WORKERS.map((name) => startWorker({ name, databaseUrl: db.url }));
  await Promise.all(workers.map((w) => w.waitForLog((line) => line.msg === 'worker started')));
});

afterAll(async () => {
  await stopAllWorkers();
  assertNoLeakedWorkers();
  await db?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('odd values through every user-controlled field', () => {
  it('registers workers under their exact --name', async () => {
    const { rows } = await db.pool.query<{ name: string; status: string }>(
      `SELECT name, status FROM worker ORDER BY name`,
    );
    expect(sorted(rows.map((row) => `${row.status} ${row.name}`))).toEqual(
      sorted(WORKERS.map((name) => `Free ${name}`)),
    );
  });

  it('applies a pipeline file, sets a parameter with rush param set, and reads both back', async () => {
    const file = join(dir, `pipeline ${DROP} ${QUOTES}.json`);
    await writeFile(
      file,
      JSON.stringify({
        name: PIPELINE,
        description: `${DROP} ${UNICODE}`,
        jobs: JOBS.map((name) => ({ name, class_name: echoClass })),
        parameters: {
          [JOBS[0]!]: { [`k ${DROP}`]: `v ${QUOTES}`, [DOLLAR]: BACKSLASH },
          [JOBS[1]!]: { [UNICODE]: NEWLINES, shared: 'from job_parameter' },
        },
      }),
    );
    const applied = await runCli(['pipeline', 'apply', file], env);
    expect(applied).toMatchObject({ code: 0, stderr: '' });
    const set = await runCliJson(['param', 'set', PIPELINE, JOBS[2]!, `key ${QUOTES}`, DROP], env);
    expect(set).toEqual({
      pipeline: PIPELINE,
      job: JOBS[2],
      key: `key ${QUOTES}`,
      value: DROP,
      previous: null,
    });

    const { rows } = await db.pool.query(`SELECT name, definition FROM pipeline WHERE name = $1`, [
      PIPELINE,
    ]);
    expect(rows).toEqual([
      {
        name: PIPELINE,
        definition: {
          description: `${DROP} ${UNICODE}`,
          jobs: JOBS.map((name) => ({ name, class_name: echoClass })),
        },
      },
    ]);
    const { rows: params } = await db.pool.query<{ job: string; key: string; value: string }>(
      `SELECT job, key, value FROM job_parameter WHERE pipeline = $1`,
      [PIPELINE],
    );
    expect(sorted(params.map((p) => JSON.stringify([p.job, p.key, p.value])))).toEqual(
      sorted([
        JSON.stringify([JOBS[0], `k ${DROP}`, `v ${QUOTES}`]),
        JSON.stringify([JOBS[0], DOLLAR, BACKSLASH]),
        JSON.stringify([JOBS[1], UNICODE, NEWLINES]),
        JSON.stringify([JOBS[1], 'shared', 'from job_parameter']),
        JSON.stringify([JOBS[2], `key ${QUOTES}`, DROP]),
      ]),
    );

    const shown = await runCliJson<{ name: string; jobs: { job: string; class_name: string }[] }>(
      ['pipeline', 'show', PIPELINE],
      env,
    );
    expect(shown.name).toBe(PIPELINE);
    expect(shown.jobs.map(({ job, class_name }) => ({ job, class_name }))).toEqual(
      JOBS.map((job) => ({ job, class_name: echoClass })),
    );
  });

  it('runs requests from SQL and from rush run on both odd workers, handing every value over exactly', async () => {
    const requestParams = { [`r ${QUOTES}`]: DROP, shared: `from the request ${BACKSLASH}` };
    // Two requests in one statement: one tick accepts both and pairs them with the two Free
    // workers, so each worker runs at least one attempt.
    const { rows } = await db.pool.query<{ id: string; jobinstance: number }>(
      `INSERT INTO run_request (pipeline, job, jobinstance, params)
       VALUES ($1, NULL, NULL, $3), ($1, $2, 77, $3)
       RETURNING id, jobinstance`,
      [PIPELINE, JOBS[1], JSON.stringify({ ...requestParams, sleep_ms: '300' })],
    );
    const fromCli = await runCliJson<{ id: number; jobinstance: number }>(
      ['run', PIPELINE, '--job', JOBS[2]!, '--param', `${DOLLAR}=${QUOTES}=${DROP}`],
      env,
    );
    expect(fromCli).toMatchObject({ pipeline: PIPELINE, job: JOBS[2], status: 'Accepted' });

    for (const id of [...rows.map((row) => row.id), fromCli.id]) {
      expect(await waitForEnd(id)).toMatchObject({ status: 'Complete', message: null });
    }

    const { rows: log } = await db.pool.query<{
      pipeline: string;
      job: string;
      jobinstance: number;
      worker: string;
      params: Record<string, string>;
    }>(`SELECT pipeline, job, jobinstance, worker, params FROM job_log ORDER BY attempt`);
    const byInstance = (instance: number) =>
      log
        .filter((entry) => entry.jobinstance === instance)
        .map(({ pipeline, job, params }) => ({ pipeline, job, params }));
    const withRequest = { ...requestParams, sleep_ms: '300' };
    expect(byInstance(rows[0]!.jobinstance)).toEqual([
      {
        pipeline: PIPELINE,
        job: JOBS[0],
        params: { [`k ${DROP}`]: `v ${QUOTES}`, [DOLLAR]: BACKSLASH, ...withRequest },
      },
      {
        pipeline: PIPELINE,
        job: JOBS[1],
        params: { [UNICODE]: NEWLINES, ...withRequest },
      },
      {
        pipeline: PIPELINE,
        job: JOBS[2],
        params: { [`key ${QUOTES}`]: DROP, ...withRequest },
      },
    ]);
    expect(byInstance(77).map((entry) => entry.job)).toEqual([JOBS[1], JOBS[2]]);
    expect(byInstance(fromCli.jobinstance)).toEqual([
      {
        pipeline: PIPELINE,
        job: JOBS[2],
        params: { [`key ${QUOTES}`]: DROP, [DOLLAR]: `${QUOTES}=${DROP}` },
      },
    ]);

    // Each attempt ran on the worker the database says, and both workers ran some.
    const { rows: archived } = await db.pool.query<{ worker: string; logged: string }>(
      `SELECT a.worker, l.worker AS logged FROM archive a JOIN job_log l ON l.attempt = a.id`,
    );
    expect(archived.length).toBe(log.length);
    for (const { worker, logged } of archived) expect(logged).toBe(worker);
    expect(new Set(archived.map((a) => a.worker))).toEqual(new Set(WORKERS));

    const history = await runCliJson<{ pipeline: string; job: string }[]>(
      ['history', PIPELINE, '--limit', '100'],
      env,
    );
    expect(history).toHaveLength(log.length);
    expect(new Set(history.map((h) => h.pipeline))).toEqual(new Set([PIPELINE]));
  });

  it('stores a failure message exactly, and quotes names in the messages it writes', async () => {
    const message = `${DROP} ${QUOTES} ${DOLLAR} ${BACKSLASH} ${UNICODE} ${NEWLINES}`;
    const { rows } = await db.pool.query<{ id: string }>(
      `INSERT INTO run_request (pipeline, job, params) VALUES ($1, $2, $3) RETURNING id`,
      [PIPELINE, JOBS[2], JSON.stringify({ fail_with: message })],
    );
    const stuck = await waitForEnd(rows[0]!.id);
    expect(stuck.status).toBe('Stuck');
    expect(stuck.message).toBe(await format('job %L is Stuck: %s', JOBS[2]!, message));
    const { rows: archived } = await db.pool.query(
      `SELECT job, status, message FROM archive WHERE request_id = $1`,
      [rows[0]!.id],
    );
    expect(archived).toEqual([{ job: JOBS[2], status: 'Failed', message }]);

    const unknown = `nope ${DROP}`;
    const { rows: bad } = await db.pool.query<{ id: string }>(
      `INSERT INTO run_request (pipeline, job) VALUES ($1, NULL), ($2, $3) RETURNING id`,
      [unknown, PIPELINE, `nope ${QUOTES}`],
    );
    expect(await waitForEnd(bad[0]!.id)).toMatchObject({
      status: 'Rejected',
      message: await format('unknown pipeline %L', unknown),
    });
    expect(await waitForEnd(bad[1]!.id)).toMatchObject({
      status: 'Rejected',
      message: await format(
        'unknown job %L in pipeline %L (its jobs: %s)',
        `nope ${QUOTES}`,
        PIPELINE,
        JOBS.join(', '),
      ),
    });
  });

  it('names an odd job in the refusal of an invalid definition', async () => {
    const refusal = await db.pool
      .query(`INSERT INTO pipeline (name, definition) VALUES ($1, $2)`, [
        `bad ${DROP}`,
        JSON.stringify({ jobs: [{ name: JOBS[0], class_name: DROP, timeout_minutes: DROP }] }),
      ])
      .then(
        () => undefined,
        (error: unknown) => error as pg.DatabaseError,
      );
    expect(refusal?.code).toBe('23514');
    expect(refusal?.message).toBe(
      await format(
        'pipeline %s: %s must be a number > 0 (got %s)',
        await format('%L', `bad ${DROP}`),
        `jobs[0] (${JOBS[0]}).timeout_minutes`,
        JSON.stringify(DROP),
      ),
    );
  });

  it('loads a file with odd column names and values into an oddly named table (MoveToDb)', async () => {
    const table = `t ${DROP} "q" $1 \\ é🚀`;
    const columns = [`c ${DROP}`, `"quoted" it's`, `$1 \\ Ünï`];
    await db.pool.query(
      `CREATE TABLE ${pg.escapeIdentifier(table)} (${columns
        .map((c) => `${pg.escapeIdentifier(c)} text`)
        .join(', ')})`,
    );
    const data: (string | null)[][] = [
      [DROP, QUOTES, BACKSLASH],
      [UNICODE, NEWLINES, '\\N'],
      [DOLLAR, '', null],
    ];
    const file = join(dir, `data ${DROP} ${QUOTES} ${UNICODE}.tsv`);
    await writeFile(
      file,
      [columns.join('\t'), ...data.map((row) => row.map(copyText).join('\t'))].join('\n') + '\n',
    );

    const loader = `load ${DROP}`;
    await db.pool.query(`INSERT INTO pipeline (name, definition) VALUES ($1, $2)`, [
      loader,
      JSON.stringify({ jobs: [{ name: DROP, class_name: 'jobs.move_to_db.MoveToDb' }] }),
    ]);
    const settings = [
      ['file', file],
      ['table', table],
      ['truncate', 'true'],
    ];
    const results = await Promise.all(
      settings.map(([key, value]) => runCli(['param', 'set', loader, DROP, key!, value!], env)),
    );
    expect(results.map(({ code, stderr }) => ({ code, stderr }))).toEqual(
      settings.map(() => ({ code: 0, stderr: '' })),
    );
    const run = await runCliJson<{ id: number }>(['run', loader], env);
    expect(await waitForEnd(run.id)).toMatchObject({ status: 'Complete' });

    const { rows } = await db.pool.query<Record<string, string | null>>(
      `SELECT * FROM ${pg.escapeIdentifier(table)}`,
    );
    expect(rows.map((row) => columns.map((c) => row[c]))).toEqual(data);
  });

  it('refuses CLI arguments that are not what they should be, changing nothing', async () => {
    const { rows: before } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM run_request`,
    );
    const attempts = [
      ['cancel', `1; DROP TABLE run_request`],
      ['retry', `1 OR 1=1`],
      ['run', PIPELINE, '--instance', `1; DROP TABLE run_request`],
      ['history', PIPELINE, '--limit', `1; DROP TABLE run_request`],
    ];
    const results = await Promise.all(attempts.map((args) => runCli(args, env)));
    expect(results.map(({ code, stdout }, i) => ({ args: attempts[i], code, stdout }))).toEqual(
      attempts.map((args) => ({ args, code: 2, stdout: '' })),
    );
    const { rows: after } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM run_request`,
    );
    expect(after).toEqual(before);

    // An unknown pipeline is still a request: stored as typed, and Rejected by the master.
    const odd = await runCliJson<{ id: number; pipeline: string }>(['run', DROP], env);
    expect(odd.pipeline).toBe(DROP);
    expect(await waitForEnd(odd.id)).toMatchObject({
      status: 'Rejected',
      message: await format('unknown pipeline %L', DROP),
    });
  });

  it('lets the odd workers leave cleanly, and leaves every table in place', async () => {
    for (const worker of workers) expect(await worker.stop()).toBe(0);
    const { rows } = await db.pool.query<{ name: string; status: string }>(
      `SELECT name, status FROM worker ORDER BY name`,
    );
    expect(rows.map((row) => row.status)).toEqual(['Offline', 'Offline']);
    expect(new Set(rows.map((row) => row.name))).toEqual(new Set(WORKERS));
    for (const worker of workers) {
      const errors = worker.logs.filter((line) => Number(line.level) >= 50);
      expect(errors).toEqual([]);
    }

    const tables = await publicTables();
    expect(tables.filter((t) => tablesBefore.includes(t))).toEqual(tablesBefore);
    const { rows: counts } = await db.pool.query(
      `SELECT (SELECT count(*)::int FROM run_request) > 0 AS requests,
              (SELECT count(*)::int FROM archive) > 0 AS archive,
              (SELECT count(*)::int FROM pipeline) AS pipelines`,
    );
    expect(counts).toEqual([{ requests: true, archive: true, pipelines: 2 }]);
  });
});
