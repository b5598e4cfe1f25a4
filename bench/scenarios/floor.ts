/**
 * The wake floor: the least a wake by NOTIFY takes on this machine, measured the way the wakes
 * of Rush and graphile-worker are. An INSERT whose trigger does nothing but notify, heard by a
 * Node process that does nothing but listen; insert → arrival. What a queue adds to it is its
 * own work: judging the request, fencing the job to one worker, starting the job.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { newClient } from '../lib/db.js';
import { now } from '../lib/requests.js';
import { summarize } from '../lib/stats.js';
import type { WakeSeries } from '../lib/turns.js';

const listenerScript = fileURLToPath(new URL('../lib/floor-listener.mjs', import.meta.url));

interface Waiter {
  resolve: (at: number) => void;
  reject: (error: Error) => void;
}

export async function floorWakes(url: string): Promise<WakeSeries> {
  const listener = spawn(process.execPath, [listenerScript, url], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  // Keyed by payload; '' is the line that says the listener listens.
  const arrivals = new Map<string, number>();
  const waiters = new Map<string, Waiter>();
  let gone: Error | undefined;
  createInterface({ input: listener.stdout }).on('line', (text) => {
    const line = JSON.parse(text) as { id?: string; at?: number };
    const id = line.id ?? '';
    const at = line.at ?? now();
    const waiter = waiters.get(id);
    waiters.delete(id);
    if (waiter) waiter.resolve(at);
    else arrivals.set(id, at);
  });
  const exited = new Promise<void>((resolve) =>
    listener.once('close', (code) => {
      gone = new Error(`wake floor: the listening process exited (code ${code})`);
      for (const waiter of waiters.values()) waiter.reject(gone);
      waiters.clear();
      resolve();
    }),
  );
  const arrival = (id: string): Promise<number> => {
    const at = arrivals.get(id);
    if (at !== undefined) return Promise.resolve(at);
    if (gone) return Promise.reject(gone);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(id);
        reject(new Error(`wake floor: notification ${id || 'of listening'} not heard in 10 s`));
      }, 10_000);
      waiters.set(id, {
        resolve: (t) => {
          clearTimeout(timer);
          resolve(t);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  };
  const client = newClient(url);
  const stop = async (): Promise<void> => {
    try {
      await client.end();
    } finally {
      listener.stdin.end();
      const timer = setTimeout(() => listener.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
  };
  try {
    await arrival('');
    await client.connect();
    await client.query(`
      CREATE TABLE bench_floor (id bigserial PRIMARY KEY);
      CREATE FUNCTION bench_floor_notify() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('bench_floor', NEW.id::text);
        RETURN NULL;
      END $$;
      CREATE TRIGGER bench_floor_inserted AFTER INSERT ON bench_floor
        FOR EACH ROW EXECUTE FUNCTION bench_floor_notify();`);
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
  const waits: number[] = [];
  return {
    async next() {
      const t0 = now();
      const { rows } = await client.query<{ id: string }>(
        'INSERT INTO bench_floor DEFAULT VALUES RETURNING id::text AS id',
      );
      waits.push((await arrival(rows[0]!.id)) - t0);
    },
    async end() {
      await stop();
      return summarize(waits);
    },
  };
}
