import type { Summary } from './stats.js';

/**
 * One system's samples, taken one at a time, so that several systems can take turns: the
 * machine's speed drifts over minutes (twofold, seen here), and samples taken side by side share
 * the drift where samples taken one system after another do not.
 */
export interface Series<R> {
  /** One sample: a job (or a chain of them) made and waited for until it has run. */
  next(): Promise<void>;
  /** Stops what the series started and summarises its samples. */
  end(): Promise<R>;
}

export type WakeSeries = Series<Summary>;

/**
 * Opens every series, then takes `samples` from each in turn (a, b, c, a, b, c, …), and ends
 * them all, on failure too; the results come back under the same names.
 */
export async function takeTurns<K extends string, R>(
  openers: Record<K, () => Promise<Series<R>>>,
  samples: number,
): Promise<Record<K, R>> {
  const names = Object.keys(openers) as K[];
  const open: [K, Series<R>][] = [];
  const results = {} as Record<K, R>;
  const failures: unknown[] = [];
  try {
    for (const name of names) open.push([name, await openers[name]()]);
    for (let i = 0; i < samples; i++) for (const [, series] of open) await series.next();
  } catch (error) {
    failures.push(error);
  }
  for (const [name, series] of open) {
    try {
      results[name] = await series.end();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length > 0) {
    const [first] = failures;
    throw first instanceof Error ? first : new Error(String(first));
  }
  return results;
}
