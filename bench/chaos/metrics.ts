/**
 * What the faults cost, measured from the run's records, the archive and the workers' logs:
 * how long until a dead worker's attempt was failed, until a new master took over, until the
 * fleet was back after a PostgreSQL restart. Pure functions, like the checks.
 */
import { failureCause } from './checks.js';
import type { AttemptRow, Execution, FaultEvent, LogLine, ProcessLife } from './types.js';

/** How far after a fault its effects are looked for. */
const HORIZON_MS = 30_000;

export interface Sample {
  /** Milliseconds. */
  values: number[];
  /** Faults for which nothing was seen within the horizon. */
  missing: number;
}

export interface Metrics {
  /** kill -9 of a busy worker → its attempt failed as lost (after --worker-ttl). */
  lostDetection: Sample;
  /** kill -9 of a busy worker → its attempt failed when it came back under the same name. */
  restartDetection: Sample;
  /** kill -9 of the master → another process became master. */
  takeoverAfterKill: Sample;
  /** SIGTERM of the master → another process became master. */
  takeoverAfterTerm: Sample;
  pgRestarts: PgRestartMetrics[];
}

export interface PgRestartMetrics {
  downMs: number;
  /** From the server's start to the last live worker's "listening connection restored". */
  listeningAgainMs: number | null;
  /** From the server's start to the first attempt that started after it. */
  firstStartMs: number | null;
  /** Workers the master marked Lost within 10 s after the server came back. */
  markedLost: number;
}

const empty = (): Sample => ({ values: [], missing: 0 });

function firstAfter<T>(items: readonly T[], time: (item: T) => number, from: number): T | null {
  let best: T | null = null;
  for (const item of items) {
    const t = time(item);
    if (t >= from && t <= from + HORIZON_MS && (best === null || t < time(best))) best = item;
  }
  return best;
}

export function measure(
  events: readonly FaultEvent[],
  attempts: readonly AttemptRow[],
  executions: readonly Execution[],
  logs: readonly LogLine[],
  lives: readonly ProcessLife[],
): Metrics {
  const metrics: Metrics = {
    lostDetection: empty(),
    restartDetection: empty(),
    takeoverAfterKill: empty(),
    takeoverAfterTerm: empty(),
    pgRestarts: [],
  };
  const becameMaster = logs.filter((l) => l.msg === 'became master');

  for (const event of events) {
    const victim = event.victim;
    if (event.kind === 'pg-restart') {
      metrics.pgRestarts.push(pgRestart(event, attempts, executions, logs, lives));
      continue;
    }
    if (!victim) continue;
    const killed = event.kind === 'kill-worker' || event.kind === 'kill-master';

    if (killed) {
      // The attempt the victim held, failed for its loss or for its restart under its name.
      const failed = firstAfter(
        attempts.filter((a) => {
          const cause = failureCause(a.message);
          return a.worker === victim.name && (cause === 'worker lost' || cause === 'worker restarted');
        }),
        (a) => a.endtime ?? Number.NEGATIVE_INFINITY,
        event.at,
      );
      if (failed) {
        const target =
          failureCause(failed.message) === 'worker lost'
            ? metrics.lostDetection
            : metrics.restartDetection;
        target.values.push(failed.endtime! - event.at);
      }
    }

    if (event.wasMaster) {
      const target = killed ? metrics.takeoverAfterKill : metrics.takeoverAfterTerm;
      const took = firstAfter(
        becameMaster.filter((l) => l.pid !== victim.pid),
        (l) => l.time,
        event.at,
      );
      if (took) target.values.push(took.time - event.at);
      else target.missing += 1;
    }
  }
  return metrics;
}

function pgRestart(
  event: FaultEvent,
  attempts: readonly AttemptRow[],
  executions: readonly Execution[],
  logs: readonly LogLine[],
  lives: readonly ProcessLife[],
): PgRestartMetrics {
  const upAt = event.upAt ?? event.at;
  const alive = lives.filter(
    (p) => p.startedAt < event.at && (p.exitedAt === null || p.exitedAt > upAt + 5_000),
  );
  let listeningAgainMs: number | null = 0;
  for (const life of alive) {
    const restored = firstAfter(
      logs.filter((l) => l.pid === life.pid && l.msg === 'listening connection restored'),
      (l) => l.time,
      upAt,
    );
    if (!restored) {
      listeningAgainMs = null;
      break;
    }
    listeningAgainMs = Math.max(listeningAgainMs, restored.time - upAt);
  }
  const started = firstAfter(executions, (e) => e.start, upAt);
  const lostTicks = logs.filter(
    (l) =>
      l.msg === 'tick' &&
      typeof l.lost_workers === 'number' &&
      l.time >= upAt &&
      l.time <= upAt + 10_000,
  );
  const lostByAttempts = new Set(
    attempts
      .filter(
        (a) =>
          failureCause(a.message) === 'worker lost' &&
          a.endtime !== null &&
          a.endtime >= upAt &&
          a.endtime <= upAt + 10_000,
      )
      .map((a) => a.worker),
  ).size;
  return {
    downMs: Math.round(upAt - event.at),
    listeningAgainMs: alive.length === 0 ? null : listeningAgainMs,
    firstStartMs: started ? Math.round(started.start - upAt) : null,
    markedLost: Math.max(
      lostByAttempts,
      lostTicks.reduce((sum, l) => sum + (l.lost_workers as number), 0),
    ),
  };
}

/** "n 7: min 3012 / median 3240 / max 3611 ms". */
export function describeSample(sample: Sample): string {
  if (sample.values.length === 0) {
    return sample.missing > 0 ? `none seen (${sample.missing} missing)` : 'no such fault';
  }
  const sorted = [...sample.values].sort((a, b) => a - b);
  const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
  const text =
    `n ${sorted.length}: min ${Math.round(sorted[0]!)} / median ${Math.round(median)} / ` +
    `max ${Math.round(sorted[sorted.length - 1]!)} ms`;
  return sample.missing > 0 ? `${text} (${sample.missing} not seen)` : text;
}
