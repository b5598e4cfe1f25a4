import { delimiter } from 'node:path';
import { describe, it, expect } from 'vitest';
import { ConfigError, resolveConfig, slotNames } from '../../src/config.js';

const host = { host: 'box', pid: 42 };

/** Calls resolveConfig expecting it to refuse, and returns the ConfigError it threw. */
function configError(...args: Parameters<typeof resolveConfig>): ConfigError {
  try {
    resolveConfig(...args);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('resolveConfig accepted a config it should refuse');
}

describe('resolveConfig defaults', () => {
  it('fills every option from its default', () => {
    expect(resolveConfig({}, {}, host)).toEqual({
      name: 'box-42',
      databaseUrl: undefined,
      jobsDirs: [],
      pollIntervalSeconds: 5,
      logDir: 'logs',
      logLevel: 'info',
      listen: true,
      listenCheckSeconds: 30,
      migrate: true,
      workerTtlSeconds: 15,
      leaseTtlSeconds: 15,
      timeoutGraceSeconds: 30,
      shutdownGraceSeconds: 30,
      concurrency: 1,
      poolSize: 4,
    });
  });

  it('treats an empty environment variable as unset', () => {
    const config = resolveConfig({}, { RUSH_NAME: '', RUSH_POLL_INTERVAL: '' }, host);
    expect(config.name).toBe('box-42');
    expect(config.pollIntervalSeconds).toBe(5);
  });
});

describe('resolveConfig precedence', () => {
  const env = {
    RUSH_NAME: 'from-env',
    DATABASE_URL: 'postgres://env/db',
    RUSH_POLL_INTERVAL: '2',
    RUSH_LOG_DIR: '/var/log/rush',
    RUSH_LOG_LEVEL: 'DEBUG',
    RUSH_WORKER_TTL: '20',
    RUSH_LEASE_TTL: '10',
    RUSH_TIMEOUT_GRACE: '7',
    RUSH_SHUTDOWN_GRACE: '3',
    RUSH_CONCURRENCY: '6',
    RUSH_POOL_SIZE: '8',
  };

  it('lets the environment override the defaults', () => {
    expect(resolveConfig({}, env, host)).toEqual({
      name: 'from-env',
      databaseUrl: 'postgres://env/db',
      jobsDirs: [],
      pollIntervalSeconds: 2,
      logDir: '/var/log/rush',
      logLevel: 'debug',
      listen: true,
      listenCheckSeconds: 30,
      migrate: true,
      workerTtlSeconds: 20,
      leaseTtlSeconds: 10,
      timeoutGraceSeconds: 7,
      shutdownGraceSeconds: 3,
      concurrency: 6,
      poolSize: 8,
    });
  });

  it('lets flags override the environment', () => {
    const flags = {
      name: 'from-flag',
      databaseUrl: 'postgres://flag/db',
      pollInterval: '0.5',
      logDir: 'here',
      logLevel: 'warn',
      workerTtl: '4',
      leaseTtl: '6',
      timeoutGrace: '0',
      shutdownGrace: '1',
      concurrency: '2',
      poolSize: '2',
    };
    expect(resolveConfig(flags, env, host)).toEqual({
      name: 'from-flag',
      databaseUrl: 'postgres://flag/db',
      jobsDirs: [],
      pollIntervalSeconds: 0.5,
      logDir: 'here',
      logLevel: 'warn',
      listen: true,
      listenCheckSeconds: 30,
      migrate: true,
      workerTtlSeconds: 4,
      leaseTtlSeconds: 6,
      timeoutGraceSeconds: 0,
      shutdownGraceSeconds: 1,
      concurrency: 2,
      poolSize: 2,
    });
  });
});

describe('resolveConfig jobs directories', () => {
  it('splits RUSH_JOBS_DIR on the platform path delimiter and drops empty parts', () => {
    const env = { RUSH_JOBS_DIR: ['/a', '', '/b'].join(delimiter) };
    expect(resolveConfig({}, env, host).jobsDirs).toEqual(['/a', '/b']);
  });

  it('replaces the environment list with the --jobs-dir list', () => {
    const env = { RUSH_JOBS_DIR: ['/a', '/b'].join(delimiter) };
    expect(resolveConfig({ jobsDir: ['/c'] }, env, host).jobsDirs).toEqual(['/c']);
  });

  it('keeps the environment list when --jobs-dir is an empty list', () => {
    const env = { RUSH_JOBS_DIR: '/a' };
    expect(resolveConfig({ jobsDir: [] }, env, host).jobsDirs).toEqual(['/a']);
  });
});

describe('resolveConfig switches', () => {
  it.each(['1', 'true', 'TRUE', 'yes', 'on'])('RUSH_NO_LISTEN=%s turns listening off', (value) => {
    expect(resolveConfig({}, { RUSH_NO_LISTEN: value }, host).listen).toBe(false);
  });

  it.each(['0', 'false', 'no', ''])('RUSH_NO_LISTEN=%j leaves listening on', (value) => {
    expect(resolveConfig({}, { RUSH_NO_LISTEN: value }, host).listen).toBe(true);
  });

  it('turns listening off with the flag listen:false', () => {
    expect(resolveConfig({ listen: false }, {}, host).listen).toBe(false);
    expect(resolveConfig({ listen: false }, { RUSH_NO_LISTEN: '0' }, host).listen).toBe(false);
  });

  it('turns migrating off with RUSH_NO_MIGRATE or migrate:false, independently of listen', () => {
    const fromEnv = resolveConfig({}, { RUSH_NO_MIGRATE: 'true' }, host);
    expect([fromEnv.migrate, fromEnv.listen]).toEqual([false, true]);
    const fromFlag = resolveConfig({ migrate: false }, {}, host);
    expect([fromFlag.migrate, fromFlag.listen]).toEqual([false, true]);
  });
});

describe('resolveConfig errors', () => {
  it('refuses a non-numeric poll interval', () => {
    expect(configError({ pollInterval: 'soon' }, {}, host).message).toBe(
      '--poll-interval must be a number >= 0.05 (got "soon")',
    );
  });

  it('names the flag even when the bad value came from the environment', () => {
    expect(configError({}, { RUSH_POLL_INTERVAL: 'x' }, host).message).toBe(
      '--poll-interval must be a number >= 0.05 (got "x")',
    );
  });

  it('refuses a blank poll interval flag', () => {
    expect(configError({ pollInterval: ' ' }, {}, host).message).toBe(
      '--poll-interval must be a number >= 0.05 (got " ")',
    );
  });

  it('refuses a poll interval below the minimum', () => {
    expect(configError({ pollInterval: '0.01' }, {}, host).message).toBe(
      '--poll-interval must be a number >= 0.05 (got "0.01")',
    );
  });

  it('refuses an infinite lease ttl', () => {
    expect(configError({ leaseTtl: 'Infinity' }, {}, host).message).toBe(
      '--lease-ttl must be a number >= 1 (got "Infinity")',
    );
  });

  it('refuses an unknown log level and lists the known ones', () => {
    expect(configError({ logLevel: 'loud' }, {}, host).message).toBe(
      '--log-level must be one of fatal, error, warn, info, debug, trace, silent (got "loud")',
    );
  });

  it.each(['', '   '])('refuses the empty name %j', (name) => {
    expect(configError({ name }, {}, host).message).toBe('--name must not be empty');
  });

  it('refuses a fractional pool size', () => {
    expect(configError({ poolSize: '2.5' }, {}, host).message).toBe(
      '--pool-size must be a whole number (got 2.5)',
    );
  });

  it('refuses a pool size below two', () => {
    expect(configError({ poolSize: '1' }, {}, host).message).toBe(
      '--pool-size must be a number >= 2 (got "1")',
    );
  });

  it('refuses a worker ttl equal to the poll interval', () => {
    expect(configError({ workerTtl: '5' }, {}, host).message).toBe(
      '--worker-ttl (5s) must be longer than --poll-interval (5s): ' +
        'workers beat once per poll interval',
    );
  });

  it('refuses a worker ttl shorter than the poll interval', () => {
    expect(configError({ pollInterval: '30' }, {}, host).message).toBe(
      '--worker-ttl (15s) must be longer than --poll-interval (30s): ' +
        'workers beat once per poll interval',
    );
  });

  it('accepts a worker ttl just above the poll interval', () => {
    const config = resolveConfig({ pollInterval: '5', workerTtl: '5.5' }, {}, host);
    expect(config.workerTtlSeconds).toBe(5.5);
  });
});

describe('resolveConfig concurrency', () => {
  it('sizes the pool for the slots unless told', () => {
    expect(resolveConfig({ concurrency: '8' }, {}, host).poolSize).toBe(11);
    expect(resolveConfig({ concurrency: '8', poolSize: '3' }, {}, host).poolSize).toBe(3);
  });

  it('refuses a fractional or huge number of slots', () => {
    expect(configError({ concurrency: '1.5' }, {}, host).message).toBe(
      '--concurrency must be a whole number from 1 to 256 (got 1.5)',
    );
    expect(configError({ concurrency: '0' }, {}, host).message).toBe(
      '--concurrency must be a number >= 1 (got "0")',
    );
    expect(configError({ concurrency: '300' }, {}, host).message).toBe(
      '--concurrency must be a whole number from 1 to 256 (got 300)',
    );
  });

  it('names one slot after the process, and several name/1 … name/n', () => {
    expect(slotNames('w', 1)).toEqual(['w']);
    expect(slotNames('w', 3)).toEqual(['w/1', 'w/2', 'w/3']);
  });
});
