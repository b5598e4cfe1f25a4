/** rush worker: the worker command as a subcommand of rush, with rush's global options. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;
let logDir: string;
// Where a worker that ignored its --database-url would go: nowhere.
const NOWHERE = { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nowhere' };

beforeAll(async () => {
  db = await createTestDatabase();
  logDir = mkdtempSync(join(tmpdir(), 'rush-cli-worker-'));
});
afterAll(async () => {
  await db.close();
  rmSync(logDir, { recursive: true, force: true });
});

describe('rush worker', () => {
  it('uses the --database-url given after the subcommand', async () => {
    const worker = startCli(
      ['worker', '--name', 'via-rush', '--database-url', db.url, '--log-dir', logDir],
      NOWHERE,
    );
    try {
      await worker.waitForOutput('"msg":"worker started"');
      const { rows } = await db.pool.query(`SELECT status FROM worker WHERE name = 'via-rush'`);
      expect(rows).toEqual([{ status: 'Free' }]);
    } finally {
      worker.child.kill('SIGTERM');
    }
    expect((await worker.exited).code).toBe(0);
  });

  it('reports a bad option as a usage error', async () => {
    const result = await runCli(['worker', '--bogus'], NOWHERE);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("rush: unknown option '--bogus'\n");
  });
});
