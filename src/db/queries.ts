import type { Pool } from 'pg';
import './types.js';

/**
 * Every statement the runtime sends, in one place. The work itself is done by the server-side
 * functions in triggers/ (one round trip each); these are their typed, parameterised calls,
 * named so that PostgreSQL keeps them prepared per connection.
 */

export interface AttemptPayload {
  id: number;
  pipeline: string;
  job: string;
  jobinstance: number;
  retry: number;
  class_name: string | null;
  timeout_minutes: number | string | null;
  params: Record<string, unknown>;
}

export interface TickSummary {
  master: boolean;
  accepted?: number;
  rejected?: number;
  archived?: number;
  next_jobs?: number;
  retries?: number;
  stuck?: number;
  completed?: number;
  lost_workers?: number;
  timed_out?: number;
  released?: number;
  assigned?: number;
  more?: boolean;
  next_wake_at?: string | null;
  next_wake_in_ms?: number | null;
}

export interface Lease {
  term: number;
  endtime: Date;
}

export async function registerWorker(
  db: Pool,
  worker: string,
  host: string,
  pid: number,
): Promise<string> {
  const { rows } = await db.query<{ channel: string }>({
    name: 'rush_register_worker',
    text: 'SELECT rush_register_worker($1, $2, $3) AS channel',
    values: [worker, host, pid],
  });
  return rows[0]!.channel;
}

export interface Heartbeat {
  /** null when the worker row is gone (an operator deleted it): register again. */
  status: string | null;
  /** The attempt assigned to this worker, in case its notification was lost. */
  attempt: AttemptPayload | null;
  /** An attempt of this worker whose run was cancelled: abort it. */
  cancel: number | null;
  leaseFree: boolean;
}

export async function heartbeat(db: Pool, worker: string): Promise<Heartbeat> {
  const { rows } = await db.query<{
    status: string | null;
    attempt: AttemptPayload | null;
    cancel: number | null;
    lease_free: boolean | null;
  }>({
    name: 'rush_worker_heartbeat',
    text: 'SELECT status, attempt, cancel, lease_free FROM rush_worker_heartbeat($1)',
    values: [worker],
  });
  const row = rows[0];
  return {
    status: row?.status ?? null,
    attempt: row?.attempt ?? null,
    cancel: row?.cancel ?? null,
    leaseFree: row?.lease_free ?? false,
  };
}

export async function attemptForWorker(
  db: Pool,
  worker: string,
  attempt: number,
): Promise<AttemptPayload | null> {
  const { rows } = await db.query<{ payload: AttemptPayload | null }>({
    name: 'rush_attempt_for_worker',
    text: 'SELECT rush_attempt_for_worker($1, $2) AS payload',
    values: [worker, attempt],
  });
  return rows[0]?.payload ?? null;
}

export interface FinishResult {
  /** False when the attempt was no longer this worker's: the result was dropped. */
  taken: boolean;
  /** The attempt the worker took next in the same transaction, if any was Ready. */
  next: AttemptPayload | null;
}

export async function finishAttempt(
  db: Pool,
  worker: string,
  attempt: number,
  ok: boolean,
  message: string | null,
  then: 'Free' | 'Offline',
): Promise<FinishResult> {
  const { rows } = await db.query<{ result: FinishResult }>({
    name: 'rush_finish_attempt',
    text: 'SELECT rush_finish_attempt($1, $2, $3, $4, $5) AS result',
    values: [worker, attempt, ok, message, then],
  });
  return rows[0]?.result ?? { taken: false, next: null };
}

export async function workerOffline(db: Pool, worker: string): Promise<void> {
  await db.query('SELECT rush_worker_offline($1)', [worker]);
}

export async function acquireLease(
  db: Pool,
  master: string,
  ttlSeconds: number,
): Promise<Lease | null> {
  const { rows } = await db.query<Lease>({
    name: 'rush_acquire_lease',
    text: 'SELECT term, endtime FROM rush_acquire_lease($1, $2)',
    values: [master, ttlSeconds],
  });
  return rows[0] ?? null;
}

export async function renewLease(
  db: Pool,
  master: string,
  term: number,
  ttlSeconds: number,
): Promise<Lease | null> {
  const { rows } = await db.query<Lease>({
    name: 'rush_renew_lease',
    text: 'SELECT term, endtime FROM rush_renew_lease($1, $2, $3)',
    values: [master, term, ttlSeconds],
  });
  return rows[0] ?? null;
}

export async function releaseLease(db: Pool, master: string, term: number): Promise<boolean> {
  const { rows } = await db.query<{ released: boolean }>(
    'SELECT rush_release_lease($1, $2) AS released',
    [master, term],
  );
  return rows[0]?.released ?? false;
}

export async function masterTick(
  db: Pool,
  master: string,
  term: number,
  options: { workerTtlSeconds: number; timeoutGraceSeconds: number; limit: number },
): Promise<TickSummary> {
  const { rows } = await db.query<{ summary: TickSummary }>({
    name: 'rush_master_tick',
    text: `SELECT rush_master_tick(p_master => $1, p_term => $2, p_limit => $3,
             p_worker_ttl_seconds => $4, p_timeout_grace_seconds => $5) AS summary`,
    values: [master, term, options.limit, options.workerTtlSeconds, options.timeoutGraceSeconds],
  });
  return rows[0]?.summary ?? { master: false };
}
