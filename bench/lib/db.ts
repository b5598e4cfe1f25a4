import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

/** A client on `url`, not yet connected (ending it before it connects does nothing). */
export function newClient(url: string): pg.Client {
  const client = new pg.Client({ connectionString: url });
  // A connection lost between queries would otherwise throw from an event: the next query fails.
  client.on('error', () => {});
  return client;
}

/** Runs `use` with a client of its own on `url`, always closing it. */
export async function withClient<T>(
  url: string,
  use: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = newClient(url);
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/**
 * Counts what reaches the server for the current database: statements with pg_stat_statements
 * when the server has it, else committed transactions. The counter's own queries are left out
 * (with pg_stat_statements) or are two a window (without).
 */
export async function statementCounter(client: pg.Client): Promise<{
  counted: 'pg_stat_statements' | 'xact_commit';
  own: number;
  count(): Promise<number>;
}> {
  const hasStatements = await client
    .query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements')
    .then(() => client.query('SELECT count(*) FROM pg_stat_statements'))
    .then(
      () => true,
      () => false,
    );
  return {
    counted: hasStatements ? 'pg_stat_statements' : 'xact_commit',
    own: hasStatements ? 0 : 2,
    async count() {
      const { rows } = await client.query<{ n: string }>(
        hasStatements
          ? `SELECT coalesce(sum(s.calls), 0) AS n FROM pg_stat_statements s
             JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database()
               AND s.query NOT LIKE '%pg_stat_statements%' AND s.query NOT LIKE '%pg_stat_database%'`
          : `SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()`,
      );
      return Number(rows[0]!.n);
    },
  };
}

export interface IdleWindow {
  seconds: number;
  statementsPerSecond: number;
  counted: 'pg_stat_statements' | 'xact_commit';
  /** Connections to this database, the counting client's own left out. */
  connections: number;
}

/**
 * What reaches the server while the processes under test sit idle: waits `settleMs` (first
 * ticks, plans; PostgreSQL reports an idle backend's statistics up to ~10 s late), then counts
 * over `seconds`. Rush's idle scenario and graphile-worker's measure the same way through this.
 */
export async function measureIdle(
  client: pg.Client,
  seconds: number,
  settleMs: number,
): Promise<IdleWindow> {
  const counter = await statementCounter(client);
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
}

/**
 * Lets the server settle before a timed batch, so that no batch pays for the one before it
 * (which may be another runner's): waits until no autovacuum worker is busy (up to a minute),
 * then writes out the dirty pages. The checkpoint needs a superuser (or pg_checkpoint);
 * without, the batch starts once autovacuum is done.
 */
export async function settleServer(client: pg.Client): Promise<void> {
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    const { rows } = await client.query<{ busy: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                      WHERE backend_type = 'autovacuum worker') AS busy`,
    );
    if (!rows[0]!.busy) break;
    await sleep(100);
  }
  await client.query('CHECKPOINT').catch(() => {});
}
