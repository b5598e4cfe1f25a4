import pg from 'pg';

// bigint columns (ids, terms) come back as numbers rather than strings: they stay far below
// 2^53. Imported for this effect by every module that queries.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));
