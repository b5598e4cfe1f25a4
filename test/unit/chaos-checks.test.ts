import { describe, expect, it } from 'vitest';
import {
  aliveButLost,
  checkArchive,
  checkLostWereDead,
  checkNoOverlap,
  checkRetries,
  checkTerminal,
  effectiveEnd,
  failureCause,
} from '../../bench/chaos/checks.js';
import type {
  AttemptRow,
  Execution,
  JobDef,
  ProcessLife,
  RequestRow,
} from '../../bench/chaos/types.js';

const request = (id: number, status: string, pipeline = 'p'): RequestRow => ({
  id,
  pipeline,
  jobinstance: id,
  status,
  message: null,
});

let nextId = 1;
/** An attempt of request `req` (jobinstance = req) of pipeline p. */
const attempt = (
  req: number,
  job: string,
  retry: number,
  status: string,
  fields: Partial<AttemptRow> = {},
): AttemptRow => ({
  id: nextId++,
  request_id: req,
  pipeline: 'p',
  job,
  jobinstance: req,
  retry,
  status,
  worker: 'w1',
  endtime: 1_000,
  message: status === 'Failed' ? 'chaos: failed at random (attempt 1)' : null,
  place: 'archive',
  ...fields,
});

const execution = (a: AttemptRow, fields: Partial<Execution> = {}): Execution => ({
  attempt: a.id,
  pipeline: a.pipeline,
  job: a.job,
  jobinstance: a.jobinstance,
  retry: a.retry,
  worker: a.worker ?? 'w1',
  pid: 100,
  start: 0,
  end: 10,
  outcome: a.status === 'Complete' ? 'ok' : 'fail',
  ...fields,
});

const life = (pid: number, fields: Partial<ProcessLife> = {}): ProcessLife => ({
  pid,
  name: `w${pid}`,
  startedAt: 0,
  killedAt: null,
  exitedAt: null,
  ...fields,
});

/** p: a (retry_limit 1) → b (retry_limit 0). */
const jobs: JobDef[] = [
  { pipeline: 'p', job: 'a', position: 1, retry_limit: 1 },
  { pipeline: 'p', job: 'b', position: 2, retry_limit: 0 },
];

describe('checkTerminal', () => {
  it('passes when every request ended, naming the counts', () => {
    const result = checkTerminal([
      request(1, 'Complete'),
      request(2, 'Stuck'),
      request(3, 'Rejected'),
      request(4, 'Cancelled'),
    ]);
    expect(result.ok).toBe(true);
    expect(result.summary).toBe('4 requests: 1 Cancelled, 1 Complete, 1 Rejected, 1 Stuck');
  });

  it('names every request still Pending or Accepted', () => {
    const result = checkTerminal([
      request(1, 'Complete'),
      request(2, 'Accepted'),
      request(3, 'Pending'),
    ]);
    expect(result.ok).toBe(false);
    expect(result.violations).toEqual([
      'request 2 (p#2) is still Accepted',
      'request 3 (p#3) is still Pending',
    ]);
  });

  it('fails a run that had no requests at all', () => {
    expect(checkTerminal([]).ok).toBe(false);
  });
});

describe('checkNoOverlap', () => {
  const base = { pipeline: 'p', job: 'a', jobinstance: 1, retry: 0, worker: 'w1', outcome: 'ok' };

  it('ends an execution without an end record at its process kill, else at its exit', () => {
    const lives = new Map([
      [1, life(1, { killedAt: 500, exitedAt: 510 })],
      [2, life(2, { exitedAt: 700 })],
    ]);
    const run = { ...base, attempt: 1, start: 0, end: null, outcome: null } as Execution;
    expect(effectiveEnd({ ...run, pid: 1 }, lives)).toEqual({ end: 500, source: 'killed' });
    expect(effectiveEnd({ ...run, pid: 2 }, lives)).toEqual({ end: 700, source: 'exited' });
    expect(effectiveEnd({ ...run, pid: 3 }, lives).source).toBe('open');
    expect(effectiveEnd({ ...run, pid: 1, end: 40 }, lives)).toEqual({
      end: 40,
      source: 'recorded',
    });
  });

  it('accepts a retry that starts after the killed worker died', () => {
    const executions: Execution[] = [
      { ...base, attempt: 1, pid: 1, start: 0, end: null, outcome: null },
      {
        ...base,
        attempt: 2,
        retry: 1,
        worker: 'w2',
        pid: 2,
        start: 3_600,
        end: 3_700,
      } as Execution,
    ];
    const result = checkNoOverlap(executions, [life(1, { killedAt: 500 }), life(2)]);
    expect(result.ok).toBe(true);
    expect(result.summary).toContain('1 killed, 1 recorded ends');
  });

  it('reports two executions of one job of one run that overlap', () => {
    const executions = [
      { ...base, attempt: 1, pid: 1, start: 0, end: 1_000 },
      { ...base, attempt: 2, retry: 1, worker: 'w2', pid: 2, start: 800, end: 2_000 },
      // Another job of the same run, and the same job of another run: no overlap to see.
      { ...base, attempt: 3, job: 'b', pid: 3, start: 500, end: 600 },
      { ...base, attempt: 4, jobinstance: 2, pid: 3, start: 700, end: 900 },
    ] as Execution[];
    const result = checkNoOverlap(executions, [life(1), life(2), life(3)]);
    expect(result.ok).toBe(false);
    expect(result.violations).toHaveLength(1);
    expect(result.violations[0]).toMatch(
      /^p#1 job a: attempt 1 on w1 .* and attempt 2 on w2 .* overlap by 200 ms$/,
    );
  });

  it('reports an overlap with a process that was killed only later', () => {
    const executions = [
      { ...base, attempt: 1, pid: 1, start: 0, end: null, outcome: null },
      { ...base, attempt: 2, worker: 'w2', pid: 2, start: 300, end: 400 },
    ] as Execution[];
    const result = checkNoOverlap(executions, [life(1, { killedAt: 1_000 }), life(2)]);
    expect(result.ok).toBe(false);
    expect(result.violations[0]).toContain('(killed)');
  });

  it('reports an attempt executed twice, even one after the other', () => {
    const executions = [
      { ...base, attempt: 7, pid: 1, start: 0, end: 10 },
      { ...base, attempt: 7, worker: 'w2', pid: 2, start: 20, end: 30 },
    ] as Execution[];
    const result = checkNoOverlap(executions, [life(1), life(2)]);
    expect(result.ok).toBe(false);
    expect(result.violations).toEqual([
      'attempt 7 was executed 2 times: by w1 (pid 1), w2 (pid 2)',
    ]);
  });

  it('reports an execution that never ended on a process that never exited', () => {
    const executions = [{ ...base, attempt: 1, pid: 1, start: 0, end: null }] as Execution[];
    const result = checkNoOverlap(executions, [life(1)]);
    expect(result.ok).toBe(false);
    expect(result.violations[0]).toMatch(/never ended/);
  });
});

describe('checkArchive', () => {
  it('passes archived attempts and a live Stuck one, each executed as recorded', () => {
    const a1 = attempt(1, 'a', 0, 'Complete');
    const a2 = attempt(1, 'b', 0, 'Failed');
    const stuck = attempt(1, 'b', 0, 'Stuck', { place: 'live' });
    const result = checkArchive(
      [a1, a2, stuck],
      [execution(a1), execution(a2)],
      [request(1, 'Stuck')],
    );
    expect(result.ok).toBe(true);
    expect(result.summary).toBe(
      '3 attempts: 2 archived (1 Complete, 1 Failed), 1 live (1 Stuck); 2 of them executed',
    );
  });

  it('reports an attempt archived twice, archived and live, or executed but nowhere', () => {
    const a1 = attempt(1, 'a', 0, 'Failed');
    const twice = { ...a1 };
    const live = { ...a1, place: 'live' as const, status: 'Ready' };
    const ghost = execution(attempt(1, 'a', 1, 'Failed'));
    const result = checkArchive(
      [a1, twice, live],
      [execution(a1), ghost],
      [request(1, 'Accepted')],
    );
    expect(result.ok).toBe(false);
    expect(result.violations).toEqual([
      `attempt ${a1.id} is in archive 2 times`,
      `attempt ${a1.id} is both archived and live`,
      `attempt ${a1.id} is both archived and live`,
      `attempt ${ghost.attempt} was executed but is neither archived nor live`,
    ]);
  });

  it('reports an attempt recorded Complete that did not complete on its worker', () => {
    const a1 = attempt(1, 'a', 0, 'Complete', { worker: 'w2' });
    const failedRun = execution(a1, { worker: 'w2', outcome: 'fail' });
    const elsewhere = execution(a1, { worker: 'w1', outcome: 'ok' });
    expect(checkArchive([a1], [failedRun], [request(1, 'Complete')]).violations).toEqual([
      `attempt ${a1.id} is recorded Complete on w2, but no execution of it there completed`,
    ]);
    expect(checkArchive([a1], [elsewhere], [request(1, 'Complete')]).ok).toBe(false);
  });

  it('reports a live attempt other than the Stuck one of an ended run', () => {
    const ready = attempt(1, 'a', 0, 'Ready', { place: 'live' });
    const result = checkArchive([ready], [], [request(1, 'Complete')]);
    expect(result.violations).toEqual([
      `attempt ${ready.id} is live (Ready) but its request 1 is Complete`,
    ]);
  });
});

describe('checkRetries', () => {
  it('passes a Complete run with a retry within its limit', () => {
    const rows = [
      attempt(1, 'a', 0, 'Failed'),
      attempt(1, 'a', 1, 'Complete'),
      attempt(1, 'b', 0, 'Complete'),
    ];
    const result = checkRetries([request(1, 'Complete')], rows, jobs);
    expect(result.ok).toBe(true);
    expect(result.summary).toBe(
      '1 runs; 1 failed attempts (1 random); 0 Stuck after retry_limit + 1 failures',
    );
  });

  it('passes a run Stuck after exactly retry_limit + 1 failures, lost workers included', () => {
    const rows = [
      attempt(1, 'a', 0, 'Failed', { message: "worker 'w1' was lost: no heartbeat since x" }),
      attempt(1, 'a', 1, 'Failed', {
        message: 'aborted: worker "w1" stopped (SIGTERM) before the job finished',
      }),
      attempt(1, 'a', 1, 'Stuck', { place: 'live' }),
    ];
    const result = checkRetries([request(1, 'Stuck')], rows, jobs);
    expect(result.ok).toBe(true);
    expect(result.summary).toContain('2 failed attempts (1 worker lost, 1 worker stopped)');
    expect(result.summary).toContain('1 Stuck after retry_limit + 1 failures');
  });

  it('reports more failures than the limit allows, and a Stuck run that gave up early', () => {
    const tooMany = [
      attempt(1, 'b', 0, 'Failed'),
      attempt(1, 'b', 1, 'Failed'),
      attempt(1, 'b', 1, 'Stuck', { place: 'live' }),
    ];
    const early = [attempt(2, 'a', 0, 'Failed'), attempt(2, 'a', 0, 'Stuck', { place: 'live' })];
    const ok = [attempt(1, 'a', 0, 'Complete')];
    const result = checkRetries(
      [request(1, 'Stuck'), request(2, 'Stuck')],
      [...ok, ...tooMany, ...early],
      jobs,
    );
    expect(result.ok).toBe(false);
    expect(result.violations).toEqual([
      'request 1 (p#1) job b (retry_limit 0): 2 failed attempts, at most 1 allowed',
      'request 1 (p#1) is Stuck at job b after 2 failed attempts; retry_limit 0 means exactly 1',
      'request 2 (p#2) is Stuck at job a after 1 failed attempts; retry_limit 1 means exactly 2',
    ]);
  });

  it('reports a Complete run whose job completed twice, or never, or out of order', () => {
    const twice = [
      attempt(1, 'a', 0, 'Complete'),
      attempt(1, 'a', 1, 'Complete'),
      attempt(1, 'b', 0, 'Complete'),
    ];
    const never = [attempt(2, 'a', 0, 'Complete')];
    const b = attempt(3, 'b', 0, 'Complete');
    const outOfOrder = [b, attempt(3, 'a', 0, 'Complete')];
    const result = checkRetries(
      [request(1, 'Complete'), request(2, 'Complete'), request(3, 'Complete')],
      [...twice, ...never, ...outOfOrder],
      jobs,
    );
    expect(result.violations).toEqual([
      'request 1 (p#1) job a (retry_limit 1): completed 2 times',
      'request 1 (p#1) job a (retry_limit 1): run Complete, job completed 2 times',
      'request 2 (p#2) job b (retry_limit 0): run Complete, job completed 0 times',
      `request 3 (p#3) job b (retry_limit 0): started (attempt ${b.id}) before a completed`,
    ]);
  });

  it('reports retries numbered out of sequence and work after the stuck job', () => {
    const rows = [
      attempt(1, 'a', 0, 'Failed'),
      attempt(1, 'a', 2, 'Failed'),
      attempt(1, 'a', 2, 'Stuck', { place: 'live' }),
      attempt(1, 'b', 0, 'Complete'),
    ];
    const result = checkRetries([request(1, 'Stuck')], rows, jobs);
    expect(result.violations).toEqual([
      'request 1 (p#1) job a (retry_limit 1): attempts numbered 0, 2, not 0, 1, 2 …',
      'request 1 (p#1) is Stuck at a, but b was attempted',
    ]);
  });

  it('reports a Rejected request with attempts and a Stuck one without its Stuck attempt', () => {
    const result = checkRetries(
      [request(1, 'Rejected'), request(2, 'Stuck')],
      [attempt(1, 'a', 0, 'Complete')],
      jobs,
    );
    expect(result.violations).toEqual([
      'request 1 (p#1) is Rejected but has 1 attempts',
      'request 2 (p#2) is Stuck with 0 Stuck attempts',
    ]);
  });
});

describe('checkLostWereDead', () => {
  const lost = (fields: Partial<AttemptRow> = {}): AttemptRow =>
    attempt(1, 'a', 0, 'Failed', {
      message: "worker 'w1' was lost: no heartbeat since x",
      endtime: 5_000,
      ...fields,
    });

  it('passes an attempt failed as lost after its process was killed', () => {
    const a = lost();
    const run = execution(a, { pid: 1, end: null, outcome: null });
    const result = checkLostWereDead([a], [run], [life(1, { killedAt: 2_000, exitedAt: 2_010 })]);
    expect(result.ok).toBe(true);
    expect(result.warnOnly).toBe(false);
    expect(aliveButLost([a], [run], [life(1, { killedAt: 2_000 })])).toEqual([]);
  });

  it('warns about an attempt failed as lost while its process lived, and says how its job ended', () => {
    const done = lost();
    const running = lost({ job: 'b' });
    const result = checkLostWereDead(
      [done, running],
      [
        execution(done, { pid: 1, start: 0, end: 4_000, outcome: 'ok' }),
        execution(running, { pid: 1, start: 4_500, end: 5_300, outcome: 'aborted' }),
      ],
      [life(1)],
    );
    expect(result.ok).toBe(false);
    expect(result.summary).toBe(
      '2 attempts failed as "worker lost"; 2 of them while their process was alive (1 had completed: their results were dropped)',
    );
    expect(result.violations).toEqual([
      `attempt ${done.id} (p#1 job a) on w1 (pid 1, alive) was failed as lost; its job had ended ok 1000 ms before`,
      `attempt ${running.id} (p#1 job b) on w1 (pid 1, alive) was failed as lost; its job was still running (it ended aborted 300 ms later)`,
    ]);
  });
});

describe('failureCause', () => {
  it('sorts the messages Rush records', () => {
    expect(failureCause('chaos: failed at random (attempt 3)')).toBe('random');
    expect(failureCause("worker 'w' was lost: no heartbeat since 2026")).toBe('worker lost');
    expect(failureCause("worker 'w' restarted while running this attempt")).toBe(
      'worker restarted',
    );
    expect(
      failureCause('aborted: worker "w" stopped (SIGTERM, twice) before the job finished'),
    ).toBe('worker stopped');
    expect(failureCause('timed out after 1 minute(s)')).toBe('timed out');
    expect(failureCause(null)).toBe('other');
  });
});
