// The chaos run's job (npm run chaos): it notes every execution in an append-only file (which
// attempt, on which worker and process, when it started and when and how it ended), sleeps a
// little and fails at random. Sleep and failure are drawn from the attempt id and a seed, so
// a given attempt always does the same thing: failures are reproducible.
import { appendFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { Job } from '../../dist/index.js';

/**
 * The wall clock, in milliseconds, read afresh: processes started at different times agree on
 * it (performance.timeOrigin + now() drifts apart between processes as the clock is slewed),
 * and the run compares these times across processes, with kill times and with PostgreSQL's.
 */
const now = () => Date.now();

/** A number in [0, 1) that depends only on the seed, the attempt id and what it is for. */
export function draw(seed, attempt, what) {
  const digest = createHash('sha256').update(`${seed}:${attempt}:${what}`).digest();
  return digest.readUInt32BE(0) / 4294967296;
}

function number(params, key, fallback) {
  const value = params[key];
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0) {
    throw new Error(`parameter "${key}" must be a number >= 0 (got "${value}")`);
  }
  return parsed;
}

/** What an attempt does: how long it sleeps, and whether it fails at the end. */
export function plan(params, attempt) {
  const seed = params.seed ?? '0';
  const failP = number(params, 'fail_p', 0.15);
  const longP = number(params, 'long_p', 0);
  const long = draw(seed, attempt, 'long') < longP;
  const min = number(params, long ? 'long_min_ms' : 'sleep_min_ms', long ? 2500 : 20);
  const max = number(params, long ? 'long_max_ms' : 'sleep_max_ms', long ? 3500 : 200);
  const sleepMs = Math.round(min + (Math.max(min, max) - min) * draw(seed, attempt, 'sleep'));
  return { sleepMs, fail: draw(seed, attempt, 'fail') < failP };
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export class Chaos extends Job {
  async run() {
    const out = this.requireParam('out');
    const { pipeline, job, jobinstance, retry, attempt, worker } = this.context;
    const { sleepMs, fail } = plan(this.params, attempt);
    const base = { attempt, pipeline, job, jobinstance, retry, worker, pid: process.pid };
    const note = (fields) => appendFileSync(out, JSON.stringify({ ...base, ...fields }) + '\n');
    note({ event: 'start', at: now(), sleepMs, fail });
    let outcome = 'ok';
    try {
      await sleep(sleepMs, this.signal);
      if (fail) {
        outcome = 'fail';
        throw new Error(`chaos: failed at random (attempt ${attempt})`);
      }
    } catch (error) {
      if (this.signal.aborted) outcome = 'aborted';
      throw error;
    } finally {
      note({ event: 'end', at: now(), outcome });
    }
  }
}
