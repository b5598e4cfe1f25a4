/**
 * Pure handling of log lines for `rush logs`: where a line sits in time, merging several
 * workers' logs into one, and cutting a byte stream into whole lines.
 */

/** The pino `time` of a JSON log line (epoch ms, or an ISO string), else undefined. */
export function lineTime(line: string): number | undefined {
  if (!line.startsWith('{')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return undefined;
  }
  const time = (parsed as { time?: unknown } | null)?.time;
  if (typeof time === 'number' && Number.isFinite(time)) return time;
  if (typeof time === 'string') {
    const ms = Date.parse(time);
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}

/**
 * Merges several logs into one by time. Each log keeps its own order (a merge, not a sort); a
 * line without a time (a stack trace, a plain line) stays right after the line before it.
 * On equal times, the earlier log in `sources` goes first.
 */
export function interleave(sources: string[][]): string[] {
  const keyed = sources.map((lines) => {
    let last = -Infinity;
    return lines.map((line) => {
      last = lineTime(line) ?? last;
      return { line, time: last };
    });
  });
  const next = keyed.map(() => 0);
  const merged: string[] = [];
  for (;;) {
    let best = -1;
    let bestTime = Infinity;
    keyed.forEach((lines, source) => {
      const entry = lines[next[source]!];
      if (entry && (best === -1 || entry.time < bestTime)) {
        best = source;
        bestTime = entry.time;
      }
    });
    if (best === -1) return merged;
    merged.push(keyed[best]![next[best]!]!.line);
    next[best]!++;
  }
}

/** Cuts text that arrives in chunks into whole lines; keeps a partial last line for later. */
export class LineSplitter {
  private rest = '';

  /** The lines completed by this chunk, without their line ends. */
  push(chunk: string): string[] {
    const lines = (this.rest + chunk).split('\n');
    this.rest = lines.pop() ?? '';
    return lines.map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
  }

  /** The partial line held back, if any (at the end of a file that is not followed). */
  flush(): string[] {
    const rest = this.rest;
    this.rest = '';
    return rest === '' ? [] : [rest];
  }
}
