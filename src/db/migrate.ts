import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { migrate as runMigrations } from 'postgres-migrations';
import type { Logger } from 'pino';
import { connectionConfig } from './pool.js';

const packageRoot = fileURLToPath(new URL('../../', import.meta.url));
export const migrationsDir = join(packageRoot, 'sql');
export const triggersDir = join(packageRoot, 'triggers');

/**
 * One blocking lock for the whole migrate: postgres-migrations' own lock retries once a
 * second, so a fleet starting at once would otherwise wait in 1 s steps.
 */
const MIGRATE_LOCK = 'rush.migrate';

/** The trigger scripts in the order they apply (by file name), with one hash over all. */
export async function loadTriggerScripts(): Promise<{ sql: string; hash: string }> {
  const files = (await readdir(triggersDir)).filter((f) => f.endsWith('.sql')).sort();
  const texts = await Promise.all(files.map((f) => readFile(join(triggersDir, f), 'utf8')));
  const sql = texts.join('\n');
  return { sql, hash: createHash('sha256').update(sql).digest('hex') };
}

/**
 * Applies pending migrations, then the trigger scripts when they differ from those last
 * applied. Safe to call from many processes at once: they queue on one advisory lock.
 */
export async function migrate(databaseUrl: string | undefined, logger?: Logger): Promise<void> {
  const started = performance.now();
  const client = new pg.Client({
    ...connectionConfig(databaseUrl),
    application_name: 'rush migrate',
  });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [MIGRATE_LOCK]);
    const applied = await runMigrations({ client }, migrationsDir);
    const triggers = await loadTriggerScripts();
    const { rows } = await client.query<{ value: string }>(
      `SELECT value FROM rush_meta WHERE key = 'triggers_hash'`,
    );
    const triggersChanged = rows[0]?.value !== triggers.hash;
    if (triggersChanged) {
      await client.query('BEGIN');
      try {
        await client.query(triggers.sql);
        await client.query(
          `INSERT INTO rush_meta (key, value) VALUES ('triggers_hash', $1)
           ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
          [triggers.hash],
        );
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
    }
    logger?.info(
      {
        migrations: applied.map((m) => m.name),
        triggers: triggersChanged ? 'applied' : 'unchanged',
        ms: Math.round(performance.now() - started),
      },
      'schema ready',
    );
  } catch (error) {
    throw new Error(`migrating the database failed: ${(error as Error).message}`, {
      cause: error,
    });
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', [MIGRATE_LOCK]).catch(() => {});
    await client.end();
  }
}
