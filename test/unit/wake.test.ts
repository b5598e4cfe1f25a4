import { describe, it, expect } from 'vitest';
import { Coalescer, describePayload, wakeFields, type Wake } from '../../src/wake.js';

/** A promise and the function that resolves it, for a pass the test lets finish. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

const notify = (n: number): Wake => ({ by: 'notify', channel: 'rush_jobs', payload: `#${n}` });

describe('wakeFields', () => {
  it('gives a notification its channel and payload', () => {
    expect(wakeFields({ by: 'notify', channel: 'rush_master', payload: 'finished' })).toEqual({
      woke: 'notify',
      channel: 'rush_master',
      payload: 'finished',
    });
  });

  it('shows what an assignment is about, never its parameters', () => {
    const assignment = JSON.stringify({ id: 7, params: { password: 'hunter2' } });
    expect(wakeFields({ by: 'notify', channel: 'rush_w1', payload: assignment })).toEqual({
      woke: 'notify',
      channel: 'rush_w1',
      payload: 'attempt 7',
    });
    expect(describePayload('{"cancel":9}')).toBe('cancel attempt 9');
    expect(describePayload('{"ping":true}')).toBe('ping');
    expect(describePayload('{"secret":"x"}')).toBe('{…}');
    expect(describePayload('{not json')).toBe('{…}');
  });

  it('cuts a long payload to 200 characters', () => {
    const payload = 'p'.repeat(199) + 'q' + 'r'.repeat(50);
    const fields = wakeFields({ by: 'notify', channel: 'c', payload });
    expect(fields.payload).toBe('p'.repeat(199) + 'q');
    expect(fields.payload).toHaveLength(200);
  });

  it.each(['timer', 'sweep', 'start', 'reconnect', 'more'] as const)(
    'says only what woke it for %s',
    (by) => {
      expect(wakeFields({ by })).toEqual({ woke: by });
    },
  );
});

describe('Coalescer', () => {
  it('folds every wake that arrives during a pass into exactly one more pass', async () => {
    const firstPass = gate();
    const passes: { wake: Wake; coalesced: number }[] = [];
    const errors: unknown[] = [];
    const coalescer = new Coalescer(
      async (wake, coalesced) => {
        passes.push({ wake, coalesced });
        if (passes.length === 1) await firstPass.opened;
      },
      (error) => errors.push(error),
    );

    coalescer.wake({ by: 'start' });
    expect(passes).toEqual([{ wake: { by: 'start' }, coalesced: 0 }]);
    for (let n = 0; n < 100; n++) coalescer.wake(notify(n));
    expect(passes).toHaveLength(1);

    firstPass.open();
    await coalescer.idle();

    expect(passes).toEqual([
      { wake: { by: 'start' }, coalesced: 0 },
      { wake: notify(0), coalesced: 99 },
    ]);
    expect(errors).toEqual([]);
  });

  it('lets a sweep or timer among the coalesced wakes lead the next pass', async () => {
    const firstPass = gate();
    const passes: { wake: Wake; coalesced: number }[] = [];
    const coalescer = new Coalescer(
      async (wake, coalesced) => {
        passes.push({ wake, coalesced });
        if (passes.length === 1) await firstPass.opened;
      },
      () => undefined,
    );
    coalescer.wake({ by: 'start' });
    coalescer.wake(notify(1));
    coalescer.wake({ by: 'sweep' });
    coalescer.wake(notify(2));
    firstPass.open();
    await coalescer.idle();
    expect(passes[1]).toEqual({ wake: { by: 'sweep' }, coalesced: 2 });
  });

  it('runs a fresh pass for a wake that comes after the last pass finished', async () => {
    const seen: Wake[] = [];
    const coalescer = new Coalescer(
      async (wake) => {
        seen.push(wake);
        await Promise.resolve();
      },
      () => undefined,
    );
    coalescer.wake({ by: 'timer' });
    await coalescer.idle();
    coalescer.wake({ by: 'sweep' });
    await coalescer.idle();
    expect(seen).toEqual([{ by: 'timer' }, { by: 'sweep' }]);
  });

  it('reports a failing pass with its wake and keeps running later wakes', async () => {
    const firstPass = gate();
    const seen: Wake[] = [];
    const errors: { message: string; wake: Wake }[] = [];
    const coalescer = new Coalescer(
      async (wake) => {
        seen.push(wake);
        if (wake.by === 'start') {
          await firstPass.opened;
          throw new Error('tick failed');
        }
      },
      (error, wake) => errors.push({ message: (error as Error).message, wake }),
    );

    coalescer.wake({ by: 'start' });
    coalescer.wake({ by: 'reconnect' });
    firstPass.open();
    await coalescer.idle();
    coalescer.wake({ by: 'timer' });
    await coalescer.idle();

    expect(errors).toEqual([{ message: 'tick failed', wake: { by: 'start' } }]);
    expect(seen).toEqual([{ by: 'start' }, { by: 'reconnect' }, { by: 'timer' }]);
  });

  it('resolves idle() at once when nothing runs', async () => {
    let passes = 0;
    const coalescer = new Coalescer(
      async () => {
        passes++;
        await Promise.resolve();
      },
      () => undefined,
    );
    const order: string[] = [];
    const idle = coalescer.idle().then(() => order.push('idle'));
    // A pending promise would lose this race to a microtask queued after it.
    await Promise.resolve();
    await Promise.resolve();
    order.push('later');
    await idle;
    expect(order).toEqual(['idle', 'later']);
    expect(passes).toBe(0);
  });

  it('makes idle() wait for a pass that is still running', async () => {
    const pass = gate();
    let finished = false;
    const coalescer = new Coalescer(
      async () => {
        await pass.opened;
        finished = true;
      },
      () => undefined,
    );
    coalescer.wake({ by: 'start' });
    let idled = false;
    const idle = coalescer.idle().then(() => {
      idled = true;
    });
    await Promise.resolve();
    expect(idled).toBe(false);
    pass.open();
    await idle;
    expect(finished).toBe(true);
  });
});
