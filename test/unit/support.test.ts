import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { waitForRequest, waitUntil } from '../support/wait.js';

/** Long enough that only a notification can wake the check within a test's lifetime. */
const NO_SAFETY_NET = 3_600_000;

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query('CREATE TABLE wait_probe (id integer PRIMARY KEY, value text NOT NULL)');
});

afterAll(async () => {
  await db?.close();
});

/**
 * A check for the probe row `id` that counts its runs and says when the first one (which runs
 * only after LISTEN is in place) has found nothing.
 */
function probeCheck(id: number) {
  let checks = 0;
  let firstMiss!: () => void;
  const firstCheckMissed = new Promise<void>((resolve) => (firstMiss = resolve));
  const check = async (): Promise<string | undefined> => {
    checks++;
    const { rows } = await db.pool.query<{ value: string }>(
      'SELECT value FROM wait_probe WHERE id = $1',
      [id],
    );
    if (checks === 1 && rows.length === 0) firstMiss();
    return rows[0]?.value;
  };
  return { check, firstCheckMissed, checks: () => checks };
}

describe('createTestDatabase', () => {
  it('clones the migrated template into a database of this run', async () => {
    expect(db.name).toMatch(/^rush_t_[0-9a-f]+_[0-9a-f]+$/);
    const { rows } = await db.pool.query<{ db: string; table: string | null }>(
      `SELECT current_database() AS db, to_regclass('run_request')::text AS table`,
    );
    expect(rows[0]).toEqual({ db: db.name, table: 'run_request' });
  });
});

describe('waitUntil', () => {
  it('runs the check again when a NOTIFY arrives on a channel', async () => {
    const probe = probeCheck(1);
    const waiting = waitUntil(db.url, ['probe_channel'], probe.check, {
      what: 'probe row 1',
      safetyNetMs: NO_SAFETY_NET,
    });
    await probe.firstCheckMissed;
    await db.pool.query(
      `INSERT INTO wait_probe VALUES (1, 'notified'); SELECT pg_notify('probe_channel', '1')`,
    );
    await expect(waiting).resolves.toBe('notified');
    // The first check, then the one the notification woke: no timer was involved.
    expect(probe.checks()).toBe(2);
  });

  it('listens on channel names that need quoting', async () => {
    const channel = 'Probe "odd" channel';
    const probe = probeCheck(2);
    const waiting = waitUntil(db.url, ['unrelated', channel], probe.check, {
      what: 'probe row 2',
      safetyNetMs: NO_SAFETY_NET,
    });
    await probe.firstCheckMissed;
    await db.pool.query('INSERT INTO wait_probe VALUES (2, $1)', ['odd']);
    await db.pool.query('SELECT pg_notify($1, $2)', [channel, '2']);
    await expect(waiting).resolves.toBe('odd');
  });

  it('finds a change that came without a notification', async () => {
    const probe = probeCheck(3);
    const waiting = waitUntil(db.url, ['probe_channel'], probe.check, { what: 'probe row 3' });
    await probe.firstCheckMissed;
    await db.pool.query(`INSERT INTO wait_probe VALUES (3, 'polled')`);
    await expect(waiting).resolves.toBe('polled');
  });

  it('rejects on timeout, naming what it waited for and the last value seen', async () => {
    const waiting = waitUntil(
      db.url,
      ['probe_channel'],
      (seen) => {
        seen({ status: 'Pending' });
        return Promise.resolve(undefined);
      },
      { timeoutMs: 300, what: 'the probe to turn green' },
    );
    await expect(waiting).rejects.toThrow(
      /timed out after \d+ ms waiting for the probe to turn green; last seen: \{"status":"Pending"\}/,
    );
  });

  it('rejects at once when the check fails', async () => {
    const waiting = waitUntil(
      db.url,
      ['probe_channel'],
      async () => {
        await db.pool.query('SELECT * FROM no_such_table');
        return 'unreachable';
      },
      { what: 'a broken check', timeoutMs: 20_000 },
    );
    await expect(waiting).rejects.toThrow('checking for a broken check failed');
  });
});

describe('waitForRequest', () => {
  it('returns the run_request row once its status is one of those asked for', async () => {
    const { rows } = await db.pool.query<{ id: string }>(
      `INSERT INTO run_request (pipeline, job, jobinstance) VALUES ('probe', 'first', 1)
       RETURNING id`,
    );
    const id = Number(rows[0]?.id);
    const waiting = waitForRequest(db.pool, db.url, id, ['Rejected', 'Complete']);
    await db.pool.query(
      `UPDATE run_request SET status = 'Rejected', message = 'probe' WHERE id = $1`,
      [id],
    );
    const row = await waiting;
    expect(row).toMatchObject({ pipeline: 'probe', status: 'Rejected', message: 'probe' });
    expect(Number(row.id)).toBe(id);
  });

  it('says which request and statuses it waited for on timeout', async () => {
    await expect(waitForRequest(db.pool, db.url, 987654, ['Complete'], 300)).rejects.toThrow(
      /run_request 987654 to reach Complete; last seen: "no run_request with id 987654"/,
    );
  });
});
