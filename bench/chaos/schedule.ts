/**
 * The fault schedule of a chaos run: pure and seeded, so the schedule a failing run printed
 * can be replayed with --seed. Which worker a fault hits depends on who is alive (and who is
 * master) at that moment, so a fault carries a number that picks among the live workers.
 */
import { between, intBetween, seededRng, shuffled, weighted, type Rng } from './random.js';

export type FaultKind = 'kill-worker' | 'kill-master' | 'term-worker' | 'term-twice' | 'pg-restart';

/** The faults that hit one worker process. */
export const WORKER_FAULTS = ['kill-worker', 'kill-master', 'term-worker', 'term-twice'] as const;

export interface Fault {
  /** From the start of the fault phase. */
  atMs: number;
  kind: FaultKind;
  /** Picks the victim: taken modulo the number of live workers when the fault fires. */
  pick: number;
  /** How long the victim stays down before a replacement starts. */
  restartAfterMs: number;
  /** The replacement takes the victim's name (else a new one). */
  sameName: boolean;
  /** term-twice: the second SIGTERM, this long after the first. */
  secondSignalAfterMs?: number;
  /** pg-restart: how long the server stays down between its stop and its start. */
  downMs?: number;
}

export interface ScheduleOptions {
  seed: number;
  durationMs: number;
  /** False when PostgreSQL cannot be restarted (DATABASE_URL): no pg-restart faults. */
  pgRestarts: boolean;
}

/** The fleet gets this long to start and elect a master before the first fault. */
export const WARM_UP_MS = 3_000;
/** Gaps between two faults. */
export const GAP_MS = { min: 1_500, max: 4_500 } as const;
/** A replacement worker starts this long after its victim is gone. */
export const RESTART_MS = { min: 300, max: 3_000 } as const;
/** PostgreSQL stays down this long: sometimes less than --worker-ttl, sometimes more. */
export const DOWN_MS = { min: 500, max: 4_000 } as const;
/** No worker fault from this long before a PostgreSQL restart to this long after it is up. */
export const PG_QUIET_MS = { before: 1_000, after: 3_000 } as const;
/** One PostgreSQL restart per this much of the run, and at least one. */
export const PG_RESTART_EVERY_MS = 120_000;

const WEIGHTS: readonly (readonly [FaultKind, number])[] = [
  ['kill-worker', 35],
  ['kill-master', 25],
  ['term-worker', 25],
  ['term-twice', 15],
];

function workerFault(rng: Rng, atMs: number, kind: FaultKind): Fault {
  const fault: Fault = {
    atMs: Math.round(atMs),
    kind,
    pick: intBetween(rng, 0, 1_000_000),
    restartAfterMs: Math.round(between(rng, RESTART_MS.min, RESTART_MS.max)),
    sameName: rng() < 0.5,
  };
  if (kind === 'term-twice') fault.secondSignalAfterMs = Math.round(between(rng, 100, 1_500));
  return fault;
}

/** When the PostgreSQL restarts happen: spread over the run, the first in its middle. */
function pgRestartTimes(rng: Rng, durationMs: number): number[] {
  const count = Math.max(1, Math.floor(durationMs / PG_RESTART_EVERY_MS));
  const slot = durationMs / count;
  return Array.from({ length: count }, (_, i) =>
    Math.round(slot * (i + 0.5) + between(rng, -0.1, 0.1) * slot),
  );
}

/**
 * The faults of a run, in time order. Every kind of worker fault comes once among the first
 * four (when the run is long enough for four), the rest by weight; PostgreSQL restarts (when
 * possible) are placed in the middle of the run, or of each two minutes of it, with a quiet
 * window around them so that what follows a restart is the restart's doing.
 */
export function faultSchedule(options: ScheduleOptions): Fault[] {
  const rng = seededRng(options.seed);
  const restarts = options.pgRestarts
    ? pgRestartTimes(rng, options.durationMs).map((atMs) => ({
        atMs,
        downMs: Math.round(between(rng, DOWN_MS.min, DOWN_MS.max)),
      }))
    : [];
  const quiet = (atMs: number): boolean =>
    restarts.some(
      (r) => atMs >= r.atMs - PG_QUIET_MS.before && atMs <= r.atMs + r.downMs + PG_QUIET_MS.after,
    );

  const firstKinds = shuffled(rng, WORKER_FAULTS);
  const faults: Fault[] = [];
  let atMs = Math.min(WARM_UP_MS, options.durationMs / 4);
  while (atMs < options.durationMs) {
    if (!quiet(atMs)) {
      const kind = firstKinds.shift() ?? weighted(rng, WEIGHTS);
      faults.push(workerFault(rng, atMs, kind));
    }
    atMs += between(rng, GAP_MS.min, GAP_MS.max);
  }
  for (const restart of restarts) {
    faults.push({
      atMs: restart.atMs,
      kind: 'pg-restart',
      pick: 0,
      restartAfterMs: 0,
      sameName: true,
      downMs: restart.downMs,
    });
  }
  return faults.sort((a, b) => a.atMs - b.atMs);
}

/** One line per fault, for the start of the output. */
export function describeFault(fault: Fault): string {
  const at = `${(fault.atMs / 1000).toFixed(1).padStart(6)} s`;
  switch (fault.kind) {
    case 'pg-restart':
      return `${at}  pg-restart    down ${fault.downMs} ms`;
    case 'term-twice':
      return (
        `${at}  term-twice    pick ${fault.pick}, second signal after ${fault.secondSignalAfterMs} ms, ` +
        `back after ${fault.restartAfterMs} ms as ${fault.sameName ? 'same name' : 'new name'}`
      );
    default:
      return (
        `${at}  ${fault.kind.padEnd(12)}  pick ${fault.pick}, back after ${fault.restartAfterMs} ms ` +
        `as ${fault.sameName ? 'same name' : 'new name'}`
      );
  }
}
