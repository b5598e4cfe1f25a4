/**
 * npm run chaos [-- --minutes N --workers W --seed S --fail-p P --keep]
 *
 * Runs hundreds of multi-step runs with random failures through a fleet of real worker
 * processes while killing them (-9), stopping them (SIGTERM, once or twice), killing the
 * master and restarting PostgreSQL; then checks from the database and the jobs' own records
 * that every request ended, that no attempt ran twice at once, that every attempt is archived
 * once or still live, and that retries match the definitions. Exit 1 on any violation.
 *
 * Against DATABASE_URL (a fresh database there) when set, else an embedded PostgreSQL of its
 * own, the only kind it restarts.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import {
  checkArchive,
  checkLostWereDead,
  checkNoOverlap,
  checkRetries,
  checkTerminal,
  describeCounts,
} from './chaos/checks.js';
import { FaultDriver, TERM_TIMEOUT_MS } from './chaos/faults.js';
import { Fleet, WORKER_ARGS, type Life } from './chaos/fleet.js';
import { logErrors, measure } from './chaos/metrics.js';
import { parseSeed } from './chaos/random.js';
import { readExecutions, readLogs, snapshot } from './chaos/records.js';
import { allPassed, checksTable, summaryText, violationsText } from './chaos/report.js';
import { describeFault, faultSchedule } from './chaos/schedule.js';
import { chaosServer, type ChaosServer } from './chaos/server.js';
import type { CheckResult, FaultEvent, LogLine } from './chaos/types.js';
import { chaosPipelines, definePipelines, describePipeline, Workload } from './chaos/workload.js';

// The wall clock, as the jobs, the workers' logs and PostgreSQL read it: one clock for all.
const now = (): number => Date.now();
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const say = (text: string): void => void process.stdout.write(`${text}\n`);
const progress = (text: string): void => void process.stderr.write(`chaos: ${text}\n`);

interface Options {
  minutes: number;
  workers: number;
  seed: number;
  failP: number;
  settleSeconds: number;
  keep: boolean;
}

function usage(): string {
  return [
    'usage: npm run chaos -- [--minutes N] [--workers W] [--seed S] [--fail-p P] [--settle S] [--keep]',
    '  --minutes N   how long faults are injected (fractions allowed; default 2)',
    '  --workers W   worker processes (default 5)',
    '  --seed S      replay the faults and workload of an earlier run (printed at its start)',
    '  --fail-p P    chance that an attempt fails at random (default 0.15)',
    '  --settle S    seconds the runs get to end once the faults stop (default 60)',
    '  --keep        keep the database, the logs and the execution records for a look',
    'DATABASE_URL: run on that server (a fresh database; PostgreSQL is then never restarted);',
    'unset: an embedded PostgreSQL of its own, restarted in the middle of the run.',
  ].join('\n');
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      minutes: { type: 'string', default: '2' },
      workers: { type: 'string', default: '5' },
      seed: { type: 'string' },
      'fail-p': { type: 'string', default: '0.15' },
      settle: { type: 'string', default: '60' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    say(usage());
    process.exit(0);
  }
  const number = (flag: string, text: string, ok: (n: number) => boolean, rule: string): number => {
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n) || !ok(n)) {
      throw new Error(`--${flag} must be ${rule} (got "${text}")`);
    }
    return n;
  };
  return {
    minutes: number('minutes', values.minutes, (n) => n > 0 && n <= 600, 'a number of minutes > 0'),
    workers: number(
      'workers',
      values.workers,
      (n) => Number.isInteger(n) && n >= 2 && n <= 50,
      'an integer from 2 to 50',
    ),
    seed: parseSeed(values.seed),
    failP: number(
      'fail-p',
      values['fail-p'],
      (n) => n >= 0 && n < 1,
      'a probability from 0 to below 1',
    ),
    settleSeconds: number('settle', values.settle, (n) => n > 0, 'a number of seconds > 0'),
    keep: values.keep,
  };
}

/** Waits until no request is Pending or Accepted, for at most timeoutMs; returns how many are. */
async function settle(pool: pg.Pool, timeoutMs: number): Promise<number> {
  const deadline = now() + timeoutMs;
  for (;;) {
    let open = -1;
    try {
      const { rows } = await pool.query<{ open: number }>(
        `SELECT count(*)::int AS open FROM run_request WHERE status IN ('Pending', 'Accepted')`,
      );
      open = rows[0]!.open;
    } catch {
      // not answering yet: try again
    }
    if (open === 0 || now() > deadline) return open;
    await sleep(250);
  }
}

/** Workers that went without being told: a crash, unless it could not start for an outage. */
function exitsCheck(
  driver: FaultDriver,
  events: readonly FaultEvent[],
  logs: readonly LogLine[],
  lives: readonly Life[],
  killedAtEnd: readonly Life[],
): CheckResult {
  const startedPids = new Set(logs.filter((l) => l.msg === 'worker started').map((l) => l.pid));
  const outages = events.filter((e) => e.kind === 'pg-restart' && e.upAt !== undefined);
  const duringOutage = (life: Life): boolean =>
    !startedPids.has(life.pid) &&
    outages.some((o) => life.exitedAt! >= o.at - 5_000 && life.exitedAt! <= o.upAt! + 2_000);
  const crashed = driver.unexpected.filter((life) => !duringOutage(life));
  const excused = driver.unexpected.length - crashed.length;
  const describe = (life: Life): string =>
    `${life.name} (pid ${life.pid}) exited with ${life.exitSignal ?? `code ${life.exitCode}`}` +
    (life.stderrTail.length > 0 ? `: ${life.stderrTail.slice(-3).join(' | ')}` : '');
  const violations = [
    ...crashed.map((life) => `${describe(life)} without being told to`),
    ...[...driver.termTimeouts, ...killedAtEnd].map(
      (life) =>
        `${life.name} (pid ${life.pid}) did not stop within ${TERM_TIMEOUT_MS} ms of SIGTERM: killed`,
    ),
  ];
  return {
    check: 'workers stopped only when told',
    ok: violations.length === 0,
    summary:
      `${lives.length} processes; ${driver.unexpected.length} exited on their own` +
      (excused > 0 ? ` (${excused} could not start while PostgreSQL was down)` : '') +
      `; ${driver.termTimeouts.length + killedAtEnd.length} SIGTERM'd ones had to be killed`,
    violations,
  };
}

function restartRow(
  server: ChaosServer,
  events: readonly FaultEvent[],
  phaseStartedAt: number,
): CheckResult {
  const restarts = events.filter((e) => e.kind === 'pg-restart');
  if (!server.canRestart) {
    return {
      check: 'PostgreSQL restarted',
      ok: null,
      summary: 'not possible: the server behind DATABASE_URL is never restarted',
      violations: [],
    };
  }
  const done = restarts.filter((e) => e.upAt !== undefined);
  return {
    check: 'PostgreSQL restarted',
    ok: done.length > 0,
    summary:
      done.length === 0
        ? 'no restart happened (the run is too short for one?)'
        : done
            .map(
              (e) =>
                `down ${Math.round(e.upAt! - e.at)} ms at ${Math.round((e.at - phaseStartedAt) / 100) / 10} s`,
            )
            .join('; '),
    violations: done.length === 0 ? ['no PostgreSQL restart happened'] : [],
  };
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`chaos: ${(error as Error).message}\n${usage()}\n`);
    return 2;
  }
  const durationMs = Math.round(options.minutes * 60_000);
  const databaseUrl = process.env.DATABASE_URL || undefined;
  const schedule = faultSchedule({ seed: options.seed, durationMs, pgRestarts: !databaseUrl });
  const pipelines = chaosPipelines(options.seed);

  say(
    `Rush chaos: seed ${options.seed}, ${options.minutes} min, ${options.workers} workers, ` +
      `fail-p ${options.failP}`,
  );
  say(`workers: node dist/worker.js ${WORKER_ARGS.join(' ')}`);
  say('pipelines:');
  for (const pipeline of pipelines) say(`  ${describePipeline(pipeline)}`);
  say(`faults (${schedule.length}):`);
  for (const fault of schedule) say(`  ${describeFault(fault)}`);
  if (databaseUrl) {
    say('  (DATABASE_URL is set: PostgreSQL cannot be restarted, so this run has no pg-restart)');
  }

  const dir = mkdtempSync(join(tmpdir(), 'rush-chaos-'));
  chmodSync(dir, 0o755);
  const recordsFile = join(dir, 'executions.jsonl');
  const logDir = join(dir, 'logs');
  const server = await chaosServer(databaseUrl).catch((error: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  });
  progress(`server: ${server.describe}`);
  const pool = new pg.Pool({
    connectionString: server.url,
    max: 3,
    connectionTimeoutMillis: 3_000,
    query_timeout: 10_000,
  });
  pool.on('error', () => undefined); // idle connections die with a restarting server

  const fleet = new Fleet(server.url, logDir);
  const driver = new FaultDriver(fleet, server, pool, options.workers);
  const cleanup = async (): Promise<void> => {
    driver.close();
    fleet.killAll();
    await pool.end().catch(() => undefined);
    await server.close(options.keep).catch(() => undefined);
    if (!options.keep) rmSync(dir, { recursive: true, force: true });
  };
  const interrupted = (): void => {
    progress('interrupted: stopping everything');
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);

  try {
    const client = await pool.connect();
    try {
      await definePipelines(client, pipelines, {
        out: recordsFile,
        seed: options.seed,
        failP: options.failP,
      });
    } finally {
      client.release();
    }
    await driver.startFleet();
    progress(`${options.workers} workers up; faults for ${options.minutes} min`);

    const workload = new Workload(
      pool,
      pipelines.map((p) => p.name),
      options.seed,
      options.workers * 8,
    );
    const faultsStarted = now();
    workload.start();
    await driver.run(schedule, durationMs);
    await workload.stop();
    const faultSeconds = Math.round((now() - faultsStarted) / 1000);

    progress(
      `faults over; ${workload.inserted} requests inserted; settling (at most ${options.settleSeconds} s)`,
    );
    const settleStarted = now();
    await driver.refill();
    const open = await settle(pool, options.settleSeconds * 1000);
    const settleSeconds = Math.round((now() - settleStarted) / 1000);
    progress(
      open === 0
        ? `settled in ${settleSeconds} s`
        : `${open} requests still open after ${settleSeconds} s`,
    );

    driver.close();
    const killedAtEnd = await fleet.stopAll(TERM_TIMEOUT_MS);
    const notes = [...driver.notes];

    const client2 = await pool.connect();
    let rows;
    try {
      rows = await snapshot(client2);
    } finally {
      client2.release();
    }
    const executions = readExecutions(recordsFile);
    const logs = readLogs(logDir);
    const lives = fleet.lives;
    const events = driver.events;

    const results: CheckResult[] = [
      checkTerminal(rows.requests),
      checkNoOverlap(executions, lives),
      checkArchive(rows.attempts, executions, rows.requests),
      checkRetries(rows.requests, rows.attempts, rows.jobs),
      checkLostWereDead(rows.attempts, executions, lives),
      exitsCheck(driver, events, logs, lives, killedAtEnd),
      restartRow(server, events, driver.phaseStartedAt),
    ];
    const metrics = measure(events, rows.attempts, executions, logs, lives);
    const injected = new Map<string, number>();
    for (const event of events) {
      if (event.victim || event.kind === 'pg-restart') {
        injected.set(event.kind, (injected.get(event.kind) ?? 0) + 1);
      }
    }
    for (const event of events) if (event.note) notes.push(`${event.kind}: ${event.note}`);
    if (!server.canRestart)
      notes.push('no PostgreSQL restart: DATABASE_URL is set, and its server is never restarted');
    if (options.keep) {
      const processes = lives.map(({ child: _child, exited: _exited, ...life }) => life);
      writeFileSync(
        join(dir, 'run.json'),
        JSON.stringify(
          { options, schedule, phaseStartedAt: driver.phaseStartedAt, events, processes },
          null,
          2,
        ),
      );
    }
    if (options.keep)
      notes.push(`kept: ${dir} (executions.jsonl, logs/, run.json), ${server.describe}`);

    const requestsByStatus = new Map<string, number>();
    for (const r of rows.requests)
      requestsByStatus.set(r.status, (requestsByStatus.get(r.status) ?? 0) + 1);

    say('');
    say(checksTable(results));
    const violations = violationsText(results);
    if (violations) say(`\nviolations:\n${violations}`);
    say('');
    say(
      summaryText({
        seed: options.seed,
        server: server.describe,
        workers: options.workers,
        minutes: options.minutes,
        faultSeconds,
        settleSeconds,
        requestsByStatus: `${rows.requests.length}: ${describeCounts(requestsByStatus)}`,
        attempts: rows.attempts.length,
        executions: executions.length,
        faultsInjected: injected,
        processesStarted: lives.length,
        unexpectedExits: driver.unexpected.length,
        insertFailures: workload.failedBursts,
        metrics,
        logErrors: logErrors(logs),
        notes,
      }),
    );
    const passed = allPassed(results);
    say(passed ? '\nchaos: every check passed' : '\nchaos: VIOLATIONS found (exit 1)');
    return passed ? 0 : 1;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `chaos: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(2);
  },
);
