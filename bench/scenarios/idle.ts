import { startWorker, stopAllWorkers } from '../../test/support/workers.js';
import { measureIdle, withClient, type IdleWindow } from '../lib/db.js';
import type { Mode } from './latency.js';

export type Idle = IdleWindow;

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
  return withClient(url, async (client) => {
    try {
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
      return await measureIdle(client, seconds, settleMs);
    } finally {
      await stopAllWorkers();
    }
  });
}
