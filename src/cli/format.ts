/**
 * Pure formatting for the rush command's output: durations, ages, times, short text and the
 * progress of a run. No I/O, so test/unit/cli-format.test.ts covers it without a database.
 */
import type { RunState } from './watch.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** 850 → "850 ms", 1234 → "1.2 s", 42_000 → "42 s", 75_000 → "1 min 15 s", 3_723_000 → "1 h 2 min". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (Math.round(ms) < SECOND) return `${Math.round(ms)} ms`;
  if (Math.round(ms / 100) < 100) return `${(ms / SECOND).toFixed(1)} s`;
  const seconds = Math.round(ms / SECOND);
  if (seconds < 60) return `${seconds} s`;
  const whole = seconds * SECOND;
  const [big, bigUnit, small, smallUnit] =
    whole < HOUR
      ? [Math.floor(whole / MINUTE), 'min', Math.floor((whole % MINUTE) / SECOND), 's']
      : whole < DAY
        ? [Math.floor(whole / HOUR), 'h', Math.floor((whole % HOUR) / MINUTE), 'min']
        : [Math.floor(whole / DAY), 'd', Math.floor((whole % DAY) / HOUR), 'h'];
  return small === 0 ? `${big} ${bigUnit}` : `${big} ${bigUnit} ${small} ${smallUnit}`;
}

/** How long ago (positive ms) or how far ahead (negative ms): "3.2 s ago", "in 12 s". */
export function formatAge(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  return ms >= 0 ? `${formatDuration(ms)} ago` : `in ${formatDuration(-ms)}`;
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** A local time as "2026-12-03 17:24:08"; "—" for none. */
export function formatTime(value: Date | string | null | undefined): string {
  if (value === null || value === undefined) return '—';
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return '—';
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

/** One line of at most `max` characters: whitespace runs become one space, the rest is "…". */
export function shorten(text: string | null | undefined, max = 60): string {
  if (!text) return '';
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length <= max ? line : `${line.slice(0, Math.max(0, max - 1))}…`;
}

/** "[#####---------------] 1/4 jobs". */
export function progressBar(done: number, total: number, width = 20): string {
  const ratio = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const filled = Math.round(ratio * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} jobs`;
}

/**
 * How far a run got: jobs complete out of the jobs it runs. A run requested from a later job
 * (`--job load`) runs only the jobs from there on, so those are its total.
 */
export function runProgress(run: Pick<RunState, 'jobs' | 'attempts'>): {
  done: number;
  total: number;
} {
  const first = run.attempts[0];
  const start = first ? Math.max(0, run.jobs.indexOf(first.job)) : 0;
  const jobs = run.jobs.slice(start);
  const complete = new Set(
    run.attempts.filter((a) => a.status === 'Complete').map((attempt) => attempt.job),
  );
  return { done: jobs.filter((job) => complete.has(job)).length, total: jobs.length };
}

/** "etl#3", the way a run is named in every table and line. */
export function runLabel(pipeline: string, jobinstance: number | null | undefined): string {
  return `${pipeline}#${jobinstance ?? '?'}`;
}

/** "a, b and c", or "a, b, c … (12 in all)" when there are more than `max`. */
export function listNames(names: string[], max = 10): string {
  if (names.length === 0) return 'none';
  if (names.length > max) return `${names.slice(0, max).join(', ')} … (${names.length} in all)`;
  return names.join(', ');
}

/** Which attempt of which run a row is about: what every attempt listing of the CLI shows. */
export interface AttemptRef {
  attempt: number;
  request: number;
  pipeline: string;
  job: string;
  jobinstance: number;
  retry: number;
}
