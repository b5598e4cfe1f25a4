import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { slotNames, type Config } from './config.js';
import { migrate } from './db/migrate.js';
import { connectionConfig, createPool } from './db/pool.js';
import {
  attemptForWorker,
  heartbeat,
  registerWorker,
  workerOffline,
  type AttemptPayload,
} from './db/queries.js';
import { Completer } from './executor/completer.js';
import { Executor } from './executor/executor.js';
import { Master } from './master/master.js';
import { Notifier } from './notifier.js';
import { wakeFields, type Wake } from './wake.js';

/** The built-in jobs (jobs.dummy_job.DummyJob …) live beside this file, after the user's. */
export const BUILTIN_JOBS_DIR = fileURLToPath(new URL('.', import.meta.url));

export const MASTER_CHANNEL = 'rush_master';

/**
 * A listening connection can die without an error (a NAT or firewall dropping it, a LISTEN
 * lost on the server side). After --listen-check seconds without any notification, the worker
 * notifies itself; if that does not come back within this long either, it reconnects.
 */
const PING_TIMEOUT_MS = 5_000;
export const LEASE_CHANNEL = 'rush_lease';

/** One job slot of the process: a worker row, its channel, its executor. */
interface Slot {
  name: string;
  channel: string;
  executor: Executor;
}

/**
 * One worker process: registers its slots, listens for their assignments (and, while master,
 * for work for the master), beats and sweeps every poll interval, and runs what it is given.
 */
export class WorkerRuntime {
  readonly pool: Pool;
  private readonly logger: Logger;
  private readonly slots: Slot[];
  private readonly byChannel = new Map<string, Slot>();
  private readonly completer: Completer;
  private readonly master: Master;
  private notifier: Notifier | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private lastHeard = performance.now();
  private pingSentAt: number | undefined;
  private sweeping: Promise<void> | undefined;
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';

  constructor(
    private readonly config: Config,
    logger: Logger,
  ) {
    this.logger = logger.child({ component: 'worker' });
    this.pool = createPool(config.databaseUrl, config.poolSize, config.name);
    this.pool.on('error', (error) =>
      this.logger.warn({ err: error }, 'idle database connection failed'),
    );
    this.completer = new Completer(this.pool, logger);
    this.slots = slotNames(config.name, config.concurrency).map((name) => ({
      name,
      channel: '',
      executor: new Executor({
        db: this.pool,
        completer: this.completer,
        logger: config.concurrency === 1 ? logger : logger.child({ slot: name }),
        worker: name,
        jobsDirs: [...config.jobsDirs, BUILTIN_JOBS_DIR],
      }),
    }));
    this.master = new Master(this.pool, config, logger);
    this.master.on('leadership', (leading) => void this.onLeadership(leading));
  }

  async start(): Promise<void> {
    if (this.state !== 'new') return;
    this.state = 'running';
    const started = performance.now();
    if (this.config.migrate) await migrate(this.config.databaseUrl, this.logger);
    for (const slot of this.slots) await this.register(slot);
    if (this.config.listen) await this.startListening();
    this.logger.info(
      {
        channels: this.slots.map((slot) => slot.channel),
        listen: this.notifier !== undefined,
        pollIntervalSeconds: this.config.pollIntervalSeconds,
        jobsDirs: this.config.jobsDirs,
        ms: Math.round(performance.now() - started),
      },
      'worker started',
    );
    this.scheduleSweep(0, { by: 'start' });
  }

  /**
   * Stops taking work, lets a running job finish within the shutdown grace (then aborts and
   * fails it), goes Offline and hands the lease over. Idempotent.
   */
  async stop(why = 'stop requested'): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    const wasRunning = this.state === 'running';
    this.state = 'stopping';
    const busy = this.slots.filter((slot) => slot.executor.busy);
    this.logger.info({ why, busy: busy.map((slot) => slot.name) }, 'worker stopping');
    // The lease goes first, so a standby takes over while the running jobs finish here.
    await this.master.stop();
    if (wasRunning) {
      // Idle slots leave now, so nothing new is assigned to them.
      for (const slot of this.slots.filter((candidate) => !candidate.executor.busy)) {
        await this.leave(slot);
      }
    }
    // Sweeps go on meanwhile (heartbeat, cancellations), so a job that takes its whole grace
    // is not taken for a lost worker's and run twice.
    const graceMs = this.config.shutdownGraceSeconds * 1000;
    await Promise.all(this.slots.map((slot) => slot.executor.stop(graceMs, why)));
    clearTimeout(this.sweepTimer);
    await this.sweeping;
    await this.notifier?.stop();
    if (wasRunning) for (const slot of busy) await this.leave(slot);
    await this.pool.end();
    this.state = 'stopped';
    this.logger.info({ why }, 'worker stopped');
  }

  /** Marks a slot Offline; an attempt assigned to it but never started goes back to Ready. */
  private async leave(slot: Slot): Promise<void> {
    await workerOffline(this.pool, slot.name).catch((error: unknown) =>
      this.logger.warn({ err: error, slot: slot.name }, 'could not mark the worker Offline'),
    );
  }

  /** A second signal: abort the running job at once and leave. */
  async forceStop(why: string): Promise<void> {
    this.completer.abandonRetries();
    await Promise.all(this.slots.map((slot) => slot.executor.forceStop(why)));
  }

  private async register(slot: Slot): Promise<void> {
    slot.channel = await registerWorker(this.pool, slot.name, hostname(), process.pid);
    this.byChannel.set(slot.channel, slot);
  }

  private async startListening(): Promise<void> {
    const notifier = new Notifier(
      {
        ...connectionConfig(this.config.databaseUrl),
        application_name: `rush listen ${this.config.name}`.slice(0, 63),
      },
      this.logger,
    );
    notifier.on('notification', (channel, payload) => this.onNotification(channel, payload));
    notifier.on('reconnected', () => this.sweepNow({ by: 'reconnect' }));
    try {
      await notifier.start();
      for (const slot of this.slots) await notifier.listen(slot.channel);
      await notifier.listen(LEASE_CHANNEL);
      if (this.master.leading) await notifier.listen(MASTER_CHANNEL);
      this.notifier = notifier;
      this.logger.info({ channels: this.slots.length + 1 }, 'listening for notifications');
    } catch (error) {
      await notifier.stop();
      // PgBouncer in transaction mode, for one, cannot LISTEN: polling still works.
      this.logger.warn(
        { err: error, pollIntervalSeconds: this.config.pollIntervalSeconds },
        'LISTEN failed: falling back to polling only',
      );
    }
  }

  private onNotification(channel: string, payload: string): void {
    this.lastHeard = performance.now();
    this.pingSentAt = undefined;
    const wake: Wake = { by: 'notify', channel, payload };
    const slot = this.byChannel.get(channel);
    if (slot) void this.onAssignment(slot, payload, wake);
    else if (channel === MASTER_CHANNEL) this.master.wake(wake);
    else if (channel === LEASE_CHANNEL) void this.acquireLease(wake);
  }

  private async onAssignment(slot: Slot, payload: string, wake: Wake): Promise<void> {
    try {
      const parsed = JSON.parse(payload) as Partial<AttemptPayload> & {
        id?: number;
        cancel?: number;
      };
      if (parsed.cancel !== undefined) {
        slot.executor.cancel(parsed.cancel);
        return;
      }
      if ('ping' in parsed) return; // the listening connection's own check: it arrived
      // A payload too large for a notification carries the id only.
      const attempt =
        parsed.pipeline === undefined
          ? await attemptForWorker(this.pool, slot.name, Number(parsed.id))
          : (parsed as AttemptPayload);
      if (attempt && this.state === 'running') slot.executor.offer(attempt, wake);
    } catch (error) {
      this.logger.error(
        { err: error, ...wakeFields(wake) },
        'bad assignment notification; the sweep will pick it up',
      );
    }
  }

  private async onLeadership(leading: boolean): Promise<void> {
    if (!this.notifier || this.state !== 'running') return;
    try {
      if (leading) await this.notifier.listen(MASTER_CHANNEL);
      else await this.notifier.unlisten(MASTER_CHANNEL);
    } catch (error) {
      this.logger.warn({ err: error, leading }, 'changing the master subscription failed');
    }
  }

  private async acquireLease(wake: Wake): Promise<void> {
    if (this.state !== 'running') return;
    try {
      await this.master.tryAcquire(wake);
    } catch (error) {
      this.logger.warn({ err: error, ...wakeFields(wake) }, 'taking the lease failed');
    }
  }

  /**
   * Proves now and then that notifications still arrive (the ping goes with a heartbeat: see
   * pingWithBeat), and reconnects when they do not.
   */
  private async checkListener(): Promise<void> {
    if (!this.config.listen || this.state !== 'running') return;
    const now = performance.now();
    const checkMs = this.config.listenCheckSeconds * 1000;
    if (!this.notifier) {
      // LISTEN failed before (at start, or replacing a silent connection): try again now and
      // then, so that an outage does not leave the worker polling for the rest of its life.
      if (now - this.lastHeard < checkMs) return;
      this.lastHeard = now;
      await this.startListening();
      return;
    }
    if (this.pingSentAt !== undefined) {
      if (now - this.pingSentAt < Math.min(PING_TIMEOUT_MS, checkMs)) return;
      this.logger.warn(
        { silentForMs: Math.round(now - this.lastHeard) },
        'listening connection silent (its own notification never came back): reconnecting',
      );
      this.pingSentAt = undefined;
      this.lastHeard = now;
      await this.notifier.stop();
      this.notifier = undefined;
      // What was sent meanwhile is lost: the next sweep (one poll interval away) repairs it.
      await this.startListening();
    }
  }

  /**
   * The channel to ping with this sweep's heartbeat, when the listening connection has been
   * silent for --listen-check seconds; it counts as sent from now, as it may come back before
   * the heartbeat's own answer does.
   */
  private pingWithBeat(): string | null {
    if (!this.notifier || this.state !== 'running' || this.pingSentAt !== undefined) return null;
    const now = performance.now();
    if (now - this.lastHeard < this.config.listenCheckSeconds * 1000) return null;
    this.pingSentAt = now;
    return this.slots[0]!.channel;
  }

  private scheduleSweep(delayMs: number, wake: Wake): void {
    clearTimeout(this.sweepTimer);
    this.sweepTimer = setTimeout(() => this.sweepNow(wake), delayMs);
  }

  private sweepNow(wake: Wake): void {
    if ((this.state !== 'running' && this.state !== 'stopping') || this.sweeping) return;
    this.sweeping = this.sweep(wake).finally(() => {
      this.sweeping = undefined;
      if (this.state === 'running' || this.state === 'stopping') {
        this.scheduleSweep(this.config.pollIntervalSeconds * 1000, { by: 'sweep' });
      }
    });
  }

  /**
   * The fallback that makes notifications a mere speed-up: beat, pick up an assignment whose
   * notification was lost, take a free lease, and let the master tick.
   */
  private async sweep(wake: Wake): Promise<void> {
    try {
      const names = this.slots.map((slot) => slot.name);
      const ping = this.pingWithBeat();
      // While master, this sweep's tick beats for the slots too (one statement, not two).
      const ticked =
        this.master.leading && this.state === 'running'
          ? await this.master.sweep(wake, names, ping)
          : undefined;
      const beat =
        ticked ??
        (await heartbeat(this.pool, names, this.config.name, ping).catch((error: unknown) => {
          if (ping !== null) this.pingSentAt = undefined; // never sent
          throw error;
        }));
      for (const slotBeat of beat.slots) {
        const slot = this.slots.find((candidate) => candidate.name === slotBeat.worker);
        if (!slot) continue;
        if (slotBeat.status === null) {
          this.logger.warn(
            { ...wakeFields(wake), slot: slot.name },
            'worker row missing: registering again',
          );
          await this.register(slot);
          continue;
        }
        if (slotBeat.wasLost) slot.executor.abandon();
        if (slotBeat.attempt) slot.executor.offer(slotBeat.attempt, wake);
        if (slotBeat.cancel !== null) slot.executor.cancel(slotBeat.cancel);
      }
      if (this.state !== 'running') return; // stopping: beat and cancel, take nothing on
      if (beat.leaseFree && !this.master.leading) await this.acquireLease(wake);
      if (!ticked) this.master.wake(wake);
      await this.checkListener();
      this.logger.debug({ ...wakeFields(wake), slots: beat.slots.map((b) => b.status) }, 'sweep');
    } catch (error) {
      this.logger.warn(
        { err: error, ...wakeFields(wake) },
        'sweep failed; trying again next interval',
      );
    }
  }
}
