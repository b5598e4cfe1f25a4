// Example jobs in plain JavaScript. A job extends Job and implements run(); `class_name`
// "quality.CheckLoaded" means export CheckLoaded of quality.mjs in a --jobs-dir.
import { access } from 'node:fs/promises';
import { Job } from '../../dist/index.js';

/** Stands for a source that is not always ready: with fail_first_try, its first try fails. */
export class FlakySource extends Job {
  async run() {
    const source = this.requireParam('source');
    if (this.params.fail_first_try === 'true' && this.context.retry === 0) {
      throw new Error(`source ${source} is not ready yet (simulated on the first try)`);
    }
    await access(source);
    this.logger.info({ source }, 'source is ready');
  }
}

/** Fails unless the table holds at least min_rows rows, and logs what it found. */
export class CheckLoaded extends Job {
  async run() {
    const table = this.requireParam('table');
    const minRows = Number(this.params.min_rows ?? '1');
    const { rows } = await this.db.query(
      `SELECT count(*)::int AS n FROM ${table
        .split('.')
        .map((p) => `"${p.replaceAll('"', '""')}"`)
        .join('.')}`,
    );
    const found = rows[0].n;
    if (found < minRows) throw new Error(`${table} holds ${found} row(s), fewer than ${minRows}`);
    this.logger.info({ table, rows: found }, 'table checked');
  }
}
