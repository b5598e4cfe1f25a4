import { isMap, isSeq, LineCounter, parseDocument, type Node } from 'yaml';

/** A pipeline as a file describes it (JSON or YAML): the definition plus its parameters. */
export interface PipelineFile {
  name: string;
  /** What the `pipeline.definition` column holds: `{ description?, jobs }`. */
  definition: { description?: unknown; jobs: unknown };
  /** job → key → value, or undefined when the file leaves parameters alone. */
  parameters: Record<string, Record<string, string>> | undefined;
  /** The line (1-based) of a field, by the path the database names (`jobs[1].retry_limit`). */
  lineOf(path: string): number | undefined;
}

export class PipelineFileError extends Error {
  override name = 'PipelineFileError';
}

const TOP_LEVEL = ['name', 'description', 'jobs', 'parameters'];

/** `jobs[1].retry_limit` → ['jobs', 1, 'retry_limit']. */
export function splitPath(path: string): (string | number)[] {
  return path
    .split(/\.|(?=\[)/)
    .filter((part) => part !== '')
    .map((part) => (/^\[\d+\]$/.test(part) ? Number(part.slice(1, -1)) : part));
}

function describeValue(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value;
}

/**
 * Reads a pipeline file. Checks its shape here (what the database cannot see: the file's own
 * keys, parameters); the job definitions themselves are checked by the database, whose error
 * names a field that `lineOf` turns into a line of this file.
 */
export function parsePipelineFile(text: string, fileName: string): PipelineFile {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false });
  const syntax = document.errors[0];
  if (syntax) {
    const line = lineCounter.linePos(syntax.pos[0]).line;
    throw new PipelineFileError(`${fileName}:${line}: ${syntax.message.split('\n')[0]}`);
  }
  const lineOf = (path: string): number | undefined => {
    let node: unknown = document.contents;
    let found: Node | undefined;
    for (const key of splitPath(path)) {
      if (isMap(node)) node = node.get(key, true);
      else if (isSeq(node) && typeof key === 'number') node = node.get(key, true);
      else break;
      if (node && typeof node === 'object' && 'range' in node) found = node as Node;
    }
    const offset = found?.range?.[0];
    return offset === undefined ? undefined : lineCounter.linePos(offset).line;
  };
  const at = (path: string): string => {
    const line = lineOf(path);
    return line === undefined ? fileName : `${fileName}:${line}`;
  };

  const data: unknown = document.toJS();
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new PipelineFileError(
      `${fileName}: a pipeline file must hold an object with name and jobs`,
    );
  }
  const record = data as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!TOP_LEVEL.includes(key)) {
      throw new PipelineFileError(
        `${at(key)}: ${key} is not a known field (known: ${TOP_LEVEL.join(', ')})`,
      );
    }
  }
  if (typeof record.name !== 'string' || record.name.trim() === '') {
    throw new PipelineFileError(`${at('name')}: name must be a non-empty string`);
  }

  let parameters: PipelineFile['parameters'];
  if (record.parameters !== undefined) {
    const raw = record.parameters;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new PipelineFileError(
        `${at('parameters')}: parameters must map job names to {key: value}`,
      );
    }
    parameters = {};
    for (const [job, values] of Object.entries(raw)) {
      if (typeof values !== 'object' || values === null || Array.isArray(values)) {
        throw new PipelineFileError(
          `${at(`parameters.${job}`)}: parameters.${job} must be {key: value}, not ${describeValue(values)}`,
        );
      }
      parameters[job] = {};
      for (const [key, value] of Object.entries(values as Record<string, unknown>)) {
        if (typeof value === 'object' && value !== null) {
          throw new PipelineFileError(
            `${at(`parameters.${job}.${key}`)}: parameters.${job}.${key} must be a string or number, not ${describeValue(value)}`,
          );
        }
        parameters[job][key] = String(value);
      }
    }
  }

  const definition: PipelineFile['definition'] = { jobs: record.jobs };
  if (record.description !== undefined) definition.description = record.description;
  return { name: record.name, definition, parameters, lineOf };
}
