import { execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { MoveToDb, quoteTableName } from '../../src/jobs/move_to_db.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

interface LogLine {
  msg: string;
  rows?: number;
}

let db: TestDatabase;
let dir: string;

beforeAll(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(join(tmpdir(), 'rush-move-to-db-'));
  await db.pool.query(`
    CREATE TABLE target (id integer PRIMARY KEY, name text, amount numeric);
    CREATE TABLE victim (id integer);
    INSERT INTO victim VALUES (1);
    CREATE SCHEMA "Odd Schema";
    CREATE TABLE "Odd Schema"."odd ""name""" ("the id" integer, "Mixed Case" text);
  `);
});

afterAll(async () => {
  await db?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

let fileCount = 0;
async function tsv(content: string): Promise<string> {
  const path = join(dir, `data-${++fileCount}.tsv`);
  await writeFile(path, content);
  return path;
}

function makeJob(params: Record<string, string>, signal = new AbortController().signal) {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (text !== '') lines.push(JSON.parse(text) as LogLine);
      }
      callback();
    },
  });
  const job = new MoveToDb({
    params,
    context: { pipeline: 'etl', job: 'load', jobinstance: 1, retry: 0, attempt: 1, worker: 'w1' },
    signal,
    logger: pino(sink),
    db: db.pool,
  });
  return { job, lines };
}

async function rows(sql: string): Promise<unknown[]> {
  const result = await db.pool.query<Record<string, unknown>>(sql);
  return result.rows;
}

describe('MoveToDb', () => {
  it('loads rows, with NULLs, and logs how many', async () => {
    await db.pool.query('TRUNCATE target');
    const file = await tsv('id\tname\tamount\n1\talice\t1.5\n2\t\\N\t\\N\n3\t\t7\n');
    const { job, lines } = makeJob({ file, table: 'target' });
    await job.run();
    expect(await rows('SELECT id, name, amount FROM target ORDER BY id')).toEqual([
      { id: 1, name: 'alice', amount: '1.5' },
      { id: 2, name: null, amount: null },
      { id: 3, name: '', amount: '7' },
    ]);
    const done = lines.find((line) => line.rows !== undefined);
    expect(done?.rows).toBe(3);
    expect(done?.msg).toMatch(/loaded 3 rows .* in \d+ ms/);
  });

  it('loads the columns the header names, in its order', async () => {
    await db.pool.query('TRUNCATE target');
    const file = await tsv('name\tid\nbob\t10\n');
    await makeJob({ file, table: 'public.target' }).job.run();
    expect(await rows('SELECT id, name, amount FROM target')).toEqual([
      { id: 10, name: 'bob', amount: null },
    ]);
  });

  it('appends by default and truncates first when asked', async () => {
    await db.pool.query('TRUNCATE target');
    await makeJob({ file: await tsv('id\tname\n1\ta\n'), table: 'target' }).job.run();
    await makeJob({ file: await tsv('id\tname\n2\tb\n'), table: 'target' }).job.run();
    expect(await rows('SELECT id FROM target ORDER BY id')).toEqual([{ id: 1 }, { id: 2 }]);
    await makeJob({
      file: await tsv('id\tname\n3\tc\n'),
      table: 'target',
      truncate: 'true',
    }).job.run();
    expect(await rows('SELECT id FROM target ORDER BY id')).toEqual([{ id: 3 }]);
  });

  it('keeps the old rows when a truncating load fails', async () => {
    await db.pool.query('TRUNCATE target');
    await db.pool.query("INSERT INTO target VALUES (1, 'kept', 0)");
    const file = await tsv('id\tname\n2\tfine\nnot a number\tbad\n');
    await expect(makeJob({ file, table: 'target', truncate: 'true' }).job.run()).rejects.toThrow(
      /MoveToDb: loading ".*data-\d+\.tsv" into "target" failed: invalid input syntax for type integer: "not a number" \(COPY target, line 2/,
    );
    expect(await rows('SELECT id, name FROM target')).toEqual([{ id: 1, name: 'kept' }]);
  });

  it('loads into an odd, quoted schema and table name', async () => {
    const file = await tsv('the id\tMixed Case\n1\tx\n2\t"quoted"\n');
    await makeJob({ file, table: 'Odd Schema.odd "name"' }).job.run();
    expect(await rows('SELECT * FROM "Odd Schema"."odd ""name""" ORDER BY 1')).toEqual([
      { 'the id': 1, 'Mixed Case': 'x' },
      { 'the id': 2, 'Mixed Case': '"quoted"' },
    ]);
  });

  it('handles a header-only file and a file without a final newline', async () => {
    await db.pool.query('TRUNCATE target');
    const headerOnly = makeJob({ file: await tsv('id\tname\n'), table: 'target' });
    await headerOnly.job.run();
    expect(headerOnly.lines.find((line) => line.rows !== undefined)?.rows).toBe(0);
    await makeJob({ file: await tsv('id\tname'), table: 'target' }).job.run();
    await makeJob({ file: await tsv('id\tname\n5\tlast'), table: 'target' }).job.run();
    await makeJob({ file: await tsv('id\tname\r\n6\twindows\r\n'), table: 'target' }).job.run();
    expect(await rows('SELECT id, name FROM target ORDER BY id')).toEqual([
      { id: 5, name: 'last' },
      { id: 6, name: 'windows' },
    ]);
  });

  it('refuses an empty file and an empty column name', async () => {
    await expect(makeJob({ file: await tsv(''), table: 'target' }).job.run()).rejects.toThrow(
      /has no header/,
    );
    await expect(
      makeJob({ file: await tsv('id\t\tname\n'), table: 'target' }).job.run(),
    ).rejects.toThrow(/empty column name \(column 2\)/);
  });

  it('treats an injection attempt in table as a name, harmlessly', async () => {
    const file = await tsv('id\n1\n');
    const attempts = [
      'x; DROP TABLE victim',
      'victim"; DROP TABLE victim; --',
      'x" (id) FROM STDIN; --',
    ];
    for (const table of attempts) {
      await expect(makeJob({ file, table }).job.run()).rejects.toThrow(/does not exist/);
    }
    await expect(makeJob({ file, table: 'a.b.c' }).job.run()).rejects.toThrow(
      /"table" must be "table" or "schema.table"/,
    );
    const evilHeader = await tsv('id) FROM STDIN; DROP TABLE victim; --\n1\n');
    await expect(makeJob({ file: evilHeader, table: 'victim' }).job.run()).rejects.toThrow(
      /column "id\) FROM STDIN; DROP TABLE victim; --" of relation "victim" does not exist/,
    );
    expect(await rows('SELECT id FROM victim')).toEqual([{ id: 1 }]);
    expect(quoteTableName('x; DROP TABLE y')).toBe('"x; DROP TABLE y"');
  });

  it('names the file when it cannot be read', async () => {
    const file = join(dir, 'missing.tsv');
    await expect(makeJob({ file, table: 'target' }).job.run()).rejects.toThrow(
      `MoveToDb: cannot read file "${file}": ENOENT`,
    );
    await expect(makeJob({ file: dir, table: 'target' }).job.run()).rejects.toThrow(
      `MoveToDb: cannot read file "${dir}": EISDIR`,
    );
  });

  it("names the table and passes PostgreSQL's message when the table is missing", async () => {
    const file = await tsv('id\n1\n');
    await expect(makeJob({ file, table: 'no_such_table' }).job.run()).rejects.toThrow(
      /MoveToDb: loading ".*" into "no_such_table" failed: relation "no_such_table" does not exist/,
    );
    await expect(
      makeJob({ file, table: 'no_such_table', truncate: 'true' }).job.run(),
    ).rejects.toThrow(/relation "no_such_table" does not exist/);
  });

  it('names missing params', async () => {
    await expect(makeJob({ table: 'target' }).job.run()).rejects.toThrow(
      'parameter "file" is missing for etl.load',
    );
    await expect(makeJob({ file: 'x' }).job.run()).rejects.toThrow(
      'parameter "table" is missing for etl.load',
    );
  });

  it('loads through database_url into another connection', async () => {
    await db.pool.query('TRUNCATE target');
    const file = await tsv('id\tname\n42\tvia url\n');
    const { job } = makeJob({ file, table: 'target', database_url: db.url });
    await job.run();
    expect(await rows('SELECT id, name FROM target')).toEqual([{ id: 42, name: 'via url' }]);
  });

  it('streams a large file', async () => {
    await db.pool.query('TRUNCATE target');
    const body = Array.from({ length: 50_000 }, (_, i) => `${i}\tname ${i}\t${i / 4}`).join('\n');
    const file = await tsv(`id\tname\tamount\n${body}\n`);
    const { job, lines } = makeJob({ file, table: 'target' });
    await job.run();
    expect(lines.find((line) => line.rows !== undefined)?.rows).toBe(50_000);
    expect(await rows('SELECT count(*)::int AS n FROM target')).toEqual([{ n: 50_000 }]);
  });

  it('stops streaming and rolls back when aborted in the middle of the file', async () => {
    await db.pool.query('TRUNCATE target');
    // A FIFO: the load reads what was written so far and then waits for more, mid-COPY.
    const fifo = join(dir, 'stream.fifo');
    execFileSync('mkfifo', [fifo]);
    const controller = new AbortController();
    const { job, lines } = makeJob({ file: fifo, table: 'target' }, controller.signal);
    const running = job.run();
    const writer = createWriteStream(fifo);
    try {
      writer.write('id\tname\n1\ta\n2\tb\n');
      let copying = false;
      for (let i = 0; i < 300 && !copying; i++) {
        const active = await db.pool.query(
          "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY %' AND state = 'active'",
        );
        copying = (active.rowCount ?? 0) > 0;
        if (!copying) await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(copying).toBe(true);
      controller.abort(new Error('worker stopping'));
      await expect(running).rejects.toThrow(/MoveToDb: loading .* was aborted: worker stopping/);
    } finally {
      writer.destroy();
    }
    expect(lines.some((line) => line.rows !== undefined)).toBe(false);
    expect(await rows('SELECT id FROM target')).toEqual([]);
  });

  it.each([
    ['TRUNCATE', 'true'],
    ['COPY', 'false'],
  ])('rolls back and says so when aborted while %s is blocked', async (_statement, truncate) => {
    await db.pool.query('TRUNCATE target');
    await db.pool.query("INSERT INTO target VALUES (1, 'kept', 0)");
    // Another session holds the table, so the load waits on its lock until aborted.
    const blocker = await db.pool.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE target IN ACCESS EXCLUSIVE MODE');
      const controller = new AbortController();
      const file = await tsv('id\tname\n2\tnever\n');
      const running = makeJob({ file, table: 'target', truncate }, controller.signal).job.run();
      // Wait until the load is really stuck on the lock before aborting.
      let blocked = false;
      for (let i = 0; i < 200 && !blocked; i++) {
        const waiting = await db.pool.query(
          "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        );
        blocked = (waiting.rowCount ?? 0) > 0;
        if (!blocked) await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(blocked).toBe(true);
      const started = Date.now();
      controller.abort(new Error('job timeout'));
      await expect(running).rejects.toThrow(/MoveToDb: loading .* was aborted: job timeout/);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await blocker.query('ROLLBACK');
      blocker.release();
    }
    expect(await rows('SELECT id, name FROM target')).toEqual([{ id: 1, name: 'kept' }]);
  });
});
