/** rush run --wait, status, history, retry and cancel against a real worker process. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../../src/db/types.js';
import type { RunState } from '../../src/cli/watch.js';
import { runCli, runCliJson } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { definePipeline } from '../support/sql.js';
import { waitForRequest } from '../support/wait.js';
import {
  assertNoLeakedWorkers,
  startWorker,
  stopAllWorkers,
  type WorkerProcess,
} from '../support/workers.js';

let db: TestDatabase;
let env: Record<string, string>;
let worker: WorkerProcess;

beforeAll(async () => {
  db = await createTestDatabase();
  env = { DATABASE_URL: db.url };
  await definePipeline(db.pool, 'etl', [
    { name: 'extract' },
    { name: 'transform' },
    { name: 'load' },
  ]);
  await definePipeline(db.pool, 'fragile', [{ name: 'only', retry_limit: 0 }]);
  worker = startWorker({ name: 'cli-w1', databaseUrl: db.url });
  await worker.waitForLog((line) => line.msg === 'worker started');
});
afterAll(async () => {
  await stopAllWorkers();
  assertNoLeakedWorkers();
  await db.close();
});

describe('rush run --wait', () => {
  it('follows a run to Complete and exits 0', async () => {
    const result = await runCli(['run', 'etl', '--wait', '--param', 'sleep_ms=5'], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^run_request \d+: etl#1, waiting for it to end$/m);
    expect(result.stdout).toContain('[1/3] extract started on cli-w1');
    expect(result.stdout).toMatch(/\[3\/3\] load complete in \d+ ms/);
    expect(result.stdout).toContain('etl#1: Complete');
    // No terminal: plain lines, no progress bar.
    expect(result.stdout).not.toContain('jobs\r');
  });

  it('prints the final state of the run with --json', async () => {
    const run = await runCliJson<RunState>(['run', 'etl', '--job', 'load', '--wait'], env);
    expect(run).toMatchObject({ pipeline: 'etl', jobinstance: 2, status: 'Complete' });
    expect(run.attempts.map((a) => [a.job, a.status])).toEqual([['load', 'Complete']]);
  });

  it('exits 3 when the run is Rejected', async () => {
    const result = await runCli(['run', 'nope', '--wait'], env);
    expect(result.code).toBe(3);
    expect(result.stdout).toContain("nope#1: Rejected — unknown pipeline 'nope'");
    expect(result.stderr).toMatch(
      /^rush: run_request \d+ \(nope#1\) ended Rejected: unknown pipeline 'nope'\n$/,
    );
  });
});

describe('rush status and history', () => {
  it('shows the worker and the master as JSON', async () => {
    const status = await runCliJson<{
      requests: unknown[];
      stuck: unknown[];
      workers: { name: string; status: string; lastseen_ms: number }[];
      master: { name: string | null; term: number; expires_in_ms: number | null };
    }>(['status'], env);
    expect(status.requests).toEqual([]);
    expect(Array.isArray(status.stuck)).toBe(true);
    expect(status.workers).toEqual([
      expect.objectContaining({ name: 'cli-w1', status: 'Free', pid: worker.child.pid }),
    ]);
    expect(status.workers[0]!.lastseen_ms).toBeGreaterThanOrEqual(0);
    expect(status.master).toMatchObject({ name: 'cli-w1' });
    expect(status.master.term).toBeGreaterThan(0);
    expect(status.master.expires_in_ms).toBeGreaterThan(0);

    const text = await runCli(['status'], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('(no runs in flight)');
    expect(text.stdout).toMatch(/cli-w1\s+│/);
    expect(text.stdout).toMatch(/master: cli-w1, term \d+, lease expires in /);
  });

  it('lists finished attempts newest first, with durations', async () => {
    const rows = await runCliJson<
      { job: string; status: string; duration_ms: number; worker: string }[]
    >(['history', 'etl', '--limit', '3'], env);
    expect(rows.map((r) => r.job)).toEqual(['load', 'load', 'transform']);
    for (const row of rows) {
      expect(row).toMatchObject({ status: 'Complete', worker: 'cli-w1' });
      expect(row.duration_ms).toBeGreaterThanOrEqual(0);
    }
    const text = await runCli(['history'], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/etl#1\s+│ extract\s+│ 0\s+│ Complete\s+│ cli-w1/);
    const bad = await runCli(['history', '--limit', '0'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('rush: --limit must be a whole number >= 1 (got "0")\n');
  });
});

describe('rush retry and cancel', () => {
  it('gives a Stuck attempt another try, which completes the run', async () => {
    // Fails at retry 0 (no retries left: Stuck), succeeds at retry 1.
    const stuck = await runCli(['run', 'fragile', '--param', 'fail_until_retry=1', '--wait'], env);
    expect(stuck.code).toBe(3);
    expect(stuck.stderr).toMatch(/ended Stuck: job 'only' is Stuck: DummyJob failed as asked/);
    const { rows } = await db.pool.query<{ id: number; request_id: number }>(
      `SELECT id, request_id FROM run_state WHERE status = 'Stuck'`,
    );
    expect(rows).toHaveLength(1);
    const { id, request_id } = rows[0]!;

    const retried = await runCliJson(['retry', String(id)], env);
    expect(retried).toMatchObject({
      attempt: id,
      request: request_id,
      retry: 1,
      status: 'Ready',
      request_status: 'Accepted',
    });
    await waitForRequest(db.pool, db.url, request_id, ['Complete']);
    const again = await runCli(['retry', String(id)], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(
      new RegExp(`^rush: attempt ${id} ended Complete and is archived: only a Stuck attempt`),
    );
  });

  it('refuses to cancel a run that has ended, saying how it ended', async () => {
    const [latest] = (
      await db.pool.query<{ id: number }>(
        `SELECT id FROM run_request WHERE status = 'Complete' ORDER BY id DESC LIMIT 1`,
      )
    ).rows;
    const result = await runCli(['cancel', String(latest!.id)], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `rush: run_request ${latest!.id} is Complete already: only a Pending or Accepted run can be cancelled\n`,
    );
  });
});
