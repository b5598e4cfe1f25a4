import { readFileSync, existsSync } from 'node:fs';
import pg from 'pg';

export const now = (): number => performance.timeOrigin + performance.now();

export interface Mark {
  jobinstance: number;
  job: string;
  attempt: number;
  start: number;
  end: number;
}

export function readMarks(file: string): Mark[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Mark);
}

/**
 * A client that inserts run requests and waits for them to end, woken by the database's
 * rush_run_request notifications (with a status check on every wake, so none is missed).
 */
export class RequestClient {
  private readonly client: pg.Client;
  private waiters = new Map<number, () => void>();

  constructor(url: string) {
    this.client = new pg.Client({ connectionString: url });
    this.client.on('notification', () => void this.check());
  }

  async open(): Promise<void> {
    await this.client.connect();
    await this.client.query('LISTEN rush_run_request');
  }

  /** Inserts a request of `pipeline`; resolves with its id and instance. */
  async insert(pipeline: string): Promise<{ id: number; jobinstance: number }> {
    const { rows } = await this.client.query<{ id: string; jobinstance: number }>(
      'INSERT INTO run_request (pipeline) VALUES ($1) RETURNING id, jobinstance',
      [pipeline],
    );
    return { id: Number(rows[0]!.id), jobinstance: rows[0]!.jobinstance };
  }

  async untilEnded(id: number, timeoutMs = 120_000): Promise<void> {
    const ended = new Promise<void>((resolve) => this.waiters.set(id, resolve));
    await this.check();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`run_request ${id} did not end in ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([ended, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.client.end();
  }

  private async check(): Promise<void> {
    if (this.waiters.size === 0) return;
    const ids = [...this.waiters.keys()];
    const { rows } = await this.client.query<{ id: string; status: string }>(
      `SELECT id, status FROM run_request WHERE id = ANY($1) AND status NOT IN ('Pending', 'Accepted')`,
      [ids],
    );
    for (const row of rows) {
      const id = Number(row.id);
      this.waiters.get(id)?.();
      this.waiters.delete(id);
    }
  }
}
