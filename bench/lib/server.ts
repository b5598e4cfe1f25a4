import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migrate } from '../../src/db/migrate.js';
import { startEmbeddedPostgres } from '../../src/embedded.js';

export interface BenchDatabase {
  url: string;
  describe: string;
  /** A fresh, migrated database on the server, dropped by close(). */
  freshDatabase(name: string): Promise<string>;
  close(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** DATABASE_URL's server when given, else an embedded one with pg_stat_statements loaded. */
export async function benchServer(): Promise<BenchDatabase> {
  const given = process.env.DATABASE_URL;
  const embedded = given
    ? undefined
    : await startEmbeddedPostgres({
        dataDir: await mkdtemp(join(tmpdir(), 'rush-bench-pg-')),
        throwaway: true,
        settings: { shared_preload_libraries: 'pg_stat_statements' },
      });
  const adminUrl = given ?? embedded!.url;
  const created: string[] = [];
  const admin = async <T>(use: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: withDatabase(adminUrl, 'postgres') });
    await client.connect();
    try {
      return await use(client);
    } finally {
      await client.end();
    }
  };
  return {
    url: adminUrl,
    describe: embedded ? `embedded PostgreSQL on port ${embedded.port}` : 'DATABASE_URL',
    async freshDatabase(name) {
      const database = `rush_bench_${name}_${process.pid}`;
      await admin(async (c) => {
        await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
        await c.query(`CREATE DATABASE ${database}`);
      });
      created.push(database);
      const url = withDatabase(adminUrl, database);
      await migrate(url);
      return url;
    },
    async close() {
      await admin(async (c) => {
        for (const database of created)
          await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      });
      await embedded?.stop();
    },
  };
}
