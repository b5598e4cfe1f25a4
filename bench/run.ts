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
  ? { wake: { notify: 20, poll: 2 }, handoff: { notify: 10, poll: 3 }, pollInterval: '0.5' }
  : { wake: { notify: 200, poll: 6 }, handoff: { notify: 100, poll: 4 }, pollInterval: '5' };

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
  const polled = poll === undefined ? "-" : `${poll} ${unit}`;
  return `| ${label.padEnd(22)} | ${`${notify} ${unit}`.padStart(12)} | ${polled.padStart(12)} | ${ratio.padStart(13)} |`;
}

async function main(): Promise<void> {
  const server = await benchServer();
  const started = Date.now();
  const results: { wake: Record<string, Summary>; handoff: Record<string, Handoff> } = {
    wake: {},
    handoff: {},
  };
  try {
    for (const mode of modes) {
      const url = await server.freshDatabase(mode.name);
      process.stderr.write(`bench: wake, ${mode.name} (${plan.wake[mode.name]} requests)\n`);
      results.wake[mode.name] = await wake(url, mode, plan.wake[mode.name]);
      process.stderr.write(`bench: handoff, ${mode.name} (${plan.handoff[mode.name]} jobs)\n`);
      results.handoff[mode.name] = await handoff(url, mode, plan.handoff[mode.name]);
    }
  } finally {
    await server.close();
  }
  const { wake: w, handoff: h } = results;
  const table = [
    `Rush bench ${smoke ? '(smoke) ' : ''}on ${server.describe}, commit ${commit()}, ${cpus().length} cores`,
    '',
    '| measure                |       notify |         poll | poll / notify |',
    '|------------------------|--------------|--------------|---------------|',
    row('wake p50', w.notify!.p50, w.poll?.p50),
    row('wake p90', w.notify!.p90, w.poll?.p90),
    row('wake p99', w.notify!.p99, w.poll?.p99),
    row('handoff p50', h.notify!.p50, h.poll?.p50),
    row('handoff p99', h.notify!.p99, h.poll?.p99),
    row('time per step', h.notify!.perStep, h.poll?.perStep),
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
