/**
 * npm run bench [-- --smoke]: Rush woken by notifications against Rush polling (--no-listen,
 * the old behaviour), side by side in one run on one server; prints a table and records it
 * under bench/results/ with the commit.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { benchServer } from './lib/server.js';
import { handoff, wake, type Handoff, type Mode } from './scenarios/latency.js';
import { throughput, type Throughput } from './scenarios/throughput.js';
import { idle, type Idle } from './scenarios/idle.js';
import type { Summary } from './lib/stats.js';

const { values: flags } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    // For development: `--notify-only` skips the (slow) polling mode; its table shows "-".
    'notify-only': { type: 'boolean', default: false },
  },
});
const smoke = flags.smoke;

// Polling is slow by nature (seconds a sample): it gets fewer samples. The smoke run only
// proves the bench works, with a shorter poll so that CI spends seconds on it.
const plan = smoke
  ? {
      wake: { notify: 20, poll: 2 },
      handoff: { notify: 10, poll: 3 },
      throughput: { notify: 300, poll: 300, multiJob: 50 },
      idleSeconds: 3,
      pollInterval: '0.5',
    }
  : {
      wake: { notify: 200, poll: 6 },
      handoff: { notify: 100, poll: 4 },
      throughput: { notify: 20_000, poll: 5_000, multiJob: 2_000 },
      idleSeconds: 30,
      pollInterval: '5',
    };

const modes: Mode[] = [
  { name: 'notify', args: [] },
  { name: 'poll', args: ['--no-listen', '--poll-interval', plan.pollInterval] },
].filter((mode) => mode.name === 'notify' || !flags['notify-only']) as Mode[];

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

function row(label: string, notify: number, poll: number | undefined, unit = 'ms'): string {
  const ratio = poll !== undefined && notify > 0 ? `${(poll / notify).toFixed(0)}x` : '-';
  const polled = poll === undefined ? '-' : `${poll} ${unit}`;
  return `| ${label.padEnd(22)} | ${`${notify} ${unit}`.padStart(12)} | ${polled.padStart(12)} | ${ratio.padStart(13)} |`;
}

async function main(): Promise<void> {
  const server = await benchServer();
  const started = Date.now();
  const results: {
    wake: Record<string, Summary>;
    handoff: Record<string, Handoff>;
    throughput: Record<string, Record<string, Throughput>>;
    idle: Record<string, Idle>;
  } = { wake: {}, handoff: {}, throughput: {}, idle: {} };
  try {
    for (const mode of modes) {
      const url = await server.freshDatabase(mode.name);
      process.stderr.write(`bench: wake, ${mode.name} (${plan.wake[mode.name]} requests)\n`);
      results.wake[mode.name] = await wake(url, mode, plan.wake[mode.name]);
      process.stderr.write(`bench: handoff, ${mode.name} (${plan.handoff[mode.name]} jobs)\n`);
      results.handoff[mode.name] = await handoff(url, mode, plan.handoff[mode.name]);
      const runs = plan.throughput[mode.name];
      const tp: Record<string, Throughput> = {};
      for (const slots of [2, 8]) {
        process.stderr.write(`bench: throughput, ${mode.name} (${runs} runs, ${slots} slots)\n`);
        tp[`single_${slots}`] = await throughput(
          await server.freshDatabase(`${mode.name}_tp${slots}`),
          mode,
          {
            runs,
            jobsPerRun: 1,
            slots,
          },
        );
      }
      process.stderr.write(
        `bench: throughput, ${mode.name} (${plan.throughput.multiJob} runs of 5 jobs)\n`,
      );
      tp.five_8 = await throughput(await server.freshDatabase(`${mode.name}_tp5`), mode, {
        runs: plan.throughput.multiJob,
        jobsPerRun: 5,
        slots: 8,
      });
      results.throughput[mode.name] = tp;
      process.stderr.write(`bench: idle, ${mode.name} (4 workers, ${plan.idleSeconds} s)\n`);
      results.idle[mode.name] = await idle(
        await server.freshDatabase(`${mode.name}_idle`),
        mode,
        plan.idleSeconds,
      );
    }
  } finally {
    await server.close();
  }
  const { wake: w, handoff: h, throughput: t, idle: i } = results;
  // Higher is better for rates: the ratio column says how many times notify beats poll.
  const rate = (label: string, key: string): string => {
    const notify = t.notify?.[key]?.attemptsPerSecond ?? 0;
    const poll = t.poll?.[key]?.attemptsPerSecond;
    const ratio = poll ? `${(notify / poll).toFixed(1)}x` : '-';
    return `| ${label.padEnd(22)} | ${`${notify} /s`.padStart(12)} | ${(poll === undefined ? '-' : `${poll} /s`).padStart(12)} | ${ratio.padStart(13)} |`;
  };
  const table = [
    `Rush bench ${smoke ? '(smoke) ' : ''}on ${server.describe}, commit ${commit()}, ${cpus().length} cores`,
    '',
    '| measure                |       notify |         poll |   notify gain |',
    '|------------------------|--------------|--------------|---------------|',
    row('wake p50', w.notify!.p50, w.poll?.p50),
    row('wake p90', w.notify!.p90, w.poll?.p90),
    row('wake p99', w.notify!.p99, w.poll?.p99),
    row('handoff p50', h.notify!.p50, h.poll?.p50),
    row('handoff p99', h.notify!.p99, h.poll?.p99),
    row('time per step', h.notify!.perStep, h.poll?.perStep),
    rate('attempts/s, 2 slots', 'single_2'),
    rate('attempts/s, 8 slots', 'single_8'),
    rate('5-job runs, attempts/s', 'five_8'),
    row('idle statements/s', i.notify!.statementsPerSecond, i.poll?.statementsPerSecond, ''),
    row('idle connections', i.notify!.connections, i.poll?.connections, ''),
    row('worker peak RSS', t.notify!.single_8!.peakRssMb ?? 0, t.poll?.single_8?.peakRssMb, 'MB'),
    '',
    `poll interval ${plan.pollInterval} s; samples: wake ${w.notify!.n}/${w.poll?.n ?? 0}, ` +
      `handoff ${h.notify!.n}/${h.poll?.n ?? 0}; ` +
      `${Math.round((Date.now() - started) / 1000)} s in all`,
  ].join('\n');
  console.log(table);
  if (!smoke && !flags['notify-only']) {
    mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const file = new URL(`./results/${stamp}-${commit()}.json`, import.meta.url);
    writeFileSync(
      file,
      JSON.stringify(
        { commit: commit(), at: new Date().toISOString(), plan, results, table },
        null,
        2,
      ) + '\n',
    );
    console.log(`\nrecorded in bench/results/${stamp}-${commit()}.json`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
