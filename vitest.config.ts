import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Finds a PostgreSQL server and migrates a template database once per run; every test
    // file clones it (test/support/db.ts), so files run in parallel without sharing rows.
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Global teardown drops this run's databases and may stop an embedded server.
    teardownTimeout: 60_000,
    // Worker processes and pg clients are real: a child process per file keeps them apart.
    pool: 'forks',
    fileParallelism: true,
  },
});
