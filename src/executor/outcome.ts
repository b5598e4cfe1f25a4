import { inspect } from 'node:util';

/** Longest message stored for a failed attempt; the full error goes to the log. */
export const MAX_MESSAGE_LENGTH = 2000;

/** A failure's message as stored in run_state: whatever was thrown, said in one string. */
export function failureMessage(thrown: unknown): string {
  let text: string;
  if (thrown instanceof Error) {
    text = thrown.message === '' ? thrown.name : thrown.message;
  } else if (typeof thrown === 'string') {
    text = thrown;
  } else {
    text = `non-Error thrown: ${inspect(thrown, { depth: 4, breakLength: Infinity })}`;
  }
  return truncate(text, MAX_MESSAGE_LENGTH);
}

export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  const note = ' … [cut here: the whole text is in the worker log]';
  if (max <= note.length) return text.slice(0, max);
  return text.slice(0, max - note.length) + note;
}

export class JobTimeoutError extends Error {
  override name = 'JobTimeoutError';
  constructor(minutes: number) {
    super(`timed out after ${minutes} minute(s)`);
  }
}

export class WorkerStoppingError extends Error {
  override name = 'WorkerStoppingError';
  constructor(worker: string, why: string) {
    super(`aborted: worker "${worker}" stopped (${why}) before the job finished`);
  }
}

export class RunCancelledError extends Error {
  override name = 'RunCancelledError';
  constructor() {
    super('aborted: its run was cancelled by an operator');
  }
}

export class WorkerLostError extends Error {
  override name = 'WorkerLostError';
  constructor(worker: string) {
    super(
      `aborted: worker "${worker}" had been marked Lost (no heartbeat within --worker-ttl); ` +
        'its attempt was failed and given to another worker',
    );
  }
}
