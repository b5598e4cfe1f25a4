import { isAbsolute, join } from 'node:path';

export const MODULE_EXTENSIONS = ['.js', '.mjs', '.cjs'] as const;

export interface ClassLocation {
  /** Files to try, in order: the first that exists is the job's module. */
  files: string[];
  exportName: string;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/**
 * Where a `class_name` points, without touching the disk:
 * `a.b.C` is export `C` of module `a/b` (.js, .mjs or .cjs) in each jobs directory in turn;
 * `path/to/module.js#C` is export `C` of that file (absolute, or in each jobs directory).
 */
export function locateClass(className: string, jobsDirs: readonly string[]): ClassLocation {
  const trimmed = className.trim();
  const hash = trimmed.lastIndexOf('#');
  if (hash >= 0) {
    const file = trimmed.slice(0, hash);
    const exportName = trimmed.slice(hash + 1);
    if (file === '' || !IDENTIFIER.test(exportName)) {
      throw new Error(`class_name "${className}" is not of the form path/to/module.js#ClassName`);
    }
    return {
      files: isAbsolute(file) ? [file] : jobsDirs.map((dir) => join(dir, file)),
      exportName,
    };
  }
  const parts = trimmed.split('.');
  if (parts.length < 2 || !parts.every((part) => IDENTIFIER.test(part))) {
    throw new Error(
      `class_name "${className}" is not of the form module.path.ClassName ` +
        `(e.g. jobs.dummy_job.DummyJob) or path/to/module.js#ClassName`,
    );
  }
  const exportName = parts.pop()!;
  const modulePath = join(...parts);
  return {
    files: jobsDirs.flatMap((dir) => MODULE_EXTENSIONS.map((ext) => join(dir, modulePath + ext))),
    exportName,
  };
}
