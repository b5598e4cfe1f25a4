#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { migrate } from '../db/migrate.js';
import { workerCommand } from '../worker.js';
import { cancelCommand } from './commands/cancel.js';
import { historyCommand } from './commands/history.js';
import { logsCommand } from './commands/logs.js';
import { paramCommand } from './commands/param.js';
import { pipelineCommand } from './commands/pipeline.js';
import { retryCommand } from './commands/retry.js';
import { runCommand } from './commands/run.js';
import { statusCommand } from './commands/status.js';
import { CliError, EXIT, type GlobalOptions } from './context.js';
import { upCommand } from './up.js';

const program = new Command('rush')
  .description('Rush: pipelines run by workers that coordinate through PostgreSQL')
  .option('--database-url <url>', 'PostgreSQL connection string (env DATABASE_URL, else PG*)')
  .option('--json', 'print JSON for scripts instead of tables')
  .option('--verbose', 'on error, print the stack and causes')
  // Commander's own complaints (unknown option, missing argument) read like ours: "rush: …".
  .configureOutput({ outputError: (text, write) => write(`rush: ${text.replace(/^error: /, '')}`) })
  .exitOverride();

const global = (): GlobalOptions => program.opts<GlobalOptions>();

pipelineCommand(program, global);
paramCommand(program, global);
runCommand(program, global);
statusCommand(program, global);
historyCommand(program, global);
retryCommand(program, global);
cancelCommand(program, global);
logsCommand(program, global);
upCommand(program, global);
// Built on its own (dist/worker.js runs it too): given the same error handling here. Its
// --database-url is also rush's global one, which commander hands to rush wherever it stands
// (`rush worker --database-url X` too): pass it on, or the worker would not see it.
program.addCommand(
  workerCommand()
    .exitOverride()
    .configureOutput(program.configureOutput())
    .hook('preAction', (worker) => {
      const url = global().databaseUrl;
      if (url !== undefined && worker.getOptionValue('databaseUrl') === undefined) {
        worker.setOptionValue('databaseUrl', url);
      }
    }),
);
program
  .command('migrate')
  .description('apply pending migrations and the trigger scripts, then exit')
  .action(async () => {
    await migrate(global().databaseUrl ?? process.env.DATABASE_URL);
    process.stdout.write('rush migrate: schema is up to date\n');
  });

function explain(error: unknown, verbose: boolean): string {
  if (verbose) return (error as Error).stack ?? String(error);
  let text = (error as Error).message ?? String(error);
  for (let cause = (error as Error).cause; cause instanceof Error; cause = cause.cause) {
    if (!text.includes(cause.message)) text += `: ${cause.message}`;
  }
  return text.split('\n')[0] ?? text;
}

// `rush logs | head` closes the pipe early: that is the reader's choice, not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(process.exitCode ?? EXIT.ok);
});

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    return;
  }
  process.stderr.write(`rush: ${explain(error, global().verbose === true)}\n`);
  process.exitCode = error instanceof CliError ? error.exitCode : EXIT.error;
});
