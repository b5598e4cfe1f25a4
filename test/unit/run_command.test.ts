import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { pino } from 'pino';
import { describe, it, expect } from 'vitest';
import { RunCommand } from '../../src/jobs/run_command.js';

interface LogLine {
  level: number;
  msg: string;
  stage?: string;
  stream?: string;
}

const INFO = 30;
const WARN = 40;

/** A RunCommand whose logs land in `lines`, and its abort controller. */
function makeJob(params: Record<string, string>) {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (text !== '') lines.push(JSON.parse(text) as LogLine);
      }
      callback();
    },
  });
  const controller = new AbortController();
  const job = new RunCommand({
    params,
    context: { pipeline: 'test', job: 'cmd', jobinstance: 1, retry: 0, attempt: 1, worker: 'w1' },
    signal: controller.signal,
    logger: pino({ level: 'debug' }, sink),
    db: new pg.Pool(), // never connected: RunCommand does not use the database
  });
  const output = (stream: 'stdout' | 'stderr') =>
    lines.filter((line) => line.stream === stream).map((line) => line.msg);
  return { job, controller, lines, output };
}

/** Whether `pid` is a live process (a killed orphan not yet reaped, a zombie, is not). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('RunCommand', () => {
  it('runs a command that succeeds', async () => {
    const { job } = makeJob({ command_to_run: 'true' });
    await expect(job.run()).resolves.toBeUndefined();
  });

  it('logs stdout at info and stderr at warn, line by line', async () => {
    const { job, lines, output } = makeJob({
      command_to_run: "printf 'one\\ntwo\\n'; echo oops >&2; printf 'no newline'",
    });
    await job.run();
    expect(output('stdout')).toEqual(['one', 'two', 'no newline']);
    expect(output('stderr')).toEqual(['oops']);
    expect(lines.find((line) => line.msg === 'one')?.level).toBe(INFO);
    expect(lines.find((line) => line.msg === 'oops')?.level).toBe(WARN);
  });

  it('fails on a non-zero exit with the code and the tail of stderr', async () => {
    const { job } = makeJob({
      command_to_run: 'for i in $(seq 1 30); do echo "err line $i" >&2; done; exit 3',
    });
    const error = await job.run().then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error!.message).toContain('exited with code 3');
    expect(error!.message).toContain('command_to_run');
    expect(error!.message).toContain('err line 30');
    expect(error!.message).toContain('err line 21');
    expect(error!.message).not.toContain('err line 20\n');
    expect(error!.message.length).toBeLessThan(2000);
  });

  it('keeps the error message short even with huge stderr lines', async () => {
    const { job } = makeJob({
      command_to_run:
        'for i in $(seq 1 20); do head -c 5000 /dev/zero | tr "\\0" x >&2; echo >&2; done; exit 1',
    });
    const error = await job.run().catch((err: unknown) => err as Error);
    expect(error?.message).toMatch(/exited with code 1/);
    expect(error!.message.length).toBeLessThan(2000);
  });

  it('reports a death by signal', async () => {
    const { job } = makeJob({ command_to_run: 'kill -USR1 $$' });
    await expect(job.run()).rejects.toThrow(/killed by signal SIGUSR1/);
  });

  it('pipes the output of the first command into the second', async () => {
    const { job, output } = makeJob({
      command_to_run: "printf 'b\\na\\n'",
      piped_output_command: 'sort',
    });
    await job.run();
    expect(output('stdout')).toEqual(['a', 'b']);
  });

  it('logs the stderr of both stages of a pipe', async () => {
    const { job, lines } = makeJob({
      command_to_run: 'echo first-err >&2; echo data',
      piped_output_command: 'cat; echo second-err >&2',
    });
    await job.run();
    const stderr = lines.filter((line) => line.stream === 'stderr');
    expect(stderr.map((line) => [line.stage, line.msg])).toEqual(
      expect.arrayContaining([
        ['command_to_run', 'first-err'],
        ['piped_output_command', 'second-err'],
      ]),
    );
  });

  it('fails when either stage of a pipe fails, naming it', async () => {
    const first = makeJob({ command_to_run: 'echo x; exit 4', piped_output_command: 'cat' });
    await expect(first.job.run()).rejects.toThrow(
      /command_to_run "echo x; exit 4" exited with code 4/,
    );
    const second = makeJob({ command_to_run: 'echo x', piped_output_command: 'cat; exit 5' });
    await expect(second.job.run()).rejects.toThrow(
      /piped_output_command "cat; exit 5" exited with code 5/,
    );
  });

  it('accepts a first stage cut short by a second one that stops reading', async () => {
    const { job, output, lines } = makeJob({
      command_to_run: 'yes',
      piped_output_command: 'head -n 2',
    });
    await job.run();
    expect(output('stdout')).toEqual(['y', 'y']);
    // Whether `yes` dies of SIGPIPE or of a write error, it is not a failure, only a warning.
    const ignored = lines.filter((line) => line.msg.includes('stopped reading: ignored'));
    expect(ignored.length).toBeLessThanOrEqual(1);
  });

  it('kills the whole process group quickly on abort', async () => {
    const { job, controller, output } = makeJob({
      // The shell and a child of it (which a plain kill of the shell would leave behind).
      command_to_run: 'sleep 30 & echo "$$ $!"; wait',
    });
    const started = Date.now();
    const running = job.run();
    // Wait for the pids to be logged (the output is the handshake: no guessed delay).
    while (output('stdout').length === 0) await sleep(10);
    const pids = output('stdout')[0]!.split(' ').map(Number);
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(isAlive(pid)).toBe(true);

    controller.abort(new Error('timed out after 1 minute'));
    await expect(running).rejects.toThrow(/aborted: timed out after 1 minute/);
    expect(Date.now() - started).toBeLessThan(4000);
    for (const pid of pids) {
      // The shell is reaped by the job; the orphaned sleep by init, which may take a moment.
      for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(10);
      expect(isAlive(pid)).toBe(false);
    }
    expect(() => process.kill(pids[0]!, 0)).toThrow();
  });

  it('kills both stages of a pipe on abort', async () => {
    const { job, controller } = makeJob({
      command_to_run: 'sleep 30',
      piped_output_command: 'sleep 30',
    });
    const started = Date.now();
    const running = job.run();
    await sleep(100);
    controller.abort();
    await expect(running).rejects.toThrow(/was aborted/);
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('does not start when already aborted', async () => {
    const { job, controller, lines } = makeJob({ command_to_run: 'echo never' });
    controller.abort();
    await expect(job.run()).rejects.toThrow(/was aborted/);
    expect(lines.some((line) => line.msg === 'never')).toBe(false);
  });

  it('names the missing command_to_run parameter', async () => {
    const { job } = makeJob({});
    await expect(job.run()).rejects.toThrow('parameter "command_to_run" is missing for test.cmd');
  });

  it('runs in cwd, and refuses a cwd that does not exist', async () => {
    const here = makeJob({ command_to_run: 'pwd', cwd: '/tmp' });
    await here.job.run();
    expect(here.output('stdout')).toEqual(['/tmp']);
    const nowhere = makeJob({ command_to_run: 'pwd', cwd: '/no/such/dir' });
    await expect(nowhere.job.run()).rejects.toThrow(/cwd "\/no\/such\/dir" is not usable: ENOENT/);
  });

  it('caps the logged output and says how much it dropped', async () => {
    const { job, output } = makeJob({ command_to_run: 'seq 1 5000' });
    await job.run();
    const stdout = output('stdout');
    expect(stdout.length).toBeLessThanOrEqual(1001);
    expect(stdout[0]).toBe('1');
    expect(stdout[999]).toBe('1000');
    expect(stdout.at(-1)).toMatch(/4000 more stdout lines \(\d+ bytes\) not logged/);
  });

  it('caps the logged bytes of long lines', async () => {
    const { job, output } = makeJob({
      command_to_run: 'for i in $(seq 1 100); do head -c 10000 /dev/zero | tr "\\0" y; echo; done',
    });
    await job.run();
    const stdout = output('stdout');
    const logged = stdout.slice(0, -1).reduce((sum, line) => sum + line.length, 0);
    expect(logged).toBeLessThanOrEqual(256 * 1024);
    expect(stdout.at(-1)).toMatch(/more stdout lines .* not logged/);
  });
});
