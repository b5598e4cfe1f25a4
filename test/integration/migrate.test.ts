import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTriggerScripts, migrate } from '../../src/db/migrate.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.close();
});

describe('migrate', () => {
  it('builds the schema from an empty database, from many processes at once', async () => {
    await db.pool.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
    await Promise.all(Array.from({ length: 6 }, () => migrate(db.url)));
    const { rows } = await db.pool.query<{ name: string }>(
      `SELECT name FROM migrations ORDER BY id`,
    );
    expect(rows.map((r) => r.name)).toEqual([
      'create-migrations-table',
      'tables',
      'pipeline_job_table',
      'hot_path_indexes',
      'roles',
      'master_contact',
    ]);
    const { rows: meta } = await db.pool.query(
      `SELECT value FROM rush_meta WHERE key = 'triggers_hash'`,
    );
    expect(meta).toEqual([{ value: (await loadTriggerScripts()).hash }]);
    const { rows: triggers } = await db.pool.query<{ tgname: string }>(
      `SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname`,
    );
    expect(triggers.map((t) => t.tgname)).toEqual([
      'master_token_released',
      'pipeline_check_definition',
      'pipeline_refresh_jobs',
      'run_request_accept_at_commit',
      'run_request_cancelled',
      'run_request_defaults',
      'run_request_queue',
      'run_request_reopened',
      'run_request_status_changed',
      'run_request_touched',
      'run_state_inserted',
      'run_state_updated',
      'worker_inserted',
      'worker_updated',
    ]);
  });

  it('re-applies changed trigger scripts, dropping what they no longer define', async () => {
    await db.pool.query(`CREATE FUNCTION rush_left_over() RETURNS int LANGUAGE sql AS 'SELECT 1'`);
    await db.pool.query(`UPDATE rush_meta SET value = 'stale' WHERE key = 'triggers_hash'`);
    await migrate(db.url);
    const { rows } = await db.pool.query(`SELECT 1 FROM pg_proc WHERE proname = 'rush_left_over'`);
    expect(rows).toEqual([]);
  });

  it('says what failed when the database cannot be reached', async () => {
    const url = new URL(db.url);
    url.pathname = '/rush_no_such_database';
    await expect(migrate(url.toString())).rejects.toThrow(/rush_no_such_database/);
  });

  it('leaves no session behind', async () => {
    await migrate(db.url);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const { rows } = await client.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
         AND application_name = 'rush migrate'`,
    );
    await client.end();
    expect(rows[0]).toEqual({ n: 0 });
  });
});
