import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startWorker } from '../../test/support/workers.js';
import { now, readMarks, RequestClient, type Mark } from '../lib/requests.js';
import { chainFigures, summarize, type Handoff, type Summary } from '../lib/stats.js';
import { takeTurns, type Series, type WakeSeries } from '../lib/turns.js';

export const benchJobsDir = fileURLToPath(new URL('../jobs/', import.meta.url));

export interface Mode {
  name: 'notify' | 'poll';
  args: string[];
}

async function definePipeline(url: string, name: string, jobs: number, out: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const definition = {
      jobs: Array.from({ length: jobs }, (_, i) => ({
        name: `step${i + 1}`,
        class_name: 'mark.Mark',
      })),
    };
    await client.query('INSERT INTO pipeline (name, definition) VALUES ($1, $2)', [
      name,
      definition,
    ]);
    await client.query(
      `INSERT INTO job_parameter (pipeline, job, key, value)
       SELECT $1, 'step' || i, 'out', $2 FROM generate_series(1, $3) AS i`,
      [name, out, jobs],
    );
  } finally {
    await client.end();
  }
}

/**
 * One Rush worker (the master too) and a client that runs requests of `pipeline` one at a
 * time; the jobs note in `dir`/marks.jsonl when they ran.
 */
async function startRunner(url: string, mode: Mode, name: string, pipeline: string, jobs: number) {
  const dir = mkdtempSync(join(tmpdir(), 'rush-bench-'));
  const out = join(dir, 'marks.jsonl');
  await definePipeline(url, pipeline, jobs, out);
  const worker = startWorker({
    name,
    databaseUrl: url,
    args: ['--jobs-dir', benchJobsDir, '--log-level', 'info', ...mode.args],
  });
  const client = new RequestClient(url);
  const stop = async (): Promise<void> => {
    try {
      await client.close();
    } finally {
      await worker.stop();
    }
  };
  try {
    await worker.waitForLog((l) => l.msg === 'became master', 30_000);
    await client.open();
  } catch (error) {
    await stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    /** Inserts a request and waits until its run has ended: its instance and when it went in. */
    async run(timeoutMs?: number): Promise<{ jobinstance: number; t0: number }> {
      const t0 = now();
      const { id, jobinstance } = await client.insert(pipeline);
      await client.untilEnded(id, timeoutMs);
      return { jobinstance, t0 };
    },
    /** Stops the worker and the client; the marks the jobs left. */
    async end(): Promise<Mark[]> {
      try {
        await stop();
        return readMarks(out);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * Rush's wakes: one idle worker (the master too); requests one at a time, each waited for until
 * its run has ended; insert → run() start.
 */
export async function rushWakes(url: string, mode: Mode): Promise<WakeSeries> {
  const runner = await startRunner(url, mode, `bench-wake-${mode.name}`, `wake_${mode.name}`, 1);
  const inserted = new Map<number, number>();
  return {
    async next() {
      const { jobinstance, t0 } = await runner.run();
      inserted.set(jobinstance, t0);
    },
    async end() {
      const marks = await runner.end();
      return summarize(
        marks.flatMap((m) => {
          const t0 = inserted.get(m.jobinstance);
          return t0 === undefined ? [] : [m.start - t0];
        }),
      );
    },
  };
}

/** Rush's wakes alone. */
export async function wake(url: string, mode: Mode, samples: number): Promise<Summary> {
  return (await takeTurns({ rush: () => rushWakes(url, mode) }, samples)).rush;
}

/** Rush's chains: a pipeline of `jobs` no-op jobs, one run at a time. */
export async function rushChains(url: string, mode: Mode, jobs: number): Promise<Series<Handoff>> {
  const runner = await startRunner(
    url,
    mode,
    `bench-chain-${mode.name}`,
    `chain_${mode.name}`,
    jobs,
  );
  return {
    async next() {
      await runner.run(60 * 60_000);
    },
    async end() {
      const byInstance = new Map<number, Mark[]>();
      for (const m of await runner.end()) {
        byInstance.set(m.jobinstance, [...(byInstance.get(m.jobinstance) ?? []), m]);
      }
      return chainFigures([...byInstance.values()]);
    },
  };
}

/** One chain of Rush's alone. */
export async function handoff(url: string, mode: Mode, jobs: number): Promise<Handoff> {
  return (await takeTurns({ rush: () => rushChains(url, mode, jobs) }, 1)).rush;
}
