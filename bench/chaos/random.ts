/**
 * A small seeded random source, so that a chaos run's fault schedule and workload can be
 * replayed from the seed it prints.
 */
export type Rng = () => number;

/** mulberry32: 32 bits of state, uniform floats in [0, 1), the same sequence for a seed. */
export function seededRng(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A uniform float in [min, max). */
export function between(rng: Rng, min: number, max: number): number {
  return min + (max - min) * rng();
}

/** A uniform integer in [min, max], both included. */
export function intBetween(rng: Rng, min: number, max: number): number {
  return Math.min(max, min + Math.floor((max - min + 1) * rng()));
}

/** One item, each with the chance its weight gives it. */
export function weighted<T>(rng: Rng, items: readonly (readonly [T, number])[]): T {
  const total = items.reduce((sum, [, weight]) => sum + weight, 0);
  let left = rng() * total;
  for (const [item, weight] of items) {
    left -= weight;
    if (left < 0) return item;
  }
  return items[items.length - 1]![0];
}

/** A shuffled copy (Fisher–Yates). */
export function shuffled<T>(rng: Rng, items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

/** A seed from the command line (a non-negative integer below 2^32), or a fresh one. */
export function parseSeed(text: string | undefined, fresh: () => number = Math.random): number {
  if (text === undefined) return Math.floor(fresh() * 4294967296) >>> 0;
  if (!/^\d+$/.test(text) || Number(text) > 4294967295) {
    throw new Error(`--seed must be an integer from 0 to 4294967295 (got "${text}")`);
  }
  return Number(text);
}
