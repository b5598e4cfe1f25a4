/** The end of a chaos run, for people: the checks as a table, then what happened. */
import { renderTable } from '../../src/cli/table.js';
import type { Metrics } from './metrics.js';
import { describeSample } from './metrics.js';
import type { CheckResult } from './types.js';

/** Violations shown per check under the table; the rest are counted. */
export const SHOWN_VIOLATIONS = 15;

export function verdict(result: CheckResult): string {
  if (result.ok === null) return 'n/a';
  if (result.ok) return 'PASS';
  return `${result.warnOnly ? 'WARN' : 'FAIL'} (${result.violations.length})`;
}

/** True when no check failed (checks that do not apply, and warnings, count as passed). */
export function allPassed(results: readonly CheckResult[]): boolean {
  return results.every((r) => r.ok !== false || r.warnOnly === true);
}

export function checksTable(results: readonly CheckResult[]): string {
  return renderTable(
    ['check', 'result', 'details'],
    results.map((r) => [r.check, verdict(r), r.summary]),
    { widths: [34, 12, 76] },
  );
}

export function violationsText(results: readonly CheckResult[]): string {
  const blocks: string[] = [];
  for (const r of results) {
    if (r.ok !== false || r.violations.length === 0) continue;
    const shown = r.violations.slice(0, SHOWN_VIOLATIONS).map((v) => `  - ${v}`);
    const more = r.violations.length - shown.length;
    blocks.push(
      [
        `${r.warnOnly ? 'warning, ' : ''}${r.check}:`,
        ...shown,
        ...(more > 0 ? [`  … and ${more} more`] : []),
      ].join('\n'),
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
  /** Error lines of the workers' logs, by message: how many of each. */
  logErrors: Map<string, number>;
  notes: string[];
}

export function summaryText(s: RunSummary): string {
  const faults = [...s.faultsInjected.entries()].map(([kind, n]) => `${n} ${kind}`).join(', ');
  const lines: [string, string][] = [
    [
      'seed',
      `${s.seed} (replay: npm run chaos -- --seed ${s.seed} --minutes ${s.minutes} --workers ${s.workers})`,
    ],
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
    ['standby master after kill -9', describeSample(s.metrics.takeoverAfterKill)],
    ['standby master after SIGTERM', describeSample(s.metrics.takeoverAfterTerm)],
  ];
  if (s.metrics.retakenBySameName > 0) {
    lines.push([
      'lease taken back',
      `${s.metrics.retakenBySameName} times by the killed master's replacement under its name, ` +
        'before any standby',
    ]);
  }
  s.metrics.pgRestarts.forEach((pg, i) => {
    const ms = (value: number | null): string => (value === null ? 'not seen' : `${value} ms`);
    lines.push([
      `PostgreSQL restart ${i + 1}`,
      `down ${pg.downMs} ms; all workers listening again after ${ms(pg.listeningAgainMs)}; ` +
        `first attempt started after ${ms(pg.firstStartMs)}; ${pg.markedLost} workers marked Lost`,
    ]);
  });
  const errors = [...s.logErrors.entries()];
  lines.push([
    'errors in worker logs',
    errors.length === 0
      ? 'none'
      : errors
          .slice(0, 6)
          .map(([text, n]) => `${n}× ${text.length > 90 ? `${text.slice(0, 90)}…` : text}`)
          .join('; ') + (errors.length > 6 ? ` (and ${errors.length - 6} more kinds)` : ''),
  ]);
  if (s.insertFailures > 0) {
    lines.push(['request bursts failed', `${s.insertFailures} (PostgreSQL down; retried later)`]);
  }
  for (const note of s.notes) lines.push(['note', note]);
  const width = Math.max(...lines.map(([label]) => label.length));
  return lines.map(([label, text]) => `${label.padEnd(width)}  ${text}`).join('\n');
}
