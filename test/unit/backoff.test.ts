import { describe, it, expect } from 'vitest';
import { backoffDelay } from '../../src/backoff.js';

const highest = { random: () => 1 };
const lowest = { random: () => 0 };

describe('backoffDelay', () => {
  it('doubles from 250 ms up to the 5000 ms cap', () => {
    const delays = [0, 1, 2, 3, 4, 5, 6, 10].map((attempt) => backoffDelay(attempt, highest));
    expect(delays).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
  });

  it('takes off at most 20 % as jitter', () => {
    const delays = [0, 1, 2, 3, 4, 5].map((attempt) => backoffDelay(attempt, lowest));
    expect(delays).toEqual([200, 400, 800, 1600, 3200, 4000]);
  });

  it('scales the jitter linearly with the random number and rounds', () => {
    expect(backoffDelay(0, { random: () => 0.5 })).toBe(225);
    expect(backoffDelay(0, { baseMs: 3, random: () => 0.5 })).toBe(3);
  });

  it('stays within [80 %, 100 %] of the step with the real random source', () => {
    for (let i = 0; i < 200; i++) {
      const delay = backoffDelay(2);
      expect(delay).toBeGreaterThanOrEqual(800);
      expect(delay).toBeLessThanOrEqual(1000);
    }
  });

  it('honours a custom base and maximum', () => {
    const options = { baseMs: 100, maxMs: 700, random: () => 1 };
    const delays = [0, 1, 2, 3, 4].map((attempt) => backoffDelay(attempt, options));
    expect(delays).toEqual([100, 200, 400, 700, 700]);
  });

  it('treats a negative attempt as the first', () => {
    expect(backoffDelay(-3, highest)).toBe(250);
  });

  it('gives a finite, capped delay for huge attempt numbers', () => {
    expect(backoffDelay(1_000_000, highest)).toBe(5000);
    expect(backoffDelay(Number.MAX_SAFE_INTEGER, lowest)).toBe(4000);
    expect(backoffDelay(Infinity, highest)).toBe(5000);
    expect(backoffDelay(2000, { baseMs: 1, maxMs: Number.MAX_SAFE_INTEGER, random: () => 1 })).toBe(
      2 ** 30,
    );
  });
});
