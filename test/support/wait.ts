/**
 * Waiting on database state without sleeps: a check runs when a notification arrives on one
 * of the given channels, and every 250 ms besides, because a notification is only a hint and
 * a lost one must not hang a test.
 */
import { inspect } from 'node:util';
import pg from 'pg';

export interface WaitOptions {
  /** Default 20 s. */
  timeoutMs?: number;
  /** What is awaited, for the timeout message. */
  what?: string;
  /** Interval of the checks that run without a notification; default 250 ms. */
  safetyNetMs?: number;
}

/**
 * Hands the check a way to record what it saw, so that a timeout can say how far things got
 * (for example the row whose status never arrived).
 */
export type Seen = (value: unknown) => void;

const SAFETY_NET_MS = 250;
const DEFAULT_TIMEOUT_MS = 20_000;

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  try {
    const json = JSON.stringify(value, (_key, v: unknown) =>
      typeof v === 'bigint' ? String(v) : v,
    ) as string | undefined;
    return json ?? inspect(value);
  } catch {
    return inspect(value, { depth: 3, breakLength: Infinity });
  }
}

/**
 * Resolves with the first result of `check()` that is not undefined. `check` runs once after
 * LISTEN is in place (so no change between the two can be missed), again on each notification
 * on `channels`, and every 250 ms. Checks never overlap: a wake during a check runs one more.
 * Rejects when `check` throws, or on timeout with `what` and the last value seen.
 */
export async function waitUntil<T>(
  url: string,
  channels: string[],
  check: (seen: Seen) => Promise<T | undefined>,
  opts: WaitOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const safetyNetMs = opts.safetyNetMs ?? SAFETY_NET_MS;
  const what = opts.what ?? `a condition on ${channels.join(', ') || 'no channel'}`;
  const client = new pg.Client({ connectionString: url, application_name: 'rush-test-wait' });
  // If the listening connection breaks, the 250 ms checks still go on; remember why.
  let listenerError: Error | undefined;
  client.on('error', (error) => {
    listenerError = error;
  });
  await client.connect();
  try {
    for (const channel of channels) {
      await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    }
    return await new Promise<T>((resolve, reject) => {
      const started = Date.now();
      let settled = false;
      let running = false;
      let rerun = false;
      let checks = 0;
      let notifications = 0;
      let lastSeen: unknown = undefined;
      const seen: Seen = (value) => {
        lastSeen = value;
      };

      const finish = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        clearInterval(safetyNet);
        clearTimeout(deadline);
        client.removeListener('notification', onNotification);
        outcome();
      };

      const runCheck = async (): Promise<void> => {
        if (running) {
          rerun = true;
          return;
        }
        running = true;
        try {
          do {
            rerun = false;
            checks++;
            const result = await check(seen);
            if (result !== undefined) {
              finish(() => resolve(result));
              return;
            }
          } while (rerun && !settled);
        } catch (error) {
          finish(() => reject(new Error(`checking for ${what} failed`, { cause: error })));
        } finally {
          running = false;
        }
      };
      const wake = () => {
        if (!settled) void runCheck();
      };
      const onNotification = () => {
        notifications++;
        wake();
      };

      const safetyNet = setInterval(wake, safetyNetMs);
      const deadline = setTimeout(() => {
        const parts = [
          `timed out after ${Date.now() - started} ms waiting for ${what}`,
          `last seen: ${describe(lastSeen)}`,
          `${checks} check(s), ${notifications} notification(s) on ${channels.join(', ')}`,
        ];
        if (listenerError) parts.push(`listener failed: ${listenerError.message}`);
        finish(() => reject(new Error(parts.join('; '))));
      }, timeoutMs);
      client.on('notification', onNotification);
      wake();
    });
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A `run_request` row as `SELECT *` returns it; `id` is a bigint (a string unless parsed). */
export interface RunRequestRow {
  id: string | number;
  pipeline: string;
  job: string | null;
  jobinstance: number | null;
  status: string;
  message: string | null;
  [column: string]: unknown;
}

/** Channel the database notifies on every change of a `run_request` status. */
export const RUN_REQUEST_CHANNEL = 'rush_run_request';

/** Resolves with the `run_request` row once its status is one of `statuses`. */
export async function waitForRequest(
  pool: pg.Pool,
  url: string,
  requestId: number | string,
  statuses: string[],
  timeoutMs?: number,
): Promise<RunRequestRow> {
  return waitUntil(
    url,
    [RUN_REQUEST_CHANNEL],
    async (seen) => {
      const { rows } = await pool.query<RunRequestRow>('SELECT * FROM run_request WHERE id = $1', [
        requestId,
      ]);
      const row = rows[0];
      seen(row ?? `no run_request with id ${requestId}`);
      return row !== undefined && statuses.includes(row.status) ? row : undefined;
    },
    { timeoutMs, what: `run_request ${requestId} to reach ${statuses.join(' or ')}` },
  );
}
