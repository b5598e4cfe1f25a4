import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { freePort, startEmbeddedPostgres, type EmbeddedServer } from '../../src/embedded.js';
import { definePipeline, insertRequest } from '../support/sql.js';
import { waitForRequest } from '../support/wait.js';
import { assertNoLeakedWorkers, startWorker, stopAllWorkers } from '../support/workers.js';

// This file restarts PostgreSQL for real, so it starts a server of its own (never the shared one).
let server: EmbeddedServer | undefined;
let pool: pg.Pool | undefined;
let cleanup: string | undefined;

afterAll(async () => {
  await stopAllWorkers('SIGKILL');
  assertNoLeakedWorkers();
  await pool?.end();
  await server?.stop();
  if (cleanup) rmSync(cleanup, { recursive: true, force: true });
});

describe('PostgreSQL restarts', () => {
  it('workers reconnect, listen again, sweep, and lose no request or result', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rush-restart-'));
    chmodSync(dataDir, 0o755); // as root the server runs as the postgres user
    const port = await freePort();
    // Not throw-away: its data must survive the restart; afterAll removes the directory.
    const options = { dataDir: join(dataDir, 'pg'), port };
    cleanup = dataDir;
    server = await startEmbeddedPostgres(options);
    const url = server.url;
    await migrate(url);
    pool = new pg.Pool({ connectionString: url, max: 2 });
    pool.on('error', () => {}); // idle connections die with the server
    await definePipeline(pool, 'nap', [{ name: 'sleep', retry_limit: 0 }]);

    const args = ['--poll-interval', '0.5', '--worker-ttl', '30', '--lease-ttl', '30'];
    const workers = ['r1', 'r2'].map((name) => startWorker({ name, databaseUrl: url, args }));
    await Promise.all(workers.map((w) => w.waitForLog((l) => l.msg === 'worker started')));

    // A job that is running while the server goes down, and finishes while it is down.
    const during = await insertRequest(pool, { pipeline: 'nap', params: { sleep_ms: 1500 } });
    await waitForRequest(pool, url, during, ['Accepted']);
    await server.stop();
    server = await startEmbeddedPostgres(options);

    expect((await waitForRequest(pool, url, during, ['Complete', 'Stuck'], 30_000)).status).toBe(
      'Complete',
    );
    await Promise.all(
      workers.map((w) => w.waitForLog((l) => l.msg === 'listening connection restored', 30_000)),
    );
    // Notifications work again: a new request runs at once.
    const after = await insertRequest(pool, { pipeline: 'nap', params: { sleep_ms: 1 } });
    expect((await waitForRequest(pool, url, after, ['Complete', 'Stuck'], 30_000)).status).toBe(
      'Complete',
    );
    const { rows } = await pool.query(`SELECT request_id, status FROM archive ORDER BY id`);
    expect(rows).toEqual([
      { request_id: during, status: 'Complete' },
      { request_id: after, status: 'Complete' },
    ]);
  });
});
