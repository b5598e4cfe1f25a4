import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_MESSAGE_LENGTH } from '../../src/executor/outcome.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { definePipeline, insertRequest } from '../support/sql.js';
import { waitForRequest } from '../support/wait.js';
import {
  assertNoLeakedWorkers,
  startWorker,
  stopAllWorkers,
  type WorkerProcess,
} from '../support/workers.js';

const jobsDir = fileURLToPath(new URL('../fixtures/jobs/', import.meta.url));
const FAST = ['--worker-ttl', '2', '--poll-interval', '0.5', '--jobs-dir', jobsDir];

let db: TestDatabase;
let workers: WorkerProcess[];

beforeAll(async () => {
  db = await createTestDatabase();
  workers = ['bad-a', 'bad-b'].map((name) =>
    startWorker({ name, databaseUrl: db.url, args: FAST }),
  );
  await Promise.all(workers.map((w) => w.waitForLog((l) => l.msg === 'worker started')));
});
afterAll(async () => {
  await stopAllWorkers();
  assertNoLeakedWorkers();
  await db.close();
});

/** Runs a one-job pipeline of `className` (no retries) and returns the request's final row. */
async function runOnce(name: string, className: string, params: Record<string, string> = {}) {
  await definePipeline(db.pool, name, [{ name: 'only', class_name: className, retry_limit: 0 }]);
  for (const [key, value] of Object.entries(params)) {
    await db.pool.query('INSERT INTO job_parameter VALUES ($1, $2, $3, $4)', [
      name,
      'only',
      key,
      value,
    ]);
  }
  const id = await insertRequest(db.pool, { pipeline: name });
  return waitForRequest(db.pool, db.url, id, ['Complete', 'Stuck', 'Rejected']);
}

describe('jobs that misbehave fail their attempt with a clear message, and nothing else breaks', () => {
  it('a thrown string', async () => {
    const row = await runOnce('throws_string', 'bad.ThrowsString');
    expect(row.message).toBe("job 'only' is Stuck: a plain string, not an Error");
  });

  it('a thrown object', async () => {
    const row = await runOnce('throws_object', 'bad.ThrowsObject');
    expect(row.message).toBe(
      "job 'only' is Stuck: non-Error thrown: { code: 'E_ODD', detail: [ 1, 2, 3 ] }",
    );
  });

  it('a rejected promise', async () => {
    const row = await runOnce('rejects', 'bad.Rejects');
    expect(row.message).toBe("job 'only' is Stuck: rejected on purpose");
  });

  it('an error message far longer than anyone should store', async () => {
    await runOnce('huge', 'bad.HugeMessage');
    const { rows } = await db.pool.query<{ message: string }>(
      `SELECT message FROM archive WHERE pipeline = 'huge'`,
    );
    expect(rows[0]!.message).toHaveLength(MAX_MESSAGE_LENGTH);
    expect(rows[0]!.message).toMatch(/^x+ … \[cut here: the whole text is in the worker log\]$/);
  });

  it('a class that is not a job', async () => {
    const row = await runOnce('not_a_job', 'bad.NotAJob');
    expect(row.message).toMatch(
      /export "NotAJob" of .*bad\.mjs is not a class with a run\(\) method/,
    );
  });

  it('a class_name that is not of either form', async () => {
    const row = await runOnce('malformed', 'not a class name');
    expect(row.message).toMatch(
      /class_name "not a class name" is not of the form module\.path\.ClassName/,
    );
  });

  it('megabytes of output from a command', async () => {
    const row = await runOnce('noisy', 'jobs.run_command.RunCommand', {
      command_to_run: 'yes "a line of output" | head -n 200000',
    });
    expect(row.status).toBe('Complete');
  });

  it('a job that kills its worker process: the worker is lost, the attempt failed', async () => {
    const row = await runOnce('suicide', 'bad.ExitsProcess');
    expect(row.message).toMatch(
      /^job 'only' is Stuck: worker 'bad-[ab]' was lost: no heartbeat since /,
    );
    // Bring the fleet back to two for what follows.
    const dead = workers.find((w) => !w.running)!;
    workers = [
      ...workers.filter((w) => w.running),
      startWorker({ name: dead.name, databaseUrl: db.url, args: FAST }),
    ];
    await workers[1]!.waitForLog((l) => l.msg === 'worker started');
  });

  it('secrets in parameters never reach the logs', async () => {
    const row = await runOnce('secretive', 'jobs.dummy_job.DummyJob', {
      password: 'hunter2',
      api_key: 'sk-123',
      db_token: 'tok',
      path: '/visible',
    });
    expect(row.status).toBe('Complete');
    const lines = workers
      .flatMap((w) => w.logs)
      .filter((l) => JSON.stringify(l).includes('secretive'));
    const text = JSON.stringify(lines);
    expect(text).toContain('/visible');
    for (const secret of ['hunter2', 'sk-123', '"tok"']) expect(text).not.toContain(secret);
    expect(text).toContain('[redacted]');
  });

  it('after all that, an ordinary run still completes', async () => {
    await definePipeline(db.pool, 'ordinary', [{ name: 'a' }, { name: 'b' }]);
    const id = await insertRequest(db.pool, { pipeline: 'ordinary' });
    expect((await waitForRequest(db.pool, db.url, id, ['Complete', 'Stuck'])).status).toBe(
      'Complete',
    );
  });
});
