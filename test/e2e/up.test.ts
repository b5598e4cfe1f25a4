import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const cli = join(repoRoot, 'dist', 'cli', 'main.js');

function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], {
      cwd: repoRoot,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

let db: TestDatabase;
const dataDirs: string[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.close();
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rush-up-'));
  // As root, the embedded server runs as the postgres user, who must be able to enter it.
  chmodSync(dir, 0o755);
  dataDirs.push(dir);
  return dir;
}

describe('rush up --once (what npm start runs)', () => {
  it('runs the example pipeline to Complete on a given server, with a retry, and exits 0', async () => {
    const { code, output } = await runCli(['up', '--once', '--no-logs', '--data-dir', dataDir()], {
      ...process.env,
      DATABASE_URL: db.url,
    });
    expect(output).toContain('sales_report#1: Complete');
    expect(output).toMatch(
      /\[1\/4\] extract failed: source examples\/data\/sales.csv is not ready yet/,
    );
    expect(code).toBe(0);
    const { rows } = await db.pool.query(
      `SELECT region, orders FROM sales_by_region ORDER BY region`,
    );
    expect(rows.map((r: { region: string }) => r.region)).toEqual([
      'central',
      'east',
      'north',
      'south',
      'west',
    ]);
    const { rows: workers } = await db.pool.query(`SELECT DISTINCT status FROM worker`);
    expect(workers).toEqual([{ status: 'Offline' }]);
  });

  it('starts its own PostgreSQL when no DATABASE_URL is given, and resumes it next time', async () => {
    const env = { ...process.env };
    delete env.DATABASE_URL;
    const dir = dataDir();
    const first = await runCli(['up', '--once', '--no-logs', '--data-dir', dir], env);
    expect(first.output).toContain('starting PostgreSQL (embedded)');
    expect(first.output).toContain('sales_report#1: Complete');
    expect(first.code).toBe(0);
    const second = await runCli(['up', '--once', '--no-logs', '--data-dir', dir], env);
    expect(second.output).toContain('sales_report#2: Complete');
    expect(second.code).toBe(0);
  });

  it('refuses a bad --workers with a usage error', async () => {
    const { code, output } = await runCli(['up', '--workers', 'many'], {
      ...process.env,
      DATABASE_URL: db.url,
    });
    expect(output).toContain('rush: --workers must be a whole number from 1 to 50 (got "many")');
    expect(code).toBe(2);
  });
});
