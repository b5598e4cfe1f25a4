import type { Command } from 'commander';
import { parseId } from '../args.js';
import { print, withPool, type GlobalOptions } from '../context.js';
import { runLabel } from '../format.js';
import { cancelRequest, type CancelResult } from '../operator.js';

export function describeCancel(result: CancelResult): string {
  const lines = [
    `run_request ${result.request} (${runLabel(result.pipeline, result.jobinstance)}) ` +
      `is Cancelled (was ${result.was})`,
  ];
  for (const id of result.stopped) lines.push(`  attempt ${id} stopped before it started`);
  for (const r of result.running) {
    lines.push(
      `  attempt ${r.attempt} (${r.job}) is running on ${r.worker ?? '?'}: its worker aborts it`,
    );
  }
  return lines.join('\n');
}

export function cancelCommand(program: Command, global: () => GlobalOptions): void {
  program
    .command('cancel')
    .description('cancel a Pending or Accepted run; its running attempt is aborted')
    .argument('<request>', 'run_request id')
    .action(async (raw: string) => {
      const request = parseId('REQUEST', raw);
      const result = await withPool(global(), (pool) => cancelRequest(pool, request));
      print(global(), result, () => describeCancel(result));
    });
}
