import { setTimeout as sleep } from 'node:timers/promises';
import { startWorker, type WorkerProcess } from '../../test/support/workers.js';
import { newClient, settleServer, withClient } from '../lib/db.js';
import { peakRssMb } from '../lib/proc.js';
import { takeTurns, type Series } from '../lib/turns.js';
import { benchJobsDir, type Mode } from './latency.js';

export interface Throughput {
  runs: number;
  jobsPerRun: number;
  slots: number;
  seconds: number;
  runsPerSecond: number;
  attemptsPerSecond: number;
  /** Attempts per second in each round, in order. */
  rounds: number[];
  /** The highest peak resident memory among the worker processes. */
  peakRssMb: number | undefined;
}

export interface ThroughputOptions {
  runs: number;
  jobsPerRun: number;
  slots: number;
  processes?: number;
}

/**
 * Rounds of `runs` requests inserted in one statement, run by worker processes (two by default)
 * sharing `slots` job slots; from each insert to the round's last request's end, as the
 * database's own clock tells it. The figures are over all rounds.
 */
export async function rushThroughputs(
  url: string,
  mode: Mode,
  options: ThroughputOptions,
): Promise<Series<Throughput>> {
  const processes = options.processes ?? 2;
  const pipeline = `tp_${mode.name}_${options.slots}_${options.jobsPerRun}`;
  await withClient(url, async (client) => {
    const jobs = Array.from({ length: options.jobsPerRun }, (_, i) => ({
      name: `step${i + 1}`,
      class_name: 'mark.Noop',
    }));
    await client.query('INSERT INTO pipeline (name, definition) VALUES ($1, $2)', [
      pipeline,
      { jobs },
    ]);
  });
  const perProcess = String(Math.max(1, Math.round(options.slots / processes)));
  const namePrefix = `bench-tp-${mode.name}-${options.slots}-`;
  const workers: WorkerProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(workers.map((w) => w.stop()));
  };
  const client = newClient(url);
  try {
    for (let n = 1; n <= processes; n++) {
      workers.push(
        startWorker({
          name: `${namePrefix}${n}`,
          databaseUrl: url,
          args: [
            '--jobs-dir',
            benchJobsDir,
            '--log-level',
            'warn',
            '--concurrency',
            perProcess,
            ...mode.args,
          ],
        }),
      );
    }
    await client.connect();
    // Every process registered and one of them is master: the lease is held.
    for (;;) {
      const { rows } = await client.query<{ n: number; master: string | null }>(
        `SELECT (SELECT count(*)::int FROM worker WHERE name LIKE $1 AND status = 'Free') AS n,
                (SELECT master FROM master_token WHERE endtime > now()) AS master`,
        [`${namePrefix}%`],
      );
      if (rows[0]!.n >= options.slots && rows[0]!.master) break;
      await sleep(50);
    }
  } catch (error) {
    await client.end().catch(() => {});
    await stop().catch(() => {});
    throw error;
  }
  const rounds: number[] = [];
  let seconds = 0;
  return {
    async next() {
      await settleServer(client);
      const { rows: inserted } = await client.query<{ first: string }>(
        `WITH added AS (
           INSERT INTO run_request (pipeline) SELECT $1 FROM generate_series(1, $2) RETURNING id
         )
         SELECT min(id)::text AS first FROM added`,
        [pipeline, options.runs],
      );
      const first = inserted[0]!.first;
      // Two index probes, not a count over every request: the poll must not cost the
      // server more than graphile-worker's poll of its queue does.
      for (;;) {
        const { rows } = await client.query<{ open: boolean }>(
          `SELECT EXISTS (SELECT 1 FROM run_request WHERE status = 'Accepted' AND pipeline = $1)
               OR EXISTS (SELECT 1 FROM run_request WHERE status = 'Pending' AND pipeline = $1)
                 AS open`,
          [pipeline],
        );
        if (!rows[0]!.open) break;
        await sleep(100);
      }
      const { rows } = await client.query<{ seconds: number; complete: number }>(
        `SELECT extract(epoch FROM max(updated) - min(created))::float8 AS seconds,
                count(*) FILTER (WHERE status = 'Complete')::int AS complete
         FROM run_request WHERE pipeline = $1 AND id >= $2`,
        [pipeline, first],
      );
      const round = rows[0]!;
      if (round.complete !== options.runs)
        throw new Error(`only ${round.complete} of ${options.runs} runs completed`);
      rounds.push(Math.round((options.runs * options.jobsPerRun) / round.seconds));
      seconds += round.seconds;
    },
    async end() {
      const peak = Math.max(...workers.map((w) => peakRssMb(w.child.pid) ?? 0));
      try {
        await client.end();
      } finally {
        await stop();
      }
      const runs = options.runs * rounds.length;
      return {
        runs,
        jobsPerRun: options.jobsPerRun,
        slots: options.slots,
        seconds: Math.round(seconds * 100) / 100,
        runsPerSecond: Math.round(runs / seconds),
        attemptsPerSecond: Math.round((runs * options.jobsPerRun) / seconds),
        rounds,
        peakRssMb: peak || undefined,
      };
    },
  };
}

/** One round of Rush's throughput alone. */
export async function throughput(
  url: string,
  mode: Mode,
  options: ThroughputOptions,
): Promise<Throughput> {
  return (await takeTurns({ rush: () => rushThroughputs(url, mode, options) }, 1)).rush;
}
