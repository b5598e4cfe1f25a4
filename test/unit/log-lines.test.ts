import { describe, expect, it } from 'vitest';
import { interleave, lineTime, LineSplitter } from '../../src/cli/log-lines.js';

const at = (time: number | string, msg: string): string => JSON.stringify({ time, msg });

describe('lineTime', () => {
  it('reads pino times, epoch ms or ISO', () => {
    expect(lineTime(at(1700000000000, 'x'))).toBe(1700000000000);
    expect(lineTime(at('2026-01-02T03:04:05.000Z', 'x'))).toBe(Date.parse('2026-01-02T03:04:05Z'));
  });

  it('has no time for other lines', () => {
    expect(lineTime('plain text')).toBeUndefined();
    expect(lineTime('{not json')).toBeUndefined();
    expect(lineTime('{"msg":"no time"}')).toBeUndefined();
    expect(lineTime('null')).toBeUndefined();
  });
});

describe('interleave', () => {
  it('merges logs by time', () => {
    const a = [at(1, 'a1'), at(3, 'a3')];
    const b = [at(2, 'b2'), at(4, 'b4')];
    expect(interleave([a, b])).toEqual([a[0], b[0], a[1], b[1]]);
  });

  it("keeps each log's own order and its untimed lines after the line before them", () => {
    const a = [at(5, 'a5'), '    at stack frame', at(1, 'a1 late')];
    const b = [at(3, 'b3')];
    expect(interleave([a, b])).toEqual([b[0], a[0], a[1], a[2]]);
  });

  it('puts the earlier log first on equal times, and handles empty logs', () => {
    expect(interleave([[at(1, 'a')], [], [at(1, 'c')]])).toEqual([at(1, 'a'), at(1, 'c')]);
    expect(interleave([])).toEqual([]);
  });
});

describe('LineSplitter', () => {
  it('returns whole lines and holds back a partial one', () => {
    const splitter = new LineSplitter();
    expect(splitter.push('one\ntw')).toEqual(['one']);
    expect(splitter.push('o\r\nthree')).toEqual(['two']);
    expect(splitter.flush()).toEqual(['three']);
    expect(splitter.flush()).toEqual([]);
  });
});
