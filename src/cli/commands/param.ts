import type { Command } from 'commander';
import type { Pool } from 'pg';
import { CliError, EXIT, print, withPool, type GlobalOptions } from '../context.js';
import { unknownPipeline } from './pipeline.js';

export interface ParamSet {
  pipeline: string;
  job: string;
  key: string;
  value: string;
  /** The value it replaced, null when the key is new. */
  previous: string | null;
}

/**
 * Sets one parameter, only for a job the pipeline has: the check and the upsert are one
 * statement. Without a row back, says what is missing.
 */
export async function setParameter(
  pool: Pool,
  pipeline: string,
  job: string,
  key: string,
  value: string,
): Promise<ParamSet> {
  const { rows } = await pool.query<ParamSet>(
    `WITH previous AS (
       SELECT value FROM job_parameter WHERE pipeline = $1 AND job = $2 AND key = $3
     )
     INSERT INTO job_parameter (pipeline, job, key, value)
     SELECT pj.pipeline, pj.job, $3, $4 FROM pipeline_job pj
     WHERE pj.pipeline = $1 AND pj.job = $2
     ON CONFLICT (pipeline, job, key) DO UPDATE SET value = EXCLUDED.value
     RETURNING pipeline, job, key, value, (SELECT value FROM previous) AS previous`,
    [pipeline, job, key, value],
  );
  if (rows[0]) return rows[0];
  const { rows: jobs } = await pool.query<{ job: string }>(
    'SELECT job FROM pipeline_job WHERE pipeline = $1 ORDER BY position',
    [pipeline],
  );
  if (jobs.length === 0) throw await unknownPipeline(pool, pipeline);
  throw new CliError(
    `pipeline '${pipeline}' has no job named '${job}' (its jobs: ${jobs.map((j) => j.job).join(', ')})`,
  );
}

export function describeParamSet(set: ParamSet): string {
  const was = set.previous === null ? 'new' : `was ${JSON.stringify(set.previous)}`;
  return `${set.pipeline} ${set.job}: ${set.key} = ${JSON.stringify(set.value)} (${was})`;
}

export function paramCommand(program: Command, global: () => GlobalOptions): void {
  const param = program.command('param').description('job parameters (job_parameter)');
  param
    .command('set')
    .description("set a job's parameter; every later attempt of that job gets it")
    .argument('<pipeline>', 'pipeline name')
    .argument('<job>', 'job name, one of the pipeline')
    .argument('<key>', 'parameter name')
    .argument('<value>', 'parameter value (a string)')
    .action(async (pipeline: string, job: string, key: string, value: string) => {
      if (key.trim() === '') throw new CliError('the parameter name must not be empty', EXIT.usage);
      const set = await withPool(global(), (pool) => setParameter(pool, pipeline, job, key, value));
      print(global(), set, () => describeParamSet(set));
    });
}
