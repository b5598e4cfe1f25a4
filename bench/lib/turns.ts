import type { Summary } from './stats.js';

/**
 * One system's wakes, sampled one at a time, so that several systems can take turns: the
 * machine's speed drifts over minutes (twofold, seen here), and samples taken side by side share
 * the drift where samples taken one system after another do not.
 */
export interface WakeSeries {
  /** One sample: a job made and waited for until it has run. */
  next(): Promise<void>;
  /** Stops what the series started and summarises its samples. */
  end(): Promise<Summary>;
}

/**
 * Opens every series, then takes `samples` from each in turn (a, b, c, a, b, c, …), and ends
 * them all, on failure too; the summaries come back under the same names.
 */
export async function takeTurns<K extends string>(
  openers: Record<K, () => Promise<WakeSeries>>,
  samples: number,
): Promise<Record<K, Summary>> {
  const names = Object.keys(openers) as K[];
  const open: [K, WakeSeries][] = [];
  const summaries = {} as Record<K, Summary>;
  const failures: unknown[] = [];
  try {
    for (const name of names) open.push([name, await openers[name]()]);
    for (let i = 0; i < samples; i++) for (const [, series] of open) await series.next();
  } catch (error) {
    failures.push(error);
  }
  for (const [name, series] of open) {
    try {
      summaries[name] = await series.end();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length > 0) {
    const [first] = failures;
    throw first instanceof Error ? first : new Error(String(first));
  }
  return summaries;
}
