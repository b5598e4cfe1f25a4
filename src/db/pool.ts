import pg from 'pg';
import './types.js';

/**
 * How to reach PostgreSQL: the URL when given, else libpq's PG* variables. node-postgres
 * falls back to $USER for the role, which may be unset: then PGUSER or "postgres".
 */
export function connectionConfig(databaseUrl: string | undefined): pg.ClientConfig {
  if (databaseUrl !== undefined) return { connectionString: databaseUrl };
  return { user: process.env.PGUSER ?? process.env.USER ?? 'postgres' };
}

export function createPool(databaseUrl: string | undefined, max: number, name: string): pg.Pool {
  return new pg.Pool({
    ...connectionConfig(databaseUrl),
    max,
    application_name: `rush ${name}`.slice(0, 63),
    idleTimeoutMillis: 30_000,
  });
}
