import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { AttemptPayload } from '../db/queries.js';
import type { Completer } from './completer.js';
import type { JobContext } from '../job.js';
import { redactParams } from '../logger.js';
import { wakeFields, type Wake } from '../wake.js';
import { loadJobClass } from './job-loader.js';
import {
  failureMessage,
  JobTimeoutError,
  RunCancelledError,
  WorkerLostError,
  WorkerStoppingError,
} from './outcome.js';

interface Running {
  id: number;
  controller: AbortController;
  done: Promise<void>;
}

/** Remembers the last ids seen, so a sweep that races a finished attempt cannot rerun it. */
class RecentIds {
  private readonly ids = new Set<number>();
  constructor(private readonly capacity: number) {}
  add(id: number): void {
    this.ids.add(id);
    if (this.ids.size > this.capacity) this.ids.delete(this.ids.values().next().value!);
  }
  has(id: number): boolean {
    return this.ids.has(id);
  }
}

function asStringParams(params: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(params).map(([key, value]) => [
      key,
      typeof value === 'string' ? value : JSON.stringify(value),
    ]),
  );
}

/** Rejects with the signal's reason as soon as it aborts, whatever the job does. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * Runs the attempts assigned to one worker, one at a time: loads the job class, runs it with
 * its parameters under its timeout, and records the outcome fenced by attempt id and worker.
 */
export class Executor {
  private current: Running | undefined;
  private queued: { attempt: AttemptPayload; wake: Wake } | undefined;
  private readonly recent = new RecentIds(1000);
  private accepting = true;

  constructor(
    private readonly deps: {
      db: Pool;
      completer: Completer;
      logger: Logger;
      worker: string;
      jobsDirs: readonly string[];
    },
  ) {}

  get busy(): boolean {
    return this.current !== undefined;
  }

  /** Takes an assignment, from its notification or from a sweep; repeats are ignored. */
  offer(attempt: AttemptPayload, wake: Wake): void {
    const id = attempt.id;
    if (!this.accepting || this.recent.has(id) || this.current?.id === id) return;
    if (this.queued?.attempt.id === id) return;
    if (this.current) {
      this.queued = { attempt, wake };
      return;
    }
    this.start(attempt, wake);
  }

  /**
   * The master gave up on this worker (its heartbeat came too late): whatever runs here was
   * already failed and re-queued elsewhere, so it stops now rather than run twice.
   */
  abandon(): void {
    if (this.current && !this.current.controller.signal.aborted) {
      this.deps.logger.warn(
        { component: 'executor', attempt: this.current.id },
        'this worker had been marked Lost: aborting its attempt',
      );
      this.current.controller.abort(new WorkerLostError(this.deps.worker));
    }
    this.queued = undefined;
  }

  /** Aborts the attempt if it is the one running, through the same path as a timeout. */
  cancel(id: number): void {
    if (this.current?.id === id && !this.current.controller.signal.aborted) {
      this.deps.logger.info(
        { component: 'executor', attempt: id },
        'run cancelled: aborting the attempt',
      );
      this.current.controller.abort(new RunCancelledError());
    }
    if (this.queued?.attempt.id === id) this.queued = undefined;
  }

  /**
   * Stops taking work and lets the running job finish for up to `graceMs`, then aborts it and
   * records it as failed. The worker row ends Offline when a job was running.
   */
  async stop(graceMs: number, why: string): Promise<void> {
    this.accepting = false;
    this.queued = undefined;
    const running = this.current;
    if (!running) return;
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([running.done, graceOver]);
    clearTimeout(timer);
    if (this.current === running) {
      running.controller.abort(new WorkerStoppingError(this.deps.worker, why));
      await running.done;
    }
  }

  /** A second signal: abort now and record the failure (the completer no longer retries). */
  async forceStop(why: string): Promise<void> {
    this.accepting = false;
    this.queued = undefined;
    const running = this.current;
    if (!running) return;
    running.controller.abort(new WorkerStoppingError(this.deps.worker, why));
    await running.done;
  }

  private start(attempt: AttemptPayload, wake: Wake): void {
    const controller = new AbortController();
    const running: Running = {
      id: attempt.id,
      controller,
      done: Promise.resolve(),
    };
    this.current = running;
    running.done = this.execute(attempt, wake, controller)
      .catch((error: unknown) => {
        this.deps.logger.error({ err: error, attempt: attempt.id }, 'attempt outcome not recorded');
      })
      .finally(() => {
        this.recent.add(attempt.id);
        this.current = undefined;
        const next = this.queued;
        this.queued = undefined;
        if (next && this.accepting) this.start(next.attempt, next.wake);
      });
  }

  private async execute(
    attempt: AttemptPayload,
    wake: Wake,
    controller: AbortController,
  ): Promise<void> {
    const { logger: baseLogger, worker, jobsDirs, db } = this.deps;
    const logger = baseLogger.child({
      component: 'executor',
      attempt: attempt.id,
      pipeline: attempt.pipeline,
      job: attempt.job,
      jobinstance: attempt.jobinstance,
      retry: attempt.retry,
    });
    const started = performance.now();
    const params = asStringParams(attempt.params);
    const timeoutMinutes = Number(attempt.timeout_minutes ?? 60);
    logger.info(
      { ...wakeFields(wake), class_name: attempt.class_name, params: redactParams(params) },
      'attempt started',
    );

    const timer = setTimeout(
      () => controller.abort(new JobTimeoutError(timeoutMinutes)),
      Math.max(1, Math.round(timeoutMinutes * 60_000)),
    );
    let ok = true;
    let message: string | null = null;
    try {
      if (!attempt.class_name) {
        throw new Error(`job "${attempt.job}" is no longer in pipeline "${attempt.pipeline}"`);
      }
      const JobClass = await loadJobClass(attempt.class_name, jobsDirs);
      const context: JobContext = {
        pipeline: attempt.pipeline,
        job: attempt.job,
        jobinstance: attempt.jobinstance,
        retry: attempt.retry,
        attempt: attempt.id,
        worker,
      };
      const job = new JobClass({
        params,
        context,
        signal: controller.signal,
        logger: baseLogger.child({ component: 'job', attempt: attempt.id, job: attempt.job }),
        db,
      });
      await untilAborted(
        Promise.resolve().then(() => job.run()),
        controller.signal,
      );
    } catch (error) {
      ok = false;
      message = failureMessage(error);
      logger.warn({ err: error }, 'attempt failed');
    } finally {
      clearTimeout(timer);
    }

    const then = this.accepting ? 'Free' : 'Offline';
    const { taken, next } = await this.deps.completer.finish({
      worker,
      attempt: attempt.id,
      ok,
      message,
      then,
    });
    logger.info(
      {
        ok,
        taken,
        ms: Math.round(performance.now() - started),
        message,
        then: next ? next.id : then,
      },
      taken ? 'attempt finished' : 'attempt finished, but it was no longer ours: result dropped',
    );
    // The next attempt was taken in the same transaction: run it as soon as this one is done.
    if (next) this.queued = { attempt: next, wake: { by: 'handoff', after: attempt.id } };
  }
}
