-- Least-privilege roles. Both are group roles (NOLOGIN): an administrator makes a login role a
-- member of one, e.g. CREATE ROLE alice LOGIN PASSWORD '…' IN ROLE rush_client.
--
-- rush_client: inserts run_request rows (pipeline, job, jobinstance, params) and reads them back
--   (status, message), LISTENs on rush_run_request; nothing else.
-- rush_worker: what `node dist/worker.js` needs: it reads the pipelines and their parameters,
--   moves requests, attempts and workers through their states, archives, holds the lease. It
--   does not write pipeline or job_parameter (whoever writes those decides what runs on the
--   workers) and does not change the schema: migrations and trigger scripts are applied by the
--   role that owns the tables (`rush migrate`). A worker whose schema is up to date finds
--   nothing to migrate and starts as rush_worker with or without --no-migrate.
--
-- The functions in triggers/ run with the rights of their caller (SECURITY INVOKER), so these
-- grants decide what each role can do through them; only the run_request defaults trigger runs
-- as its owner, so that a client's bare INSERT gets its first job and next instance.
--
-- A later migration that adds a table grants what these roles need on it.

-- Roles belong to the whole cluster, not to this database: another database on the same server
-- may have created them already, or be creating them right now (its CREATE ROLE then wins and
-- ours fails with duplicate_object or unique_violation, which is fine).
DO $$
DECLARE
  role_name text;
  purpose text;
BEGIN
  FOR role_name, purpose IN VALUES
    ('rush_client', 'Rush clients: insert run_request rows and read their status'),
    ('rush_worker', 'Rush workers: everything node dist/worker.js does, no schema changes')
  LOOP
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
        EXECUTE format('COMMENT ON ROLE %I IS %L', role_name, purpose);
      EXCEPTION
        WHEN duplicate_object OR unique_violation THEN
          NULL;
        WHEN insufficient_privilege THEN
          RAISE EXCEPTION 'role % does not exist, and % may not create it', role_name, current_user
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Have an administrator run CREATE ROLE rush_client NOLOGIN; '
                         'CREATE ROLE rush_worker NOLOGIN; then migrate again.';
      END;
    END IF;
  END LOOP;
END $$;

DO $$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO rush_client, rush_worker', current_schema());
END $$;

-- rush_client: its own requests, and nothing that says what runs or where.
GRANT SELECT ON run_request TO rush_client;
GRANT INSERT (pipeline, job, jobinstance, params) ON run_request TO rush_client;
GRANT USAGE ON SEQUENCE run_request_id_seq TO rush_client;

-- rush_worker.
GRANT SELECT ON pipeline, pipeline_job, job_parameter TO rush_worker;
GRANT SELECT, UPDATE ON run_request TO rush_worker;
GRANT SELECT, INSERT, UPDATE, DELETE ON run_state TO rush_worker;
GRANT USAGE ON SEQUENCE run_state_id_seq TO rush_worker;
GRANT SELECT, INSERT ON archive TO rush_worker;
GRANT SELECT, INSERT, UPDATE ON worker TO rush_worker;
GRANT SELECT, UPDATE ON master_token TO rush_worker;
-- Read only, so that a worker's migrate at start sees there is nothing to do.
GRANT SELECT ON migrations, rush_meta TO rush_worker;
