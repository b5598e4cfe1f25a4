/** The library: what job modules import, and what embeds a worker in another program. */
export { Job, type JobContext, type JobInit } from './job.js';
export { resolveConfig, ConfigError, type Config, type FlagValues } from './config.js';
export { createLogger } from './logger.js';
export { migrate } from './db/migrate.js';
export { WorkerRuntime } from './runtime.js';
