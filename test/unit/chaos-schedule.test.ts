import { describe, expect, it } from 'vitest';
import {
  between,
  intBetween,
  parseSeed,
  seededRng,
  shuffled,
  weighted,
} from '../../bench/chaos/random.js';
import {
  describeFault,
  faultSchedule,
  GAP_MS,
  PG_QUIET_MS,
  RESTART_MS,
  WARM_UP_MS,
  WORKER_FAULTS,
} from '../../bench/chaos/schedule.js';
import { chaosPipelines, jobParameters } from '../../bench/chaos/workload.js';

describe('seeded random source', () => {
  it('gives the same sequence for the same seed, another for another seed', () => {
    const a = seededRng(42);
    const b = seededRng(42);
    const c = seededRng(43);
    const first = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(first);
    expect(Array.from({ length: 5 }, () => c())).not.toEqual(first);
    for (const x of first) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
    }
  });

  it('keeps integers and floats within their bounds, both ends reachable', () => {
    const rng = seededRng(7);
    const ints = new Set(Array.from({ length: 500 }, () => intBetween(rng, 2, 5)));
    expect([...ints].sort()).toEqual([2, 3, 4, 5]);
    for (let i = 0; i < 200; i++) {
      const x = between(rng, 10, 20);
      expect(x).toBeGreaterThanOrEqual(10);
      expect(x).toBeLessThan(20);
    }
    expect(intBetween(() => 0.9999999999, 0, 3)).toBe(3);
  });

  it('picks by weight and shuffles without losing items', () => {
    expect(
      weighted(
        () => 0,
        [
          ['a', 1],
          ['b', 1],
        ],
      ),
    ).toBe('a');
    expect(
      weighted(
        () => 0.99,
        [
          ['a', 1],
          ['b', 1],
        ],
      ),
    ).toBe('b');
    expect(
      weighted(
        () => 0.5,
        [
          ['a', 0],
          ['b', 3],
        ],
      ),
    ).toBe('b');
    const items = [1, 2, 3, 4, 5, 6];
    expect([...shuffled(seededRng(1), items)].sort()).toEqual(items);
  });

  it('parses a seed or draws one', () => {
    expect(parseSeed('123')).toBe(123);
    expect(parseSeed('4294967295')).toBe(4294967295);
    expect(parseSeed(undefined, () => 0.5)).toBe(2147483648);
    expect(() => parseSeed('-1')).toThrow(/--seed must be an integer/);
    expect(() => parseSeed('1.5')).toThrow(/--seed/);
    expect(() => parseSeed('4294967296')).toThrow(/--seed/);
  });
});

describe('faultSchedule', () => {
  const twoMinutes = { seed: 99, durationMs: 120_000, pgRestarts: true };

  it('is the same for the same seed and differs for another', () => {
    expect(faultSchedule(twoMinutes)).toEqual(faultSchedule(twoMinutes));
    expect(faultSchedule({ ...twoMinutes, seed: 100 })).not.toEqual(faultSchedule(twoMinutes));
  });

  it('starts after the warm-up, stays within the run and in time order', () => {
    for (let seed = 0; seed < 50; seed++) {
      const faults = faultSchedule({ ...twoMinutes, seed });
      expect(faults[0]!.atMs).toBeGreaterThanOrEqual(WARM_UP_MS);
      for (const fault of faults) expect(fault.atMs).toBeLessThan(twoMinutes.durationMs);
      const times = faults.map((f) => f.atMs);
      expect(times).toEqual([...times].sort((a, b) => a - b));
    }
  });

  it('brings every kind of worker fault among the first four', () => {
    for (let seed = 0; seed < 50; seed++) {
      const first = faultSchedule({ ...twoMinutes, seed })
        .filter((f) => f.kind !== 'pg-restart')
        .slice(0, 4)
        .map((f) => f.kind);
      expect([...first].sort()).toEqual([...WORKER_FAULTS].sort());
    }
  });

  it('restarts PostgreSQL at least once, in the middle, with a quiet window around it', () => {
    for (let seed = 0; seed < 50; seed++) {
      const durationMs = 45_000;
      const faults = faultSchedule({ seed, durationMs, pgRestarts: true });
      const restarts = faults.filter((f) => f.kind === 'pg-restart');
      expect(restarts).toHaveLength(1);
      const restart = restarts[0]!;
      expect(restart.atMs).toBeGreaterThanOrEqual(durationMs * 0.4);
      expect(restart.atMs).toBeLessThanOrEqual(durationMs * 0.6);
      expect(restart.downMs).toBeGreaterThan(0);
      for (const fault of faults.filter((f) => f.kind !== 'pg-restart')) {
        const inside =
          fault.atMs >= restart.atMs - PG_QUIET_MS.before &&
          fault.atMs <= restart.atMs + restart.downMs! + PG_QUIET_MS.after;
        expect(inside).toBe(false);
      }
    }
    const long = faultSchedule({ seed: 5, durationMs: 600_000, pgRestarts: true });
    expect(long.filter((f) => f.kind === 'pg-restart')).toHaveLength(5);
  });

  it('has no PostgreSQL restart when none is possible', () => {
    const faults = faultSchedule({ ...twoMinutes, pgRestarts: false });
    expect(faults.some((f) => f.kind === 'pg-restart')).toBe(false);
    expect(faults.length).toBeGreaterThan(20);
  });

  it('spaces faults by the gaps and keeps pauses and second signals in range', () => {
    const faults = faultSchedule({ ...twoMinutes, pgRestarts: false });
    faults.slice(1).forEach((fault, i) => {
      const gap = fault.atMs - faults[i]!.atMs;
      expect(gap).toBeGreaterThanOrEqual(GAP_MS.min - 1);
      expect(gap).toBeLessThanOrEqual(GAP_MS.max + 1);
    });
    for (const fault of faults) {
      expect(fault.restartAfterMs).toBeGreaterThanOrEqual(RESTART_MS.min);
      expect(fault.restartAfterMs).toBeLessThanOrEqual(RESTART_MS.max);
      if (fault.kind === 'term-twice') expect(fault.secondSignalAfterMs).toBeGreaterThan(0);
      else expect(fault.secondSignalAfterMs).toBeUndefined();
    }
    expect(new Set(faults.map((f) => f.sameName))).toEqual(new Set([true, false]));
  });

  it('fits a short run: a few faults after a shorter warm-up', () => {
    const faults = faultSchedule({ seed: 3, durationMs: 8_000, pgRestarts: false });
    expect(faults.length).toBeGreaterThan(0);
    expect(faults[0]!.atMs).toBe(2_000);
  });

  it('describes each fault on one line', () => {
    const text = faultSchedule(twoMinutes).map(describeFault);
    expect(text.some((line) => /pg-restart +down \d+ ms/.test(line))).toBe(true);
    expect(text.some((line) => /term-twice +pick \d+, second signal after \d+ ms/.test(line))).toBe(
      true,
    );
    expect(text.every((line) => !line.includes('\n'))).toBe(true);
  });
});

describe('chaos pipelines', () => {
  it('has 3, 4 and 5 jobs, retry limits from 0 to 3 with both ends, short gaps', () => {
    for (let seed = 0; seed < 50; seed++) {
      const pipelines = chaosPipelines(seed);
      expect(pipelines.map((p) => p.jobs.length)).toEqual([3, 4, 5]);
      const jobs = pipelines.flatMap((p) => p.jobs);
      const limits = jobs.map((j) => j.retry_limit);
      expect(limits).toContain(0);
      expect(limits).toContain(3);
      for (const job of jobs) {
        expect(job.retry_limit).toBeGreaterThanOrEqual(0);
        expect(job.retry_limit).toBeLessThanOrEqual(3);
        expect(job.retry_gap_minutes).toBeLessThanOrEqual(0.02);
        expect(job.class_name).toBe('chaos.Chaos');
      }
    }
    expect(chaosPipelines(1)).toEqual(chaosPipelines(1));
  });

  it('hands every job the records file, the seed and the failure chance', () => {
    expect(jobParameters({ out: '/tmp/x.jsonl', seed: 9, failP: 0.2 })).toMatchObject({
      out: '/tmp/x.jsonl',
      seed: '9',
      fail_p: '0.2',
    });
  });
});
