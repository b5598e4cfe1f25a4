import { Writable } from 'node:stream';
import pg from 'pg';
import { pino } from 'pino';
import { describe, it, expect } from 'vitest';
import { DummyJob } from '../../src/jobs/dummy_job.js';

function makeJob(params: Record<string, string>, retry = 0) {
  const messages: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (text !== '') messages.push((JSON.parse(text) as { msg: string }).msg);
      }
      callback();
    },
  });
  const controller = new AbortController();
  const job = new DummyJob({
    params,
    context: { pipeline: 'demo', job: 'dummy', jobinstance: 1, retry, attempt: 7, worker: 'w1' },
    signal: controller.signal,
    logger: pino(sink),
    db: new pg.Pool(), // never connected
  });
  return { job, controller, messages };
}

describe('DummyJob', () => {
  it('logs that it ran and completes', async () => {
    const { job, messages } = makeJob({ anything: 'goes' });
    await expect(job.run()).resolves.toBeUndefined();
    expect(messages).toEqual(['DummyJob running', 'DummyJob complete']);
  });

  it('fails when asked to', async () => {
    const { job } = makeJob({ fail: 'true' });
    await expect(job.run()).rejects.toThrow('DummyJob failed as asked (fail=true)');
    await expect(makeJob({ fail: 'false' }).job.run()).resolves.toBeUndefined();
  });

  it('fails until the given retry, then succeeds', async () => {
    await expect(makeJob({ fail_until_retry: '2' }, 0).job.run()).rejects.toThrow(
      /fail_until_retry=2, this is retry 0/,
    );
    await expect(makeJob({ fail_until_retry: '2' }, 1).job.run()).rejects.toThrow(
      /fail_until_retry=2, this is retry 1/,
    );
    await expect(makeJob({ fail_until_retry: '2' }, 2).job.run()).resolves.toBeUndefined();
  });

  it('sleeps, and returns early when aborted', async () => {
    const short = makeJob({ sleep_ms: '20' });
    const before = Date.now();
    await short.job.run();
    expect(Date.now() - before).toBeGreaterThanOrEqual(15);

    const { job, controller } = makeJob({ sleep_ms: '60000' });
    const started = Date.now();
    const running = job.run();
    setTimeout(() => controller.abort(new Error('job timeout reached')), 50);
    const error = await running.catch((err: unknown) => err as Error);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(error).toBeInstanceOf(Error);
    expect(error?.name).toBe('AbortError');
    expect(error?.message).toMatch(/DummyJob aborted after \d+ ms of its 60000 ms sleep/);
    expect(error?.message).toContain('job timeout reached');
  });

  it('names a bad sleep_ms and its value', async () => {
    await expect(makeJob({ sleep_ms: 'soon' }).job.run()).rejects.toThrow(
      'DummyJob: parameter "sleep_ms" must be a non-negative number (at most 2147483647), got "soon"',
    );
    await expect(makeJob({ sleep_ms: '-5' }).job.run()).rejects.toThrow(/"sleep_ms".*got "-5"/);
    await expect(makeJob({ fail_until_retry: '1.5' }).job.run()).rejects.toThrow(
      /"fail_until_retry" must be a non-negative integer.*got "1.5"/,
    );
    await expect(makeJob({ fail: 'yes' }).job.run()).rejects.toThrow(
      /"fail" must be "true" or "false", got "yes"/,
    );
  });
});
