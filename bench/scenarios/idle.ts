import pg from 'pg';
import { startWorker, stopAllWorkers } from '../../test/support/workers.js';
import type { Mode } from './latency.js';

export interface Idle {
  seconds: number;
  statementsPerSecond: number;
  /** 'pg_stat_statements' (statements the server ran) or 'xact_commit' (transactions). */
  counted: string;
  connections: number;
}

/**
 * Four idle worker processes: what reaches PostgreSQL per second while nothing happens, and how
 * many connections they hold. Counts statements with pg_stat_statements when the server has it,
 * else committed transactions.
 */
export async function idle(
  url: string,
  mode: Mode,
  seconds: number,
  settleMs = 12_000,
): Promise<Idle> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const hasStatements = await client
      .query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements')
      .then(() => client.query('SELECT count(*) FROM pg_stat_statements'))
      .then(
        () => true,
        () => false,
      );
    const workers = [1, 2, 3, 4].map((n) =>
      startWorker({
        name: `bench-idle-${mode.name}-${n}`,
        databaseUrl: url,
        args: ['--log-level', 'warn', ...mode.args],
      }),
    );
    for (;;) {
      const { rows } = await client.query<{ n: number; master: string | null }>(
        `SELECT (SELECT count(*)::int FROM worker WHERE status = 'Free') AS n,
                (SELECT master FROM master_token WHERE endtime > now()) AS master`,
      );
      if (rows[0]!.n === workers.length && rows[0]!.master) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // Let start-up settle (first ticks, plans; PostgreSQL reports an idle backend's statistics
    // up to ~10 s late), then count over the window.
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    const count = async (): Promise<number> => {
      const { rows } = await client.query<{ n: string }>(
        hasStatements
          ? `SELECT coalesce(sum(s.calls), 0) AS n FROM pg_stat_statements s
             JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database()
               AND s.query NOT LIKE '%pg_stat_statements%' AND s.query NOT LIKE '%pg_stat_database%'`
          : `SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()`,
      );
      return Number(rows[0]!.n);
    };
    const before = await count();
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const after = await count();
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND pid <> pg_backend_pid()`,
    );
    // Without pg_stat_statements, this client's own count() transactions are in the figure.
    const own = hasStatements ? 0 : 2;
    return {
      seconds,
      statementsPerSecond: Math.round(((after - before - own) / seconds) * 100) / 100,
      counted: hasStatements ? 'pg_stat_statements' : 'xact_commit',
      connections: rows[0]!.n,
    };
  } finally {
    await stopAllWorkers();
    await client.end();
  }
}
