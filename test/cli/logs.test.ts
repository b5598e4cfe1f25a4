import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli } from '../support/cli.js';

let dir: string;
const T0 = Date.parse('2026-01-02T03:04:05.000Z');

function line(worker: string, ms: number, msg: string, extra: object = {}): string {
  return `${JSON.stringify({ level: 30, time: T0 + ms, worker, pid: 1, msg, ...extra })}\n`;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rush-cli-logs-'));
  writeFileSync(
    join(dir, 'w1.log'),
    line('w1', 0, 'w1 first') + line('w1', 30, 'w1 third', { woke: 'notify' }),
  );
  writeFileSync(join(dir, 'w2.log'), line('w2', 10, 'w2 second') + line('w2', 40, 'w2 fourth'));
  writeFileSync(join(dir, 'notes.txt'), 'not a log\n');
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('rush logs', () => {
  it('prints every log of the directory, pretty and interleaved by time', async () => {
    const result = await runCli(['logs', '--log-dir', dir]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const messages = result.stdout.match(/w\d: w\d \w+/g);
    expect(messages).toEqual(['w1: w1 first', 'w2: w2 second', 'w1: w1 third', 'w2: w2 fourth']);
    expect(result.stdout).toContain('INFO');
    expect(result.stdout).toContain('woke: "notify"');
    expect(result.stdout).not.toContain('{"level"');
  });

  it("prints one worker's log, the last lines, or the raw JSON lines", async () => {
    const one = await runCli(['logs', 'w2', '--log-dir', dir, '-n', '1']);
    expect(one.code).toBe(0);
    expect(one.stdout).toContain('w2 fourth');
    expect(one.stdout).not.toContain('w2 second');
    const json = await runCli(['--json', 'logs', 'w1', '--log-dir', dir]);
    expect(
      json.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { msg: string }).msg),
    ).toEqual(['w1 first', 'w1 third']);
  });

  it('names the logs there are when asked for another', async () => {
    const result = await runCli(['logs', 'w3', '--log-dir', dir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`rush: no log of 'w3' in ${dir} (logs there: w1, w2)\n`);
  });

  it('says where it looked when there is no log directory', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'rush-cli-nologs-'));
    try {
      const result = await runCli(['logs'], {}, empty);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        'rush: no log directory here: neither .rush/logs nor logs exists (pass --log-dir DIR)\n',
      );
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('follows with -f: shows appended lines, and exits 0 on Ctrl-C', async () => {
    const follow = startCli(['logs', '-f', '--log-dir', dir]);
    await follow.waitForOutput('w2 fourth');
    appendFileSync(join(dir, 'w1.log'), line('w1', 50, 'w1 fifth, appended'));
    await follow.waitForOutput('w1 fifth, appended');
    // A new worker's log is picked up too.
    writeFileSync(join(dir, 'w3.log'), line('w3', 60, 'w3 joined'));
    await follow.waitForOutput('w3 joined');
    follow.child.kill('SIGINT');
    const { code, stderr } = await follow.exited;
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});
