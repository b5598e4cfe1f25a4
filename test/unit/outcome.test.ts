import { describe, it, expect } from 'vitest';
import {
  failureMessage,
  JobTimeoutError,
  MAX_MESSAGE_LENGTH,
  truncate,
  WorkerStoppingError,
} from '../../src/executor/outcome.js';

describe('failureMessage', () => {
  it('uses the message of an Error', () => {
    expect(failureMessage(new Error('disk full'))).toBe('disk full');
  });

  it('falls back to the name of an Error without a message', () => {
    expect(failureMessage(new TypeError(''))).toBe('TypeError');
    expect(failureMessage(new JobTimeoutError(1))).toBe('timed out after 1 minute(s)');
    class QuietError extends Error {
      override name = 'QuietError';
    }
    expect(failureMessage(new QuietError())).toBe('QuietError');
  });

  it('keeps a thrown string as it is', () => {
    expect(failureMessage('plain words')).toBe('plain words');
    expect(failureMessage('')).toBe('');
  });

  it('says that something other than an Error was thrown', () => {
    expect(failureMessage(42)).toBe('non-Error thrown: 42');
    expect(failureMessage(null)).toBe('non-Error thrown: null');
    expect(failureMessage({ code: 'E1', retry: false })).toBe(
      "non-Error thrown: { code: 'E1', retry: false }",
    );
    expect(failureMessage(undefined)).toBe('non-Error thrown: undefined');
    expect(failureMessage(Symbol('boom'))).toBe('non-Error thrown: Symbol(boom)');
  });

  it('describes values JSON cannot write', () => {
    const circular: Record<string, unknown> = { name: 'loop' };
    circular.self = circular;
    expect(failureMessage(circular)).toBe(
      "non-Error thrown: <ref *1> { name: 'loop', self: [Circular *1] }",
    );
    expect(failureMessage(10n)).toBe('non-Error thrown: 10n');
  });

  it('keeps a message of exactly the maximum length whole', () => {
    const text = 'x'.repeat(MAX_MESSAGE_LENGTH);
    expect(failureMessage(new Error(text))).toBe(text);
  });

  it('cuts a long message to exactly the maximum length, with a note', () => {
    expect(MAX_MESSAGE_LENGTH).toBe(2000);
    const note = ' … [cut here: the whole text is in the worker log]';
    const message = failureMessage(new Error('a'.repeat(2500)));
    expect(message).toHaveLength(MAX_MESSAGE_LENGTH);
    expect(message).toBe('a'.repeat(MAX_MESSAGE_LENGTH - note.length) + note);
  });

  it('cuts long strings and serialised objects too', () => {
    expect(failureMessage('s'.repeat(5000))).toHaveLength(MAX_MESSAGE_LENGTH);
    expect(failureMessage({ big: 'o'.repeat(5000) })).toMatch(
      /^non-Error thrown: \{ big: 'o+ … \[cut here: the whole text is in the worker log\]$/,
    );
  });
});

describe('truncate', () => {
  it('leaves short text alone and cuts long text to the maximum', () => {
    expect(truncate('short', 50)).toBe('short');
    const cut = truncate('z'.repeat(100), 60);
    expect(cut).toBe('z'.repeat(10) + ' … [cut here: the whole text is in the worker log]');
    expect(cut).toHaveLength(60);
    // A maximum too small for the note keeps the text's start only.
    expect(truncate('z'.repeat(100), 20)).toBe('z'.repeat(20));
  });
});

describe('errors of the executor', () => {
  it('says how long a job ran before it timed out', () => {
    const error = new JobTimeoutError(0.5);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('JobTimeoutError');
    expect(error.message).toBe('timed out after 0.5 minute(s)');
  });

  it('says which worker stopped and why', () => {
    const error = new WorkerStoppingError('w1', 'SIGTERM');
    expect(error.name).toBe('WorkerStoppingError');
    expect(error.message).toBe('aborted: worker "w1" stopped (SIGTERM) before the job finished');
  });
});
