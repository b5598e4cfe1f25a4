/**
 * The chaos run's worker processes: real `node dist/worker.js`, each in a slot that is filled
 * again after a fault. Every process's life is kept (start, SIGKILL sent, exit), since an
 * attempt a killed process was running ended when the kill went out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProcessLife } from './types.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const workerScript = join(repoRoot, 'dist', 'worker.js');
export const jobsDir = join(repoRoot, 'bench', 'jobs');

// The wall clock, as the jobs, the workers' logs and PostgreSQL read it: one clock for all.
const now = (): number => Date.now();

/** Short clocks, so that every fault is noticed within seconds. */
export const WORKER_ARGS = [
  '--worker-ttl',
  '3',
  '--lease-ttl',
  '3',
  '--poll-interval',
  '0.5',
  '--shutdown-grace',
  '2',
];

export interface Life extends ProcessLife {
  slot: number;
  child: ChildProcess;
  exitCode: number | null;
  exitSignal: string | null;
  /** SIGTERMs sent, wall clock. */
  termsAt: number[];
  /** Set while the run means this process to go: its exit is no surprise. */
  expectedExit: boolean;
  exited: Promise<void>;
  stderrTail: string[];
}

export class Fleet {
  readonly lives: Life[] = [];
  private readonly exitListeners = new Set<(life: Life) => void>();

  constructor(
    private readonly databaseUrl: string,
    private readonly logDir: string,
  ) {
    if (!existsSync(workerScript)) {
      throw new Error(`${workerScript} does not exist: run npm run build first`);
    }
  }

  onExit(listener: (life: Life) => void): void {
    this.exitListeners.add(listener);
  }

  spawn(slot: number, name: string): Life {
    const child = spawn(
      process.execPath,
      [
        workerScript,
        '--name',
        name,
        '--database-url',
        this.databaseUrl,
        '--jobs-dir',
        jobsDir,
        '--log-dir',
        this.logDir,
        '--log-level',
        'info',
        ...WORKER_ARGS,
      ],
      // The worker writes its log to <log-dir>/<name>.log as well: stdout is not needed.
      { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'], env: process.env },
    );
    let resolveExit: () => void = () => undefined;
    const life: Life = {
      pid: child.pid ?? -1,
      name,
      slot,
      child,
      startedAt: now(),
      killedAt: null,
      exitedAt: null,
      exitCode: null,
      exitSignal: null,
      termsAt: [],
      expectedExit: false,
      exited: new Promise((resolve) => (resolveExit = resolve)),
      stderrTail: [],
    };
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      life.stderrTail.push(...chunk.split('\n').filter((line) => line !== ''));
      if (life.stderrTail.length > 20) life.stderrTail.splice(0, life.stderrTail.length - 20);
    });
    child.on('error', (error) => life.stderrTail.push(`[spawn error] ${error.message}`));
    child.once('exit', (code, signal) => {
      life.exitedAt = now();
      life.exitCode = code;
      life.exitSignal = signal;
      resolveExit();
      for (const listener of this.exitListeners) listener(life);
    });
    this.lives.push(life);
    return life;
  }

  /** kill -9, noting the moment: whatever the process ran ends here. */
  kill(life: Life): void {
    if (life.exitedAt !== null) return;
    life.expectedExit = true;
    life.killedAt ??= now();
    life.child.kill('SIGKILL');
  }

  term(life: Life): void {
    if (life.exitedAt !== null) return;
    life.expectedExit = true;
    life.termsAt.push(now());
    life.child.kill('SIGTERM');
  }

  running(): Life[] {
    return this.lives.filter((life) => life.exitedAt === null);
  }

  /** SIGTERM to every process, SIGKILL to those still there after timeoutMs. */
  async stopAll(timeoutMs: number): Promise<Life[]> {
    const running = this.running();
    for (const life of running) this.term(life);
    const escalate = setTimeout(() => {
      for (const life of this.running()) this.kill(life);
    }, timeoutMs);
    await Promise.all(running.map((life) => life.exited));
    clearTimeout(escalate);
    return running.filter((life) => life.killedAt !== null);
  }

  /** For an abrupt end of the run: nothing may outlive it. */
  killAll(): void {
    for (const life of this.running()) this.kill(life);
  }
}
