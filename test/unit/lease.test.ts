import { describe, it, expect } from 'vitest';
import { renewIntervalMs, timerDelayMs, trustDeadline } from '../../src/master/lease.js';

describe('trustDeadline', () => {
  const askedAt = 1_700_000_000_000;

  it('trusts a 15 s lease for 13 s from the request: a 2 s margin', () => {
    expect(trustDeadline(askedAt, 15)).toBe(askedAt + 13_000);
  });

  it('caps the margin at 2 s for long leases', () => {
    expect(trustDeadline(askedAt, 60)).toBe(askedAt + 58_000);
  });

  it('uses a 20 % margin when that is under 2 s', () => {
    expect(trustDeadline(askedAt, 1)).toBe(askedAt + 800);
    expect(trustDeadline(askedAt, 5)).toBe(askedAt + 4000);
  });

  it('switches margins at a 10 s lease, where both give 2 s', () => {
    expect(trustDeadline(0, 10)).toBe(8000);
  });
});

describe('renewIntervalMs', () => {
  it('renews three times per time to live', () => {
    expect(renewIntervalMs(15)).toBe(5000);
    expect(renewIntervalMs(1)).toBe(333);
    expect(renewIntervalMs(2)).toBe(667);
  });

  it('never renews more often than every 50 ms', () => {
    expect(renewIntervalMs(0.1)).toBe(50);
    expect(renewIntervalMs(0)).toBe(50);
  });
});

describe('timerDelayMs', () => {
  it.each([null, undefined, NaN, Infinity, -Infinity])('gives no timer for %s', (inMs) => {
    expect(timerDelayMs(inMs, 5000)).toBeUndefined();
  });

  it('fires at once for a moment already past', () => {
    expect(timerDelayMs(-250, 5000)).toBe(0);
  });

  it('keeps a delay within range as it is', () => {
    expect(timerDelayMs(0, 5000)).toBe(0);
    expect(timerDelayMs(1234.5, 5000)).toBe(1234.5);
    expect(timerDelayMs(5000, 5000)).toBe(5000);
  });

  it('waits no longer than the maximum', () => {
    expect(timerDelayMs(60_000, 5000)).toBe(5000);
  });
});
