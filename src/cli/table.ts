import Table from 'cli-table3';

export type Cell = string | number | boolean | null | undefined;

export interface TableOptions {
  /** Printed instead of a table with no rows. */
  empty?: string;
  /** Widths of columns (null: as wide as needed); text wraps within them. */
  widths?: (number | null)[];
}

/** A table for people: plain text (no colours, so it reads the same in a pipe), "—" for none. */
export function renderTable(head: string[], rows: Cell[][], options: TableOptions = {}): string {
  if (rows.length === 0) return options.empty ?? '(none)';
  const table = new Table({
    head,
    style: { head: [], border: [] },
    ...(options.widths ? { colWidths: options.widths, wordWrap: true } : {}),
  });
  for (const row of rows) {
    table.push(row.map((cell) => (cell === null || cell === undefined ? '—' : cell)));
  }
  return table.toString();
}

/** A titled block, as `rush status` and `rush pipeline show` print several. */
export function section(title: string, body: string): string {
  return `${title}\n${body}`;
}
