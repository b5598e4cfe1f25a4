#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { migrate } from '../db/migrate.js';
import { workerCommand } from '../worker.js';
import { CliError, EXIT, type GlobalOptions } from './context.js';
import { upCommand } from './up.js';

const program = new Command('rush')
  .description('Rush: pipelines run by workers that coordinate through PostgreSQL')
  .option('--database-url <url>', 'PostgreSQL connection string (env DATABASE_URL, else PG*)')
  .option('--json', 'print JSON for scripts instead of tables')
  .option('--verbose', 'on error, print the stack and causes')
  .exitOverride();

const global = (): GlobalOptions => program.opts<GlobalOptions>();

upCommand(program, global);
program.addCommand(workerCommand());
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

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    return;
  }
  process.stderr.write(`rush: ${explain(error, global().verbose === true)}\n`);
  process.exitCode = error instanceof CliError ? error.exitCode : EXIT.error;
});
