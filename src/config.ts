import { hostname } from 'node:os';
import { delimiter } from 'node:path';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Everything a worker process needs, built once at start and validated. */
export interface Config {
  name: string;
  /** A connection string; when absent, the PG* environment variables apply. */
  databaseUrl: string | undefined;
  jobsDirs: string[];
  pollIntervalSeconds: number;
  logDir: string;
  logLevel: LogLevel;
  listen: boolean;
  /** Seconds without any notification after which the worker checks its listening connection. */
  listenCheckSeconds: number;
  migrate: boolean;
  workerTtlSeconds: number;
  leaseTtlSeconds: number;
  timeoutGraceSeconds: number;
  shutdownGraceSeconds: number;
  /** Job slots in this process, each a worker row of its own. */
  concurrency: number;
  poolSize: number;
}

/** Options as the command line gives them: strings, lists and negatable switches. */
export interface FlagValues {
  name?: string;
  databaseUrl?: string;
  jobsDir?: string[];
  pollInterval?: string;
  logDir?: string;
  logLevel?: string;
  listen?: boolean;
  listenCheck?: string;
  migrate?: boolean;
  workerTtl?: string;
  leaseTtl?: string;
  timeoutGrace?: string;
  shutdownGrace?: string;
  concurrency?: string;
  poolSize?: string;
}

/** Every option, its environment variable and its default: the table the README shows. */
export const OPTIONS = {
  name: { env: 'RUSH_NAME', default: '<host>-<pid>' },
  databaseUrl: { env: 'DATABASE_URL', default: 'the PG* variables' },
  jobsDir: { env: 'RUSH_JOBS_DIR', default: '(built-in jobs only)' },
  pollInterval: { env: 'RUSH_POLL_INTERVAL', default: '5' },
  logDir: { env: 'RUSH_LOG_DIR', default: 'logs' },
  logLevel: { env: 'RUSH_LOG_LEVEL', default: 'info' },
  listen: { env: 'RUSH_NO_LISTEN', default: 'listen' },
  listenCheck: { env: 'RUSH_LISTEN_CHECK', default: '30' },
  migrate: { env: 'RUSH_NO_MIGRATE', default: 'migrate' },
  workerTtl: { env: 'RUSH_WORKER_TTL', default: '15' },
  leaseTtl: { env: 'RUSH_LEASE_TTL', default: '15' },
  timeoutGrace: { env: 'RUSH_TIMEOUT_GRACE', default: '30' },
  shutdownGrace: { env: 'RUSH_SHUTDOWN_GRACE', default: '30' },
  concurrency: { env: 'RUSH_CONCURRENCY', default: '1' },
  poolSize: { env: 'RUSH_POOL_SIZE', default: 'concurrency + 3' },
} as const satisfies Record<keyof FlagValues, { env: string; default: string }>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const TRUE_WORDS = new Set(['1', 'true', 'yes', 'on']);

function positiveNumber(option: string, raw: string, min: number): number {
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value < min) {
    throw new ConfigError(`--${option} must be a number >= ${min} (got "${raw}")`);
  }
  return value;
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * Builds the config from defaults < environment < flags. Pure: the caller passes the
 * environment, so tests need no process state.
 */
export function resolveConfig(
  flags: FlagValues,
  env: Record<string, string | undefined>,
  defaults: { host?: string; pid?: number } = {},
): Config {
  const pick = (key: keyof typeof OPTIONS & keyof FlagValues): string | undefined => {
    const flag = flags[key];
    if (typeof flag === 'string') return flag;
    const fromEnv = env[OPTIONS[key].env];
    return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
  };
  const number = (key: keyof typeof OPTIONS & keyof FlagValues, min: number): number =>
    positiveNumber(kebab(key), pick(key) ?? OPTIONS[key].default, min);
  const switchOn = (key: 'listen' | 'migrate'): boolean => {
    if (flags[key] === false) return false;
    const negated = env[OPTIONS[key].env];
    return !(negated !== undefined && TRUE_WORDS.has(negated.toLowerCase()));
  };

  const name = pick('name') ?? `${defaults.host ?? hostname()}-${defaults.pid ?? process.pid}`;
  if (name.trim() === '') throw new ConfigError('--name must not be empty');

  const logLevel = (pick('logLevel') ?? 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(
      `--log-level must be one of ${LOG_LEVELS.join(', ')} (got "${logLevel}")`,
    );
  }

  const envJobsDirs = env[OPTIONS.jobsDir.env]?.split(delimiter).filter((d) => d !== '') ?? [];
  const jobsDirs = flags.jobsDir && flags.jobsDir.length > 0 ? flags.jobsDir : envJobsDirs;

  const concurrency = number('concurrency', 1);
  if (!Number.isInteger(concurrency) || concurrency > 256) {
    throw new ConfigError(
      `--concurrency must be a whole number from 1 to 256 (got ${concurrency})`,
    );
  }
  const givenPoolSize = pick('poolSize');
  const poolSize =
    givenPoolSize === undefined ? concurrency + 3 : positiveNumber('pool-size', givenPoolSize, 2);
  if (!Number.isInteger(poolSize)) {
    throw new ConfigError(`--pool-size must be a whole number (got ${poolSize})`);
  }

  const config: Config = {
    name,
    databaseUrl: pick('databaseUrl'),
    jobsDirs,
    pollIntervalSeconds: number('pollInterval', 0.05),
    logDir: pick('logDir') ?? OPTIONS.logDir.default,
    logLevel: logLevel as LogLevel,
    listen: switchOn('listen'),
    listenCheckSeconds: number('listenCheck', 0.5),
    migrate: switchOn('migrate'),
    workerTtlSeconds: number('workerTtl', 1),
    leaseTtlSeconds: number('leaseTtl', 1),
    timeoutGraceSeconds: number('timeoutGrace', 0),
    shutdownGraceSeconds: number('shutdownGrace', 0),
    concurrency,
    poolSize,
  };
  if (config.workerTtlSeconds <= config.pollIntervalSeconds) {
    throw new ConfigError(
      `--worker-ttl (${config.workerTtlSeconds}s) must be longer than --poll-interval ` +
        `(${config.pollIntervalSeconds}s): workers beat once per poll interval`,
    );
  }
  return config;
}

/** The worker rows of a process: its name alone, or name/1 … name/N for N slots. */
export function slotNames(name: string, concurrency: number): string[] {
  if (concurrency === 1) return [name];
  return Array.from({ length: concurrency }, (_, i) => `${name}/${i + 1}`);
}
