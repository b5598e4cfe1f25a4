import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { Pool } from 'pg';
import { applyPipeline } from '../../pipelines/apply.js';
import { parsePipelineFile, PipelineFileError } from '../../pipelines/file.js';
import { CliError, EXIT, print, withPool, type GlobalOptions } from '../context.js';
import { formatTime, listNames } from '../format.js';
import { renderTable, section } from '../table.js';

export interface PipelineSummary {
  name: string;
  jobs: string[];
  updated: Date;
}

export interface PipelineJob {
  position: number;
  job: string;
  class_name: string;
  timeout_minutes: number;
  retry_gap_minutes: number;
  retry_limit: number;
  parameters: Record<string, string>;
}

export interface PipelineDetail {
  name: string;
  description: string | null;
  created: Date;
  updated: Date;
  jobs: PipelineJob[];
}

export async function listPipelines(pool: Pool): Promise<PipelineSummary[]> {
  const { rows } = await pool.query<PipelineSummary>(
    `SELECT p.name, p.updated,
            coalesce(array_agg(pj.job ORDER BY pj.position)
                     FILTER (WHERE pj.job IS NOT NULL), '{}') AS jobs
     FROM pipeline p LEFT JOIN pipeline_job pj ON pj.pipeline = p.name
     GROUP BY p.name, p.updated ORDER BY p.name`,
  );
  return rows;
}

/** A pipeline with the effective settings (defaults applied) and parameters of every job. */
export async function loadPipeline(pool: Pool, name: string): Promise<PipelineDetail | undefined> {
  const { rows } = await pool.query<PipelineDetail>(
    `SELECT p.name, p.definition ->> 'description' AS description, p.created, p.updated,
            coalesce((SELECT json_agg(json_build_object(
                        'position', pj.position, 'job', pj.job, 'class_name', pj.class_name,
                        'timeout_minutes', pj.timeout_minutes::float8,
                        'retry_gap_minutes', pj.retry_gap_minutes::float8,
                        'retry_limit', pj.retry_limit,
                        'parameters', coalesce((SELECT json_object_agg(jp.key, jp.value ORDER BY jp.key)
                                                FROM job_parameter jp
                                                WHERE jp.pipeline = pj.pipeline AND jp.job = pj.job),
                                               '{}'))
                      ORDER BY pj.position)
                      FROM pipeline_job pj WHERE pj.pipeline = p.name), '[]') AS jobs
     FROM pipeline p WHERE p.name = $1`,
    [name],
  );
  return rows[0];
}

/** "no pipeline named 'x'", with the known names when there are few enough to read. */
export async function unknownPipeline(pool: Pool, name: string): Promise<CliError> {
  const { rows } = await pool.query<{ name: string }>('SELECT name FROM pipeline ORDER BY name');
  const known = rows.map((row) => row.name);
  const hint =
    known.length === 0
      ? 'there are none yet: rush pipeline apply FILE'
      : known.length <= 10
        ? `known: ${known.join(', ')}`
        : `${known.length} pipelines: rush pipeline list`;
  return new CliError(`no pipeline named '${name}' (${hint})`);
}

export function renderPipelineList(pipelines: PipelineSummary[]): string {
  return renderTable(
    ['pipeline', 'jobs', 'job names', 'updated'],
    pipelines.map((p) => [p.name, p.jobs.length, listNames(p.jobs, 8), formatTime(p.updated)]),
    { empty: 'no pipelines yet: rush pipeline apply FILE' },
  );
}

export function renderPipeline(pipeline: PipelineDetail): string {
  const title = `pipeline ${pipeline.name}${pipeline.description ? ` — ${pipeline.description}` : ''}`;
  const jobs = renderTable(
    ['#', 'job', 'class_name', 'timeout', 'retry gap', 'retries'],
    pipeline.jobs.map((j) => [
      j.position,
      j.job,
      j.class_name,
      `${j.timeout_minutes} min`,
      `${j.retry_gap_minutes} min`,
      j.retry_limit,
    ]),
  );
  const parameters = renderTable(
    ['job', 'key', 'value'],
    pipeline.jobs.flatMap((j) => Object.entries(j.parameters).map(([k, v]) => [j.job, k, v])),
    { widths: [null, null, 72] },
  );
  return [
    `${title}\nupdated ${formatTime(pipeline.updated)}, created ${formatTime(pipeline.created)}`,
    section('jobs', jobs),
    section('parameters', parameters),
  ].join('\n\n');
}

async function apply(global: GlobalOptions, file: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read ${file}: ${(error as Error).message}`, EXIT.error, {
      cause: error,
    });
  }
  try {
    const parsed = parsePipelineFile(text, file);
    const outcome = await withPool(global, (pool) => applyPipeline(pool, parsed, file));
    const jobs = Array.isArray(parsed.definition.jobs) ? parsed.definition.jobs.length : 0;
    const parameters = parsed.parameters
      ? 'its parameters replaced'
      : 'parameters left as they were';
    print(
      global,
      { name: parsed.name, outcome, jobs, file },
      () =>
        `${outcome} pipeline ${parsed.name} (${jobs} job${jobs === 1 ? '' : 's'}, ${parameters})`,
    );
  } catch (error) {
    if (error instanceof PipelineFileError) {
      throw new CliError(error.message, EXIT.error, { cause: error });
    }
    throw error;
  }
}

export function pipelineCommand(program: Command, global: () => GlobalOptions): void {
  const pipeline = program.command('pipeline').description('define and inspect pipelines');
  pipeline
    .command('apply')
    .description('create or update a pipeline from a JSON or YAML file (and its parameters)')
    .argument('<file>', 'pipeline file: name, description, jobs, parameters')
    .action((file: string) => apply(global(), file));
  pipeline
    .command('list')
    .description('every pipeline with its jobs')
    .action(async () => {
      const pipelines = await withPool(global(), listPipelines);
      print(global(), pipelines, () => renderPipelineList(pipelines));
    });
  pipeline
    .command('show')
    .description("a pipeline's jobs with their effective settings, and their parameters")
    .argument('<name>', 'pipeline name')
    .action(async (name: string) => {
      const detail = await withPool(global(), async (pool) => {
        const found = await loadPipeline(pool, name);
        if (!found) throw await unknownPipeline(pool, name);
        return found;
      });
      print(global(), detail, () => renderPipeline(detail));
    });
}
