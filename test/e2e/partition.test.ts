import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { startEmbeddedPostgres, type EmbeddedServer } from '../../src/embedded.js';
import { definePipeline, insertRequest } from '../support/sql.js';
import { waitForRequest, waitUntil } from '../support/wait.js';
import { assertNoLeakedWorkers, startWorker, stopAllWorkers } from '../support/workers.js';

/**
 * Worker hosts as network namespaces of this test's own, each joined to this host by a veth
 * pair, talking to a PostgreSQL the test starts; one host's link is taken down mid-job.
 */
const tag = String(process.pid % 100_000);
const hosts = [
  { ns: `rush-a-${tag}`, here: `ra${tag}h`, there: `ra${tag}t`, subnet: '10.213.1' },
  { ns: `rush-b-${tag}`, here: `rb${tag}h`, there: `rb${tag}t`, subnet: '10.213.2' },
];

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}

function canMakeNamespaces(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  try {
    ip('netns', 'add', `rush-probe-${tag}`);
    ip('netns', 'del', `rush-probe-${tag}`);
    return undefined;
  } catch (error) {
    return (error as Error).message.split('\n')[0];
  }
}

const cannot = canMakeNamespaces();
if (cannot) console.warn(`[partition] SKIPPED: cannot make network namespaces here (${cannot})`);

let server: EmbeddedServer | undefined;
let pool: pg.Pool | undefined;
let dataDir: string | undefined;

afterAll(async () => {
  await stopAllWorkers('SIGKILL');
  assertNoLeakedWorkers();
  await pool?.end();
  await server?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  for (const host of hosts) {
    try {
      ip('netns', 'del', host.ns); // takes its end of the veth pair with it
    } catch {
      // never made
    }
  }
});

describe.skipIf(cannot !== undefined)('a worker host cut off from the network', () => {
  it('loses its attempt to another host, and when it rejoins cannot complete it', async () => {
    for (const host of hosts) {
      ip('netns', 'add', host.ns);
      ip('link', 'add', host.here, 'type', 'veth', 'peer', 'name', host.there);
      ip('link', 'set', host.there, 'netns', host.ns);
      ip('addr', 'add', `${host.subnet}.1/24`, 'dev', host.here);
      ip('link', 'set', host.here, 'up');
      ip('netns', 'exec', host.ns, 'ip', 'addr', 'add', `${host.subnet}.2/24`, 'dev', host.there);
      ip('netns', 'exec', host.ns, 'ip', 'link', 'set', host.there, 'up');
      ip('netns', 'exec', host.ns, 'ip', 'link', 'set', 'lo', 'up');
    }
    dataDir = mkdtempSync(join(tmpdir(), 'rush-partition-'));
    chmodSync(dataDir, 0o755);
    server = await startEmbeddedPostgres({
      dataDir: join(dataDir, 'pg'),
      throwaway: true,
      settings: { listen_addresses: '*' },
    });
    appendFileSync(join(dataDir, 'pg', 'pg_hba.conf'), '\nhost all all 10.213.0.0/16 password\n');
    pool = new pg.Pool({ connectionString: server.url, max: 2 });
    pool.on('error', () => {}); // idle connections end with the server at teardown
    await pool.query('SELECT pg_reload_conf()');
    await migrate(server.url);
    await definePipeline(pool, 'nap', [{ name: 'sleep', retry_limit: 1, retry_gap_minutes: 0 }]);

    const args = ['--worker-ttl', '2', '--lease-ttl', '3', '--poll-interval', '0.5'];
    const urlFrom = (subnet: string): string => {
      const url = new URL(server!.url);
      url.hostname = `${subnet}.1`;
      return url.toString();
    };
    const home = startWorker({ name: 'home', databaseUrl: server.url, args });
    await home.waitForLog((l) => l.msg === 'became master');
    const busy = await insertRequest(pool, { pipeline: 'nap', params: { sleep_ms: 60_000 } });
    await waitForRequest(pool, server.url, busy, ['Accepted']);

    const [a, b] = hosts.map((host, i) =>
      startWorker({
        name: `host-${'ab'[i]}`,
        databaseUrl: urlFrom(host.subnet),
        args,
        wrap: ['ip', 'netns', 'exec', host.ns],
      }),
    );
    await a!.waitForLog((l) => l.msg === 'worker started');
    await b!.waitForLog((l) => l.msg === 'worker started');
    // The job lands on one of the two hosts; that one is cut off, the other takes the retry.
    const id = await insertRequest(pool, { pipeline: 'nap', params: { sleep_ms: 15_000 } });
    const running = await waitUntil(server.url, [], async () => {
      const { rows } = await pool!.query<{ id: number; worker: string }>(
        `SELECT id, worker FROM run_state WHERE request_id = $1 AND status = 'Running'`,
        [id],
      );
      return rows[0];
    });
    const victimIndex = running.worker === 'host-a' ? 0 : 1;
    const victim = [a!, b!][victimIndex]!;
    const other = victimIndex === 0 ? 'host-b' : 'host-a';
    const attempt = running.id;

    ip('link', 'set', hosts[victimIndex]!.here, 'down');
    await waitUntil(
      server.url,
      [],
      async () => {
        const { rows } = await pool!.query(
          `SELECT 1 FROM run_state WHERE request_id = $1 AND worker = $2 AND status = 'Running'`,
          [id, other],
        );
        return rows.length > 0 ? true : undefined;
      },
      { what: `the retry to run on ${other}`, timeoutMs: 30_000 },
    );
    const { rows: lost } = await pool.query(`SELECT status FROM worker WHERE name = $1`, [
      running.worker,
    ]);
    expect(lost).toEqual([{ status: 'Lost' }]);

    ip('link', 'set', hosts[victimIndex]!.here, 'up');
    await victim.waitForLog(
      (l) => l.msg === 'this worker had been marked Lost: aborting its attempt',
      30_000,
    );
    const dropped = await victim.waitForLog(
      (l) =>
        l.msg === 'attempt finished, but it was no longer ours: result dropped' &&
        l.attempt === attempt,
      30_000,
    );
    expect(dropped.taken).toBe(false);
    const { rows: history } = await pool.query(
      `SELECT worker, status, message FROM archive WHERE id = $1`,
      [attempt],
    );
    expect(history[0]).toMatchObject({ worker: running.worker, status: 'Failed' });
    const row = await waitForRequest(pool, server.url, id, ['Complete', 'Stuck'], 30_000);
    expect(row.status).toBe('Complete');
  });
});
