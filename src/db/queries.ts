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
  renewed?: boolean;
  /** The heartbeat of the master's own slots, when the tick was asked to beat for them. */
  beat?: BeatRow[];
}

/** A row of rush_worker_heartbeat, as the database names its columns. */
interface BeatRow extends Omit<SlotBeat, 'wasLost'> {
  was_lost: boolean;
  lease_free: boolean | null;
}

function toHeartbeat(rows: BeatRow[]): Heartbeat {
  return {
    slots: rows.map(({ worker, status, was_lost, attempt, cancel }) => ({
      worker,
      status,
      wasLost: was_lost,
      attempt,
      cancel,
    })),
    leaseFree: rows[0]?.lease_free ?? false,
  };
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

export interface SlotBeat {
  worker: string;
  /** null when the worker row is gone (an operator deleted it): register again. */
  status: string | null;
  /** The master had marked it Lost: what it still runs was failed and given to another. */
  wasLost: boolean;
  /** The attempt assigned to this slot, in case its notification was lost. */
  attempt: AttemptPayload | null;
  /** An attempt of this slot whose run was cancelled: abort it. */
  cancel: number | null;
}

export interface Heartbeat {
  slots: SlotBeat[];
  /** The master lease is free, or held under this process's name by a former process. */
  leaseFree: boolean;
}

/** The heartbeat of every slot of a process, in one statement. */
export async function heartbeat(
  db: Pool,
  workers: string[],
  processName: string,
  /** A channel to notify in the same statement, proving the listening connection still hears. */
  ping: string | null = null,
): Promise<Heartbeat> {
  const { rows } = await db.query<BeatRow>({
    name: 'rush_worker_heartbeat',
    text: `SELECT worker, status, was_lost, attempt, cancel, lease_free
           FROM rush_worker_heartbeat($1, $2, $3)`,
    values: [workers, processName, ping],
  });
  return toHeartbeat(rows);
}

/** The heartbeat a tick did for the master's own slots, if it was asked to. */
export function tickHeartbeat(summary: TickSummary): Heartbeat | undefined {
  return summary.master && summary.beat ? toHeartbeat(summary.beat) : undefined;
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

export interface Outcome {
  worker: string;
  attempt: number;
  ok: boolean;
  message: string | null;
  /** What the worker becomes when it takes no next attempt. */
  then: 'Free' | 'Offline';
}

export interface FinishResult {
  /** False when the attempt was no longer this worker's: the result was dropped. */
  taken: boolean;
  /** The attempt the worker took next in the same transaction, if any was Ready. */
  next: AttemptPayload | null;
}

/** Records outcomes and hands each worker its next attempt: one statement for a batch. */
export async function finishAttempts(db: Pool, outcomes: Outcome[]): Promise<FinishResult[]> {
  const { rows } = await db.query<{ results: (FinishResult & { attempt: number })[] | null }>({
    name: 'rush_finish_attempts',
    text: 'SELECT rush_finish_attempts($1) AS results',
    values: [JSON.stringify(outcomes.map(({ then, ...rest }) => ({ ...rest, then_status: then })))],
  });
  const byAttempt = new Map((rows[0]?.results ?? []).map((r) => [r.attempt, r]));
  return outcomes.map((o) => {
    const result = byAttempt.get(o.attempt);
    return { taken: result?.taken ?? false, next: result?.next ?? null };
  });
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
  options: {
    workerTtlSeconds: number;
    timeoutGraceSeconds: number;
    limit: number;
    /** Look for lost workers and overdue attempts too (on the timer and the sweep). */
    maintenance: boolean;
    /** Renew the lease for this many seconds in the same statement. */
    renewSeconds: number | null;
    /** Beat for these slots of the master's process first (and ping this channel). */
    beat?: { workers: string[]; ping: string | null };
  },
): Promise<TickSummary> {
  const { rows } = await db.query<{ summary: TickSummary }>({
    name: 'rush_master_tick',
    text: `SELECT rush_master_tick(p_master => $1, p_term => $2, p_limit => $3,
             p_worker_ttl_seconds => $4, p_timeout_grace_seconds => $5,
             p_maintenance => $6, p_renew_seconds => $7, p_beat_workers => $8,
             p_ping => $9) AS summary`,
    values: [
      master,
      term,
      options.limit,
      options.workerTtlSeconds,
      options.timeoutGraceSeconds,
      options.maintenance,
      options.renewSeconds,
      options.beat?.workers ?? null,
      options.beat?.ping ?? null,
    ],
  });
  return rows[0]?.summary ?? { master: false };
}
