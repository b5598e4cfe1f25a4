import type { Pool } from 'pg';
import { createPool } from '../db/pool.js';

/** An error for the person at the terminal: one line, and the exit code that says what kind. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT.error,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Exit codes, as the README documents them. */
export const EXIT = {
  ok: 0,
  /** Bad input, a database error, anything that went wrong. */
  error: 1,
  /** The command line itself is wrong. */
  usage: 2,
  /** A run ended otherwise than Complete (Rejected, Stuck, Cancelled). */
  runFailed: 3,
  /** Gave up waiting. */
  timeout: 4,
} as const;

export interface GlobalOptions {
  databaseUrl?: string;
  json?: boolean;
  verbose?: boolean;
}

/** Errors that mean the database could not be reached or entered, not that a query failed. */
const CONNECTION_ERRORS = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  '28P01', // invalid_password
  '28000', // invalid_authorization_specification
  '3D000', // invalid_catalog_name: no such database
]);

/** Runs `use` with a small pool on the configured database, always closing it. */
export async function withPool<T>(
  options: GlobalOptions,
  use: (pool: Pool) => Promise<T>,
): Promise<T> {
  const pool = createPool(options.databaseUrl ?? process.env.DATABASE_URL, 2, 'cli');
  try {
    return await use(pool);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_ERRORS.has(code)) {
      throw new CliError(
        `cannot connect to PostgreSQL: ${(error as Error).message} ` +
          '(set DATABASE_URL or the PG* variables, or pass --database-url)',
        EXIT.error,
        { cause: error },
      );
    }
    throw error;
  } finally {
    await pool.end();
  }
}

/** Writes data as JSON for scripts, or as text for people. */
export function print(options: GlobalOptions, data: unknown, text: () => string): void {
  process.stdout.write(options.json ? `${JSON.stringify(data, null, 2)}\n` : `${text()}\n`);
}
