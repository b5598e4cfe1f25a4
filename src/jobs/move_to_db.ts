import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { Job } from '../job.js';

/** The header is read in pieces of this size, and may not be longer than MAX_HEADER_BYTES. */
const HEADER_CHUNK_BYTES = 64 * 1024;
const MAX_HEADER_BYTES = 1024 * 1024;
const NEWLINE = 0x0a;

/** A connection for the load, and how to give it back. */
interface Connection {
  client: pg.ClientBase;
  /** The backend's pid, to cancel a statement that an abort interrupts. */
  pid: number;
  /** Returns the connection; `destroy` when its state is unknown (a failed ROLLBACK). */
  release(destroy: boolean): Promise<void>;
}

/**
 * Loads a tab-separated file into a table with `COPY … FROM STDIN`, in one transaction.
 *
 * Params:
 * - `file` (required): the path of the file. Its first line names the columns (tab-separated);
 *   the rest is COPY's text format: tab-separated fields, `\N` for NULL, backslash escapes.
 * - `table` (required): `table` or `schema.table`, taken exactly (each part is quoted, so
 *   case and any odd character count; a part cannot contain a dot).
 * - `truncate` (optional): `true` empties the table first, in the same transaction.
 * - `database_url` (optional): load into that database instead of the worker's.
 *
 * The file is streamed, never read whole. An abort (`this.signal`) stops the stream, cancels the
 * statement in progress, rolls back and fails the attempt.
 */
export class MoveToDb extends Job {
  async run(): Promise<void> {
    const file = this.requireParam('file');
    const table = this.requireParam('table');
    const truncate = booleanParam(this.params, 'truncate');
    const databaseUrl = nonEmpty(this.params['database_url']);
    const target = quoteTableName(table);
    const started = Date.now();
    const where = `"${file}" into ${target}`;
    this.throwIfAborted(where);

    let handle: FileHandle | undefined;
    try {
      handle = await open(file, 'r');
    } catch (err) {
      throw fileError(file, err);
    }
    // Until the read stream takes the handle over, closing it is ours to do.
    let handleOwned = true;
    try {
      const { columns, rest } = await readHeader(handle, file);
      const columnList = columns.map((column) => pg.escapeIdentifier(column)).join(', ');
      const copySql = `COPY ${target} (${columnList}) FROM STDIN`;

      const conn = await this.connect(databaseUrl);
      let busy = false;
      let cancelling: Promise<void> | undefined;
      const onAbort = () => {
        if (busy) cancelling = this.cancel(conn, databaseUrl);
      };
      this.signal.addEventListener('abort', onAbort, { once: true });
      let destroy = false;
      try {
        let rows: number;
        try {
          busy = true;
          await conn.client.query('BEGIN');
          this.throwIfAborted(where);
          if (truncate) {
            await conn.client.query(`TRUNCATE TABLE ${target}`);
            this.throwIfAborted(where);
          }
          const copy = conn.client.query(copyFrom(copySql));
          // Reads on from where the header ended (no seeking: a pipe or FIFO works too).
          const input = handle.createReadStream();
          handleOwned = false;
          await pipeline(input, dataAfterHeader(rest), copy, { signal: this.signal });
          rows = copy.rowCount;
          busy = false;
          this.throwIfAborted(where);
          await conn.client.query('COMMIT');
        } catch (err) {
          busy = false;
          try {
            await conn.client.query('ROLLBACK');
          } catch (rollbackError) {
            destroy = true;
            this.logger.warn({ err: rollbackError }, 'MoveToDb: ROLLBACK failed');
          }
          this.throwIfAborted(where);
          throw loadError(file, target, err);
        }
        const durationMs = Date.now() - started;
        this.logger.info(
          { file, table: target, columns, rows, truncated: truncate, durationMs },
          `MoveToDb loaded ${rows} rows from "${file}" into ${target} in ${durationMs} ms`,
        );
      } finally {
        this.signal.removeEventListener('abort', onAbort);
        // A connection that was sent a cancel is not handed back to the pool: a late cancel
        // must never hit somebody else's statement.
        if (cancelling !== undefined) {
          await cancelling;
          destroy = true;
        }
        await conn.release(destroy);
      }
    } finally {
      if (handleOwned) await handle.close();
    }
  }

  /** A connection from the worker's pool, or a new one to `database_url`. */
  private async connect(databaseUrl: string | undefined): Promise<Connection> {
    if (databaseUrl === undefined) {
      const client = await this.db.connect();
      try {
        const pid = await backendPid(client);
        return {
          client,
          pid,
          release: (destroy) => Promise.resolve(client.release(destroy)),
        };
      } catch (err) {
        client.release(true);
        throw err;
      }
    }
    // The URL is not repeated in errors or logs: it may hold a password.
    const client = new pg.Client({ connectionString: databaseUrl });
    client.on('error', (err) => this.logger.warn({ err }, 'MoveToDb: database_url connection'));
    try {
      await client.connect();
      const pid = await backendPid(client);
      return { client, pid, release: () => client.end() };
    } catch (err) {
      await client.end().catch(() => undefined);
      throw new Error(`MoveToDb: cannot connect to database_url: ${describe(err)}`, { cause: err });
    }
  }

  /** Cancels the statement running on `conn` (a COPY waiting for a lock, a slow TRUNCATE). */
  private async cancel(conn: Connection, databaseUrl: string | undefined): Promise<void> {
    const sql = 'SELECT pg_cancel_backend($1)';
    try {
      if (databaseUrl === undefined) {
        await this.db.query(sql, [conn.pid]);
      } else {
        const client = new pg.Client({ connectionString: databaseUrl });
        client.on('error', () => undefined);
        try {
          await client.connect();
          await client.query(sql, [conn.pid]);
        } finally {
          await client.end().catch(() => undefined);
        }
      }
    } catch (err) {
      this.logger.warn({ err, pid: conn.pid }, 'MoveToDb: could not cancel the running statement');
    }
  }

  private throwIfAborted(where: string): void {
    if (!this.signal.aborted) return;
    const reason: unknown = this.signal.reason;
    const why = reason instanceof Error ? `: ${reason.message}` : '';
    const error = new Error(`MoveToDb: loading ${where} was aborted${why}`, { cause: reason });
    error.name = 'AbortError';
    throw error;
  }
}

/**
 * `table` or `schema.table`, each part quoted as an identifier; anything else is refused, so
 * the name can never be more than a name.
 */
export function quoteTableName(table: string): string {
  const parts = table.split('.');
  if (parts.length > 2 || parts.some((part) => part === '')) {
    throw new Error(
      `MoveToDb: parameter "table" must be "table" or "schema.table", got ${JSON.stringify(table)}`,
    );
  }
  return parts.map((part) => pg.escapeIdentifier(part)).join('.');
}

/**
 * Reads the first line (the column names) and no more than one piece past it: `rest` holds the
 * bytes read after the header, the start of the data.
 */
async function readHeader(
  handle: FileHandle,
  file: string,
): Promise<{ columns: string[]; rest: Buffer }> {
  const pieces: Buffer[] = [];
  let length = 0;
  let rest: Buffer | undefined;
  try {
    while (rest === undefined) {
      const buffer = Buffer.alloc(HEADER_CHUNK_BYTES);
      // No position: read on sequentially, so a file that cannot seek works too.
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) {
        rest = Buffer.alloc(0); // a header-only file without a final newline
        break;
      }
      const piece = buffer.subarray(0, bytesRead);
      const newline = piece.indexOf(NEWLINE);
      if (newline !== -1) {
        pieces.push(piece.subarray(0, newline));
        length += newline;
        rest = piece.subarray(newline + 1);
      } else {
        pieces.push(piece);
        length += bytesRead;
      }
      if (length > MAX_HEADER_BYTES) {
        throw new Error(
          `MoveToDb: the header line of "${file}" is longer than ${MAX_HEADER_BYTES} bytes: ` +
            `is it a tab-separated file whose first line names the columns?`,
        );
      }
    }
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('MoveToDb:')) throw err;
    throw fileError(file, err);
  }

  let header = Buffer.concat(pieces).toString('utf8');
  if (header.startsWith('\uFEFF')) header = header.slice(1); // a byte order mark
  if (header.endsWith('\r')) header = header.slice(0, -1);
  if (header === '') {
    throw new Error(
      `MoveToDb: "${file}" has no header: its first line must name the columns, tab-separated`,
    );
  }
  const columns = header.split('\t');
  const blank = columns.findIndex((column) => column === '');
  if (blank !== -1) {
    throw new Error(
      `MoveToDb: the header of "${file}" has an empty column name (column ${blank + 1})`,
    );
  }
  return { columns, rest };
}

/**
 * The data for COPY: first `rest` (what was read past the header), then the file as it
 * streams through, then a newline when the file does not end with one.
 */
function dataAfterHeader(rest: Buffer): Transform {
  let pending: Buffer | undefined = rest.length > 0 ? rest : undefined;
  let last: number | undefined = rest.length > 0 ? rest[rest.length - 1] : undefined;
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      if (pending !== undefined) {
        this.push(pending);
        pending = undefined;
      }
      if (chunk.length > 0) last = chunk[chunk.length - 1];
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      if (pending !== undefined) {
        this.push(pending);
        pending = undefined;
      }
      callback(null, last !== undefined && last !== NEWLINE ? Buffer.from('\n') : undefined);
    },
  });
}

async function backendPid(client: pg.ClientBase): Promise<number> {
  const result = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return result.rows[0]!.pid;
}

function fileError(file: string, err: unknown): Error {
  return new Error(`MoveToDb: cannot read file "${file}": ${describe(err)}`, { cause: err });
}

/** The error of a failed load, naming the file and the table (and where in the file). */
function loadError(file: string, target: string, err: unknown): Error {
  if (isFileSystemError(err)) return fileError(file, err);
  if (err instanceof Error && err.message.startsWith('MoveToDb:')) return err;
  let message = `MoveToDb: loading "${file}" into ${target} failed: ${describe(err)}`;
  if (err instanceof pg.DatabaseError && err.where) message += ` (${err.where})`;
  return new Error(message, { cause: err });
}

function isFileSystemError(err: unknown): boolean {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}

function booleanParam(params: Record<string, string>, key: string): boolean {
  const raw = params[key];
  if (raw === undefined || raw.trim() === '') return false;
  const value = raw.trim().toLowerCase();
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new Error(
    `MoveToDb: parameter "${key}" must be "true" or "false", got ${JSON.stringify(raw)}`,
  );
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

function describe(value: unknown): string {
  return value instanceof Error ? value.message : String(value);
}
