import { access } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import type { Job, JobInit } from '../job.js';
import { locateClass } from './class-name.js';

export type JobClass = new (init: JobInit) => Job;

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * Classes found before, by name and search path. A module, once imported, is never read again
 * (Node caches it), so only the file lookup is saved: its filesystem round trip cost more than
 * the whole wake from INSERT to run(). Failures are not kept: a file added later is found.
 */
const found = new Map<string, JobClass>();

export async function loadJobClass(
  className: string,
  jobsDirs: readonly string[],
): Promise<JobClass> {
  const key = JSON.stringify([className, jobsDirs]);
  const cached = found.get(key);
  if (cached) return cached;
  const loaded = await findJobClass(className, jobsDirs);
  found.set(key, loaded);
  return loaded;
}

/**
 * Finds and imports the class a pipeline names. Errors say what was looked for and where, so
 * that the failed attempt's message is enough to fix the definition or the jobs directory.
 */
async function findJobClass(className: string, jobsDirs: readonly string[]): Promise<JobClass> {
  const { files, exportName } = locateClass(className, jobsDirs);
  let file: string | undefined;
  for (const candidate of files) {
    if (await exists(candidate)) {
      file = candidate;
      break;
    }
  }
  if (file === undefined) {
    throw new Error(
      `job class "${className}" not found: no module at ${files.join(', ')}` +
        ` (add its directory with --jobs-dir)`,
    );
  }
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    throw new Error(
      `job class "${className}": loading ${file} failed: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  const exported =
    module[exportName] ?? (module.default as Record<string, unknown> | undefined)?.[exportName];
  if (exported === undefined) {
    const names = Object.keys(module).join(', ') || 'nothing';
    throw new Error(
      `job class "${className}": ${file} has no export "${exportName}" (it exports ${names})`,
    );
  }
  const prototype = (exported as { prototype?: unknown }).prototype as
    { run?: unknown } | undefined;
  if (typeof exported !== 'function' || typeof prototype?.run !== 'function') {
    throw new Error(
      `job class "${className}": export "${exportName}" of ${file} is not a class with a run() method` +
        ` (extend Job from rush)`,
    );
  }
  return exported as JobClass;
}
