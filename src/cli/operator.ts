/**
 * The operator's interventions, each one server-side function (triggers/70_operator.sql), so
 * the checks run where the rows are locked and psql can do the same.
 */
import type { Pool } from 'pg';
import { CliError } from './context.js';
import type { AttemptRef } from './format.js';

export interface RetryResult extends AttemptRef {
  status: string;
  request_status: string;
}

export interface CancelResult {
  request: number;
  pipeline: string;
  jobinstance: number | null;
  was: string;
  status: string;
  /** Attempts that had not started, failed now. */
  stopped: number[];
  /** Attempts running: their workers abort them. */
  running: { attempt: number; job: string; worker: string | null }[];
}

interface PgError {
  code?: string;
  message: string;
  hint?: string;
}

/** The function refused (its RAISE, or the one-live-run index): a one-line error for people. */
function refusal(error: unknown): unknown {
  const pgError = error as PgError;
  if (pgError.code !== 'P0001' && pgError.code !== '23505') return error;
  const hint = pgError.hint ? ` (${pgError.hint})` : '';
  return new CliError(`${pgError.message}${hint}`, undefined, { cause: error });
}

async function call<T>(pool: Pool, sql: string, id: number): Promise<T> {
  try {
    const { rows } = await pool.query<{ result: T }>(sql, [id]);
    return rows[0]!.result;
  } catch (error) {
    throw refusal(error);
  }
}

export function retryAttempt(pool: Pool, attempt: number): Promise<RetryResult> {
  return call(pool, 'SELECT rush_retry_attempt($1) AS result', attempt);
}

export function cancelRequest(pool: Pool, request: number): Promise<CancelResult> {
  return call(pool, 'SELECT rush_cancel_request($1) AS result', request);
}
