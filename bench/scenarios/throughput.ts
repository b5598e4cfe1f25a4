import { startWorker, stopAllWorkers, type WorkerProcess } from '../../test/support/workers.js';
import { withClient } from '../lib/db.js';
import { peakRssMb } from '../lib/proc.js';
import { benchJobsDir, type Mode } from './latency.js';

export interface Throughput {
  runs: number;
  jobsPerRun: number;
  slots: number;
  seconds: number;
  runsPerSecond: number;
  attemptsPerSecond: number;
  /** The highest peak resident memory among the worker processes. */
  peakRssMb: number | undefined;
}

/**
 * `runs` requests inserted in one statement, run by worker processes (two by default) sharing `slots` job
 * slots; from the insert to the last request's end, as the database's own clock tells it.
 */
export async function throughput(
  url: string,
  mode: Mode,
  options: { runs: number; jobsPerRun: number; slots: number; processes?: number },
): Promise<Throughput> {
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
  const workers: WorkerProcess[] = [];
  for (let n = 1; n <= processes; n++) {
    workers.push(
      startWorker({
        name: `bench-tp-${mode.name}-${n}`,
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
  try {
    // Every process registered and one of them is master: the lease is held.
    await withClient(url, async (client) => {
      for (;;) {
        const { rows } = await client.query<{ n: number; master: string | null }>(
          `SELECT (SELECT count(*)::int FROM worker WHERE name LIKE $1 AND status = 'Free') AS n,
                  (SELECT master FROM master_token WHERE endtime > now()) AS master`,
          [`bench-tp-${mode.name}-%`],
        );
        if (rows[0]!.n >= options.slots && rows[0]!.master) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    });
    return await withClient(url, async (client) => {
      await client.query(
        `INSERT INTO run_request (pipeline) SELECT $1 FROM generate_series(1, $2)`,
        [pipeline, options.runs],
      );
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
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const { rows } = await client.query<{ seconds: number; complete: number }>(
        `SELECT extract(epoch FROM max(updated) - min(created))::float8 AS seconds,
                count(*) FILTER (WHERE status = 'Complete')::int AS complete
         FROM run_request WHERE pipeline = $1`,
        [pipeline],
      );
      const { seconds, complete } = rows[0]!;
      if (complete !== options.runs)
        throw new Error(`only ${complete} of ${options.runs} runs completed`);
      const round = (x: number): number => Math.round(x);
      return {
        ...options,
        seconds: Math.round(seconds * 100) / 100,
        runsPerSecond: round(options.runs / seconds),
        attemptsPerSecond: round((options.runs * options.jobsPerRun) / seconds),
        peakRssMb: Math.max(...workers.map((w) => peakRssMb(w.child.pid) ?? 0)),
      };
    });
  } finally {
    await stopAllWorkers();
  }
}
