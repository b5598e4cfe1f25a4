/** The end of a chaos run, for people: the checks as a table, then what happened. */
import { renderTable } from '../../src/cli/table.js';
import type { Metrics } from './metrics.js';
import { describeSample } from './metrics.js';
import type { CheckResult } from './types.js';

/** Violations shown per check under the table; the rest are counted. */
export const SHOWN_VIOLATIONS = 15;

export function verdict(result: CheckResult): string {
  if (result.ok === null) return 'n/a';
  return result.ok ? 'PASS' : `FAIL (${result.violations.length})`;
}

/** True when no check failed (checks that do not apply count as passed). */
export function allPassed(results: readonly CheckResult[]): boolean {
  return results.every((r) => r.ok !== false);
}

export function checksTable(results: readonly CheckResult[]): string {
  return renderTable(
    ['check', 'result', 'details'],
    results.map((r) => [r.check, verdict(r), r.summary]),
    { widths: [34, 10, 76] },
  );
}

export function violationsText(results: readonly CheckResult[]): string {
  const blocks: string[] = [];
  for (const r of results) {
    if (r.ok !== false || r.violations.length === 0) continue;
    const shown = r.violations.slice(0, SHOWN_VIOLATIONS).map((v) => `  - ${v}`);
    const more = r.violations.length - shown.length;
    blocks.push(
      [`${r.check}:`, ...shown, ...(more > 0 ? [`  … and ${more} more`] : [])].join('\n'),
    );
  }
  return blocks.join('\n');
}

export interface RunSummary {
  seed: number;
  server: string;
  workers: number;
  minutes: number;
  /** Seconds: the fault phase, and the settling after it. */
  faultSeconds: number;
  settleSeconds: number;
  requestsByStatus: string;
  attempts: number;
  executions: number;
  faultsInjected: Map<string, number>;
  processesStarted: number;
  unexpectedExits: number;
  insertFailures: number;
  metrics: Metrics;
  notes: string[];
}

export function summaryText(s: RunSummary): string {
  const faults = [...s.faultsInjected.entries()].map(([kind, n]) => `${n} ${kind}`).join(', ');
  const lines: [string, string][] = [
    ['seed', `${s.seed} (replay: npm run chaos -- --seed ${s.seed} --minutes ${s.minutes} --workers ${s.workers})`],
    ['server', s.server],
    ['time', `${s.faultSeconds} s of faults, ${s.settleSeconds} s to settle`],
    ['requests', s.requestsByStatus],
    ['attempts', `${s.attempts} in the database, ${s.executions} executions recorded`],
    ['faults injected', faults || 'none'],
    [
      'worker processes',
      `${s.processesStarted} started, ${s.unexpectedExits} exited without being told to`,
    ],
    ['lost worker detected', describeSample(s.metrics.lostDetection)],
    ['same name restarted', describeSample(s.metrics.restartDetection)],
    ['takeover after kill -9', describeSample(s.metrics.takeoverAfterKill)],
    ['takeover after SIGTERM', describeSample(s.metrics.takeoverAfterTerm)],
  ];
  s.metrics.pgRestarts.forEach((pg, i) => {
    const ms = (value: number | null): string => (value === null ? 'not seen' : `${value} ms`);
    lines.push([
      `PostgreSQL restart ${i + 1}`,
      `down ${pg.downMs} ms; all workers listening again after ${ms(pg.listeningAgainMs)}; ` +
        `first attempt started after ${ms(pg.firstStartMs)}; ${pg.markedLost} workers marked Lost`,
    ]);
  });
  if (s.insertFailures > 0) {
    lines.push(['request bursts failed', `${s.insertFailures} (PostgreSQL down; retried later)`]);
  }
  for (const note of s.notes) lines.push(['note', note]);
  const width = Math.max(...lines.map(([label]) => label.length));
  return lines.map(([label, text]) => `${label.padEnd(width)}  ${text}`).join('\n');
}
