import { describe, expect, it } from 'vitest';
import { chainFigures } from '../../bench/lib/stats.js';
import { takeTurns, type Series } from '../../bench/lib/turns.js';

/** A series that writes what happens to it into `log`, and fails where it is told to. */
function recorded(
  name: string,
  log: string[],
  fail: { open?: boolean; next?: number; end?: boolean } = {},
): () => Promise<Series<string>> {
  // A throw inside a promise's executor rejects it.
  const step = <T>(what: () => T): Promise<T> => new Promise((resolve) => resolve(what()));
  return () =>
    step(() => {
      log.push(`open ${name}`);
      if (fail.open) throw new Error(`${name} did not open`);
      let taken = 0;
      return {
        next: () =>
          step(() => {
            taken++;
            log.push(`${name}${taken}`);
            if (taken === fail.next) throw new Error(`${name} failed at ${taken}`);
          }),
        end: () =>
          step(() => {
            log.push(`end ${name}`);
            if (fail.end) throw new Error(`${name} did not end`);
            return `${name}:${taken}`;
          }),
      };
    });
}

describe('takeTurns', () => {
  it('takes one sample of each series in turn, then ends each', async () => {
    const log: string[] = [];
    const results = await takeTurns({ a: recorded('a', log), b: recorded('b', log) }, 3);
    expect(results).toEqual({ a: 'a:3', b: 'b:3' });
    expect(log).toEqual(['open a', 'open b', 'a1', 'b1', 'a2', 'b2', 'a3', 'b3', 'end a', 'end b']);
  });

  it('ends every opened series when a sample fails, and throws that failure', async () => {
    const log: string[] = [];
    await expect(
      takeTurns({ a: recorded('a', log), b: recorded('b', log, { next: 2 }) }, 5),
    ).rejects.toThrow('b failed at 2');
    expect(log.slice(-2)).toEqual(['end a', 'end b']);
  });

  it('ends the series opened before one that cannot open', async () => {
    const log: string[] = [];
    await expect(
      takeTurns({ a: recorded('a', log), b: recorded('b', log, { open: true }) }, 5),
    ).rejects.toThrow('b did not open');
    expect(log).toEqual(['open a', 'open b', 'end a']);
  });

  it('still ends the others when one cannot end', async () => {
    const log: string[] = [];
    await expect(
      takeTurns({ a: recorded('a', log, { end: true }), b: recorded('b', log) }, 1),
    ).rejects.toThrow('a did not end');
    expect(log).toContain('end b');
  });
});

describe('chainFigures', () => {
  it('measures gaps inside each chain only, and the time per step over all chains', () => {
    const figures = chainFigures([
      // gaps 1 and 3; 6 ms over 2 steps
      [
        { start: 0, end: 1 },
        { start: 2, end: 3 },
        { start: 6, end: 7 },
      ],
      // given out of order; gap 1; 4 ms over 1 step (the 93 ms before it is no gap)
      [
        { start: 104, end: 105 },
        { start: 100, end: 103 },
      ],
    ]);
    expect(figures.n).toBe(3);
    expect(figures.p50).toBe(1);
    expect(figures.p99).toBe(3);
    expect(figures.perStep).toBe(3.33);
  });

  it('refuses chains that ran fewer than two jobs', () => {
    expect(() => chainFigures([[{ start: 0, end: 1 }], []])).toThrow('no chain ran two jobs');
  });
});
