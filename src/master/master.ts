import { EventEmitter } from 'eventemitter3';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import {
  acquireLease,
  masterTick,
  releaseLease,
  renewLease,
  tickHeartbeat,
  type Heartbeat,
  type Lease,
  type TickSummary,
} from '../db/queries.js';
import { Coalescer, wakeFields, type Wake } from '../wake.js';
import { renewIntervalMs, timerDelayMs, trustDeadline } from './lease.js';

export interface MasterEvents {
  /** This process became the master (true) or stopped being it (false). */
  leadership: (leading: boolean) => void;
}

/** Most rows one tick step handles; a fuller step asks for another tick at once. */
const TICK_LIMIT = 2000;

/**
 * The master role of a worker process: holds the lease while it can, and runs ticks (one
 * server-side call each) when woken by a notification, its timer or the sweep. Ticks never
 * overlap; wakes during a tick coalesce into one more.
 */
export class Master extends EventEmitter<MasterEvents> {
  private lease: { term: number; trustedUntil: number } | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private renewedAt = 0;
  private wakeTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly ticks: Coalescer;
  private readonly logger: Logger;
  private tickCount = 0;
  /** A sweep waiting for the next tick to beat for its slots. */
  private beatRequest:
    | { workers: string[]; ping: string | null; done: (beat: Heartbeat | undefined) => void }
    | undefined;

  constructor(
    private readonly db: Pool,
    private readonly config: Config,
    logger: Logger,
  ) {
    super();
    this.logger = logger.child({ component: 'master' });
    this.ticks = new Coalescer(
      (wake, coalesced) => this.tick(wake, coalesced),
      (error, wake) => this.logger.error({ err: error, ...wakeFields(wake) }, 'tick failed'),
    );
  }

  get leading(): boolean {
    return this.lease !== undefined && performance.now() < this.lease.trustedUntil;
  }

  /** Takes the lease if it is free; a no-op when already master. */
  async tryAcquire(wake: Wake): Promise<void> {
    if (this.stopped || this.lease) return;
    const askedAt = performance.now();
    const lease = await acquireLease(this.db, this.config.name, this.config.leaseTtlSeconds);
    if (!lease || this.stopped || this.lease) return;
    this.trust(lease, askedAt);
    this.logger.info({ ...wakeFields(wake), term: lease.term }, 'became master');
    this.renewTimer = setInterval(
      () => void this.renew(),
      renewIntervalMs(this.config.leaseTtlSeconds) / 2,
    );
    this.emit('leadership', true);
    this.wake(wake);
  }

  wake(wake: Wake): void {
    if (this.lease && !this.stopped) this.ticks.wake(wake);
  }

  /**
   * The sweep of the master's own process: one tick that beats for its slots first, so an idle
   * master sends one statement per poll interval, not two. Resolves with that heartbeat, or
   * undefined when no tick could do it (not master, a failed tick): then the caller beats itself.
   */
  sweep(wake: Wake, workers: string[], ping: string | null): Promise<Heartbeat | undefined> {
    if (!this.lease || this.stopped) return Promise.resolve(undefined);
    this.beatRequest?.done(undefined);
    return new Promise((resolve) => {
      this.beatRequest = { workers, ping, done: resolve };
      this.ticks.wake(wake);
    });
  }

  /** Releases the lease (telling the standbys at once) after the running tick. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.wakeTimer);
    await this.ticks.idle();
    const lease = this.lease;
    this.resign('stopping');
    if (lease) {
      const released = await releaseLease(this.db, this.config.name, lease.term).catch(() => false);
      this.logger.info({ term: lease.term, released }, 'released the lease');
    }
  }

  private trust(lease: Lease, askedAt: number): void {
    this.renewedAt = askedAt;
    this.lease = {
      term: lease.term,
      trustedUntil: trustDeadline(askedAt, this.config.leaseTtlSeconds),
    };
  }

  private resign(why: string): void {
    if (!this.lease) return;
    clearInterval(this.renewTimer);
    clearTimeout(this.wakeTimer);
    const term = this.lease.term;
    this.lease = undefined;
    if (!this.stopped) this.logger.warn({ term, why }, 'no longer master');
    this.emit('leadership', false);
  }

  private async renew(): Promise<void> {
    const lease = this.lease;
    if (!lease || this.stopped) return;
    const askedAt = performance.now();
    // The sweep's tick renews the lease every poll interval, in the same statement: this timer
    // steps in only when no tick has for a while (a slow database, a long poll interval). It
    // checks twice per renewal interval, so it renews at most 1.7 intervals after the last.
    if (askedAt - this.renewedAt < renewIntervalMs(this.config.leaseTtlSeconds) * 1.2) return;
    try {
      const renewed = await renewLease(
        this.db,
        this.config.name,
        lease.term,
        this.config.leaseTtlSeconds,
      );
      if (this.lease !== lease) return;
      if (renewed) this.trust(renewed, askedAt);
      else this.resign('another worker holds the lease');
    } catch (error) {
      // Keep acting until the trusted deadline; a tick after it resigns.
      this.logger.warn({ err: error, term: lease.term }, 'renewing the lease failed');
    }
  }

  private async tick(wake: Wake, coalesced: number): Promise<void> {
    const request = this.beatRequest;
    this.beatRequest = undefined;
    let beat: Heartbeat | undefined;
    try {
      beat = await this.runTick(wake, coalesced, request);
    } finally {
      request?.done(beat);
    }
  }

  private async runTick(
    wake: Wake,
    coalesced: number,
    request: { workers: string[]; ping: string | null } | undefined,
  ): Promise<Heartbeat | undefined> {
    const lease = this.lease;
    if (!lease || this.stopped) return undefined;
    if (!this.leading) {
      this.resign('lease not renewed in time');
      return undefined;
    }
    const started = performance.now();
    const maintenance = wake.by !== 'notify' && wake.by !== 'more';
    const summary = await masterTick(this.db, this.config.name, lease.term, {
      limit: TICK_LIMIT,
      workerTtlSeconds: this.config.workerTtlSeconds,
      timeoutGraceSeconds: this.config.timeoutGraceSeconds,
      maintenance,
      renewSeconds: maintenance ? this.config.leaseTtlSeconds : null,
      ...(request ? { beat: { workers: request.workers, ping: request.ping } } : {}),
    });
    const ms = Math.round((performance.now() - started) * 100) / 100;
    if (!summary.master) {
      this.resign('the database refused the term');
      return undefined;
    }
    if (summary.renewed && this.lease === lease) {
      this.lease = {
        term: lease.term,
        trustedUntil: trustDeadline(started, this.config.leaseTtlSeconds),
      };
      this.renewedAt = started;
    }
    this.tickCount += 1;
    const fields = {
      ...wakeFields(wake),
      coalesced,
      tick: this.tickCount,
      term: lease.term,
      ms,
      ...counts(summary),
    };
    if (didSomething(summary)) this.logger.info(fields, 'tick');
    else this.logger.debug(fields, 'tick');
    this.schedule(summary);
    return tickHeartbeat(summary);
  }

  private schedule(summary: TickSummary): void {
    clearTimeout(this.wakeTimer);
    if (summary.more) {
      this.ticks.wake({ by: 'more' });
      return;
    }
    const pollMs = this.config.pollIntervalSeconds * 1000;
    const delay = timerDelayMs(summary.next_wake_in_ms, pollMs);
    if (delay !== undefined && delay < pollMs) {
      this.wakeTimer = setTimeout(() => this.wake({ by: 'timer' }), delay);
    }
  }
}

const COUNT_KEYS = [
  'accepted',
  'rejected',
  'archived',
  'next_jobs',
  'retries',
  'stuck',
  'completed',
  'lost_workers',
  'timed_out',
  'released',
  'assigned',
] as const;

/** The non-zero counts of a tick, for its log line. */
function counts(summary: TickSummary): Record<string, number> {
  const result: Record<string, number> = {};
  for (const key of COUNT_KEYS) {
    const value = summary[key];
    if (value) result[key] = value;
  }
  return result;
}

function didSomething(summary: TickSummary): boolean {
  return COUNT_KEYS.some((key) => (summary[key] ?? 0) > 0);
}
