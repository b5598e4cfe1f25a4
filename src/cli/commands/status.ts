import type { Command } from 'commander';
import type { Pool } from 'pg';
import { print, withPool, type GlobalOptions } from '../context.js';
import { formatAge, runLabel, shorten, type AttemptRef } from '../format.js';
import { renderTable, section } from '../table.js';

/** A request in flight (Pending, Accepted) with its live attempt, if it has one yet. */
export interface InFlight {
  request: number;
  pipeline: string;
  jobinstance: number | null;
  status: string;
  attempt: number | null;
  job: string | null;
  attempt_status: string | null;
  retry: number | null;
  worker: string | null;
  /** Since the attempt started, became ready, or the request was made; negative: ahead. */
  since_ms: number;
}

export interface StuckAttempt extends AttemptRef {
  since_ms: number | null;
  message: string | null;
}

export interface WorkerRow {
  name: string;
  host: string | null;
  pid: number | null;
  status: string;
  attempt: number | null;
  lastseen: Date;
  lastseen_ms: number;
}

export interface MasterRow {
  name: string | null;
  term: number;
  endtime: Date | null;
  /** Until the lease expires; null when nobody holds it. */
  expires_in_ms: number | null;
}

export interface Status {
  requests: InFlight[];
  stuck: StuckAttempt[];
  workers: WorkerRow[];
  master: MasterRow;
}

/**
 * One consistent snapshot (a read-only repeatable-read transaction), so that a worker and its
 * attempt never disagree. Every age is measured on the database's clock.
 */
export async function loadStatus(pool: Pool): Promise<Status> {
  const ms = (expression: string): string =>
    `round(extract(epoch FROM ${expression}) * 1000)::float8`;
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const requests = await client.query<InFlight>(
      `SELECT r.id AS request, r.pipeline, r.jobinstance, r.status, s.id AS attempt,
              coalesce(s.job, r.job) AS job, s.status AS attempt_status, s.retry, s.worker,
              ${ms('now() - coalesce(s.starttime, s.readytime, r.created)')} AS since_ms
       FROM run_request r LEFT JOIN run_state s ON s.request_id = r.id
       WHERE r.status IN ('Pending', 'Accepted')
       ORDER BY r.id, s.id`,
    );
    const stuck = await client.query<StuckAttempt>(
      `SELECT s.id AS attempt, s.request_id AS request, s.pipeline, s.job, s.jobinstance,
              s.retry, ${ms('now() - s.endtime')} AS since_ms, s.message
       FROM run_state s WHERE s.status = 'Stuck' ORDER BY s.id`,
    );
    const workers = await client.query<WorkerRow>(
      `SELECT w.name, w.host, w.pid, w.status, w.run_id AS attempt, w.lastseen,
              ${ms('now() - w.lastseen')} AS lastseen_ms
       FROM worker w ORDER BY w.name`,
    );
    const master = await client.query<MasterRow>(
      `SELECT t.master AS name, t.term,
              CASE WHEN t.master IS NOT NULL THEN t.endtime END AS endtime,
              CASE WHEN t.master IS NOT NULL THEN ${ms('t.endtime - now()')} END AS expires_in_ms
       FROM master_token t`,
    );
    await client.query('COMMIT');
    return {
      requests: requests.rows,
      stuck: stuck.rows,
      workers: workers.rows,
      master: master.rows[0] ?? { name: null, term: 0, endtime: null, expires_in_ms: null },
    };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

export function renderMaster(master: MasterRow): string {
  if (master.name === null) return `none (the lease is free; term ${master.term})`;
  const expires = master.expires_in_ms ?? 0;
  return expires > 0
    ? `${master.name}, term ${master.term}, lease expires ${formatAge(-expires)}`
    : `none: ${master.name}'s lease (term ${master.term}) expired ${formatAge(-expires)}`;
}

export function renderStatus(status: Status): string {
  const requests = renderTable(
    ['request', 'run', 'status', 'attempt', 'job', 'attempt status', 'worker', 'since'],
    status.requests.map((r) => [
      r.request,
      runLabel(r.pipeline, r.jobinstance),
      r.status,
      r.attempt,
      r.job,
      r.attempt_status === null
        ? null
        : `${r.attempt_status}${r.retry ? ` (retry ${r.retry})` : ''}`,
      r.worker,
      formatAge(r.since_ms),
    ]),
    { empty: '(no runs in flight)' },
  );
  const blocks = [section('runs in flight', requests)];
  if (status.stuck.length > 0) {
    const stuck = renderTable(
      ['attempt', 'request', 'run', 'job', 'retry', 'since', 'message'],
      status.stuck.map((s) => [
        s.attempt,
        s.request,
        runLabel(s.pipeline, s.jobinstance),
        s.job,
        s.retry,
        formatAge(s.since_ms),
        shorten(s.message, 50),
      ]),
    );
    blocks.push(section('stuck attempts (rush retry ATTEMPT)', stuck));
  }
  const workers = renderTable(
    ['worker', 'host', 'pid', 'status', 'attempt', 'last seen'],
    status.workers.map((w) => [
      w.name,
      w.host,
      w.pid,
      w.status,
      w.attempt,
      formatAge(w.lastseen_ms),
    ]),
    { empty: '(no workers have joined)' },
  );
  blocks.push(section('workers', workers), `master: ${renderMaster(status.master)}`);
  return blocks.join('\n\n');
}

export function statusCommand(program: Command, global: () => GlobalOptions): void {
  program
    .command('status')
    .description('runs in flight, stuck attempts, workers and the master')
    .action(async () => {
      const status = await withPool(global(), loadStatus);
      print(global(), status, () => renderStatus(status));
    });
}
