import pg from 'pg';
import { startWorker, stopAllWorkers } from '../../test/support/workers.js';
import { statementCounter } from '../lib/db.js';
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
    const counter = await statementCounter(client);
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
    const before = await counter.count();
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const after = await counter.count();
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND pid <> pg_backend_pid()`,
    );
    return {
      seconds,
      statementsPerSecond: Math.round(((after - before - counter.own) / seconds) * 100) / 100,
      counted: counter.counted,
      connections: rows[0]!.n,
    };
  } finally {
    await stopAllWorkers();
    await client.end();
  }
}
