import type { Command } from 'commander';
import { parseId } from '../args.js';
import { print, withPool, type GlobalOptions } from '../context.js';
import { runLabel } from '../format.js';
import { retryAttempt, type RetryResult } from '../operator.js';

export function describeRetry(result: RetryResult): string {
  return (
    `attempt ${result.attempt} (${runLabel(result.pipeline, result.jobinstance)} ${result.job}) ` +
    `is Ready again as retry ${result.retry}; run_request ${result.request} is Accepted`
  );
}

export function retryCommand(program: Command, global: () => GlobalOptions): void {
  program
    .command('retry')
    .description('give a Stuck attempt one more try: it becomes Ready, its run Accepted again')
    .argument('<attempt>', 'attempt id (rush status lists the Stuck ones)')
    .action(async (raw: string) => {
      const attempt = parseId('ATTEMPT', raw);
      const result = await withPool(global(), (pool) => retryAttempt(pool, attempt));
      print(global(), result, () => describeRetry(result));
    });
}
