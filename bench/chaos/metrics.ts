/**
 * What the faults cost, measured from the run's records, the archive and the workers' logs:
 * how long until a dead worker's attempt was failed, until a new master took over, until the
 * fleet was back after a PostgreSQL restart. Pure functions, like the checks.
 */
import { aliveButLost, failureCause } from './checks.js';
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
  /** kill -9 of the master → a standby (another name) became master. */
  takeoverAfterKill: Sample;
  /** SIGTERM of the master → a standby (another name) became master. */
  takeoverAfterTerm: Sample;
  /** Times the master's replacement, under its name, took the lease back before any standby. */
  retakenBySameName: number;
  pgRestarts: PgRestartMetrics[];
  /** Attempts failed as "worker lost" while a process of that name was alive and not killed. */
  aliveButLost: AttemptRow[];
}

export interface PgRestartMetrics {
  downMs: number;
  /** From the server's start to the last live worker's "listening connection restored". */
  listeningAgainMs: number | null;
  /** From the server's start to the first attempt that started after it. */
  firstStartMs: number | null;
  /** Live workers the master marked Lost within 10 s after the server came back. */
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
    retakenBySameName: 0,
    pgRestarts: [],
    aliveButLost: aliveButLost(attempts, executions, lives),
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
          return (
            a.worker === victim.name && (cause === 'worker lost' || cause === 'worker restarted')
          );
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
      if (!took) target.missing += 1;
      else if (took.worker === victim.name) metrics.retakenBySameName += 1;
      else target.values.push(took.time - event.at);
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
  let listeningAgainMs = 0;
  let heard = true;
  for (const life of alive) {
    const restored = firstAfter(
      logs.filter((l) => l.pid === life.pid && l.msg === 'listening connection restored'),
      (l) => l.time,
      upAt,
    );
    if (!restored) {
      heard = false;
      break;
    }
    listeningAgainMs = Math.max(listeningAgainMs, restored.time - upAt);
  }
  const started = firstAfter(executions, (e) => e.start, upAt);
  const markedLost = aliveButLost(attempts, executions, lives).filter(
    (a) => a.endtime! >= upAt && a.endtime! <= upAt + 10_000,
  );
  return {
    downMs: Math.round(upAt - event.at),
    listeningAgainMs: alive.length === 0 || !heard ? null : Math.round(listeningAgainMs),
    firstStartMs: started ? Math.round(started.start - upAt) : null,
    markedLost: new Set(markedLost.map((a) => a.worker)).size,
  };
}

/** "n 7: min 3012 / median 3240 / max 3611 ms". */
export function describeSample(sample: Sample): string {
  if (sample.values.length === 0) {
    return sample.missing > 0 ? `none seen (${sample.missing} missing)` : 'no such fault this run';
  }
  const sorted = [...sample.values].sort((a, b) => a - b);
  const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
  const text =
    `n ${sorted.length}: min ${Math.round(sorted[0]!)} / median ${Math.round(median)} / ` +
    `max ${Math.round(sorted[sorted.length - 1]!)} ms`;
  return sample.missing > 0 ? `${text} (${sample.missing} not seen)` : text;
}

/** Error lines of the workers' logs (level error and above), by message and cause. */
export function logErrors(logs: readonly LogLine[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of logs) {
    if (typeof line.level !== 'number' || line.level < 50) continue;
    const err = line.err as { message?: unknown } | undefined;
    const cause = typeof err?.message === 'string' ? `: ${err.message.split('\n')[0]}` : '';
    const key = `${line.msg ?? '?'}${cause}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return new Map([...counts.entries()].sort((a, b) => b[1] - a[1]));
}
