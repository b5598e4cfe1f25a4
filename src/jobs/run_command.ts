import { spawn, type ChildProcess } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { Job } from '../job.js';

/** At most this many lines, and this many bytes, are logged per stream; the rest is counted. */
const MAX_LOGGED_LINES = 1000;
const MAX_LOGGED_BYTES = 256 * 1024;
/** A line longer than this (or output without newlines) is logged in pieces of this size. */
const MAX_LINE_CHARS = 16 * 1024;
/** How many of the last stderr lines an error message quotes, and how long each may be. */
const TAIL_LINES = 10;
const TAIL_LINE_CHARS = 160;
/** How long a process group has between SIGTERM and SIGKILL once the job is aborted. */
const KILL_GRACE_MS = 5000;
/** Error messages stay below this length (they end up in run_state.message). */
const MAX_MESSAGE_CHARS = 1990;

type Level = 'info' | 'warn';

/** What one stage is called in logs and errors: the name of the param that gave it. */
type StageName = 'command_to_run' | 'piped_output_command';

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all. */
  error?: Error;
}

interface Stage {
  name: StageName;
  command: string;
  child: ChildProcess;
  stdout?: LineLog;
  stderr: LineLog;
  exited: Promise<Exit>;
}

/**
 * Runs a shell command, optionally piping its stdout into a second one, and logs their output.
 *
 * Params:
 * - `command_to_run` (required): run with `/bin/sh -c`;
 * - `piped_output_command` (optional): run with `/bin/sh -c`, reading the first one's stdout;
 * - `cwd` (optional): the working directory of both.
 *
 * Security: the commands come from the pipeline's parameters in the database (`job_parameter`),
 * which are trusted by design — whoever can write them can already run anything on the workers.
 * Each command is handed to `sh -c` as one argument; nothing else is ever pasted into a shell
 * string.
 *
 * Each stage runs in its own process group (`detached`), so an abort reaches everything it
 * started: SIGTERM to the group, then SIGKILL after 5 s.
 */
export class RunCommand extends Job {
  async run(): Promise<void> {
    const command = this.requireParam('command_to_run');
    const piped = nonEmpty(this.params['piped_output_command']);
    const cwd = nonEmpty(this.params['cwd']);

    if (cwd !== undefined) await checkDirectory(cwd);
    if (this.signal.aborted) throw this.abortError(command);

    const started = Date.now();
    this.logger.info(
      { command, piped_output_command: piped, cwd: cwd ?? process.cwd() },
      'RunCommand starting',
    );

    const stages: Stage[] = [];
    const first = this.startStage('command_to_run', command, cwd, piped === undefined);
    stages.push(first);
    let pipe: Pipe | undefined;
    if (piped !== undefined) {
      let second: Stage;
      try {
        second = this.startStage('piped_output_command', piped, cwd, true);
      } catch (err) {
        // spawn() throws at once on arguments it refuses: the first stage must not linger.
        signalGroup(first.child, 'SIGKILL');
        throw err;
      }
      stages.push(second);
      pipe = connect(first, second);
    }

    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      this.logger.warn({ reason: describe(this.signal.reason) }, 'RunCommand aborting: SIGTERM');
      for (const stage of stages) signalGroup(stage.child, 'SIGTERM');
      killTimer = setTimeout(() => {
        this.logger.warn('RunCommand still running 5 s after SIGTERM: SIGKILL');
        for (const stage of stages) signalGroup(stage.child, 'SIGKILL');
      }, KILL_GRACE_MS);
    };
    this.signal.addEventListener('abort', onAbort, { once: true });

    let exits: Exit[];
    try {
      exits = await Promise.all(stages.map((stage) => stage.exited));
    } finally {
      this.signal.removeEventListener('abort', onAbort);
      if (killTimer !== undefined) {
        clearTimeout(killTimer);
        // The leaders are gone and with them everything that held their output; whatever
        // else of the groups survived the SIGTERM does not get its 5 s.
        for (const stage of stages) signalGroup(stage.child, 'SIGKILL');
      }
      for (const stage of stages) {
        stage.stdout?.end();
        stage.stderr.end();
      }
    }

    if (this.signal.aborted) throw this.abortError(command);

    const failures: string[] = [];
    stages.forEach((stage, i) => {
      const failure = describeFailure(stage, exits[i]!);
      if (failure === undefined) return;
      // As in a shell pipeline: when the second stage stopped reading early (`yes | head -1`)
      // and succeeded, the first one dying of it (SIGPIPE, EPIPE, ECONNRESET: Node's pipes are
      // socket pairs) is not a failure of the job.
      if (i === 0 && pipe?.brokenByReader && exits[1]?.code === 0) {
        this.logger.warn(
          { stage: stage.name },
          `${failure.split('\n')[0]} after piped_output_command stopped reading: ignored`,
        );
        return;
      }
      failures.push(failure);
    });
    if (failures.length > 0) {
      throw new Error(truncate(`RunCommand: ${failures.join('\n')}`, MAX_MESSAGE_CHARS));
    }
    this.logger.info({ durationMs: Date.now() - started }, 'RunCommand finished');
  }

  /**
   * Spawns one stage. The first stage gets no stdin; when `logStdout` is false its stdout is
   * left to be piped into the next stage.
   */
  private startStage(
    name: StageName,
    command: string,
    cwd: string | undefined,
    logStdout: boolean,
  ): Stage {
    const child = spawn('/bin/sh', ['-c', command], {
      cwd,
      detached: true,
      stdio: [name === 'command_to_run' ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const stage: Stage = {
      name,
      command,
      child,
      stderr: new LineLog((line) => this.log('warn', name, 'stderr', line), 'stderr'),
      exited: new Promise<Exit>((resolve) => {
        child.once('error', (error) => resolve({ code: null, signal: null, error }));
        child.once('close', (code, signal) => resolve({ code, signal }));
      }),
    };
    if (logStdout) {
      const stdout = new LineLog((line) => this.log('info', name, 'stdout', line), 'stdout');
      stage.stdout = stdout;
      child.stdout?.on('data', (chunk: Buffer) => stdout.write(chunk));
    }
    child.stderr?.on('data', (chunk: Buffer) => stage.stderr.write(chunk));
    return stage;
  }

  private log(level: Level, stage: StageName, stream: 'stdout' | 'stderr', line: string): void {
    this.logger[level]({ stage, stream }, line);
  }

  private abortError(command: string): Error {
    const reason: unknown = this.signal.reason;
    const why = reason instanceof Error ? `: ${reason.message}` : '';
    const error = new Error(
      truncate(`RunCommand: ${quote(command)} was aborted${why}`, MAX_MESSAGE_CHARS),
      { cause: reason },
    );
    error.name = 'AbortError';
    return error;
  }
}

interface Pipe {
  /** Set when the second stage stopped reading before the first stopped writing. */
  brokenByReader: boolean;
}

/**
 * Pipes the first stage's stdout into the second's stdin. When the second stops reading
 * (it exited: writing fails), the read end is closed so the first fails its next write too,
 * as in a shell, rather than blocking forever.
 */
function connect(first: Stage, second: Stage): Pipe {
  const pipe: Pipe = { brokenByReader: false };
  const out = first.child.stdout;
  const into = second.child.stdin;
  if (out === null || into === null) return pipe;
  const endInput = () => {
    if (!into.writableEnded) into.end();
  };
  const stopReading = () => {
    if (out.readableEnded || out.destroyed) return;
    pipe.brokenByReader = true;
    out.destroy();
  };
  // Writing fails (EPIPE) or the socket just closes: either way nobody reads any more.
  into.on('error', stopReading);
  into.on('close', stopReading);
  void second.exited.then(stopReading);
  out.on('error', endInput);
  out.pipe(into);
  // Should the first stage not even start, the second must not wait for input forever.
  void first.exited.then((exit) => {
    if (exit.error !== undefined) endInput();
  });
  return pipe;
}

/** The failure of one stage, or `undefined` when it succeeded. */
function describeFailure(stage: Stage, exit: Exit): string | undefined {
  const what = `${stage.name} ${quote(stage.command)}`;
  if (exit.error !== undefined) return `${what} could not be started: ${exit.error.message}`;
  if (exit.code === 0) return undefined;
  const how =
    exit.signal !== null ? `was killed by signal ${exit.signal}` : `exited with code ${exit.code}`;
  const tail = stage.stderr.tail();
  const stderr =
    tail.length > 0 ? `; last stderr lines:\n${tail.join('\n')}` : ' (no stderr output)';
  return `${what} ${how}${stderr}`;
}

/**
 * Logs a stream line by line, up to MAX_LOGGED_LINES / MAX_LOGGED_BYTES, then counts what it
 * drops and says so once at the end. It always keeps the last TAIL_LINES lines for errors.
 */
class LineLog {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  private loggedLines = 0;
  private loggedBytes = 0;
  private droppedLines = 0;
  private droppedBytes = 0;
  private readonly last: string[] = [];
  private ended = false;

  constructor(
    private readonly emit: (line: string) => void,
    private readonly streamName: string,
  ) {}

  write(chunk: Buffer): void {
    this.pending += this.decoder.write(chunk);
    let start = 0;
    let newline: number;
    while ((newline = this.pending.indexOf('\n', start)) !== -1) {
      this.line(this.pending.slice(start, newline));
      start = newline + 1;
    }
    this.pending = this.pending.slice(start);
    while (this.pending.length > MAX_LINE_CHARS) {
      this.line(this.pending.slice(0, MAX_LINE_CHARS));
      this.pending = this.pending.slice(MAX_LINE_CHARS);
    }
  }

  /** Logs the unfinished last line, then how much was dropped, if anything. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.pending += this.decoder.end();
    if (this.pending !== '') this.line(this.pending);
    this.pending = '';
    if (this.droppedLines > 0) {
      this.emit(
        `[RunCommand: ${this.droppedLines} more ${this.streamName} lines ` +
          `(${this.droppedBytes} bytes) not logged: at most ${MAX_LOGGED_LINES} lines / ` +
          `${MAX_LOGGED_BYTES / 1024} KiB are logged per stream]`,
      );
    }
  }

  /** The last lines seen (logged or not), each cut to TAIL_LINE_CHARS. */
  tail(): string[] {
    return [...this.last];
  }

  private line(raw: string): void {
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    this.last.push(truncate(text, TAIL_LINE_CHARS));
    if (this.last.length > TAIL_LINES) this.last.shift();

    const bytes = Buffer.byteLength(text) + 1;
    if (
      this.droppedLines === 0 &&
      this.loggedLines < MAX_LOGGED_LINES &&
      this.loggedBytes + bytes <= MAX_LOGGED_BYTES
    ) {
      this.loggedLines += 1;
      this.loggedBytes += bytes;
      this.emit(text);
    } else {
      this.droppedLines += 1;
      this.droppedBytes += bytes;
    }
  }
}

/** Sends `signal` to the child's whole process group; a group already gone is fine. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

async function checkDirectory(cwd: string): Promise<void> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(cwd)).isDirectory();
  } catch (err) {
    throw new Error(`RunCommand: cwd ${quote(cwd)} is not usable: ${describe(err)}`, {
      cause: err,
    });
  }
  if (!isDirectory) throw new Error(`RunCommand: cwd ${quote(cwd)} is not a directory`);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

function quote(command: string): string {
  return JSON.stringify(truncate(command, 200));
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function describe(value: unknown): string {
  return value instanceof Error ? value.message : String(value);
}
