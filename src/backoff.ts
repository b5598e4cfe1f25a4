/**
 * Delay before reconnect attempt `attempt` (0-based): doubling from `baseMs` up to `maxMs`,
 * with up to 20 % jitter so that a fleet cut off together does not reconnect in lockstep.
 */
export function backoffDelay(
  attempt: number,
  options: { baseMs?: number; maxMs?: number; random?: () => number } = {},
): number {
  const { baseMs = 250, maxMs = 5000, random = Math.random } = options;
  const steps = Number.isNaN(attempt) ? 0 : Math.max(0, Math.min(attempt, 30));
  const exponential = Math.min(maxMs, baseMs * 2 ** steps);
  return Math.round(exponential * (0.8 + 0.2 * random()));
}
