/**
 * A database of its own for each test file, cloned from the template that the global setup
 * migrated, so test files run in parallel and never see each other's rows.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { inject } from 'vitest';

export interface TestDatabase {
  /** `rush_t_<runId>_<hex>`: global teardown drops it, or keeps it when RUSH_TEST_KEEP_DB=1. */
  name: string;
  url: string;
  pool: pg.Pool;
  /** Ends the pool; the database itself stays until global teardown. */
  close(): Promise<void>;
}

/** How often a clone is tried while something else still holds a session on the template. */
const CLONE_ATTEMPTS = 8;

function databaseUrl(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

function isTemplateBusy(error: unknown): boolean {
  // 55006 object_in_use: "source database … is being accessed by other users", e.g. while
  // the session that migrated the template is still ending on the server.
  return (error as { code?: unknown } | null)?.code === '55006';
}

async function cloneTemplate(adminUrl: string, template: string, name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const sql = `CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE ${pg.escapeIdentifier(template)}`;
    for (let attempt = 1; ; attempt++) {
      try {
        await admin.query(sql);
        return;
      } catch (error) {
        if (!isTemplateBusy(error) || attempt >= CLONE_ATTEMPTS) {
          throw new Error(`creating test database ${name} from template ${template} failed`, {
            cause: error,
          });
        }
        await delay(50 * attempt);
      }
    }
  } finally {
    await admin.end();
  }
}

/**
 * `settings` are set on the database (ALTER DATABASE … SET), so every session of the test and
 * of the workers it starts has them: e.g. `rush.accept_at_commit: 'off'` to drive the master's
 * own path for requests.
 */
export async function createTestDatabase(
  options: { settings?: Record<string, string> } = {},
): Promise<TestDatabase> {
  const adminUrl = inject('rushAdminUrl');
  const template = inject('rushTemplate');
  const runId = inject('rushRunId');
  const name = `rush_t_${runId}_${randomBytes(4).toString('hex')}`;
  await cloneTemplate(adminUrl, template, name);
  for (const [key, value] of Object.entries(options.settings ?? {})) {
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    try {
      await admin.query(
        `ALTER DATABASE ${pg.escapeIdentifier(name)} SET ${pg.escapeIdentifier(key)} = ${pg.escapeLiteral(value)}`,
      );
    } finally {
      await admin.end();
    }
  }

  const url = databaseUrl(adminUrl, name);
  const pool = new pg.Pool({ connectionString: url });
  // An idle client's connection can drop (a test kills a backend, teardown forces a drop);
  // without a listener that error would crash the test process.
  pool.on('error', () => undefined);
  let closing: Promise<void> | undefined;
  return {
    name,
    url,
    pool,
    close() {
      closing ??= pool.end();
      return closing;
    },
  };
}
