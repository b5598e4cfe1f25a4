import { existsSync } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Command } from 'commander';
import PinoPretty from 'pino-pretty';
import { logFileName } from '../../logger.js';
import { parseWholeNumber } from '../args.js';
import { CliError, type GlobalOptions } from '../context.js';
import { listNames } from '../format.js';
import { interleave, LineSplitter } from '../log-lines.js';

interface LogsOptions {
  follow?: boolean;
  logDir?: string;
  lines?: string;
}

const POLL_MS = 200;
const DEFAULT_DIRS = ['.rush/logs', 'logs'];

/** --log-dir, else `.rush/logs` (where rush up writes) if it exists, else `logs`. */
export function resolveLogDir(option: string | undefined): string {
  if (option !== undefined) {
    if (!existsSync(option)) throw new CliError(`log directory ${option} does not exist`);
    return option;
  }
  const found = DEFAULT_DIRS.find((dir) => existsSync(dir));
  if (!found) {
    throw new CliError(
      `no log directory here: neither ${DEFAULT_DIRS.join(' nor ')} exists (pass --log-dir DIR)`,
    );
  }
  return found;
}

async function logFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((file) => file.endsWith('.log')).sort();
}

/** The file of worker NAME (as the worker names it), or NAME itself if it is a file there. */
async function fileOf(dir: string, name: string): Promise<string> {
  for (const candidate of [logFileName(name), name]) {
    if (existsSync(join(dir, candidate))) return join(dir, candidate);
  }
  const known = (await logFiles(dir)).map((file) => basename(file, '.log'));
  throw new CliError(`no log of '${name}' in ${dir} (logs there: ${listNames(known)})`);
}

/** Reads what was appended to each file since the last call, as whole lines. */
class Tail {
  private readonly files = new Map<string, { offset: number; splitter: LineSplitter }>();

  async read(paths: string[]): Promise<string[][]> {
    return Promise.all(paths.map((path) => this.readOne(path)));
  }

  flush(): string[][] {
    return [...this.files.values()].map((file) => file.splitter.flush());
  }

  private async readOne(path: string): Promise<string[]> {
    let file = this.files.get(path);
    if (!file) this.files.set(path, (file = { offset: 0, splitter: new LineSplitter() }));
    const size = await stat(path).then(
      (s) => s.size,
      () => 0,
    );
    if (size < file.offset) file.offset = 0; // truncated or replaced: read it again
    if (size === file.offset) return [];
    const handle = await open(path, 'r');
    try {
      const buffer = Buffer.alloc(size - file.offset);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, file.offset);
      file.offset += bytesRead;
      return file.splitter.push(buffer.subarray(0, bytesRead).toString('utf8'));
    } finally {
      await handle.close();
    }
  }
}

function printer(json: boolean): (lines: string[]) => void {
  const pretty = PinoPretty.prettyFactory({
    colorize: process.stdout.isTTY === true,
    ignore: 'pid,hostname,worker',
    messageFormat: '{if worker}{worker}: {end}{msg}',
    translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
  });
  return (lines) => {
    const text = lines
      .filter((line) => line !== '')
      .map((line) => (json || !line.startsWith('{') ? `${line}\n` : pretty(line)))
      .join('');
    if (text) process.stdout.write(text);
  };
}

async function logs(global: GlobalOptions, name: string | undefined, options: LogsOptions) {
  const lines =
    options.lines === undefined ? undefined : parseWholeNumber('--lines', options.lines);
  const dir = resolveLogDir(options.logDir);
  const single = name === undefined ? undefined : await fileOf(dir, name);
  const paths = async (): Promise<string[]> =>
    single ? [single] : (await logFiles(dir)).map((file) => join(dir, file));
  if (!single && !options.follow && (await paths()).length === 0) {
    throw new CliError(`no *.log files in ${dir} yet`);
  }

  // Ctrl-C ends following, which is the normal way to stop: exit code 0.
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const show = printer(global.json === true);
    const tail = new Tail();
    const first = interleave(await tail.read(await paths()));
    if (!options.follow) first.push(...interleave(tail.flush()));
    show(lines === undefined ? first : lines === 0 ? [] : first.slice(-lines));
    while (options.follow && !stop.signal.aborted) {
      await delay(POLL_MS, undefined, { signal: stop.signal }).catch(() => {});
      if (!stop.signal.aborted) show(interleave(await tail.read(await paths())));
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

export function logsCommand(program: Command, global: () => GlobalOptions): void {
  program
    .command('logs')
    .description("the workers' logs, pretty and interleaved by time; -f follows them")
    .argument('[name]', 'one worker (default: every *.log file in the log directory)')
    .option('-f, --follow', 'keep printing what is appended, until Ctrl-C')
    .option('--log-dir <dir>', 'where the logs are (default: .rush/logs if it exists, else logs)')
    .option('-n, --lines <n>', 'print only the last n lines first')
    .action((name: string | undefined, options: LogsOptions) => logs(global(), name, options));
}
