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
import { handoff, rushChains, rushWakes, wake, type Mode } from './scenarios/latency.js';
import { rushThroughputs, throughput, type Throughput } from './scenarios/throughput.js';
import { idle, type Idle } from './scenarios/idle.js';
import { floorWakes } from './scenarios/floor.js';
import { takeTurns, type Series } from './lib/turns.js';
import { scale, type Scale } from './scenarios/scale.js';
import {
  ensurePeersInstalled,
  graphileChains,
  graphileIdle,
  graphileThroughputs,
  graphileWakes,
} from './scenarios/graphile.js';
import type { Handoff, Summary } from './lib/stats.js';

const { values: flags } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    // For development: `--notify-only` skips the (slow) polling mode; its table shows "-".
    'notify-only': { type: 'boolean', default: false },
    // graphile-worker doing the same work on the same server in the same run (bench/peers/).
    peers: { type: 'boolean', default: false },
  },
});
const smoke = flags.smoke;

// Polling is slow by nature (seconds a sample): it gets fewer samples. The smoke run only
// proves the bench works, with a shorter poll so that CI spends seconds on it.
const plan = smoke
  ? {
      wake: { notify: 20, poll: 2 },
      handoff: { notify: 10, poll: 3, rounds: 1 },
      throughput: { notify: 300, poll: 300, multiJob: 50, rounds: 1 },
      idleSeconds: 3,
      pollInterval: '0.5',
    }
  : {
      wake: { notify: 200, poll: 6 },
      handoff: { notify: 100, poll: 4, rounds: 3 },
      throughput: { notify: 20_000, poll: 5_000, multiJob: 2_000, rounds: 2 },
      idleSeconds: 30,
      pollInterval: '5',
    };

const modes: Mode[] = [
  { name: 'notify', args: [] },
  { name: 'poll', args: ['--no-listen', '--poll-interval', plan.pollInterval] },
].filter((mode) => mode.name === 'notify' || !flags['notify-only']) as Mode[];

/** takeTurns, telling stderr what it takes turns at. */
async function inTurns<R>(
  what: string,
  openers: Record<string, () => Promise<Series<R>>>,
  samples: number,
): Promise<Record<string, R>> {
  process.stderr.write(`bench: ${what}: ${Object.keys(openers).join(', ')} in turns\n`);
  return takeTurns(openers, samples);
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const server = await benchServer();
  const started = Date.now();
  const results: {
    floor?: Summary;
    wake: Record<string, Summary>;
    handoff: Record<string, Handoff>;
    throughput: Record<string, Record<string, Throughput>>;
    idle: Record<string, Idle>;
    scale?: { empty: Scale; full: Scale };
    graphile?: {
      wake: Summary;
      handoff: Handoff;
      throughput: Record<string, { attemptsPerSecond: number; peakRssMb: number | undefined }>;
      idle: { statementsPerSecond: number; connections: number };
    };
  } = { wake: {}, handoff: {}, throughput: {}, idle: {} };
  try {
    if (flags.peers) await ensurePeersInstalled();
    // Rush (notify), graphile-worker and the floor take turns, one wake, chain or batch of each
    // at a time, so that their ratios hold however the machine's speed drifts during the run.
    const peer = <R>(open: () => Promise<Series<R>>): Record<string, () => Promise<Series<R>>> =>
      flags.peers ? { graphile: open } : {};
    const notifyUrl = await server.freshDatabase('notify');
    const wakes = await inTurns(
      `wake (${plan.wake.notify} each)`,
      {
        floor: async () => floorWakes(await server.freshDatabase('floor')),
        notify: () => rushWakes(notifyUrl, modes[0]!),
        ...peer(async () => graphileWakes(await server.freshDatabase('graphile_wake'))),
      },
      plan.wake.notify,
    );
    results.floor = wakes.floor;
    results.wake.notify = wakes.notify!;
    const chains = await inTurns(
      `handoff (${plan.handoff.rounds} chains of ${plan.handoff.notify} jobs each)`,
      {
        notify: () => rushChains(notifyUrl, modes[0]!, plan.handoff.notify),
        ...peer(async () =>
          graphileChains(await server.freshDatabase('graphile_handoff'), plan.handoff.notify),
        ),
      },
      plan.handoff.rounds,
    );
    results.handoff.notify = chains.notify!;
    const batches: Record<string, Record<string, Throughput>> = {};
    for (const slots of [2, 8]) {
      const runs = plan.throughput.notify;
      batches[`single_${slots}`] = await inTurns(
        `throughput (${plan.throughput.rounds} batches of ${runs} runs each, ${slots} slots)`,
        {
          notify: async () =>
            rushThroughputs(await server.freshDatabase(`notify_tp${slots}`), modes[0]!, {
              runs,
              jobsPerRun: 1,
              slots,
            }),
          ...peer(async () =>
            graphileThroughputs(await server.freshDatabase(`graphile_tp${slots}`), {
              runs,
              slots,
            }),
          ),
        },
        plan.throughput.rounds,
      );
    }
    for (const mode of modes) {
      const url = mode.name === 'notify' ? notifyUrl : await server.freshDatabase(mode.name);
      if (mode.name !== 'notify') {
        process.stderr.write(`bench: wake, ${mode.name} (${plan.wake[mode.name]} requests)\n`);
        results.wake[mode.name] = await wake(url, mode, plan.wake[mode.name]);
        process.stderr.write(`bench: handoff, ${mode.name} (${plan.handoff[mode.name]} jobs)\n`);
        results.handoff[mode.name] = await handoff(url, mode, plan.handoff[mode.name]);
      }
      const runs = plan.throughput[mode.name];
      const tp: Record<string, Throughput> = {};
      for (const slots of [2, 8]) {
        const key = `single_${slots}`;
        if (mode.name === 'notify') {
          tp[key] = batches[key]!.notify!;
          continue;
        }
        process.stderr.write(`bench: throughput, ${mode.name} (${runs} runs, ${slots} slots)\n`);
        tp[key] = await throughput(await server.freshDatabase(`${mode.name}_tp${slots}`), mode, {
          runs,
          jobsPerRun: 1,
          slots,
        });
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
        smoke ? 1_000 : 12_000,
      );
    }
    if (!smoke && !flags['notify-only']) {
      // 40 processes, 10,000 requests, with an empty archive and with 1,000,000 rows in it.
      const notify = modes[0]!;
      process.stderr.write(`bench: scale, 40 workers, 10000 runs, empty archive\n`);
      const empty = await scale(await server.freshDatabase('scale_empty'), notify, {
        workers: 40,
        runs: 10_000,
        archived: 0,
      });
      process.stderr.write(`bench: scale, 40 workers, 10000 runs, 1000000 archived\n`);
      const full = await scale(await server.freshDatabase('scale_full'), notify, {
        workers: 40,
        runs: 10_000,
        archived: 1_000_000,
      });
      results.scale = { empty, full };
    }
    if (flags.peers) {
      process.stderr.write(`bench: graphile-worker, the same scenarios\n`);
      const fresh = (name: string): Promise<string> => server.freshDatabase(`graphile_${name}`);
      results.graphile = {
        wake: wakes.graphile!,
        handoff: chains.graphile!,
        throughput: {
          single_2: batches.single_2!.graphile!,
          single_8: batches.single_8!.graphile!,
        },
        idle: await graphileIdle(await fresh('idle'), plan.idleSeconds, smoke ? 1_000 : 12_000),
      };
    }
  } finally {
    await server.close();
  }
  const { floor: f, wake: w, handoff: h, throughput: t, idle: i, graphile: g } = results;
  // Each ratio is Rush (notify) divided by the other: below 1 is better for times, statements
  // and memory; above 1 is better for attempts per second.
  const cell = (value: number | undefined, unit: string): string =>
    value === undefined ? '-' : `${value}${unit ? ` ${unit}` : ''}`;
  const ratio = (mine: number | undefined, other: number | undefined): string =>
    mine === undefined || other === undefined || other === 0
      ? '-'
      : `${(mine / other).toFixed(2)}x`;
  const line = (
    label: string,
    unit: string,
    notify?: number,
    poll?: number,
    graphile?: number,
  ): string =>
    `| ${label.padEnd(26)} | ${cell(notify, unit).padStart(11)} | ${cell(poll, unit).padStart(11)} | ` +
    `${ratio(notify, poll).padStart(9)} | ${cell(graphile, unit).padStart(11)} | ${ratio(notify, graphile).padStart(11)} |`;
  const rate = (key: string): [number | undefined, number | undefined, number | undefined] => [
    t.notify?.[key]?.attemptsPerSecond,
    t.poll?.[key]?.attemptsPerSecond,
    g?.throughput[key]?.attemptsPerSecond,
  ];
  const table = [
    `Rush bench ${smoke ? '(smoke) ' : ''}on ${server.describe}, commit ${commit()}, ${cpus().length} cores`,
    '',
    '| measure                    | Rush notify |   Rush poll |  ÷ poll   |    graphile | ÷ graphile  |',
    '|----------------------------|-------------|-------------|-----------|-------------|-------------|',
    line('wake p50', 'ms', w.notify?.p50, w.poll?.p50, g?.wake.p50),
    line('wake p90', 'ms', w.notify?.p90, w.poll?.p90, g?.wake.p90),
    line('wake p99', 'ms', w.notify?.p99, w.poll?.p99, g?.wake.p99),
    line('handoff p50', 'ms', h.notify?.p50, h.poll?.p50, g?.handoff.p50),
    line('handoff p99', 'ms', h.notify?.p99, h.poll?.p99, g?.handoff.p99),
    line('time per step', 'ms', h.notify?.perStep, h.poll?.perStep, g?.handoff.perStep),
    line('attempts/s, 2 slots', '/s', ...rate('single_2')),
    line('attempts/s, 8 slots', '/s', ...rate('single_8')),
    line(
      '5-job runs, attempts/s',
      '/s',
      t.notify?.five_8?.attemptsPerSecond,
      t.poll?.five_8?.attemptsPerSecond,
    ),
    line(
      'idle statements/s',
      '',
      i.notify?.statementsPerSecond,
      i.poll?.statementsPerSecond,
      g?.idle.statementsPerSecond,
    ),
    line('idle connections', '', i.notify?.connections, i.poll?.connections, g?.idle.connections),
    line(
      'worker peak RSS',
      'MB',
      t.notify?.single_8?.peakRssMb,
      t.poll?.single_8?.peakRssMb,
      g?.throughput.single_8?.peakRssMb,
    ),
    '',
    `wake floor (an INSERT that only notifies, heard by a Node process that only listens): ` +
      `p50 ${cell(f?.p50, 'ms')}, p99 ${cell(f?.p99, 'ms')}; wake p50 ÷ floor: ` +
      `Rush ${ratio(w.notify?.p50, f?.p50)}, graphile-worker ${ratio(g?.wake.p50, f?.p50)}`,
    ...(results.scale
      ? [
          '',
          `scale, 40 workers, 10,000 runs: ${results.scale.empty.attemptsPerSecond} /s with an empty ` +
            `archive, ${results.scale.full.attemptsPerSecond} /s with 1,000,000 rows archived; ` +
            `mean tick ${results.scale.empty.tickMeanMs ?? '-'} ms and ${results.scale.full.tickMeanMs ?? '-'} ms`,
        ]
      : []),
    '',
    'ratios: Rush notify ÷ the other (below 1 is better, except attempts/s: above 1 is better); ' +
      'Rush notify, graphile-worker and the floor took turns at each wake, chain and batch',
    `poll interval ${plan.pollInterval} s; samples: wake ${w.notify?.n ?? 0}/${w.poll?.n ?? 0}, ` +
      `handoff ${h.notify?.n ?? 0}/${h.poll?.n ?? 0}; idle counted with ${i.notify?.counted ?? '-'}; ` +
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
