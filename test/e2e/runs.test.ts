import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { definePipeline, insertRequest } from '../support/sql.js';
import { waitForRequest, waitUntil } from '../support/wait.js';
import {
  assertNoLeakedWorkers,
  startWorker,
  stopAllWorkers,
  type WorkerProcess,
} from '../support/workers.js';

const jobsDir = fileURLToPath(new URL('../fixtures/jobs/', import.meta.url));
const RECORD = 'record.RecordJob';

let db: TestDatabase;
let workers: WorkerProcess[];

async function archived(requestId: number): Promise<Record<string, unknown>[]> {
  const { rows } = await db.pool.query<Record<string, unknown>>(
    `SELECT job, retry, status, worker, message FROM archive WHERE request_id = $1 ORDER BY id`,
    [requestId],
  );
  return rows;
}

async function run(values: Parameters<typeof insertRequest>[1], statuses = ['Complete']) {
  const id = await insertRequest(db.pool, values);
  const row = await waitForRequest(db.pool, db.url, id, [
    ...statuses,
    ...['Complete', 'Stuck', 'Rejected', 'Cancelled'].filter((s) => !statuses.includes(s)),
  ]);
  return { id, row };
}

beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query(
    `CREATE TABLE job_log (attempt bigint, pipeline text, job text, jobinstance int, retry int,
                           worker text, params jsonb, at timestamptz DEFAULT clock_timestamp())`,
  );
  workers = ['e2e-a', 'e2e-b'].map((name) =>
    startWorker({ name, databaseUrl: db.url, args: ['--jobs-dir', jobsDir] }),
  );
  await Promise.all(workers.map((w) => w.waitForLog((l) => l.msg === 'worker started')));
});

afterAll(async () => {
  await stopAllWorkers();
  assertNoLeakedWorkers();
  await db.close();
});

describe('runs driven only through SQL, on real worker processes', () => {
  it('runs a multi-step pipeline with a retry to Complete', async () => {
    await definePipeline(db.pool, 'etl', [
      { name: 'extract', retry_limit: 2, retry_gap_minutes: 0.002 },
      { name: 'transform' },
      { name: 'load' },
    ]);
    await db.pool.query(
      `INSERT INTO job_parameter VALUES ('etl', 'extract', 'fail_until_retry', '1')`,
    );
    const { id, row } = await run({ pipeline: 'etl' });
    expect(row.status).toBe('Complete');
    expect((await archived(id)).map(({ job, retry, status }) => ({ job, retry, status }))).toEqual([
      { job: 'extract', retry: 0, status: 'Failed' },
      { job: 'extract', retry: 1, status: 'Complete' },
      { job: 'transform', retry: 0, status: 'Complete' },
      { job: 'load', retry: 0, status: 'Complete' },
    ]);
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n FROM run_state WHERE request_id = $1`,
      [id],
    );
    expect(rows[0]).toEqual({ n: 0 });
  });

  it('rejects a request for an unknown pipeline, saying so', async () => {
    const { row } = await run({ pipeline: 'no_such_pipeline' }, ['Rejected']);
    expect(row).toMatchObject({
      status: 'Rejected',
      message: "unknown pipeline 'no_such_pipeline'",
    });
  });

  it('leaves a Stuck run when the retries are spent', async () => {
    await definePipeline(db.pool, 'doomed', [
      { name: 'only', retry_limit: 1, retry_gap_minutes: 0 },
    ]);
    await db.pool.query(`INSERT INTO job_parameter VALUES ('doomed', 'only', 'fail', 'true')`);
    const { id, row } = await run({ pipeline: 'doomed' }, ['Stuck']);
    expect(row.message).toBe("job 'only' is Stuck: DummyJob failed as asked (fail=true)");
    expect(await archived(id)).toMatchObject([
      { retry: 0, status: 'Failed' },
      { retry: 1, status: 'Failed' },
    ]);
    const { rows } = await db.pool.query(
      `SELECT status, retry FROM run_state WHERE request_id = $1`,
      [id],
    );
    expect(rows).toEqual([{ status: 'Stuck', retry: 1 }]);
  });

  it('aborts a job at its timeout and fails the attempt, even one that ignores the signal', async () => {
    await definePipeline(db.pool, 'slow', [
      { name: 'sleepy', timeout_minutes: 0.005 },
      { name: 'stubborn', class_name: 'record.IgnoresAbort', timeout_minutes: 0.005 },
    ]);
    await db.pool.query(`INSERT INTO job_parameter VALUES ('slow', 'sleepy', 'sleep_ms', '60000')`);
    const sleepy = await run({ pipeline: 'slow' }, ['Stuck']);
    expect(sleepy.row.message).toBe("job 'sleepy' is Stuck: timed out after 0.005 minute(s)");
    const stubborn = await run({ pipeline: 'slow', job: 'stubborn' }, ['Stuck']);
    expect(stubborn.row.message).toBe("job 'stubborn' is Stuck: timed out after 0.005 minute(s)");
  });

  it('hands each job its parameters, the run_request params overriding job_parameter', async () => {
    await definePipeline(db.pool, 'params', [
      { name: 'first', class_name: RECORD },
      { name: 'second', class_name: RECORD },
    ]);
    await db.pool.query(
      `INSERT INTO job_parameter VALUES ('params', 'first', 'path', '/data/in'),
         ('params', 'first', 'mode', 'full'), ('params', 'second', 'table', 'sales')`,
    );
    const { id } = await run({
      pipeline: 'params',
      jobinstance: 5,
      params: { mode: 'delta', limit: 10 },
    });
    const { rows } = await db.pool.query(
      `SELECT job, jobinstance, retry, params FROM job_log WHERE pipeline = 'params' ORDER BY at`,
    );
    expect(rows).toEqual([
      {
        job: 'first',
        jobinstance: 5,
        retry: 0,
        params: { path: '/data/in', mode: 'delta', limit: '10' },
      },
      {
        job: 'second',
        jobinstance: 5,
        retry: 0,
        params: { table: 'sales', mode: 'delta', limit: '10' },
      },
    ]);
    expect(await archived(id)).toHaveLength(2);
  });

  it('fails an attempt whose class cannot be found, naming what was looked for', async () => {
    await definePipeline(db.pool, 'typo', [
      { name: 'missing', class_name: 'nowhere.Nothing' },
      { name: 'not_class', class_name: 'record.notAClass' },
    ]);
    const missing = await run({ pipeline: 'typo' }, ['Stuck']);
    expect(missing.row.message).toMatch(
      /job class "nowhere.Nothing" not found: no module at .*nowhere\.js/,
    );
    const notClass = await run({ pipeline: 'typo', job: 'not_class' }, ['Stuck']);
    expect(notClass.row.message).toMatch(
      /export "notAClass" of .*record\.mjs is not a class with a run\(\) method/,
    );
  });

  it('shares work between the two workers, and queues a request while both are busy', async () => {
    await definePipeline(db.pool, 'busy', [{ name: 'nap' }]);
    await db.pool.query(`INSERT INTO job_parameter VALUES ('busy', 'nap', 'sleep_ms', '400')`);
    const ids = await Promise.all(
      Array.from({ length: 5 }, () => insertRequest(db.pool, { pipeline: 'busy' })),
    );
    await Promise.all(ids.map((id) => waitForRequest(db.pool, db.url, id, ['Complete'])));
    const { rows } = await db.pool.query<{ worker: string; starttime: Date; endtime: Date }>(
      `SELECT worker, starttime, endtime FROM archive WHERE pipeline = 'busy' ORDER BY starttime`,
    );
    expect(new Set(rows.map((r) => r.worker))).toEqual(new Set(['e2e-a', 'e2e-b']));
    // Five requests, two workers: the third started only once one of the first two had ended.
    const [a, b, c] = rows;
    expect(c!.starttime.getTime()).toBeGreaterThanOrEqual(
      Math.min(a!.endtime.getTime(), b!.endtime.getTime()),
    );
  });

  it('aborts the running attempt of a cancelled run, as at a timeout', async () => {
    await definePipeline(db.pool, 'long', [{ name: 'forever' }, { name: 'never' }]);
    await db.pool.query(
      `INSERT INTO job_parameter VALUES ('long', 'forever', 'sleep_ms', '600000')`,
    );
    const id = await insertRequest(db.pool, { pipeline: 'long' });
    await waitUntil(
      db.url,
      [],
      async () => {
        const { rows } = await db.pool.query(
          `SELECT 1 FROM run_state WHERE request_id = $1 AND status = 'Running'`,
          [id],
        );
        return rows.length > 0 ? true : undefined;
      },
      { what: 'the long job to start' },
    );
    await db.pool.query(`UPDATE run_request SET status = 'Cancelled' WHERE id = $1`, [id]);
    const archivedRow = await waitUntil(db.url, [], async () => (await archived(id))[0], {
      what: 'the cancelled attempt to be archived',
    });
    expect(archivedRow).toMatchObject({
      job: 'forever',
      status: 'Failed',
      message: 'aborted: its run was cancelled by an operator',
    });
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n FROM run_state WHERE request_id = $1`,
      [id],
    );
    expect(rows[0]).toEqual({ n: 0 });
  });

  it('logs what woke each action', () => {
    const lines = workers.flatMap((w) => w.logs);
    const started = lines.find((l) => l.msg === 'attempt started' && l.woke === 'notify');
    expect(started?.channel).toMatch(/^rush_w_[0-9a-f]{32}$/);
    const tick = lines.find((l) => l.msg === 'tick' && l.woke === 'notify');
    expect(tick).toMatchObject({ channel: 'rush_master', component: 'master' });
    expect(typeof tick?.ms).toBe('number');
  });

  it('stops cleanly: workers go Offline and the master hands back the lease', async () => {
    const codes = await Promise.all(workers.map((w) => w.stop('SIGTERM')));
    expect(codes).toEqual([0, 0]);
    const { rows } = await db.pool.query(`SELECT name, status FROM worker ORDER BY name`);
    expect(rows).toEqual([
      { name: 'e2e-a', status: 'Offline' },
      { name: 'e2e-b', status: 'Offline' },
    ]);
    const { rows: lease } = await db.pool.query(`SELECT master FROM master_token`);
    expect(lease).toEqual([{ master: null }]);
  });
});
