/**
 * The end-of-run checks of a chaos run: pure functions over database rows and the records the
 * run kept, so that each rule is tested on hand-made rows (test/unit/chaos-checks.test.ts).
 */
import type {
  AttemptRow,
  CheckResult,
  Execution,
  JobDef,
  ProcessLife,
  RequestRow,
} from './types.js';

export const TERMINAL = ['Complete', 'Stuck', 'Rejected', 'Cancelled'] as const;

function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

/** "280 Complete, 32 Stuck": counts in a stable order. */
export function describeCounts(counts: Map<string, number>): string {
  return [...counts.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, n]) => `${n} ${name}`)
    .join(', ');
}

const runKey = (pipeline: string, jobinstance: number): string => `${pipeline}#${jobinstance}`;

/** 1. Every request reached a terminal state. */
export function checkTerminal(requests: readonly RequestRow[]): CheckResult {
  const open = requests.filter((r) => !(TERMINAL as readonly string[]).includes(r.status));
  return {
    check: 'every request ended',
    ok: requests.length > 0 && open.length === 0,
    summary:
      requests.length === 0
        ? 'no requests at all'
        : `${requests.length} requests: ${describeCounts(countBy(requests, (r) => r.status))}`,
    violations: open.map(
      (r) => `request ${r.id} (${runKey(r.pipeline, r.jobinstance)}) is still ${r.status}`,
    ),
  };
}

export type EndSource = 'recorded' | 'killed' | 'exited' | 'open';

/**
 * When an execution ended: as the job noted it; else when its process was sent SIGKILL (a
 * killed process runs nothing more); else when its process exited; else never (still open).
 */
export function effectiveEnd(
  execution: Execution,
  lives: ReadonlyMap<number, ProcessLife>,
): { end: number; source: EndSource } {
  if (execution.end !== null) return { end: execution.end, source: 'recorded' };
  const life = lives.get(execution.pid);
  if (life?.killedAt != null) return { end: life.killedAt, source: 'killed' };
  if (life?.exitedAt != null) return { end: life.exitedAt, source: 'exited' };
  return { end: Number.POSITIVE_INFINITY, source: 'open' };
}

function span(e: Execution, end: { end: number; source: EndSource }): string {
  const until = Number.isFinite(end.end) ? `${Math.round(end.end)}` : 'never';
  return `attempt ${e.attempt} on ${e.worker} (pid ${e.pid}) ${Math.round(e.start)}–${until} (${end.source})`;
}

/**
 * 2. No attempt ran twice, and no two executions of one job of one run overlapped in time.
 * An execution whose process was killed ended at the kill; one that never ended is open.
 */
export function checkNoOverlap(
  executions: readonly Execution[],
  processes: readonly ProcessLife[],
): CheckResult {
  const lives = new Map(processes.map((p) => [p.pid, p]));
  const ends = new Map(executions.map((e) => [e, effectiveEnd(e, lives)]));
  const violations: string[] = [];

  for (const [attempt, runs] of groupBy(executions, (e) => String(e.attempt))) {
    if (runs.length < 2) continue;
    const where = runs.map((e) => `${e.worker} (pid ${e.pid})`).join(', ');
    violations.push(`attempt ${attempt} was executed ${runs.length} times: by ${where}`);
  }

  let pairs = 0;
  for (const runs of groupBy(
    executions,
    (e) => `${runKey(e.pipeline, e.jobinstance)}/${e.job}`,
  ).values()) {
    const sorted = [...runs].sort((a, b) => a.start - b.start);
    for (let i = 0; i < sorted.length; i++) {
      for (let j = i + 1; j < sorted.length; j++) {
        pairs += 1;
        const first = sorted[i]!;
        const second = sorted[j]!;
        const firstEnd = ends.get(first)!;
        if (second.start >= firstEnd.end) continue;
        const overlap = Math.min(firstEnd.end, ends.get(second)!.end) - second.start;
        violations.push(
          `${runKey(first.pipeline, first.jobinstance)} job ${first.job}: ` +
            `${span(first, firstEnd)} and ${span(second, ends.get(second)!)} overlap by ` +
            `${Number.isFinite(overlap) ? `${Math.round(overlap)} ms` : 'an unbounded time'}`,
        );
      }
    }
  }

  const sources = countBy(executions, (e) => ends.get(e)!.source);
  const open = sources.get('open') ?? 0;
  return {
    check: 'no attempt ran twice at once',
    ok: violations.length === 0 && open === 0,
    summary:
      `${executions.length} executions (${describeCounts(sources)} ends), ` +
      `${pairs} pairs of executions of the same job compared`,
    violations: [
      ...violations,
      ...executions
        .filter((e) => ends.get(e)!.source === 'open')
        .map((e) => `${span(e, ends.get(e)!)} never ended: its process is still running`),
    ],
  };
}

/**
 * 3. Every attempt is archived exactly once or still live, never both; every attempt a worker
 * executed is one of them; every attempt recorded Complete did complete on its worker; a live
 * attempt of an ended run is its Stuck attempt.
 */
export function checkArchive(
  attempts: readonly AttemptRow[],
  executions: readonly Execution[],
  requests: readonly RequestRow[],
): CheckResult {
  const violations: string[] = [];
  const archived = attempts.filter((a) => a.place === 'archive');
  const live = attempts.filter((a) => a.place === 'live');

  for (const [id, n] of countBy(archived, (a) => String(a.id))) {
    if (n > 1) violations.push(`attempt ${id} is in archive ${n} times`);
  }
  const liveIds = new Set(live.map((a) => a.id));
  for (const a of archived) {
    if (liveIds.has(a.id)) violations.push(`attempt ${a.id} is both archived and live`);
  }
  const known = new Set(attempts.map((a) => a.id));
  const lost = new Set(executions.filter((e) => !known.has(e.attempt)).map((e) => e.attempt));
  for (const id of lost) {
    violations.push(`attempt ${id} was executed but is neither archived nor live`);
  }

  const completedOn = new Set(
    executions.filter((e) => e.outcome === 'ok').map((e) => `${e.attempt}@${e.worker}`),
  );
  for (const a of attempts) {
    if (a.status === 'Complete' && !completedOn.has(`${a.id}@${a.worker}`)) {
      violations.push(
        `attempt ${a.id} is recorded Complete on ${a.worker}, but no execution of it there completed`,
      );
    }
  }

  const requestById = new Map(requests.map((r) => [r.id, r]));
  for (const a of live) {
    const request = requestById.get(a.request_id);
    if (!request || request.status === 'Pending' || request.status === 'Accepted') continue;
    if (a.status !== 'Stuck' || request.status !== 'Stuck') {
      violations.push(
        `attempt ${a.id} is live (${a.status}) but its request ${a.request_id} is ${request.status}`,
      );
    }
  }

  return {
    check: 'every attempt archived once or live',
    ok: violations.length === 0,
    summary:
      `${attempts.length} attempts: ${archived.length} archived ` +
      `(${describeCounts(countBy(archived, (a) => a.status))}), ${live.length} live` +
      (live.length > 0 ? ` (${describeCounts(countBy(live, (a) => a.status))})` : '') +
      `; ${new Set(executions.map((e) => e.attempt)).size} of them executed`,
    violations,
  };
}

/**
 * 4. Retries follow the definitions: per run and job, at most retry_limit + 1 failed attempts,
 * numbered 0, 1, 2 …; a Stuck run stopped at a job that failed exactly retry_limit + 1 times
 * after every job before it completed once; a Complete run completed every job exactly once,
 * in order. Failures for a lost or stopped worker count like any other.
 */
export function checkRetries(
  requests: readonly RequestRow[],
  attempts: readonly AttemptRow[],
  jobs: readonly JobDef[],
): CheckResult {
  const violations: string[] = [];
  const byRequest = groupBy(attempts, (a) => String(a.request_id));
  const pipelines = groupBy(jobs, (j) => j.pipeline);
  let checked = 0;
  let stuckAsDefined = 0;

  for (const request of requests) {
    const rows = byRequest.get(String(request.id)) ?? [];
    const name = `request ${request.id} (${runKey(request.pipeline, request.jobinstance)})`;
    if (request.status === 'Rejected') {
      if (rows.length > 0) violations.push(`${name} is Rejected but has ${rows.length} attempts`);
      continue;
    }
    const defs = [...(pipelines.get(request.pipeline) ?? [])].sort(
      (a, b) => a.position - b.position,
    );
    if (defs.length === 0) {
      violations.push(`${name}: pipeline ${request.pipeline} has no jobs`);
      continue;
    }
    checked += 1;
    const archived = rows.filter((a) => a.place === 'archive').sort((a, b) => a.id - b.id);
    for (const a of archived) {
      if (a.status !== 'Complete' && a.status !== 'Failed') {
        violations.push(`${name}: attempt ${a.id} is archived as ${a.status}`);
      }
    }
    const stuckRows = rows.filter((a) => a.place === 'live' && a.status === 'Stuck');

    defs.forEach((def, index) => {
      const ofJob = archived.filter((a) => a.job === def.job);
      const failed = ofJob.filter((a) => a.status === 'Failed').length;
      const completed = ofJob.filter((a) => a.status === 'Complete').length;
      const where = `${name} job ${def.job} (retry_limit ${def.retry_limit})`;
      if (failed > def.retry_limit + 1) {
        violations.push(
          `${where}: ${failed} failed attempts, at most ${def.retry_limit + 1} allowed`,
        );
      }
      const numbers = ofJob.map((a) => a.retry);
      if (numbers.some((n, i) => n !== i)) {
        violations.push(`${where}: attempts numbered ${numbers.join(', ')}, not 0, 1, 2 …`);
      }
      if (completed > 1) violations.push(`${where}: completed ${completed} times`);
      if (completed === 1 && ofJob[ofJob.length - 1]!.status !== 'Complete') {
        violations.push(`${where}: attempted again after it completed`);
      }

      if (request.status === 'Complete') {
        if (completed !== 1)
          violations.push(`${where}: run Complete, job completed ${completed} times`);
        if (failed > def.retry_limit) {
          violations.push(`${where}: run Complete after ${failed} failures of the job`);
        }
        const previous = defs[index - 1];
        if (previous && completed === 1) {
          const done = archived.find((a) => a.job === previous.job && a.status === 'Complete');
          const first = ofJob[0]!;
          if (done && first.id < done.id) {
            violations.push(
              `${where}: started (attempt ${first.id}) before ${previous.job} completed`,
            );
          }
        }
      }
    });

    if (request.status === 'Complete' && stuckRows.length > 0) {
      violations.push(`${name} is Complete but has a Stuck attempt`);
    }
    if (request.status === 'Stuck') {
      if (stuckRows.length !== 1) {
        violations.push(`${name} is Stuck with ${stuckRows.length} Stuck attempts`);
        continue;
      }
      const stuck = stuckRows[0]!;
      const at = defs.findIndex((d) => d.job === stuck.job);
      const def = defs[at];
      if (!def) {
        violations.push(`${name} is Stuck at job ${stuck.job}, which its pipeline does not have`);
        continue;
      }
      const failed = archived.filter((a) => a.job === def.job && a.status === 'Failed').length;
      if (failed !== def.retry_limit + 1) {
        violations.push(
          `${name} is Stuck at job ${def.job} after ${failed} failed attempts; ` +
            `retry_limit ${def.retry_limit} means exactly ${def.retry_limit + 1}`,
        );
      } else {
        stuckAsDefined += 1;
      }
      for (const before of defs.slice(0, at)) {
        const n = archived.filter((a) => a.job === before.job && a.status === 'Complete').length;
        if (n !== 1)
          violations.push(`${name} is Stuck at ${def.job}, but ${before.job} completed ${n} times`);
      }
      for (const after of defs.slice(at + 1)) {
        if (rows.some((a) => a.job === after.job)) {
          violations.push(`${name} is Stuck at ${def.job}, but ${after.job} was attempted`);
        }
      }
    }
  }

  const failures = attempts.filter((a) => a.status === 'Failed');
  return {
    check: 'retries match the definitions',
    ok: violations.length === 0,
    summary: `${checked} runs; ${failures.length} failed attempts (${
      describeCounts(countBy(failures, (a) => failureCause(a.message))) || 'none'
    }); ${stuckAsDefined} Stuck after retry_limit + 1 failures`,
    violations,
  };
}

/**
 * Attempts the master failed because their worker was lost while the process executing them
 * was in fact alive (not killed, not exited): the worker was only silent, and what it ran may
 * have gone on, or even completed, beside the retry.
 */
export function aliveButLost(
  attempts: readonly AttemptRow[],
  executions: readonly Execution[],
  processes: readonly ProcessLife[],
): AttemptRow[] {
  const lives = new Map(processes.map((p) => [p.pid, p]));
  return attempts.filter((a) => {
    if (failureCause(a.message) !== 'worker lost' || a.endtime === null) return false;
    const at = a.endtime;
    return executions.some((e) => {
      const life = lives.get(e.pid);
      return (
        e.attempt === a.id &&
        life !== undefined &&
        (life.exitedAt === null || life.exitedAt > at) &&
        (life.killedAt === null || life.killedAt > at)
      );
    });
  });
}

/**
 * 5 (a warning). A worker is failed as lost only when it is gone: an attempt the master failed
 * as lost while its process was alive lost work (a result that completed, or a job aborted
 * half-way) and a retry, for nothing but a silence, e.g. while PostgreSQL was down.
 */
export function checkLostWereDead(
  attempts: readonly AttemptRow[],
  executions: readonly Execution[],
  processes: readonly ProcessLife[],
): CheckResult {
  const lost = attempts.filter((a) => failureCause(a.message) === 'worker lost');
  const alive = aliveButLost(attempts, executions, processes);
  const violations = alive.map((a) => {
    const run = executions.find((e) => e.attempt === a.id)!;
    const ended =
      run.end === null
        ? 'its job never ended'
        : run.end <= a.endtime!
          ? `its job had ended ${run.outcome} ${Math.round(a.endtime! - run.end)} ms before`
          : `its job was still running (it ended ${run.outcome} ${Math.round(run.end - a.endtime!)} ms later)`;
    return (
      `attempt ${a.id} (${runKey(a.pipeline, a.jobinstance)} job ${a.job}) on ${a.worker} ` +
      `(pid ${run.pid}, alive) was failed as lost; ${ended}`
    );
  });
  const completed = alive.filter((a) =>
    executions.some((e) => e.attempt === a.id && e.outcome === 'ok'),
  ).length;
  return {
    check: 'workers failed as lost were dead',
    ok: alive.length === 0,
    summary:
      `${lost.length} attempts failed as "worker lost"; ${alive.length} of them while their ` +
      `process was alive` +
      (alive.length > 0 ? ` (${completed} had completed: their results were dropped)` : ''),
    violations,
    warnOnly: false,
  };
}

/** Why an attempt failed, from the message Rush recorded. */
export function failureCause(message: string | null): string {
  const text = message ?? '';
  if (text.includes('chaos: failed at random')) return 'random';
  if (/was lost: no heartbeat/.test(text)) return 'worker lost';
  if (/restarted while running/.test(text)) return 'worker restarted';
  if (/aborted: worker .* stopped/.test(text)) return 'worker stopped';
  if (/had been marked Lost/.test(text)) return 'worker lost';
  if (/no longer holds this attempt/.test(text)) return 'not held';
  if (/timed out/.test(text)) return 'timed out';
  return 'other';
}
