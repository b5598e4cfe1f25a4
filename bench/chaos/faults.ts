/**
 * Drives the faults of a chaos run: keeps a fleet of worker slots filled, fires the schedule's
 * faults at their times (kill -9 of a worker or of the master, SIGTERM once or twice, a
 * PostgreSQL restart) and starts a replacement for each victim after its pause.
 */
import type pg from 'pg';
import type { Fleet, Life } from './fleet.js';
import type { Fault } from './schedule.js';
import type { ChaosServer } from './server.js';
import type { FaultEvent } from './types.js';

// The wall clock, as the jobs, the workers' logs and PostgreSQL read it: one clock for all.
const now = (): number => Date.now();
const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** A SIGTERM'd worker that has not exited after this long is killed (and that is reported). */
export const TERM_TIMEOUT_MS = 15_000;
/** A worker that exited on its own is started again after this long. */
const UNEXPECTED_RESTART_MS = 1_000;

interface Slot {
  index: number;
  name: string;
  life: Life | null;
  /** Set by a fault: how its replacement starts once the victim is gone. */
  next: { afterMs: number; sameName: boolean } | null;
  restartTimer: NodeJS.Timeout | undefined;
}

export class FaultDriver {
  readonly events: FaultEvent[] = [];
  /** Processes that exited without being told to, and SIGTERM'd ones that had to be killed. */
  readonly unexpected: Life[] = [];
  readonly termTimeouts: Life[] = [];
  readonly notes: string[] = [];
  /** When the fault phase began (wall clock). */
  phaseStartedAt = 0;
  private readonly slots: Slot[];
  private names: number;
  private pgUp: Promise<void> = Promise.resolve();
  private closing = false;
  private hurry = false;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly fleet: Fleet,
    private readonly server: ChaosServer,
    private readonly pool: pg.Pool,
    workers: number,
  ) {
    this.slots = Array.from({ length: workers }, (_, index) => ({
      index,
      name: `chaos-${index + 1}`,
      life: null,
      next: null,
      restartTimer: undefined,
    }));
    this.names = workers;
    fleet.onExit((life) => this.onExit(life));
  }

  /** Starts every slot's first worker and waits until all are registered and one is master. */
  async startFleet(timeoutMs = 30_000): Promise<void> {
    for (const slot of this.slots) slot.life = this.fleet.spawn(slot.index, slot.name);
    const deadline = now() + timeoutMs;
    for (;;) {
      const { rows } = await this.pool.query<{ free: number; master: string | null }>(
        `SELECT (SELECT count(*)::int FROM worker WHERE status = 'Free' AND name = ANY ($1)) AS free,
                (SELECT master FROM master_token WHERE endtime > now()) AS master`,
        [this.slots.map((s) => s.name)],
      );
      if (rows[0]!.free === this.slots.length && rows[0]!.master) return;
      if (now() > deadline) {
        const tails = this.fleet.lives.map((l) => `${l.name}: ${l.stderrTail.join(' | ')}`);
        throw new Error(`the fleet did not start within ${timeoutMs} ms\n${tails.join('\n')}`);
      }
      await sleep(100);
    }
  }

  /** Fires the faults at their times from now on; returns after durationMs and their effects. */
  async run(schedule: readonly Fault[], durationMs: number): Promise<void> {
    const started = now();
    this.phaseStartedAt = started;
    for (const fault of schedule) {
      if (fault.atMs >= durationMs) break;
      await sleep(started + fault.atMs - now());
      this.track(this.apply(fault));
    }
    await sleep(started + durationMs - now());
    await Promise.all(this.inFlight);
  }

  /** Fills every slot now (no more pauses) and waits until each has a live worker again. */
  async refill(timeoutMs = 30_000): Promise<void> {
    this.hurry = true;
    await this.pgUp;
    for (const slot of this.slots) {
      if (slot.life === null) {
        clearTimeout(slot.restartTimer);
        this.restart(slot);
      }
    }
    const deadline = now() + timeoutMs;
    while (this.slots.some((s) => s.life === null || s.life.exitedAt !== null)) {
      if (now() > deadline) throw new Error(`the fleet was not whole again within ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  /** From now on a worker that exits stays down. */
  close(): void {
    this.closing = true;
    for (const slot of this.slots) clearTimeout(slot.restartTimer);
  }

  private track(work: Promise<void>): void {
    const tracked = work
      .catch((error: unknown) => {
        this.notes.push(`a fault failed: ${(error as Error).message}`);
      })
      .finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  private async apply(fault: Fault): Promise<void> {
    if (fault.kind === 'pg-restart') return this.restartPostgres(fault);
    const master = await this.currentMaster();
    const up = this.slots.filter((s) => s.life !== null && s.life.exitedAt === null && !s.next);
    let slot: Slot | undefined;
    let note: string | null = null;
    if (fault.kind === 'kill-master') {
      slot = up.find((s) => s.life!.name === master);
      if (!slot)
        note = master
          ? `master ${master} is not running: a worker instead`
          : 'no master: a worker instead';
    }
    slot ??= up[fault.pick % Math.max(1, up.length)];
    if (!slot) {
      this.events.push({
        kind: fault.kind,
        at: now(),
        victim: null,
        wasMaster: null,
        note: 'no live worker',
      });
      return;
    }
    const life = slot.life!;
    slot.next = { afterMs: fault.restartAfterMs, sameName: fault.sameName };
    const event: FaultEvent = {
      kind: fault.kind,
      at: now(),
      victim: { name: life.name, pid: life.pid },
      wasMaster: master === undefined ? null : master === life.name,
      note,
    };
    this.events.push(event);
    if (fault.kind === 'kill-worker' || fault.kind === 'kill-master') {
      this.fleet.kill(life);
      return;
    }
    this.fleet.term(life);
    if (fault.kind === 'term-twice') {
      await sleep(fault.secondSignalAfterMs ?? 500);
      this.fleet.term(life);
    }
    const escalate = setTimeout(() => {
      this.termTimeouts.push(life);
      this.fleet.kill(life);
    }, TERM_TIMEOUT_MS);
    await life.exited;
    clearTimeout(escalate);
  }

  /** The lease holder's name; undefined when the database does not answer. */
  private async currentMaster(): Promise<string | null | undefined> {
    try {
      const { rows } = await this.pool.query<{ master: string | null }>(
        `SELECT master FROM master_token WHERE endtime > now()`,
      );
      return rows[0]?.master ?? null;
    } catch {
      return undefined;
    }
  }

  private async restartPostgres(fault: Fault): Promise<void> {
    const event: FaultEvent = {
      kind: 'pg-restart',
      at: now(),
      victim: null,
      wasMaster: null,
      note: null,
    };
    this.events.push(event);
    let up: () => void = () => undefined;
    this.pgUp = new Promise((resolve) => (up = resolve));
    try {
      const times = await this.server.restart(fault.downMs ?? 1_000);
      event.at = times.stoppedAt;
      event.downAt = times.downAt;
      event.upAt = times.upAt;
    } finally {
      up();
    }
  }

  private onExit(life: Life): void {
    const slot = this.slots[life.slot]!;
    if (slot.life !== life || this.closing) return;
    slot.life = null;
    if (!life.expectedExit) {
      this.unexpected.push(life);
      slot.next = { afterMs: UNEXPECTED_RESTART_MS, sameName: true };
    }
    const next = slot.next ?? { afterMs: UNEXPECTED_RESTART_MS, sameName: true };
    if (!next.sameName) slot.name = `chaos-${++this.names}`;
    slot.restartTimer = setTimeout(() => this.restart(slot), this.hurry ? 0 : next.afterMs);
  }

  /** Starts the slot's next worker, once PostgreSQL is up (a worker cannot start without it). */
  private restart(slot: Slot): void {
    void this.pgUp.then(() => {
      if (this.closing || slot.life !== null) return;
      slot.next = null;
      slot.life = this.fleet.spawn(slot.index, slot.name);
    });
  }
}
