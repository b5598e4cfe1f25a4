import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startProxy } from '../support/proxy.js';
import { definePipeline, insertRequest } from '../support/sql.js';
import { waitForRequest, waitUntil } from '../support/wait.js';
import {
  assertNoLeakedWorkers,
  startWorker,
  stopAllWorkers,
  type WorkerProcess,
} from '../support/workers.js';

// Short clocks so that faults are seen in seconds; the defaults are 15 s.
const FAST = [
  '--worker-ttl',
  '2',
  '--lease-ttl',
  '2',
  '--poll-interval',
  '0.5',
  '--shutdown-grace',
  '5',
];

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await definePipeline(db.pool, 'nap', [{ name: 'sleep', retry_limit: 1, retry_gap_minutes: 0 }]);
});
afterEach(async () => {
  await stopAllWorkers('SIGKILL');
  await db.pool.query(
    `UPDATE run_request SET status = 'Cancelled' WHERE status IN ('Pending', 'Accepted');
     DELETE FROM run_state; DELETE FROM worker;
     UPDATE master_token SET master = NULL, endtime = '-infinity'`,
  );
});
afterAll(async () => {
  assertNoLeakedWorkers();
  await db.close();
});

function start(name: string): WorkerProcess {
  return startWorker({ name, databaseUrl: db.url, args: FAST });
}

async function started(worker: WorkerProcess): Promise<void> {
  await worker.waitForLog((l) => l.msg === 'worker started');
}

/** Inserts a request whose only job sleeps `ms`, and waits until it runs on some worker. */
async function napRunning(ms: number): Promise<{ id: number; worker: string }> {
  const id = await insertRequest(db.pool, { pipeline: 'nap', params: { sleep_ms: ms } });
  const worker = await waitUntil(
    db.url,
    [],
    async () => {
      const { rows } = await db.pool.query<{ worker: string }>(
        `SELECT worker FROM run_state WHERE request_id = $1 AND status = 'Running'`,
        [id],
      );
      return rows[0]?.worker;
    },
    { what: `request ${id} to run` },
  );
  return { id, worker };
}

describe('a worker dies', () => {
  it('is marked Lost after --worker-ttl, its attempt failed and retried on another worker', async () => {
    const boss = start('boss');
    await boss.waitForLog((l) => l.msg === 'became master');
    await napRunning(60_000); // keeps the master busy
    const victim = start('victim');
    await started(victim);
    const { id, worker } = await napRunning(1_000);
    expect(worker).toBe('victim');
    const spare = start('spare');
    await started(spare);

    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    const row = await waitForRequest(db.pool, db.url, id, ['Complete', 'Stuck']);
    expect(row.status).toBe('Complete');
    const { rows } = await db.pool.query<{
      worker: string;
      status: string;
      message: string | null;
      archived: Date;
    }>(`SELECT worker, status, message, archived FROM archive WHERE request_id = $1 ORDER BY id`, [
      id,
    ]);
    expect(rows.map((r) => [r.worker, r.status])).toEqual([
      ['victim', 'Failed'],
      ['spare', 'Complete'],
    ]);
    expect(rows[0]!.message).toMatch(/^worker 'victim' was lost: no heartbeat since /);
    console.info(
      `[faults] lost worker detected and failed in ${rows[0]!.archived.getTime() - killedAt} ms`,
    );
    const { rows: status } = await db.pool.query(`SELECT status FROM worker WHERE name = 'victim'`);
    expect(status).toEqual([{ status: 'Lost' }]);

    // It comes back under the same name: registered Free again, and takes work.
    const back = start('victim');
    await started(back);
    const { rows: again } = await db.pool.query(
      `SELECT status, run_id FROM worker WHERE name = 'victim'`,
    );
    expect(again).toEqual([{ status: 'Free', run_id: null }]);
  });
});

describe('a worker that stops answering but lives (paused, or cut off)', () => {
  it('loses its attempt to another worker, and when it wakes it aborts the job, its result refused', async () => {
    const boss = start('boss');
    await boss.waitForLog((l) => l.msg === 'became master');
    await napRunning(60_000); // keeps the master busy
    const sleeper = start('sleeper');
    await started(sleeper);
    const { id, worker } = await napRunning(20_000);
    expect(worker).toBe('sleeper');
    const spare = start('spare');
    await started(spare);

    sleeper.child.kill('SIGSTOP'); // no heartbeat, no result, but alive
    await waitUntil(
      db.url,
      [],
      async () => {
        const { rows } = await db.pool.query(
          `SELECT 1 FROM run_state WHERE request_id = $1 AND worker = 'spare' AND status = 'Running'`,
          [id],
        );
        return rows.length > 0 ? true : undefined;
      },
      { what: 'the retry to run on the spare worker' },
    );
    sleeper.child.kill('SIGCONT');
    await sleeper.waitForLog(
      (l) => l.msg === 'this worker had been marked Lost: aborting its attempt',
    );
    const dropped = await sleeper.waitForLog(
      (l) => l.msg === 'attempt finished, but it was no longer ours: result dropped',
    );
    expect(dropped.taken).toBe(false);
    const { rows } = await db.pool.query(`SELECT status FROM worker WHERE name = 'sleeper'`);
    expect(rows).toEqual([{ status: 'Free' }]);
    const { rows: history } = await db.pool.query<{ worker: string; status: string }>(
      `SELECT worker, status FROM archive WHERE request_id = $1 ORDER BY id`,
      [id],
    );
    expect(history).toEqual([{ worker: 'sleeper', status: 'Failed' }]);
  });
});

describe('the master dies', () => {
  it('is replaced by a standby within --lease-ttl, and runs go on', async () => {
    const boss = start('boss');
    await boss.waitForLog((l) => l.msg === 'became master');
    const standby = start('standby');
    await started(standby);
    const killedAt = Date.now();
    boss.child.kill('SIGKILL');
    const took = await standby.waitForLog((l) => l.msg === 'became master', 10_000);
    console.info(`[faults] standby became master ${Number(took.time) - killedAt} ms after kill -9`);
    const id = await insertRequest(db.pool, { pipeline: 'nap', params: { sleep_ms: 1 } });
    expect((await waitForRequest(db.pool, db.url, id, ['Complete', 'Stuck'])).status).toBe(
      'Complete',
    );
    const { rows } = await db.pool.query(`SELECT master, term FROM master_token`);
    expect(rows[0]).toMatchObject({ master: 'standby' });
  });
});

describe('a clean stop (SIGTERM)', () => {
  it('lets the running job finish, goes Offline, and hands the lease over at once', async () => {
    const boss = start('boss');
    await boss.waitForLog((l) => l.msg === 'became master');
    const { id } = await napRunning(1_500);
    const standby = start('standby');
    await standby.waitForLog((l) => l.msg === 'sweep'); // its start-up sweep found the lease held
    const stoppedAt = Date.now();
    const exit = boss.stop('SIGTERM');
    const took = await standby.waitForLog((l) => l.msg === 'became master', 10_000);
    expect(await exit).toBe(0);
    console.info(
      `[faults] standby became master ${Number(took.time) - stoppedAt} ms after SIGTERM`,
    );
    expect(took.woke).toBe('notify');
    expect(took.channel).toBe('rush_lease');
    expect((await waitForRequest(db.pool, db.url, id, ['Complete', 'Stuck'])).status).toBe(
      'Complete',
    );
    const { rows } = await db.pool.query(`SELECT status FROM worker WHERE name = 'boss'`);
    expect(rows).toEqual([{ status: 'Offline' }]);
  });

  it('keeps beating while a job uses its grace, so the job is not taken for a lost one', async () => {
    const worker = start('patient');
    await worker.waitForLog((l) => l.msg === 'became master');
    const { id } = await napRunning(4_000); // twice --worker-ttl, within --shutdown-grace
    const spare = start('spare');
    await started(spare);
    expect(await worker.stop('SIGTERM', 30_000)).toBe(0);
    expect((await waitForRequest(db.pool, db.url, id, ['Complete', 'Stuck'])).status).toBe(
      'Complete',
    );
    const { rows } = await db.pool.query(
      `SELECT worker, status FROM archive WHERE request_id = $1`,
      [id],
    );
    expect(rows).toEqual([{ worker: 'patient', status: 'Complete' }]);
  });

  it('aborts and fails the job after --shutdown-grace, and a second signal stops at once', async () => {
    const worker = start('slowpoke');
    await worker.waitForLog((l) => l.msg === 'became master');
    const first = await napRunning(60_000);
    const exit = worker.stop('SIGTERM', 30_000);
    await worker.waitForLog((l) => l.msg === 'worker stopping');
    // The grace is 5 s: well before it, the second signal ends it.
    worker.child.kill('SIGTERM');
    expect(await exit).toBe(130);
    const { rows } = await db.pool.query<{ status: string; message: string }>(
      `SELECT status, message FROM archive WHERE request_id = $1
       UNION ALL SELECT status, message FROM run_state WHERE request_id = $1`,
      [first.id],
    );
    expect(rows[0]).toMatchObject({ status: 'Failed' });
    expect(rows[0]!.message).toMatch(/aborted: worker "slowpoke" stopped \(SIGTERM, twice\)/);
  });
});

describe('a listening connection that dies silently', () => {
  it('is noticed by the worker notifying itself, and replaced', async () => {
    const server = new URL(db.url);
    const proxy = await startProxy(Number(server.port || 5432));
    try {
      const viaProxy = new URL(db.url);
      viaProxy.hostname = '127.0.0.1';
      viaProxy.port = String(proxy.port);
      const worker = startWorker({
        name: 'deaf',
        databaseUrl: viaProxy.toString(),
        args: [...FAST, '--listen-check', '1'],
      });
      await worker.waitForLog((l) => l.msg === 'became master');
      // Its listening connection stays open but carries nothing more, like a dropped NAT entry.
      expect(proxy.blackhole('rush listen')).toBe(1);
      await worker.waitForLog(
        (l) =>
          l.msg ===
          'listening connection silent (its own notification never came back): reconnecting',
      );
      // The new connection hears again: a request starts from a notification, not a sweep.
      await worker.waitForLog(
        () => worker.logs.filter((l) => l.msg === 'listening for notifications').length >= 2,
      );
      const id = await insertRequest(db.pool, { pipeline: 'nap', params: { sleep_ms: 1 } });
      expect((await waitForRequest(db.pool, db.url, id, ['Complete', 'Stuck'])).status).toBe(
        'Complete',
      );
      const run = await worker.waitForLog(
        (l) => l.msg === 'attempt started' && l.jobinstance !== undefined,
      );
      expect(run.woke).toBe('notify');
    } finally {
      await stopAllWorkers('SIGKILL');
      await proxy.close();
    }
  });
});

describe('a connection that cannot LISTEN (PgBouncer in transaction mode)', () => {
  it('says so once, polls, and listens as soon as it can', async () => {
    const server = new URL(db.url);
    const proxy = await startProxy(Number(server.port || 5432));
    try {
      proxy.refuse('rush listen');
      const viaProxy = new URL(db.url);
      viaProxy.hostname = '127.0.0.1';
      viaProxy.port = String(proxy.port);
      const worker = startWorker({
        name: 'unheard',
        databaseUrl: viaProxy.toString(),
        args: [...FAST, '--listen-check', '1'],
      });
      await worker.waitForLog((l) => l.msg === 'LISTEN failed: falling back to polling only');
      await worker.waitForLog((l) => l.msg === 'worker started' && l.listen === false);
      const polled = await insertRequest(db.pool, { pipeline: 'nap', params: { sleep_ms: 1 } });
      expect((await waitForRequest(db.pool, db.url, polled, ['Complete', 'Stuck'])).status).toBe(
        'Complete',
      );
      const first = await worker.waitForLog((l) => l.msg === 'attempt started');
      // Found by the heartbeat of a sweep (the first one runs at start), never by a notification.
      expect(['start', 'sweep']).toContain(first.woke);

      proxy.refuse(undefined);
      await worker.waitForLog((l) => l.msg === 'listening for notifications');
      const heard = await insertRequest(db.pool, { pipeline: 'nap', params: { sleep_ms: 1 } });
      expect((await waitForRequest(db.pool, db.url, heard, ['Complete', 'Stuck'])).status).toBe(
        'Complete',
      );
      const later = worker.logs.filter((l) => l.msg === 'attempt started');
      expect(later[later.length - 1]?.woke).toBe('notify');
    } finally {
      await stopAllWorkers('SIGKILL');
      await proxy.close();
    }
  });
});
