import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startWorker, stopAllWorkers } from '../../test/support/workers.js';
import { withClient } from '../lib/db.js';
import { now, readMarks, RequestClient } from '../lib/requests.js';
import { summarize, type Summary } from '../lib/stats.js';
import { takeTurns, type WakeSeries } from '../lib/turns.js';

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
 * Rush's wakes: one idle worker (the master too); requests one at a time, each waited for until
 * its run has ended; insert → run() start.
 */
export async function rushWakes(url: string, mode: Mode): Promise<WakeSeries> {
  const dir = mkdtempSync(join(tmpdir(), 'rush-bench-'));
  const out = join(dir, 'marks.jsonl');
  const pipeline = `wake_${mode.name}`;
  await definePipeline(url, pipeline, 1, out);
  const worker = startWorker({
    name: `bench-wake-${mode.name}`,
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
  const inserted = new Map<number, number>();
  return {
    async next() {
      const t0 = now();
      const id = await client.insert(pipeline);
      inserted.set(id, t0);
      await client.untilEnded(id);
    },
    async end() {
      await stop();
      const marks = readMarks(out);
      rmSync(dir, { recursive: true, force: true });
      const rows = await withClient(url, async (c) => {
        const result = await c.query<{ id: string; jobinstance: number }>(
          `SELECT id, jobinstance FROM run_request WHERE pipeline = $1`,
          [pipeline],
        );
        return result.rows;
      });
      const t0ByInstance = new Map(rows.map((r) => [r.jobinstance, inserted.get(Number(r.id))]));
      return summarize(
        marks.flatMap((m) => {
          const t0 = t0ByInstance.get(m.jobinstance);
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

export interface Handoff extends Summary {
  perStep: number;
}

/** A pipeline of no-op jobs: end of job k → start of job k+1, and the time per step. */
export async function handoff(url: string, mode: Mode, jobs: number): Promise<Handoff> {
  const out = join(mkdtempSync(join(tmpdir(), 'rush-bench-')), 'marks.jsonl');
  const pipeline = `chain_${mode.name}`;
  await definePipeline(url, pipeline, jobs, out);
  const worker = startWorker({
    name: `bench-chain-${mode.name}`,
    databaseUrl: url,
    args: ['--jobs-dir', benchJobsDir, '--log-level', 'info', ...mode.args],
  });
  await worker.waitForLog((l) => l.msg === 'became master', 30_000);
  const client = new RequestClient(url);
  await client.open();
  try {
    await client.untilEnded(await client.insert(pipeline), 60 * 60_000);
  } finally {
    await client.close();
    await stopAllWorkers();
  }
  const marks = readMarks(out).sort((a, b) => a.start - b.start);
  rmSync(dirname(out), { recursive: true, force: true });
  const gaps = marks.slice(1).map((m, i) => m.start - marks[i]!.end);
  const first = marks[0]!;
  const last = marks[marks.length - 1]!;
  return {
    ...summarize(gaps),
    perStep: Math.round(((last.start - first.start) / (marks.length - 1)) * 100) / 100,
  };
}
