/**
 * How long a master may trust its lease: from the moment it *asked* for it (not when the answer
 * came), for the lease's time to live less a safety margin. A master stops acting at this
 * deadline even if the database is unreachable and it cannot learn that it was replaced.
 */
export function trustDeadline(requestedAtMs: number, ttlSeconds: number): number {
  const ttlMs = ttlSeconds * 1000;
  const margin = Math.min(2000, ttlMs * 0.2);
  return requestedAtMs + ttlMs - margin;
}

/** How often the holder renews: three times per time to live, so two renewals may fail. */
export function renewIntervalMs(ttlSeconds: number): number {
  return Math.max(50, Math.round((ttlSeconds * 1000) / 3));
}

/** Delay until the tick the database asked for (a retry to release, a timeout to enforce),
 * never later than the next sweep would come anyway. */
export function timerDelayMs(inMs: number | null | undefined, maxMs: number): number | undefined {
  if (inMs === null || inMs === undefined || !Number.isFinite(inMs)) return undefined;
  return Math.min(maxMs, Math.max(0, inMs));
}
