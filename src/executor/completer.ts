import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { backoffDelay } from '../backoff.js';
import { finishAttempts, type FinishResult, type Outcome } from '../db/queries.js';

interface Pending {
  outcome: Outcome;
  resolve: (result: FinishResult) => void;
  reject: (error: unknown) => void;
}

/**
 * Records the outcomes of a process's slots. Outcomes reached in the same turn of the event
 * loop go to the database together, and those that finish while a call is on its way go in the
 * next one, so under load one statement records (and hands the next attempt to) many slots,
 * and when idle nothing waits. A failed call is retried until the database takes it: an
 * outcome is never dropped.
 */
export class Completer {
  private queue: Pending[] = [];
  private flushing = false;
  private giveUp = false;

  constructor(
    private readonly db: Pool,
    private readonly logger: Logger,
  ) {}

  finish(outcome: Outcome): Promise<FinishResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ outcome, resolve, reject });
      if (this.flushing) return;
      this.flushing = true;
      // The slots a call handed their next attempts to come back from them within one turn:
      // waiting for the turn's end sends them in one statement, rather than the first alone
      // and the rest behind it, which halves the batches for good.
      setImmediate(() => void this.flush());
    });
  }

  /** On a forced stop: fail pending calls instead of retrying them forever. */
  abandonRetries(): void {
    this.giveUp = true;
  }

  private async flush(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        try {
          const results = await this.record(batch.map((p) => p.outcome));
          batch.forEach((pending, i) =>
            pending.resolve(results[i] ?? { taken: false, next: null }),
          );
        } catch (error) {
          for (const pending of batch) pending.reject(error);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private async record(outcomes: Outcome[]): Promise<FinishResult[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await finishAttempts(this.db, outcomes);
      } catch (error) {
        if (this.giveUp) throw error;
        const delay = backoffDelay(attempt);
        this.logger.error(
          {
            component: 'completer',
            err: error,
            attempts: outcomes.map((o) => o.attempt),
            retryInMs: delay,
          },
          'recording outcomes failed; retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }
}
