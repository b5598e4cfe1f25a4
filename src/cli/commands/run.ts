import type { Command } from 'commander';
import type { Pool } from 'pg';
import { collect, parseInstance, parseParams, parseSeconds } from '../args.js';
import { CliError, EXIT, print, withPool, type GlobalOptions } from '../context.js';
import { progressBar, runLabel, runProgress } from '../format.js';
import { describeEvent, watchRun, type RunState } from '../watch.js';

interface RunOptions {
  job?: string;
  instance?: string;
  param?: string[];
  wait?: boolean;
  timeout?: string;
}

export interface RunRequestRow {
  id: number;
  pipeline: string;
  job: string | null;
  jobinstance: number | null;
  status: string;
  params: Record<string, string> | null;
  message: string | null;
  created: Date;
  updated: Date;
}

/** Inserts a run_request; the database fills in the first job and the next instance. */
export async function requestRun(
  pool: Pool,
  request: {
    pipeline: string;
    job?: string;
    jobinstance?: number;
    params?: Record<string, string>;
  },
): Promise<RunRequestRow> {
  const { rows } = await pool.query<RunRequestRow>(
    `INSERT INTO run_request (pipeline, job, jobinstance, params) VALUES ($1, $2, $3, $4)
     RETURNING *`,
    [
      request.pipeline,
      request.job ?? null,
      request.jobinstance ?? null,
      request.params ? JSON.stringify(request.params) : null,
    ],
  );
  return rows[0]!;
}

/**
 * Prints every event of the run as a line; on a terminal, a progress bar stays below them,
 * redrawn in place. Elsewhere (a pipe, a test) only the lines.
 */
function eventPrinter(): { onEvent: Parameters<typeof watchRun>[2]; done(): void } {
  const tty = process.stdout.isTTY === true;
  let bar = '';
  return {
    onEvent: (event) => {
      const { done, total } = runProgress(event.run);
      if (tty) process.stdout.write('\r\x1b[2K');
      process.stdout.write(`${describeEvent(event)}\n`);
      if (tty) {
        bar = progressBar(done, total);
        process.stdout.write(bar);
      }
    },
    done: () => {
      if (tty && bar) process.stdout.write('\n');
    },
  };
}

async function waitForRun(global: GlobalOptions, id: number, timeout?: number): Promise<RunState> {
  const printer = global.json ? undefined : eventPrinter();
  const started = Date.now();
  const timeoutMs = timeout === undefined ? undefined : timeout * 1000;
  try {
    return await watchRun(
      global.databaseUrl ?? process.env.DATABASE_URL,
      id,
      printer?.onEvent ?? (() => {}),
      timeoutMs === undefined ? {} : { timeoutMs },
    );
  } catch (error) {
    if (timeoutMs !== undefined && Date.now() - started >= timeoutMs) {
      throw new CliError(
        `gave up waiting after ${timeout} s: ${(error as Error).message}`,
        EXIT.timeout,
        {
          cause: error,
        },
      );
    }
    throw error;
  } finally {
    printer?.done();
  }
}

async function run(global: GlobalOptions, pipeline: string, options: RunOptions): Promise<void> {
  const params = options.param ? parseParams(options.param) : undefined;
  const jobinstance = options.instance === undefined ? undefined : parseInstance(options.instance);
  const timeout =
    options.timeout === undefined ? undefined : parseSeconds('--timeout', options.timeout);
  if (timeout !== undefined && !options.wait) {
    throw new CliError('--timeout goes with --wait', EXIT.usage);
  }
  const row = await withPool(global, (pool) =>
    requestRun(pool, { pipeline, job: options.job, jobinstance, params }),
  );
  const label = runLabel(row.pipeline, row.jobinstance);
  if (!options.wait) {
    print(
      global,
      row,
      () => `run_request ${row.id}: ${label} from ${row.job ?? '?'} (${row.status})`,
    );
    return;
  }
  if (!global.json)
    process.stdout.write(`run_request ${row.id}: ${label}, waiting for it to end\n`);
  const final = await waitForRun(global, row.id, timeout);
  if (global.json) print(global, final, () => '');
  if (final.status !== 'Complete') {
    throw new CliError(
      `run_request ${row.id} (${label}) ended ${final.status}${final.message ? `: ${final.message}` : ''}`,
      EXIT.runFailed,
    );
  }
}

export function runCommand(program: Command, global: () => GlobalOptions): void {
  program
    .command('run')
    .description('request a run of a pipeline (a run_request row), and optionally wait for it')
    .argument('<pipeline>', 'pipeline name')
    .option('--job <job>', 'start from this job (default: the first)')
    .option('--instance <n>', 'job instance number (default: the next one)')
    .option('--param <key=value>', 'parameter for every job of this run (repeatable)', collect)
    .option('--wait', 'follow the run until it ends: exit 0 if Complete, 3 otherwise')
    .option('--timeout <seconds>', 'with --wait: give up after this long (exit 4)')
    .action((pipeline: string, options: RunOptions) => run(global(), pipeline, options));
}
