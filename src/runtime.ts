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
    clearTimeout(this.sweepTimer);
    const busy = this.slots.filter((slot) => slot.executor.busy).map((slot) => slot.name);
    this.logger.info({ why, busy }, 'worker stopping');
    await this.notifier?.stop();
    await this.sweeping;
    const graceMs = this.config.shutdownGraceSeconds * 1000;
    await Promise.all(this.slots.map((slot) => slot.executor.stop(graceMs, why)));
    await this.master.stop();
    if (wasRunning) {
      for (const slot of this.slots) {
        await workerOffline(this.pool, slot.name).catch((error: unknown) =>
          this.logger.warn({ err: error, slot: slot.name }, 'could not mark the worker Offline'),
        );
      }
    }
    await this.pool.end();
    this.state = 'stopped';
    this.logger.info({ why }, 'worker stopped');
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
    const notifier = new Notifier(connectionConfig(this.config.databaseUrl), this.logger);
    notifier.on('notification', (channel, payload) => this.onNotification(channel, payload));
    notifier.on('reconnected', () => this.sweepNow({ by: 'reconnect' }));
    try {
      await notifier.start();
      for (const slot of this.slots) await notifier.listen(slot.channel);
      await notifier.listen(LEASE_CHANNEL);
      this.notifier = notifier;
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

  private scheduleSweep(delayMs: number, wake: Wake): void {
    clearTimeout(this.sweepTimer);
    this.sweepTimer = setTimeout(() => this.sweepNow(wake), delayMs);
  }

  private sweepNow(wake: Wake): void {
    if (this.state !== 'running' || this.sweeping) return;
    this.sweeping = this.sweep(wake).finally(() => {
      this.sweeping = undefined;
      if (this.state === 'running') {
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
      const beat = await heartbeat(this.pool, names, this.config.name);
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
        if (slotBeat.attempt) slot.executor.offer(slotBeat.attempt, wake);
        if (slotBeat.cancel !== null) slot.executor.cancel(slotBeat.cancel);
      }
      if (beat.leaseFree && !this.master.leading) await this.acquireLease(wake);
      this.master.wake(wake);
      this.logger.debug({ ...wakeFields(wake), slots: beat.slots.map((b) => b.status) }, 'sweep');
    } catch (error) {
      this.logger.warn(
        { err: error, ...wakeFields(wake) },
        'sweep failed; trying again next interval',
      );
    }
  }
}
