import { describe, it, expect } from 'vitest';
import { logFileName, redactParams } from '../../src/logger.js';

describe('logFileName', () => {
  it('keeps a plain name', () => {
    expect(logFileName('worker-1.host_a')).toBe('worker-1.host_a.log');
  });

  it('replaces slashes, spaces and quotes with _', () => {
    expect(logFileName('a/b\\c d"e\'f')).toBe('a_b_c_d_e_f.log');
    expect(logFileName('../../etc/passwd')).toBe('_.._.._etc_passwd.log');
  });

  it('replaces each UTF-16 unit of a non-ASCII character with _', () => {
    expect(logFileName('wörker')).toBe('w_rker.log');
    expect(logFileName('w🚀')).toBe('w__.log');
  });

  it('prefixes a leading dot so the file is not hidden', () => {
    expect(logFileName('.hidden')).toBe('_.hidden.log');
    expect(logFileName('..')).toBe('_...log');
  });

  it('caps a long name at 100 characters before the extension', () => {
    expect(logFileName('n'.repeat(500))).toBe('n'.repeat(100) + '.log');
    expect(logFileName('.' + 'n'.repeat(500))).toBe('_.' + 'n'.repeat(99) + '.log');
  });

  it('names the file _ for an empty name', () => {
    expect(logFileName('')).toBe('_.log');
  });
});

describe('redactParams', () => {
  it.each([
    'password',
    'db_password',
    'PASSWORD',
    'pass',
    'passwd',
    'SECRET',
    'client_secret',
    'api_key',
    'api-key',
    'apikey',
    'apiKey',
    'API_KEY',
    'token',
    'accessToken',
    'credentials',
    'private_key',
  ])('hides the value of %s', (key) => {
    expect(redactParams({ [key]: 'hunter2' })).toEqual({ [key]: '[redacted]' });
  });

  it.each(['user', 'host', 'table', 'key', 'api', 'api_url', 'file', 'secre'])(
    'keeps the value of %s',
    (key) => {
      expect(redactParams({ [key]: 'visible' })).toEqual({ [key]: 'visible' });
    },
  );

  it('hides keys that merely contain a secret word, such as passport and tokenizer', () => {
    expect(redactParams({ passport: 'P1', compass: 'N', tokenizer: 'ws' })).toEqual({
      passport: '[redacted]',
      compass: '[redacted]',
      tokenizer: '[redacted]',
    });
  });

  it('returns a new object and leaves its argument unchanged', () => {
    const params = { user: 'rush', password: 'hunter2' };
    const redacted = redactParams(params);
    expect(redacted).not.toBe(params);
    expect(redacted).toEqual({ user: 'rush', password: '[redacted]' });
    expect(params).toEqual({ user: 'rush', password: 'hunter2' });
  });

  it('gives an empty object for no parameters', () => {
    expect(redactParams({})).toEqual({});
  });
});
