/** The q-quantile (0..1) of a sample, by nearest rank. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
}

export function summarize(values: number[]): Summary {
  const round = (x: number): number => Math.round(x * 100) / 100;
  return {
    n: values.length,
    p50: round(quantile(values, 0.5)),
    p90: round(quantile(values, 0.9)),
    p99: round(quantile(values, 0.99)),
  };
}

export interface Handoff extends Summary {
  perStep: number;
}

/**
 * The hand-off figures of chains of jobs, each chain run alone: the gaps from the end of job k
 * to the start of job k+1, and the time per step (from the first job's start to the last's,
 * over all chains).
 */
export function chainFigures(chains: { start: number; end: number }[][]): Handoff {
  const gaps: number[] = [];
  let span = 0;
  let steps = 0;
  for (const chain of chains) {
    const marks = [...chain].sort((a, b) => a.start - b.start);
    if (marks.length < 2) continue;
    marks.slice(1).forEach((m, i) => gaps.push(m.start - marks[i]!.end));
    span += marks[marks.length - 1]!.start - marks[0]!.start;
    steps += marks.length - 1;
  }
  if (steps === 0) throw new Error('handoff: no chain ran two jobs');
  return { ...summarize(gaps), perStep: Math.round((span / steps) * 100) / 100 };
}
