import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import type { LogLevel } from './config.js';

/** A file name for a worker's log that any worker name maps to safely. */
export function logFileName(worker: string): string {
  const safe = worker.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100);
  return `${safe === '' || safe.startsWith('.') ? `_${safe}` : safe}.log`;
}

/**
 * JSON lines to stdout and to <logDir>/<worker>.log, one event per line; read them with
 * pino-pretty. Writes are synchronous so that a crash loses no line.
 */
export function createLogger(options: { worker: string; logDir: string; level: LogLevel }): {
  logger: Logger;
  file: string;
} {
  mkdirSync(options.logDir, { recursive: true });
  const file = join(options.logDir, logFileName(options.worker));
  const streams = pino.multistream([
    { level: 'trace', stream: pino.destination({ dest: 1, sync: true }) },
    { level: 'trace', stream: pino.destination({ dest: file, sync: true, mkdir: true }) },
  ]);
  const logger = pino(
    {
      level: options.level,
      base: { worker: options.worker, pid: process.pid },
    },
    streams,
  );
  return { logger, file };
}

const SECRET_KEY = /pass(word)?|secret|token|api[_-]?key|credential|private/i;

/** Parameters as they may be logged: values of keys that look secret are hidden. */
export function redactParams(params: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(params).map(([key, value]) => [
      key,
      SECRET_KEY.test(key) ? '[redacted]' : value,
    ]),
  );
}
