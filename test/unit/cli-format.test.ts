import { describe, expect, it } from 'vitest';
import {
  collect,
  parseId,
  parseInstance,
  parseParams,
  parseSeconds,
  parseWholeNumber,
} from '../../src/cli/args.js';
import { CliError, EXIT } from '../../src/cli/context.js';
import {
  formatAge,
  formatDuration,
  formatTime,
  listNames,
  progressBar,
  runProgress,
  shorten,
} from '../../src/cli/format.js';
import { renderTable } from '../../src/cli/table.js';
import type { AttemptState } from '../../src/cli/watch.js';

describe('formatDuration', () => {
  it.each([
    [0, '0 ms'],
    [850, '850 ms'],
    [999.4, '999 ms'],
    [999.6, '1.0 s'],
    [1234, '1.2 s'],
    [9949, '9.9 s'],
    [9950, '10 s'],
    [42_000, '42 s'],
    [59_499, '59 s'],
    [59_500, '1 min'],
    [75_000, '1 min 15 s'],
    [3_600_000, '1 h'],
    [3_723_000, '1 h 2 min'],
    [2 * 86_400_000 + 3 * 3_600_000, '2 d 3 h'],
    [-1500, '-1.5 s'],
  ])('%s ms → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('shows a missing duration as a dash', () => {
    expect(formatDuration(null)).toBe('—');
    expect(formatDuration(undefined)).toBe('—');
    expect(formatDuration(Number.NaN)).toBe('—');
  });
});

describe('formatAge', () => {
  it('says ago for the past and in for the future', () => {
    expect(formatAge(3200)).toBe('3.2 s ago');
    expect(formatAge(-12_000)).toBe('in 12 s');
    expect(formatAge(null)).toBe('—');
  });
});

describe('formatTime', () => {
  it('prints a local time to the second', () => {
    expect(formatTime(new Date(2026, 11, 3, 7, 4, 9, 500))).toBe('2026-12-03 07:04:09');
    expect(formatTime(null)).toBe('—');
    expect(formatTime('not a date')).toBe('—');
  });
});

describe('shorten', () => {
  it('keeps one line, cut with an ellipsis', () => {
    expect(shorten('a\n  b\tc', 10)).toBe('a b c');
    expect(shorten('abcdefghij', 10)).toBe('abcdefghij');
    expect(shorten('abcdefghijk', 10)).toBe('abcdefghi…');
    expect(shorten(null)).toBe('');
  });
});

describe('listNames', () => {
  it('lists a few names, and counts many', () => {
    expect(listNames([])).toBe('none');
    expect(listNames(['a', 'b'])).toBe('a, b');
    expect(listNames(['a', 'b', 'c'], 2)).toBe('a, b … (3 in all)');
  });
});

describe('progress', () => {
  const attempt = (job: string, status: string): AttemptState => ({
    id: 1,
    job,
    retry: 0,
    status,
    worker: null,
    ms: null,
    message: null,
    readytime: null,
  });

  it('draws a bar of the jobs done', () => {
    expect(progressBar(1, 4, 8)).toBe('[##------] 1/4 jobs');
    expect(progressBar(4, 4, 8)).toBe('[########] 4/4 jobs');
    expect(progressBar(0, 0, 4)).toBe('[----] 0/0 jobs');
  });

  it('counts complete jobs from the one the run started at', () => {
    const jobs = ['extract', 'transform', 'load'];
    expect(runProgress({ jobs, attempts: [] })).toEqual({ done: 0, total: 3 });
    expect(
      runProgress({
        jobs,
        attempts: [
          attempt('extract', 'Failed'),
          attempt('extract', 'Complete'),
          attempt('transform', 'Running'),
        ],
      }),
    ).toEqual({ done: 1, total: 3 });
    expect(runProgress({ jobs, attempts: [attempt('load', 'Complete')] })).toEqual({
      done: 1,
      total: 1,
    });
  });
});

describe('renderTable', () => {
  it('draws plain rows with a dash for missing values', () => {
    const text = renderTable(['a', 'b'], [[1, null]]);
    expect(text).toContain('│ a │ b │');
    expect(text).toContain('│ 1 │ — │');
  });

  it('says so instead of drawing an empty table', () => {
    expect(renderTable(['a'], [], { empty: '(nothing)' })).toBe('(nothing)');
  });
});

describe('command-line values', () => {
  const usage = (fn: () => unknown, message: string): void => {
    try {
      fn();
      expect.unreachable('no error');
    } catch (error) {
      expect(error).toBeInstanceOf(CliError);
      expect((error as CliError).exitCode).toBe(EXIT.usage);
      expect((error as CliError).message).toBe(message);
    }
  };

  it('parses KEY=VALUE parameters, values with = included', () => {
    expect(parseParams(['a=1', 'b=x=y', 'c='])).toEqual({ a: '1', b: 'x=y', c: '' });
    usage(() => parseParams(['a']), '--param must be KEY=VALUE (got "a")');
    usage(() => parseParams(['=1']), '--param must be KEY=VALUE (got "=1")');
  });

  it('parses whole numbers in range', () => {
    expect(parseWholeNumber('--limit', ' 12 ')).toBe(12);
    expect(parseInstance('0')).toBe(0);
    expect(parseId('ATTEMPT', '42')).toBe(42);
    usage(
      () => parseInstance('-1'),
      '--instance must be a whole number from 0 to 2147483647 (got "-1")',
    );
    usage(
      () => parseInstance('2147483648'),
      '--instance must be a whole number from 0 to 2147483647 (got "2147483648")',
    );
    usage(() => parseId('ATTEMPT', '1e3'), 'ATTEMPT must be a whole number >= 1 (got "1e3")');
    usage(() => parseId('ATTEMPT', '0'), 'ATTEMPT must be a whole number >= 1 (got "0")');
  });

  it('parses seconds', () => {
    expect(parseSeconds('--timeout', '0.5')).toBe(0.5);
    usage(
      () => parseSeconds('--timeout', '0'),
      '--timeout must be a number of seconds > 0 (got "0")',
    );
    usage(
      () => parseSeconds('--timeout', ''),
      '--timeout must be a number of seconds > 0 (got "")',
    );
  });

  it('collects a repeated option', () => {
    expect(collect('b', collect('a'))).toEqual(['a', 'b']);
  });
});
