-- A request is judged as it is inserted, in the client's own statement: a bare
--   INSERT INTO run_request (pipeline) VALUES ('etl');
-- gets the first job and the next instance filled in, and comes back Accepted (its first attempt
-- queued Ready) or Rejected with a message, so `INSERT … RETURNING status, message` answers at
-- once. As the transaction commits, the queued attempts go to Free workers, whose notifications
-- carry them: the wake from INSERT to run() is one notification, with no master in between.
--
-- `SET rush.accept_at_commit = off` (per session, role or database) leaves requests Pending for
-- the master's tick to judge and queue instead, and an INSERT that names another status as it
-- is (one inserted Accepted still gets its first attempt queued, unless the setting is off).

-- Why a request cannot run, or NULL. Also used by the master for Pending requests.
CREATE OR REPLACE FUNCTION rush_request_problem(p_pipeline text, p_job text, p_jobinstance integer,
                                                p_params jsonb) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pipeline x WHERE x.name = p_pipeline) THEN
    RETURN format('unknown pipeline %L', p_pipeline);
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pipeline_job pj WHERE pj.pipeline = p_pipeline AND pj.job = p_job) THEN
    RETURN format('unknown job %L in pipeline %L (its jobs: %s)', p_job, p_pipeline,
                  (SELECT string_agg(pj.job, ', ' ORDER BY pj.position)
                   FROM pipeline_job pj WHERE pj.pipeline = p_pipeline));
  END IF;
  IF p_jobinstance < 0 THEN
    RETURN format('jobinstance must be 0 or more (got %s)', p_jobinstance);
  END IF;
  IF p_params IS NOT NULL AND jsonb_typeof(p_params) <> 'object' THEN
    RETURN 'params must be a JSON object of parameter names to values';
  END IF;
  RETURN NULL;
END $$;

-- Runs as its owner (SECURITY DEFINER): a rush_client may insert a request without reading
-- pipeline_job; search_path is pinned, pg_temp last, so no object of the caller's stands in.
CREATE OR REPLACE FUNCTION rush_run_request_defaults() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
  problem text;
  live bigint;
  judged boolean;
BEGIN
  IF NEW.job IS NULL THEN
    SELECT pj.job INTO NEW.job FROM pipeline_job pj
    WHERE pj.pipeline = NEW.pipeline AND pj.position = 1;
  END IF;
  NEW.status := coalesce(NEW.status, 'Pending');
  judged := NEW.status = 'Pending'
            AND coalesce(current_setting('rush.accept_at_commit', true), '') <> 'off';
  IF NEW.jobinstance IS NULL OR judged THEN
    -- Inserts into one pipeline are serialised until commit, so concurrent ones never share an
    -- instance, and a concurrent duplicate waits here, then sees this one Accepted. One lock
    -- per pipeline, not per instance: a bulk insert of many thousand rows would fill the
    -- server's lock table (64 per connection by default) and fail.
    PERFORM pg_advisory_xact_lock(hashtext('rush.jobinstance'), hashtext(NEW.pipeline));
  END IF;
  IF NEW.jobinstance IS NULL THEN
    SELECT coalesce(max(r.jobinstance), 0) + 1 INTO NEW.jobinstance
    FROM run_request r WHERE r.pipeline = NEW.pipeline;
  END IF;
  IF NOT judged THEN
    RETURN NEW;
  END IF;

  problem := rush_request_problem(NEW.pipeline, NEW.job, NEW.jobinstance, NEW.params);
  IF problem IS NULL THEN
    -- Earlier rows of the same statement are visible.
    SELECT r.id INTO live FROM run_request r
    WHERE r.pipeline = NEW.pipeline AND r.jobinstance = NEW.jobinstance AND r.status = 'Accepted'
    LIMIT 1;
    IF live IS NOT NULL THEN
      problem := format('duplicate: instance %s of pipeline %L is already running (request %s)',
                        NEW.jobinstance, NEW.pipeline, live);
    END IF;
  END IF;
  NEW.status := CASE WHEN problem IS NULL THEN 'Accepted' ELSE 'Rejected' END;
  NEW.message := problem;
  RETURN NEW;
END $$;

-- The first attempt of each request this statement inserts Accepted, Ready. Its own
-- notification to the master is held back: the commit trigger below decides whether the master
-- is needed.
CREATE OR REPLACE FUNCTION rush_run_request_queue() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp SET jit = off AS $$
DECLARE
  woken text := coalesce(current_setting('rush.master_woken', true), '');
BEGIN
  IF coalesce(current_setting('rush.accept_at_commit', true), '') = 'off' THEN
    RETURN NULL;
  END IF;
  PERFORM set_config('rush.master_woken', 'request', true);
  INSERT INTO run_state (request_id, pipeline, job, jobinstance, retry, status, readytime)
  SELECT n.id, n.pipeline, n.job, n.jobinstance, 0, 'Ready', now()
  FROM new_rows n WHERE n.status = 'Accepted';
  PERFORM set_config('rush.master_woken', woken, true);
  RETURN NULL;
END $$;

-- As the transaction commits: Ready attempts go to Free workers (the oldest first, whoever
-- queued them), and the master is woken only for what is left to it (a Pending request, or
-- Ready work that a Free worker could take but this could not lock). A deferred constraint
-- trigger, so the worker rows it locks are held for the commit only, never for the rest of a
-- long client transaction; row-level by necessity, it does its work once per commit.
CREATE OR REPLACE FUNCTION rush_run_request_commit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
  woken text := coalesce(current_setting('rush.master_woken', true), '');
BEGIN
  IF current_setting('rush.request_commit', true) = statement_timestamp()::text THEN
    RETURN NULL;
  END IF;
  PERFORM set_config('rush.request_commit', statement_timestamp()::text, true);
  -- Under REPEATABLE READ or SERIALIZABLE, locking worker rows that a
  -- heartbeat touched since the snapshot would fail the client's COMMIT:
  -- there the master assigns instead.
  IF coalesce(current_setting('rush.accept_at_commit', true), '') <> 'off'
     AND current_setting('transaction_isolation') = 'read committed'
     AND EXISTS (SELECT 1 FROM worker WHERE status = 'Free')
     AND EXISTS (SELECT 1 FROM run_state WHERE status = 'Ready') THEN
    PERFORM set_config('rush.master_woken', 'request', true);
    PERFORM rush_assign_ready(now(), 500);
  END IF;
  IF woken = ''
     AND (EXISTS (SELECT 1 FROM run_request WHERE status = 'Pending')
          OR (EXISTS (SELECT 1 FROM worker WHERE status = 'Free')
              AND EXISTS (SELECT 1 FROM run_state WHERE status = 'Ready'))) THEN
    PERFORM pg_notify('rush_master', 'request');
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION rush_run_request_touched() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated := now();
  RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER run_request_defaults
  BEFORE INSERT ON run_request
  FOR EACH ROW EXECUTE FUNCTION rush_run_request_defaults();

CREATE OR REPLACE TRIGGER run_request_queue
  AFTER INSERT ON run_request REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION rush_run_request_queue();

CREATE CONSTRAINT TRIGGER run_request_accept_at_commit
  AFTER INSERT ON run_request
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION rush_run_request_commit();

CREATE OR REPLACE TRIGGER run_request_touched
  BEFORE UPDATE ON run_request FOR EACH ROW
  WHEN (NEW.status IS DISTINCT FROM OLD.status)
  EXECUTE FUNCTION rush_run_request_touched();
