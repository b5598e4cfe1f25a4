import { setTimeout as sleep } from 'node:timers/promises';
import { Job } from '../job.js';
import { redactParams } from '../logger.js';

/** The longest wait a Node timer can express (about 24.8 days). */
const MAX_SLEEP_MS = 2 ** 31 - 1;

/**
 * A job that does nothing but say it ran: the smallest possible pipeline step, for demos,
 * benchmarks and tests. Optional params:
 * - `sleep_ms`: wait that long first (returns early, rejecting, when the attempt is aborted);
 * - `fail`: `true` makes every attempt fail;
 * - `fail_until_retry`: N makes the attempts with `retry < N` fail, so retry N succeeds.
 */
export class DummyJob extends Job {
  async run(): Promise<void> {
    // Validate everything before doing anything, so a typo fails at once.
    const sleepMs = this.numberParam('sleep_ms', MAX_SLEEP_MS);
    const fail = this.booleanParam('fail');
    const failUntilRetry = this.numberParam('fail_until_retry', Number.MAX_SAFE_INTEGER, true);

    this.logger.info(
      { params: redactParams(this.params), context: this.context },
      'DummyJob running',
    );

    if (sleepMs !== undefined && sleepMs > 0) {
      await this.sleep(sleepMs);
    }
    if (fail) {
      throw new Error('DummyJob failed as asked (fail=true)');
    }
    if (failUntilRetry !== undefined && this.context.retry < failUntilRetry) {
      throw new Error(
        `DummyJob failed as asked (fail_until_retry=${failUntilRetry}, ` +
          `this is retry ${this.context.retry})`,
      );
    }
    this.logger.info('DummyJob complete');
  }

  /** Waits `ms`, or rejects with an AbortError as soon as `this.signal` aborts. */
  private async sleep(ms: number): Promise<void> {
    const started = Date.now();
    try {
      await sleep(ms, undefined, { signal: this.signal });
    } catch (err) {
      if (!this.signal.aborted) throw err;
      const reason: unknown = this.signal.reason;
      const why = reason instanceof Error ? `: ${reason.message}` : '';
      const aborted = new Error(
        `DummyJob aborted after ${Date.now() - started} ms of its ${ms} ms sleep${why}`,
        { cause: reason },
      );
      aborted.name = 'AbortError';
      throw aborted;
    }
  }

  /** An optional non-negative number param; `undefined` when unset or empty. */
  private numberParam(key: string, max: number, integer = false): number | undefined {
    const raw = this.params[key];
    if (raw === undefined || raw.trim() === '') return undefined;
    const value = Number(raw.trim());
    if (
      !Number.isFinite(value) ||
      value < 0 ||
      value > max ||
      (integer && !Number.isInteger(value))
    ) {
      const kind = integer ? 'a non-negative integer' : 'a non-negative number';
      throw new Error(
        `DummyJob: parameter "${key}" must be ${kind} (at most ${max}), got ${JSON.stringify(raw)}`,
      );
    }
    return value;
  }

  /** An optional boolean param: `true` or `false` (any case); unset or empty is false. */
  private booleanParam(key: string): boolean {
    const raw = this.params[key];
    if (raw === undefined || raw.trim() === '') return false;
    const value = raw.trim().toLowerCase();
    if (value === 'true') return true;
    if (value === 'false') return false;
    throw new Error(
      `DummyJob: parameter "${key}" must be "true" or "false", got ${JSON.stringify(raw)}`,
    );
  }
}
