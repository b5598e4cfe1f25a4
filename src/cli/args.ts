/**
 * Checks of command-line values that commander leaves as strings. Pure: each returns the
 * parsed value or throws a usage error (exit code 2) that names the flag and what it got.
 */
import { CliError, EXIT } from './context.js';

const MAX_INT4 = 2 ** 31 - 1;

/** A whole number in [min, max], written in decimal digits only. */
export function parseWholeNumber(
  what: string,
  raw: string,
  { min = 0, max = Number.MAX_SAFE_INTEGER }: { min?: number; max?: number } = {},
): number {
  const text = raw.trim();
  const value = /^[+-]?\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new CliError(`${what} must be a whole number ${range} (got "${raw}")`, EXIT.usage);
  }
  return value;
}

/** A job instance: what the `jobinstance` integer column holds. */
export function parseInstance(raw: string): number {
  return parseWholeNumber('--instance', raw, { min: 0, max: MAX_INT4 });
}

/** An id of a row (attempt, request): a positive whole number. */
export function parseId(what: string, raw: string): number {
  return parseWholeNumber(what, raw, { min: 1 });
}

/** Seconds > 0, fractions allowed. */
export function parseSeconds(what: string, raw: string): number {
  const value = Number(raw.trim());
  if (raw.trim() === '' || !Number.isFinite(value) || value <= 0) {
    throw new CliError(`${what} must be a number of seconds > 0 (got "${raw}")`, EXIT.usage);
  }
  return value;
}

/** `["mode=delta", "day=2024-01-02"]` → `{ mode: "delta", day: "2024-01-02" }`; a value may hold "=". */
export function parseParams(pairs: string[]): Record<string, string> {
  const params: Record<string, string> = {};
  for (const pair of pairs) {
    const equals = pair.indexOf('=');
    const key = equals > 0 ? pair.slice(0, equals).trim() : '';
    if (key === '') {
      throw new CliError(`--param must be KEY=VALUE (got "${pair}")`, EXIT.usage);
    }
    params[key] = pair.slice(equals + 1);
  }
  return params;
}

/** commander's collector for a repeatable option. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
