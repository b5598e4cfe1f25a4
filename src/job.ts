import type { Logger } from 'pino';
import type { Pool } from 'pg';

/** Where an attempt sits in its run; handed to every job as `this.context`. */
export interface JobContext {
  pipeline: string;
  job: string;
  jobinstance: number;
  retry: number;
  /** The attempt id (`run_state.id`), unique for every try of every job. */
  attempt: number;
  worker: string;
}

export interface JobInit {
  params: Record<string, string>;
  context: JobContext;
  signal: AbortSignal;
  logger: Logger;
  /** The worker's connection pool, for jobs that work in the same database. */
  db: Pool;
}

/**
 * The base of every job: extend it, implement `run()`, name the class in the pipeline
 * definition's `class_name`. A job that throws (or rejects) fails its attempt with the
 * error's message; one that returns completes it.
 */
export abstract class Job {
  readonly params: Record<string, string>;
  readonly context: JobContext;
  /** Aborted at the job's timeout or when the worker stops: long jobs should honour it. */
  readonly signal: AbortSignal;
  readonly logger: Logger;
  readonly db: Pool;

  constructor(init: JobInit) {
    this.params = init.params;
    this.context = init.context;
    this.signal = init.signal;
    this.logger = init.logger;
    this.db = init.db;
  }

  abstract run(): Promise<void> | void;

  /** The parameter `key`, or an error naming it when the pipeline does not set it. */
  requireParam(key: string): string {
    const value = this.params[key];
    if (value === undefined || value === '') {
      throw new Error(
        `parameter "${key}" is missing for ${this.context.pipeline}.${this.context.job}: ` +
          `set it in job_parameter or in the run_request's params`,
      );
    }
    return value;
  }
}
