/**
 * The chaos run's PostgreSQL: a fresh database on DATABASE_URL's server (which the run never
 * stops: no restart is possible there), or an embedded server of its own that it can stop and
 * start again on the same port, its data kept across restarts and removed at the end.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migrate } from '../../src/db/migrate.js';
import { freePort, startEmbeddedPostgres, type EmbeddedServer } from '../../src/embedded.js';

export interface ChaosServer {
  /** The run's own database. */
  url: string;
  describe: string;
  /** Whether restart() can be called: only for the embedded server. */
  canRestart: boolean;
  /** Stops the server, keeps it down for downMs, starts it again; times on the wall clock. */
  restart(downMs: number): Promise<{ stoppedAt: number; downAt: number; upAt: number }>;
  /** Drops the database or stops and removes the embedded server (unless keep). */
  close(keep: boolean): Promise<void>;
}

// The wall clock, as the jobs, the workers' logs and PostgreSQL read it: one clock for all.
const now = (): number => Date.now();

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function admin(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export async function chaosServer(databaseUrl: string | undefined): Promise<ChaosServer> {
  const database = `rush_chaos_${process.pid}`;
  if (databaseUrl) {
    await admin(databaseUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin(databaseUrl, `CREATE DATABASE ${database}`);
    const url = withDatabase(databaseUrl, database);
    await migrate(url);
    const where = new URL(databaseUrl);
    return {
      url,
      describe: `DATABASE_URL (${where.hostname}:${where.port || 5432}), database ${database}`,
      canRestart: false,
      restart: () => Promise.reject(new Error('PostgreSQL behind DATABASE_URL is never restarted')),
      close: async (keep) => {
        if (!keep) await admin(databaseUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      },
    };
  }

  // Not throw-away: the data must survive the restarts. As root the server runs as the
  // postgres user, which must be able to enter the directory above its data.
  const root = mkdtempSync(join(tmpdir(), 'rush-chaos-pg-'));
  chmodSync(root, 0o755);
  const options = { dataDir: join(root, 'pg'), port: await freePort() };
  let server: EmbeddedServer | undefined;
  try {
    server = await startEmbeddedPostgres(options);
    await admin(server.url, `CREATE DATABASE ${database}`);
  } catch (error) {
    await server?.stop().catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
  const url = withDatabase(server.url, database);
  await migrate(url);
  return {
    url,
    describe: `embedded PostgreSQL on port ${options.port} (data in ${root})`,
    canRestart: true,
    async restart(downMs) {
      const stoppedAt = now();
      await server?.stop();
      server = undefined;
      const downAt = now();
      await new Promise((resolve) => setTimeout(resolve, downMs));
      server = await startEmbeddedPostgres(options);
      return { stoppedAt, downAt, upAt: now() };
    },
    async close(keep) {
      await server?.stop();
      server = undefined;
      if (!keep) rmSync(root, { recursive: true, force: true });
    },
  };
}
