/**
 * The worker's runtime, in a thread of the worker process (see worker.ts): there its heap can
 * be given limits, and the main thread only passes signals on.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from './config.js';
import { createLogger } from './logger.js';
import { WorkerRuntime } from './runtime.js';

/** What the main thread sends: a signal the process received. */
export interface SignalMessage {
  signal: NodeJS.Signals;
}

const config = workerData as Config;
const { logger } = createLogger({
  worker: config.name,
  logDir: config.logDir,
  level: config.logLevel,
});
const runtime = new WorkerRuntime(config, logger);

let signals = 0;
parentPort?.on('message', ({ signal }: SignalMessage) => {
  signals += 1;
  if (signals === 1) {
    runtime.stop(signal).then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'stopping failed');
        process.exit(1);
      },
    );
  } else {
    logger.warn({ signal }, 'second signal: stopping now');
    void runtime.forceStop(`${signal}, twice`).finally(() => process.exit(130));
  }
});

try {
  await runtime.start();
} catch (error) {
  logger.fatal({ err: error }, 'worker could not start');
  await runtime.stop('start failed').catch(() => {});
  process.exit(1);
}
