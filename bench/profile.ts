/**
 * npm run bench:profile [-- RUNS SLOTS]: a throughput run on an embedded PostgreSQL with
 * pg_stat_statements tracking statements inside functions too, then the statements that cost
 * the most. For finding where the time goes; `npm run bench` is the measure.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migrate } from '../src/db/migrate.js';
import { startEmbeddedPostgres } from '../src/embedded.js';
import { throughput } from './scenarios/throughput.js';

const [runs = '3000', slots = '2'] = process.argv.slice(2);
const server = await startEmbeddedPostgres({
  dataDir: await mkdtemp(join(tmpdir(), 'rush-profile-')),
  throwaway: true,
  settings: {
    shared_preload_libraries: 'pg_stat_statements',
    'pg_stat_statements.track': 'all',
    // `plans` far below `calls` is a plan cached and reused; equal, a statement planned anew
    // every time it runs.
    'pg_stat_statements.track_planning': 'on',
  },
});
try {
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query('CREATE DATABASE profile');
  await admin.end();
  const url = server.url.replace(/\/postgres$/, '/profile');
  await migrate(url);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('CREATE EXTENSION pg_stat_statements');
  await client.query('SELECT pg_stat_statements_reset()');
  const result = await throughput(
    url,
    { name: 'notify', args: [] },
    {
      runs: Number(runs),
      jobsPerRun: 1,
      slots: Number(slots),
    },
  );
  console.log(result);
  const { rows } = await client.query(
    `SELECT calls, plans, round(total_exec_time::numeric, 1) AS total_ms,
            round(total_plan_time::numeric, 1) AS plan_ms,
            round(mean_exec_time::numeric, 3) AS mean_ms,
            left(regexp_replace(query, '\\s+', ' ', 'g'), 80) AS query
     FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 25`,
  );
  console.table(rows);
  await client.end();
} finally {
  await server.stop();
}
