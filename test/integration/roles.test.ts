/**
 * The roles of sql/4_roles.sql, used as a deployment would: a login role per test that is a
 * member of rush_client or rush_worker, connected to this file's database. What each may do
 * works; everything else is refused with SQLSTATE 42501 (insufficient_privilege).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { runCliJson } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { definePipeline } from '../support/sql.js';
import { waitForRequest } from '../support/wait.js';
import { assertNoLeakedWorkers, startWorker, stopAllWorkers } from '../support/workers.js';

interface LoginRole {
  name: string;
  url: string;
  pool: pg.Pool;
}

let db: TestDatabase;
const roles: LoginRole[] = [];

/**
 * A LOGIN role in `group`, with a password: the machine server trusts local connections, the
 * embedded one asks for a password.
 */
async function createLoginRole(group: 'rush_client' | 'rush_worker'): Promise<LoginRole> {
  const name = `rush_t_${group.slice('rush_'.length)}_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(16).toString('hex');
  await db.pool.query(
    `CREATE ROLE ${pg.escapeIdentifier(name)} LOGIN PASSWORD ${pg.escapeLiteral(password)}
     IN ROLE ${pg.escapeIdentifier(group)}`,
  );
  const url = new URL(db.url);
  url.username = name;
  url.password = password;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
  pool.on('error', () => undefined);
  const role = { name, url: url.toString(), pool };
  roles.push(role);
  return role;
}

/** 'ok', or the SQLSTATE the statement failed with. */
async function outcome(pool: pg.Pool, sql: string): Promise<string> {
  try {
    await pool.query(sql);
    return 'ok';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

/** Runs every statement and expects each to be refused with 42501; one diff shows them all. */
async function expectRefused(pool: pg.Pool, statements: string[]): Promise<void> {
  const seen: Record<string, string> = {};
  for (const sql of statements) seen[sql] = await outcome(pool, sql);
  expect(seen).toEqual(Object.fromEntries(statements.map((sql) => [sql, '42501'])));
}

/** A connection that LISTENs on `channel` and keeps every payload, in order. */
async function listenAs(url: string, channel: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const payloads: string[] = [];
  const waiters = new Set<() => void>();
  client.on('notification', (n) => {
    if (n.channel !== channel) return;
    payloads.push(n.payload ?? '');
    for (const waiter of waiters) waiter();
  });
  await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
  return {
    payloads,
    /** Resolves once a payload matches. */
    waitFor(match: (payload: string) => boolean, timeoutMs = 20_000): Promise<string> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching notification on ${channel}: ${payloads.join(' | ')}`));
        }, timeoutMs);
        const check = (): void => {
          const found = payloads.find(match);
          if (found === undefined) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(found);
        };
        waiters.add(check);
        check();
      });
    },
    close: () => client.end(),
  };
}

beforeAll(async () => {
  db = await createTestDatabase();
  await definePipeline(db.pool, 'etl', [
    { name: 'extract', retry_limit: 1, retry_gap_minutes: 0 },
    { name: 'load', retry_limit: 1, retry_gap_minutes: 0 },
  ]);
  await db.pool.query(
    `INSERT INTO job_parameter VALUES ('etl', 'extract', 'secret_path', '/srv/etl/extract')`,
  );
});

afterAll(async () => {
  await stopAllWorkers();
  assertNoLeakedWorkers();
  await Promise.all(roles.map((role) => role.pool.end()));
  for (const { name } of roles) {
    // Owns nothing by design; DROP OWNED also removes any privilege granted to it here.
    await db.pool.query(`DROP OWNED BY ${pg.escapeIdentifier(name)}`);
    await db.pool.query(`DROP ROLE ${pg.escapeIdentifier(name)}`);
  }
  await db.close();
});

describe('the roles', () => {
  it('are cluster-wide group roles that cannot log in', async () => {
    const { rows } = await db.pool.query(
      `SELECT rolname, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb
       FROM pg_roles WHERE rolname IN ('rush_client', 'rush_worker') ORDER BY rolname`,
    );
    expect(rows).toEqual(
      ['rush_client', 'rush_worker'].map((rolname) => ({
        rolname,
        rolcanlogin: false,
        rolsuper: false,
        rolcreaterole: false,
        rolcreatedb: false,
      })),
    );
  });
});

describe('rush_client', () => {
  let client: LoginRole;
  beforeAll(async () => {
    client = await createLoginRole('rush_client');
  });

  it('inserts run requests, the database filling in the defaults, and reads them back', async () => {
    const { rows } = await client.pool.query(
      `INSERT INTO run_request (pipeline) VALUES ('etl')
       RETURNING pipeline, job, jobinstance, status, params, message`,
    );
    expect(rows).toEqual([
      {
        pipeline: 'etl',
        job: 'extract',
        jobinstance: 1,
        status: 'Accepted',
        params: null,
        message: null,
      },
    ]);
    const explicit = await client.pool.query<{ id: string }>(
      `INSERT INTO run_request (pipeline, job, jobinstance, params) VALUES ($1, $2, $3, $4)
       RETURNING id`,
      ['etl', 'load', 41, { day: '2024-01-02' }],
    );
    const { rows: read } = await client.pool.query(
      `SELECT pipeline, job, jobinstance, status, params FROM run_request WHERE id = $1`,
      [explicit.rows[0]!.id],
    );
    expect(read).toEqual([
      {
        pipeline: 'etl',
        job: 'load',
        jobinstance: 41,
        status: 'Accepted',
        params: { day: '2024-01-02' },
      },
    ]);
  });

  it('hands its request to a Free worker as it commits, though it may not touch run_state', async () => {
    await db.pool.query(`SELECT rush_register_worker('w-client', 'host', 1)`);
    try {
      await client.pool.query(`INSERT INTO run_request (pipeline) VALUES ('etl')`);
      // The oldest Ready attempt goes first: this request's or an earlier test's.
      const { rows: attempts } = await db.pool.query(
        `SELECT s.status, w.status AS worker_status FROM worker w
         JOIN run_state s ON s.id = w.run_id AND s.worker = w.name WHERE w.name = 'w-client'`,
      );
      expect(attempts).toEqual([{ status: 'Running', worker_status: 'Busy' }]);
    } finally {
      await db.pool.query(`SELECT rush_worker_offline('w-client')`);
    }
  });

  it('commits under REPEATABLE READ though a heartbeat moved a worker, leaving the hand-off to the master', async () => {
    await db.pool.query(`SELECT rush_register_worker('w-rr', 'host', 1)`);
    const master = await listenAs(db.url, 'rush_master');
    const session = await client.pool.connect();
    try {
      await session.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await session.query('SELECT 1 FROM run_request LIMIT 1'); // takes the snapshot
      await db.pool.query(`UPDATE worker SET lastseen = now() WHERE name = 'w-rr'`);
      const { rows } = await session.query<{ id: string }>(
        `INSERT INTO run_request (pipeline) VALUES ('etl') RETURNING id`,
      );
      await session.query('COMMIT');
      await expect(master.waitFor((p) => p === 'request')).resolves.toBe('request');
      const { rows: attempts } = await db.pool.query(
        'SELECT status FROM run_state WHERE request_id = $1',
        [rows[0]!.id],
      );
      expect(attempts).toEqual([{ status: 'Ready' }]);
    } finally {
      session.release(true);
      await master.close();
      await db.pool.query(`SELECT rush_worker_offline('w-rr')`);
    }
  });

  it('wakes the master with its insert when it leaves the request to it', async () => {
    const master = await listenAs(db.url, 'rush_master');
    const session = await client.pool.connect();
    try {
      await session.query('SET rush.accept_at_commit = off');
      await session.query(`INSERT INTO run_request (pipeline) VALUES ('etl')`);
      await expect(master.waitFor((p) => p === 'request')).resolves.toBe('request');
    } finally {
      session.release(true);
      await master.close();
    }
  });

  it('cannot steer the defaults with temporary tables of its own', async () => {
    const session = await client.pool.connect();
    try {
      await session.query(
        `CREATE TEMP TABLE pipeline_job (pipeline text, position int, job text);
         INSERT INTO pipeline_job VALUES ('etl', 1, 'hijacked');
         CREATE TEMP TABLE run_request (pipeline text, jobinstance int);
         INSERT INTO run_request VALUES ('etl', 1000)`,
      );
      const { rows } = await session.query(
        `INSERT INTO public.run_request (pipeline) VALUES ('etl') RETURNING job, jobinstance`,
      );
      expect(rows[0]).toMatchObject({ job: 'extract' });
      expect((rows[0] as { jobinstance: number }).jobinstance).toBeLessThan(1000);
    } finally {
      await session.query('DISCARD TEMP').catch(() => undefined);
      session.release();
    }
  });

  it('requests a run with rush run', async () => {
    const row = await runCliJson<Record<string, unknown>>(['run', 'etl', '--param', 'a=b'], {
      DATABASE_URL: client.url,
    });
    expect(row).toMatchObject({
      pipeline: 'etl',
      job: 'extract',
      status: 'Accepted',
      params: { a: 'b' },
    });
  });

  it('may do nothing else', async () => {
    const { rows } = await db.pool.query<{ id: string }>(
      `INSERT INTO run_request (pipeline) VALUES ('etl') RETURNING id`,
    );
    const id = rows[0]!.id;
    await expectRefused(client.pool, [
      // its requests are the master's to change, an operator's to cancel
      `UPDATE run_request SET status = 'Cancelled' WHERE id = ${id}`,
      `UPDATE run_request SET params = '{}' WHERE id = ${id}`,
      `DELETE FROM run_request WHERE id = ${id}`,
      `TRUNCATE run_request`,
      `INSERT INTO run_request (pipeline, status) VALUES ('etl', 'Accepted')`,
      `INSERT INTO run_request (pipeline, message) VALUES ('etl', 'forged')`,
      `INSERT INTO run_request (id, pipeline) VALUES (99999, 'etl')`,
      `SELECT setval('run_request_id_seq', 99999)`,
      // what runs, where, and how it went
      `SELECT * FROM pipeline`,
      `SELECT * FROM pipeline_job`,
      `SELECT * FROM job_parameter`,
      `SELECT * FROM run_state`,
      `SELECT * FROM archive`,
      `SELECT * FROM worker`,
      `SELECT * FROM master_token`,
      `SELECT * FROM rush_meta`,
      `SELECT * FROM migrations`,
      `SELECT nextval('run_state_id_seq')`,
      `INSERT INTO pipeline (name, definition)
       VALUES ('evil', '{"jobs":[{"name":"x","class_name":"jobs.run_command.RunCommand"}]}')`,
      `INSERT INTO job_parameter VALUES ('etl', 'extract', 'command_to_run', 'id')`,
      `INSERT INTO worker (name) VALUES ('intruder')`,
      // the server-side functions run with the caller's rights
      `SELECT rush_master_tick('intruder', 1)`,
      `SELECT rush_finish_attempts('[]')`,
      `SELECT rush_register_worker('intruder', 'host', 1)`,
      `SELECT * FROM rush_acquire_lease('intruder', 60)`,
      `SELECT rush_cancel_request(${id})`,
      `SELECT rush_retry_attempt(1)`,
      `SELECT rush_refresh_pipeline_jobs(NULL)`,
      // the schema
      `CREATE TABLE intruder (id int)`,
      `DROP TABLE run_request`,
      `ALTER TABLE run_request DISABLE TRIGGER run_request_defaults`,
    ]);
    const { rows: after } = await db.pool.query(
      `SELECT status, params FROM run_request WHERE id = $1`,
      [id],
    );
    expect(after).toEqual([{ status: 'Accepted', params: null }]);
  });
});

describe('rush_worker', () => {
  let worker: LoginRole;
  let client: LoginRole;
  beforeAll(async () => {
    [worker, client] = await Promise.all([
      createLoginRole('rush_worker'),
      createLoginRole('rush_client'),
    ]);
  });

  it('finds nothing to migrate in an up-to-date schema, and may not change it', async () => {
    await expect(migrate(worker.url)).resolves.toBeUndefined();
    const { rows } = await db.pool.query<{ value: string }>(
      `SELECT value FROM rush_meta WHERE key = 'triggers_hash'`,
    );
    await db.pool.query(`UPDATE rush_meta SET value = 'stale' WHERE key = 'triggers_hash'`);
    try {
      const failure = await migrate(worker.url).then(
        () => undefined,
        (error: unknown) => error as Error,
      );
      expect(failure?.message).toMatch(/^migrating the database failed: .*must be owner/);
      expect(failure?.cause).toMatchObject({ code: '42501' });
    } finally {
      await db.pool.query(`UPDATE rush_meta SET value = $1 WHERE key = 'triggers_hash'`, [
        rows[0]!.value,
      ]);
    }
  });

  it('runs a worker process that takes a client request through a retry to Complete', async () => {
    const proc = startWorker({
      name: 'least-privilege',
      databaseUrl: worker.url,
      args: ['--no-migrate'],
    });
    await proc.waitForLog((line) => line.msg === 'worker started');
    const listener = await listenAs(client.url, 'rush_run_request');
    try {
      const { rows } = await client.pool.query<{ id: string }>(
        `INSERT INTO run_request (pipeline, params) VALUES ('etl', '{"fail_until_retry": "1"}')
         RETURNING id`,
      );
      const id = rows[0]!.id;
      await listener.waitFor((payload) => payload.split(',').includes(`${id}:Complete`));
      const { rows: seen } = await client.pool.query(
        `SELECT status, message FROM run_request WHERE id = $1`,
        [id],
      );
      expect(seen).toEqual([{ status: 'Complete', message: null }]);

      const { rows: attempts } = await db.pool.query(
        `SELECT job, retry, status, worker FROM archive WHERE request_id = $1 ORDER BY id`,
        [id],
      );
      expect(attempts).toEqual([
        { job: 'extract', retry: 0, status: 'Failed', worker: 'least-privilege' },
        { job: 'extract', retry: 1, status: 'Complete', worker: 'least-privilege' },
        { job: 'load', retry: 0, status: 'Failed', worker: 'least-privilege' },
        { job: 'load', retry: 1, status: 'Complete', worker: 'least-privilege' },
      ]);
    } finally {
      await listener.close();
    }

    // A second run, waited on as the tests do elsewhere, to see the worker settle again.
    const again = await db.pool.query<{ id: string }>(
      `INSERT INTO run_request (pipeline) VALUES ('etl') RETURNING id`,
    );
    await waitForRequest(db.pool, db.url, again.rows[0]!.id, ['Complete']);

    expect(await proc.stop()).toBe(0);
    const { rows: state } = await db.pool.query(
      `SELECT (SELECT status FROM worker WHERE name = 'least-privilege') AS worker,
              (SELECT master FROM master_token) AS master`,
    );
    expect(state).toEqual([{ worker: 'Offline', master: null }]);
    const refusals = proc.logs.filter((line) =>
      /permission denied|must be owner/.test(JSON.stringify(line)),
    );
    expect(refusals).toEqual([]);
    expect(proc.stderr).toBe('');
  });

  it('may not define what runs, rewrite history or change the schema', async () => {
    await expectRefused(worker.pool, [
      `INSERT INTO pipeline (name, definition)
       VALUES ('evil', '{"jobs":[{"name":"x","class_name":"jobs.run_command.RunCommand"}]}')`,
      `UPDATE pipeline SET definition = definition`,
      `DELETE FROM pipeline`,
      `INSERT INTO job_parameter VALUES ('etl', 'extract', 'command_to_run', 'id')`,
      `UPDATE job_parameter SET value = 'id'`,
      `DELETE FROM job_parameter`,
      `DELETE FROM pipeline_job`,
      `UPDATE archive SET status = 'Complete'`,
      `DELETE FROM archive`,
      `DELETE FROM run_request`,
      `INSERT INTO run_request (pipeline) VALUES ('etl')`,
      `DELETE FROM worker`,
      `UPDATE rush_meta SET value = 'x'`,
      `DELETE FROM migrations`,
      `TRUNCATE run_state`,
      `SELECT rush_refresh_pipeline_jobs(NULL)`,
      `CREATE TABLE intruder (id int)`,
      `DROP TABLE run_request`,
      `ALTER TABLE run_state DISABLE TRIGGER run_state_updated`,
    ]);
  });
});
