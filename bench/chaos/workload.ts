/**
 * The chaos run's work: a few pipelines of 3 to 5 chaos jobs with retry limits from 0 to 3 and
 * short retry gaps (pure and seeded), and requests inserted in bursts while the faults go on.
 */
import type pg from 'pg';
import { between, intBetween, seededRng, type Rng } from './random.js';

export interface JobSpec {
  name: string;
  class_name: string;
  timeout_minutes: number;
  retry_gap_minutes: number;
  retry_limit: number;
}

export interface PipelineSpec {
  name: string;
  jobs: JobSpec[];
}

/** Retry gaps to pick from, in minutes: none, 0.3 s, 0.6 s, 1.2 s. */
const GAPS = [0, 0.005, 0.01, 0.02];
const JOB_NAMES = ['extract', 'clean', 'transform', 'enrich', 'load'];

/**
 * Three pipelines of 3, 4 and 5 jobs. Retry limits are drawn from 0 to 3, and both ends occur
 * somewhere, so that runs get Stuck at once on a failure and after four failures.
 */
export function chaosPipelines(seed: number): PipelineSpec[] {
  const rng = seededRng(seed ^ 0x5eed);
  const pipelines = [3, 4, 5].map((length, p) => ({
    name: `chaos_${String.fromCharCode(97 + p)}`,
    jobs: JOB_NAMES.slice(0, length).map((name) => ({
      name,
      class_name: 'chaos.Chaos',
      timeout_minutes: 1,
      retry_gap_minutes: GAPS[intBetween(rng, 0, GAPS.length - 1)]!,
      retry_limit: intBetween(rng, 0, 3),
    })),
  }));
  const all = pipelines.flatMap((p) => p.jobs);
  if (!all.some((j) => j.retry_limit === 0))
    all[intBetween(rng, 0, all.length - 1)]!.retry_limit = 0;
  if (!all.some((j) => j.retry_limit === 3)) {
    const candidates = all.filter((j) => j.retry_limit !== 0);
    candidates[intBetween(rng, 0, candidates.length - 1)]!.retry_limit = 3;
  }
  return pipelines;
}

export interface JobParams {
  /** The file every execution is noted in. */
  out: string;
  seed: number;
  /** The chance that an attempt fails at random. */
  failP: number;
}

/** What every chaos job gets: mostly short sleeps, and now and then one past the shutdown grace. */
export function jobParameters(params: JobParams): Record<string, string> {
  return {
    out: params.out,
    seed: String(params.seed),
    fail_p: String(params.failP),
    sleep_min_ms: '20',
    sleep_max_ms: '250',
    long_p: '0.02',
    long_min_ms: '2500',
    long_max_ms: '3500',
  };
}

export async function definePipelines(
  client: pg.ClientBase,
  pipelines: readonly PipelineSpec[],
  params: JobParams,
): Promise<void> {
  const values = jobParameters(params);
  for (const pipeline of pipelines) {
    await client.query('INSERT INTO pipeline (name, definition) VALUES ($1, $2)', [
      pipeline.name,
      { jobs: pipeline.jobs },
    ]);
    for (const job of pipeline.jobs) {
      await client.query(
        `INSERT INTO job_parameter (pipeline, job, key, value)
         SELECT $1, $2, key, value FROM jsonb_each_text($3::jsonb)`,
        [pipeline.name, job.name, JSON.stringify(values)],
      );
    }
  }
}

/** "chaos_a: extract(r1) → clean(r0, gap 0.6 s) → …" */
export function describePipeline(pipeline: PipelineSpec): string {
  const jobs = pipeline.jobs.map((j) => {
    const gap = j.retry_gap_minutes > 0 ? `, gap ${(j.retry_gap_minutes * 60).toFixed(1)} s` : '';
    return `${j.name}(retry_limit ${j.retry_limit}${gap})`;
  });
  return `${pipeline.name}: ${jobs.join(' → ')}`;
}

/**
 * Inserts requests in bursts at random intervals, fewer while too many runs are open (the
 * fleet must be able to finish them in the settling time), and carries on through outages.
 */
export class Workload {
  inserted = 0;
  bursts = 0;
  failedBursts = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly rng: Rng;

  constructor(
    private readonly pool: pg.Pool,
    private readonly pipelines: readonly string[],
    seed: number,
    private readonly maxOpen: number,
  ) {
    this.rng = seededRng(seed ^ 0xb0b);
  }

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.burst().finally(() => {
        this.running = undefined;
        this.schedule(between(this.rng, 500, 1_800));
      });
    }, delayMs);
  }

  private async burst(): Promise<void> {
    const size = intBetween(this.rng, 3, 25);
    const chosen = Array.from(
      { length: size },
      () => this.pipelines[intBetween(this.rng, 0, this.pipelines.length - 1)]!,
    );
    try {
      const { rows } = await this.pool.query<{ open: number }>(
        `SELECT count(*)::int AS open FROM run_request WHERE status IN ('Pending', 'Accepted')`,
      );
      const room = this.maxOpen - rows[0]!.open;
      if (room <= 0) return;
      const batch = chosen.slice(0, room);
      await this.pool.query('INSERT INTO run_request (pipeline) SELECT unnest($1::text[])', [
        batch,
      ]);
      this.inserted += batch.length;
      this.bursts += 1;
    } catch {
      this.failedBursts += 1; // PostgreSQL is down or restarting: the next burst tries again
    }
  }
}
