/**
 * Real worker processes (`node dist/worker.js`) for end-to-end tests, with their pino output
 * captured line by line so tests can wait for what a worker says.
 *
 * Test files that start workers call `stopAllWorkers()` and then `assertNoLeakedWorkers()` in
 * `afterEach` or `afterAll`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type LogLine = Record<string, unknown>;

export interface StartWorkerOptions {
  name: string;
  databaseUrl: string;
  /** More command-line arguments, after the ones every test worker gets. */
  args?: string[];
  /** Added to (and overriding) this process's environment. */
  env?: Record<string, string>;
  /** Working directory; the repository root by default. */
  cwd?: string;
  /** A command to run node under, e.g. ['ip', 'netns', 'exec', 'host-a'] for another host. */
  wrap?: string[];
}

export interface WorkerProcess {
  name: string;
  child: ChildProcess;
  /** The temp directory handed to `--log-dir`. */
  logDir: string;
  /** Every stdout line that parsed as a JSON object, in order. */
  logs: LogLine[];
  /** Everything written to stderr so far. */
  stderr: string;
  /** Resolves with the exit code once the process has exited (null when a signal ended it). */
  exited: Promise<number | null>;
  /** True until the process has exited. */
  readonly running: boolean;
  /** Resolves with the first log line, captured already or still to come, that matches. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Sends `signal`, then SIGKILL after `timeoutMs`; resolves with the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const workerScript = join(repoRoot, 'dist', 'worker.js');

const TAIL_LINES = 20;
const keepLogDirs =
  process.env.RUSH_TEST_KEEP_DB === '1' || process.env.RUSH_TEST_KEEP_LOGS === '1';

/** Every process started here that has not yet been reaped. */
const live = new Set<SpawnedWorker>();
/** Log directories to remove once their workers are stopped. */
const logDirs = new Set<string>();

// Should the test process die without its afterAll, take the workers with it.
process.once('exit', () => {
  for (const worker of live) worker.child.kill('SIGKILL');
});

interface LogWaiter {
  predicate: (line: LogLine) => boolean;
  resolve: (line: LogLine) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

class SpawnedWorker implements WorkerProcess {
  logs: LogLine[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly stdoutLines: string[] = [];
  private readonly waiters = new Set<LogWaiter>();
  private closed = false;
  private exitDescription = '';

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly logDir: string,
  ) {
    let pending = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      pending += chunk;
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        this.onLine(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
      }
    });
    child.stdout?.on('end', () => {
      if (pending) this.onLine(pending);
      pending = '';
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    child.on('error', (error) => {
      this.stderr += `\n[spawn error] ${error.message}\n`;
    });
    // 'close' comes after stdout has ended, so every line is in `logs` by then.
    this.exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.closed = true;
        live.delete(this);
        this.exitDescription = signal ? `signal ${signal}` : `code ${code}`;
        this.failWaiters(
          `worker ${this.name} exited (${this.exitDescription}) before a matching log line`,
        );
        resolve(code);
      });
    });
  }

  get running(): boolean {
    return !this.closed && this.child.exitCode === null && this.child.signalCode === null;
  }

  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs = 20_000): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      try {
        const found = this.logs.find(predicate);
        if (found) return resolve(found);
      } catch (error) {
        return reject(error instanceof Error ? error : new Error(String(error)));
      }
      if (this.closed) {
        return reject(
          this.failure(`worker ${this.name} had exited (${this.exitDescription}) already`),
        );
      }
      const waiter: LogWaiter = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(this.failure(`no matching log line from worker ${this.name} in ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<number | null> {
    if (this.running) {
      this.child.kill(signal);
      const escalate = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
      try {
        await this.exited;
      } finally {
        clearTimeout(escalate);
      }
    }
    return this.exited;
  }

  private onLine(text: string): void {
    this.stdoutLines.push(text);
    let line: unknown;
    try {
      line = JSON.parse(text);
    } catch {
      return; // not a pino line; it still shows in failure messages
    }
    if (typeof line !== 'object' || line === null || Array.isArray(line)) return;
    const entry = line as LogLine;
    this.logs.push(entry);
    for (const waiter of this.waiters) {
      let matches: boolean;
      try {
        matches = waiter.predicate(entry);
      } catch (error) {
        this.settle(waiter);
        waiter.reject(error instanceof Error ? error : new Error(String(error)));
        continue;
      }
      if (matches) {
        this.settle(waiter);
        waiter.resolve(entry);
      }
    }
  }

  private settle(waiter: LogWaiter): void {
    clearTimeout(waiter.timer);
    this.waiters.delete(waiter);
  }

  private failWaiters(message: string): void {
    for (const waiter of this.waiters) {
      this.settle(waiter);
      waiter.reject(this.failure(message));
    }
  }

  /** An error that carries the worker's last words, which usually say what went wrong. */
  private failure(message: string): Error {
    const stdoutTail = this.stdoutLines.slice(-TAIL_LINES).join('\n');
    const stderrTail = this.stderr.split('\n').slice(-TAIL_LINES).join('\n');
    return new Error(
      `${message}\n--- last stdout lines ---\n${stdoutTail || '(none)'}` +
        `\n--- last stderr lines ---\n${stderrTail || '(none)'}`,
    );
  }
}

/** Spawns `node dist/worker.js --name <name> --database-url <url> --log-dir <tmp> …`. */
export function startWorker(opts: StartWorkerOptions): WorkerProcess {
  if (!existsSync(workerScript)) {
    throw new Error(`${workerScript} does not exist: run npm run build first`);
  }
  const logDir = mkdtempSync(join(tmpdir(), 'rush-worker-logs-'));
  logDirs.add(logDir);
  const args = [
    workerScript,
    '--name',
    opts.name,
    '--database-url',
    opts.databaseUrl,
    '--log-dir',
    logDir,
    '--log-level',
    'debug',
    ...(opts.args ?? []),
  ];
  const [command, ...prefix] = [...(opts.wrap ?? []), process.execPath];
  const child = spawn(command, [...prefix, ...args], {
    cwd: opts.cwd ?? repoRoot,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const worker = new SpawnedWorker(opts.name, child, logDir);
  live.add(worker);
  return worker;
}

/** Stops every worker still running (SIGTERM, then SIGKILL) and removes their log dirs. */
export async function stopAllWorkers(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  await Promise.all([...live].map((worker) => worker.stop(signal)));
  if (keepLogDirs) return;
  for (const dir of logDirs) rmSync(dir, { recursive: true, force: true });
  logDirs.clear();
}

/** Throws if a spawned worker is still running; kills it first so the run cannot hang. */
export function assertNoLeakedWorkers(): void {
  const leaked = [...live].filter((worker) => worker.running);
  if (leaked.length === 0) return;
  for (const worker of leaked) worker.child.kill('SIGKILL');
  const list = leaked.map((worker) => `${worker.name} (pid ${worker.child.pid})`).join(', ');
  throw new Error(`worker processes were left running (now killed): ${list}`);
}
