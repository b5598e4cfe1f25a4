import { describe, expect, it } from 'vitest';
import { describeSample, logErrors, measure } from '../../bench/chaos/metrics.js';
import { pairExecutions } from '../../bench/chaos/records.js';
import {
  allPassed,
  checksTable,
  SHOWN_VIOLATIONS,
  verdict,
  violationsText,
} from '../../bench/chaos/report.js';
import type {
  AttemptRow,
  CheckResult,
  Execution,
  FaultEvent,
  LogLine,
  ProcessLife,
} from '../../bench/chaos/types.js';

const result = (fields: Partial<CheckResult>): CheckResult => ({
  check: 'a check',
  ok: true,
  summary: 'fine',
  violations: [],
  ...fields,
});

describe('the report', () => {
  it('says PASS, FAIL (n), WARN (n) or n/a', () => {
    expect(verdict(result({}))).toBe('PASS');
    expect(verdict(result({ ok: false, violations: ['x', 'y'] }))).toBe('FAIL (2)');
    expect(verdict(result({ ok: false, violations: ['x'], warnOnly: true }))).toBe('WARN (1)');
    expect(verdict(result({ ok: null }))).toBe('n/a');
  });

  it('fails the run on a violation, not on a warning or a check that does not apply', () => {
    expect(allPassed([result({}), result({ ok: null })])).toBe(true);
    expect(allPassed([result({ ok: false, warnOnly: true, violations: ['w'] })])).toBe(true);
    expect(allPassed([result({}), result({ ok: false, violations: ['v'] })])).toBe(false);
  });

  it('prints a table of check, result and details', () => {
    const table = checksTable([
      result({ check: 'every request ended', summary: '3 requests: 3 Complete' }),
      result({ check: 'PostgreSQL restarted', ok: null, summary: 'not possible' }),
    ]);
    const lines = table.split('\n');
    expect(lines[1]).toMatch(/│ check +│ result +│ details +│/);
    expect(table).toMatch(/│ every request ended +│ PASS +│ 3 requests: 3 Complete +│/);
    expect(table).toMatch(/│ PostgreSQL restarted +│ n\/a +│ not possible +│/);
  });

  it('lists the violations of failed checks, a limited number each', () => {
    const many = Array.from({ length: SHOWN_VIOLATIONS + 3 }, (_, i) => `v${i}`);
    const text = violationsText([
      result({}),
      result({ check: 'overlap', ok: false, violations: many }),
      result({ check: 'lost', ok: false, violations: ['w'], warnOnly: true }),
    ]);
    expect(text).toContain('overlap:\n  - v0\n');
    expect(text).toContain(`  - v${SHOWN_VIOLATIONS - 1}\n  … and 3 more`);
    expect(text).not.toContain(`v${SHOWN_VIOLATIONS}\n`);
    expect(text).toContain('warning, lost:\n  - w');
  });
});

describe('execution records', () => {
  it('pairs each start with the end its process noted, and leaves a killed one open', () => {
    const common = { pipeline: 'p', job: 'a', jobinstance: 1, retry: 0, worker: 'w1' };
    const executions = pairExecutions([
      { ...common, event: 'start', at: 1, attempt: 5, pid: 10 },
      { ...common, event: 'start', at: 2, attempt: 6, pid: 11 },
      { ...common, event: 'end', at: 3, attempt: 5, pid: 10, outcome: 'fail' },
      { ...common, event: 'end', at: 4, attempt: 9, pid: 12, outcome: 'ok' }, // no start: ignored
    ]);
    expect(executions.map((e) => [e.attempt, e.pid, e.start, e.end, e.outcome])).toEqual([
      [5, 10, 1, 3, 'fail'],
      [6, 11, 2, null, null],
    ]);
  });
});

describe('measure', () => {
  const lives: ProcessLife[] = [
    { pid: 1, name: 'w1', startedAt: 0, killedAt: 10_000, exitedAt: 10_005 },
    { pid: 2, name: 'w2', startedAt: 0, killedAt: null, exitedAt: null },
    { pid: 3, name: 'w3', startedAt: 0, killedAt: null, exitedAt: null },
  ];
  const lostAttempt: AttemptRow = {
    id: 1,
    request_id: 1,
    pipeline: 'p',
    job: 'a',
    jobinstance: 1,
    retry: 0,
    status: 'Failed',
    worker: 'w1',
    endtime: 13_200,
    message: "worker 'w1' was lost: no heartbeat since x",
    place: 'archive',
  };
  const events: FaultEvent[] = [
    {
      kind: 'kill-master',
      at: 10_000,
      victim: { name: 'w1', pid: 1 },
      wasMaster: true,
      note: null,
    },
    {
      kind: 'term-worker',
      at: 20_000,
      victim: { name: 'w2', pid: 2 },
      wasMaster: true,
      note: null,
    },
    {
      kind: 'pg-restart',
      at: 30_000,
      victim: null,
      wasMaster: null,
      note: null,
      downAt: 30_100,
      upAt: 33_000,
    },
  ];
  const logs: LogLine[] = [
    { time: 12_500, pid: 3, msg: 'became master' },
    { time: 20_030, pid: 3, msg: 'became master' },
    { time: 33_400, pid: 2, msg: 'listening connection restored' },
    { time: 33_900, pid: 3, msg: 'listening connection restored' },
  ];
  const executions: Execution[] = [
    {
      attempt: 9,
      pipeline: 'p',
      job: 'a',
      jobinstance: 2,
      retry: 0,
      worker: 'w3',
      pid: 3,
      start: 33_250,
      end: 33_300,
      outcome: 'ok',
    },
  ];

  it('measures detection, takeovers and the fleet coming back after a restart', () => {
    const metrics = measure(events, [lostAttempt], executions, logs, lives);
    expect(metrics.lostDetection.values).toEqual([3_200]);
    expect(metrics.restartDetection.values).toEqual([]);
    expect(metrics.takeoverAfterKill.values).toEqual([2_500]);
    expect(metrics.takeoverAfterTerm.values).toEqual([30]);
    expect(metrics.pgRestarts).toEqual([
      { downMs: 3_000, listeningAgainMs: 900, firstStartMs: 250, markedLost: 0 },
    ]);
    expect(metrics.aliveButLost).toEqual([]);
  });

  it('tells a standby taking over from its replacement taking the lease back', () => {
    const retaken: LogLine[] = [{ time: 11_000, pid: 4, worker: 'w1', msg: 'became master' }];
    const metrics = measure(events.slice(0, 1), [], [], retaken, lives);
    expect(metrics.retakenBySameName).toBe(1);
    expect(metrics.takeoverAfterKill).toEqual({ values: [], missing: 0 });
  });

  it('counts a takeover it never saw as missing', () => {
    const metrics = measure(events.slice(0, 1), [], [], [], lives);
    expect(metrics.takeoverAfterKill).toEqual({ values: [], missing: 1 });
    expect(describeSample(metrics.takeoverAfterKill)).toBe('none seen (1 missing)');
  });

  it('describes a sample by its count, minimum, median and maximum', () => {
    expect(describeSample({ values: [3_100, 2_900, 3_500], missing: 0 })).toBe(
      'n 3: min 2900 / median 3100 / max 3500 ms',
    );
    expect(describeSample({ values: [], missing: 0 })).toBe('no such fault this run');
  });

  it('counts the error lines of the logs by message and cause', () => {
    const errors = logErrors([
      { time: 1, pid: 1, level: 50, msg: 'tick failed', err: { message: 'deadlock detected' } },
      { time: 2, pid: 1, level: 50, msg: 'tick failed', err: { message: 'deadlock detected' } },
      { time: 3, pid: 2, level: 60, msg: 'worker could not start' },
      { time: 4, pid: 2, level: 40, msg: 'sweep failed; trying again next interval' },
    ]);
    expect([...errors.entries()]).toEqual([
      ['tick failed: deadlock detected', 2],
      ['worker could not start', 1],
    ]);
  });
});

interface ChaosJobModule {
  draw: (seed: string, attempt: number, what: string) => number;
  plan: (params: Record<string, string>, attempt: number) => { sleepMs: number; fail: boolean };
}

describe('the chaos job (bench/jobs/chaos.mjs)', () => {
  // A plain JavaScript module, loaded as the workers load it (it imports dist/: built by pretest).
  const load = async (): Promise<ChaosJobModule> =>
    (await import(new URL('../../bench/jobs/chaos.mjs', import.meta.url).href)) as ChaosJobModule;

  it('draws the same failure and sleep for the same seed and attempt', async () => {
    const { draw, plan } = await load();
    expect(draw('1', 42, 'fail')).toBe(draw('1', 42, 'fail'));
    expect(draw('1', 42, 'fail')).not.toBe(draw('2', 42, 'fail'));
    const params = { seed: '7', fail_p: '0.15' };
    expect(plan(params, 1000)).toEqual(plan(params, 1000));
  });

  it('fails about as often as fail_p says, and sleeps within the bounds', async () => {
    const { plan } = await load();
    const params = { seed: '3', fail_p: '0.2', sleep_min_ms: '20', sleep_max_ms: '250' };
    const plans = Array.from({ length: 2000 }, (_, attempt) => plan(params, attempt));
    const failures = plans.filter((p) => p.fail).length / plans.length;
    expect(failures).toBeGreaterThan(0.16);
    expect(failures).toBeLessThan(0.24);
    for (const p of plans) {
      expect(p.sleepMs).toBeGreaterThanOrEqual(20);
      expect(p.sleepMs).toBeLessThanOrEqual(250);
    }
    const never = Array.from({ length: 500 }, (_, attempt) => plan({ fail_p: '0' }, attempt));
    expect(never.some((p) => p.fail)).toBe(false);
  });

  it('sleeps long now and then when long_p says so, and refuses a bad number', async () => {
    const { plan } = await load();
    const long = plan({ seed: '1', long_p: '1', long_min_ms: '2500', long_max_ms: '3500' }, 9);
    expect(long.sleepMs).toBeGreaterThanOrEqual(2500);
    expect(long.sleepMs).toBeLessThanOrEqual(3500);
    expect(() => plan({ fail_p: 'often' }, 1)).toThrow(/parameter "fail_p" must be a number/);
  });
});
