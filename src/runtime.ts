import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { migrate } from './db/migrate.js';
import { connectionConfig, createPool } from './db/pool.js';
import {
  attemptForWorker,
  heartbeat,
  registerWorker,
  workerOffline,
  type AttemptPayload,
} from './db/queries.js';
import { Executor } from './executor/executor.js';
import { Master } from './master/master.js';
import { Notifier } from './notifier.js';
import { wakeFields, type Wake } from './wake.js';

/** The built-in jobs (jobs.dummy_job.DummyJob …) live beside this file, after the user's. */
export const BUILTIN_JOBS_DIR = fileURLToPath(new URL('.', import.meta.url));

export const MASTER_CHANNEL = 'rush_master';
export const LEASE_CHANNEL = 'rush_lease';

/**
 * One worker process: registers, listens for its assignments (and, while master, for work for
 * the master), beats and sweeps every poll interval, and runs what it is given.
 */
export class WorkerRuntime {
  readonly pool: Pool;
  private readonly logger: Logger;
  private readonly executor: Executor;
  private readonly master: Master;
  private notifier: Notifier | undefined;
  private channel = '';
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
    this.executor = new Executor({
      db: this.pool,
      logger,
      worker: config.name,
      jobsDirs: [...config.jobsDirs, BUILTIN_JOBS_DIR],
    });
    this.master = new Master(this.pool, config, logger);
    this.master.on('leadership', (leading) => void this.onLeadership(leading));
  }

  async start(): Promise<void> {
    if (this.state !== 'new') return;
    this.state = 'running';
    const started = performance.now();
    if (this.config.migrate) await migrate(this.config.databaseUrl, this.logger);
    this.channel = await registerWorker(this.pool, this.config.name, hostname(), process.pid);
    if (this.config.listen) await this.startListening();
    this.logger.info(
      {
        channel: this.channel,
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
    this.logger.info({ why, busy: this.executor.busy }, 'worker stopping');
    await this.notifier?.stop();
    await this.sweeping;
    await this.executor.stop(this.config.shutdownGraceSeconds * 1000, why);
    await this.master.stop();
    if (wasRunning) {
      await workerOffline(this.pool, this.config.name).catch((error: unknown) =>
        this.logger.warn({ err: error }, 'could not mark the worker Offline'),
      );
    }
    await this.pool.end();
    this.state = 'stopped';
    this.logger.info({ why }, 'worker stopped');
  }

  /** A second signal: abort the running job at once and leave. */
  async forceStop(why: string): Promise<void> {
    await this.executor.forceStop(why);
  }

  private async startListening(): Promise<void> {
    const notifier = new Notifier(connectionConfig(this.config.databaseUrl), this.logger);
    notifier.on('notification', (channel, payload) => this.onNotification(channel, payload));
    notifier.on('reconnected', () => this.sweepNow({ by: 'reconnect' }));
    try {
      await notifier.start();
      await notifier.listen(this.channel);
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
    if (channel === this.channel) void this.onAssignment(payload, wake);
    else if (channel === MASTER_CHANNEL) this.master.wake(wake);
    else if (channel === LEASE_CHANNEL) void this.acquireLease(wake);
  }

  private async onAssignment(payload: string, wake: Wake): Promise<void> {
    try {
      const parsed = JSON.parse(payload) as Partial<AttemptPayload> & {
        id?: number;
        cancel?: number;
      };
      if (parsed.cancel !== undefined) {
        this.executor.cancel(parsed.cancel);
        return;
      }
      // A payload too large for a notification carries the id only.
      const attempt =
        parsed.pipeline === undefined
          ? await attemptForWorker(this.pool, this.config.name, Number(parsed.id))
          : (parsed as AttemptPayload);
      if (attempt && this.state === 'running') this.executor.offer(attempt, wake);
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
      let beat = await heartbeat(this.pool, this.config.name);
      if (beat.status === null) {
        this.logger.warn(wakeFields(wake), 'worker row missing: registering again');
        await registerWorker(this.pool, this.config.name, hostname(), process.pid);
        beat = await heartbeat(this.pool, this.config.name);
      }
      if (beat.attempt) this.executor.offer(beat.attempt, wake);
      if (beat.cancel !== null) this.executor.cancel(beat.cancel);
      if (beat.leaseFree && !this.master.leading) await this.acquireLease(wake);
      this.master.wake(wake);
      this.logger.debug({ ...wakeFields(wake), status: beat.status }, 'sweep');
    } catch (error) {
      this.logger.warn(
        { err: error, ...wakeFields(wake) },
        'sweep failed; trying again next interval',
      );
    }
  }
}
