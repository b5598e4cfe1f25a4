import type { Pool } from 'pg';
import { PipelineFileError, type PipelineFile } from './file.js';

interface PgError {
  code?: string;
  detail?: string;
  message: string;
}

/**
 * Writes a pipeline and, when the file has them, its parameters (replacing the old ones) in
 * one transaction. The database checks the definition; its error is pointed at the file's line.
 */
export async function applyPipeline(
  pool: Pool,
  file: PipelineFile,
  fileName: string,
): Promise<'created' | 'updated'> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ created: boolean }>(
      `INSERT INTO pipeline (name, definition) VALUES ($1, $2)
       ON CONFLICT (name) DO UPDATE SET definition = EXCLUDED.definition
       RETURNING (xmax = 0) AS created`,
      [file.name, JSON.stringify(file.definition)],
    );
    if (file.parameters) {
      const jobs = new Set(
        ((file.definition.jobs as { name?: unknown }[] | undefined) ?? []).map((job) => job.name),
      );
      for (const job of Object.keys(file.parameters)) {
        if (!jobs.has(job)) {
          const line = file.lineOf(`parameters.${job}`);
          throw new PipelineFileError(
            `${fileName}${line ? `:${line}` : ''}: parameters name job "${job}", which is not in the pipeline`,
          );
        }
      }
      await client.query('DELETE FROM job_parameter WHERE pipeline = $1', [file.name]);
      await client.query(
        `INSERT INTO job_parameter (pipeline, job, key, value)
         SELECT $1, p.job, p.key, p.value
         FROM jsonb_to_recordset($2::jsonb) AS p(job text, key text, value text)`,
        [
          file.name,
          JSON.stringify(
            Object.entries(file.parameters).flatMap(([job, values]) =>
              Object.entries(values).map(([key, value]) => ({ job, key, value })),
            ),
          ),
        ],
      );
    }
    await client.query('COMMIT');
    return rows[0]?.created ? 'created' : 'updated';
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    const pgError = error as PgError;
    if (pgError.code === '23514' && pgError.detail) {
      const line = file.lineOf(pgError.detail);
      throw new PipelineFileError(`${fileName}${line ? `:${line}` : ''}: ${pgError.message}`, {
        cause: error,
      });
    }
    throw error;
  } finally {
    client.release();
  }
}
