-- Notifications: statement-level triggers that wake the master and the one worker concerned.
-- A notification is only a latency hint: the sweep repairs anything one misses.

-- The channel a worker listens on for its assignments. Any name, however long or odd, maps to
-- exactly one valid identifier of 39 bytes; the worker asks the database for it, so the rule
-- lives here only.
CREATE OR REPLACE FUNCTION rush_worker_channel(p_worker text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT 'rush_w_' || md5(p_worker)
$$;

-- Wakes the master at most once per transaction. The master's own tick sets the flag first,
-- so nothing it changes wakes it again.
CREATE OR REPLACE FUNCTION rush_wake_master(p_reason text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF coalesce(current_setting('rush.master_woken', true), '') = '' THEN
    PERFORM set_config('rush.master_woken', p_reason, true);
    PERFORM pg_notify('rush_master', p_reason);
  END IF;
END $$;

-- What a worker needs to start an attempt without another query. Parameters are the job's
-- job_parameter rows overridden by the request's params.
CREATE OR REPLACE FUNCTION rush_attempt_payload(p_attempt run_state) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  payload jsonb;
BEGIN
  SELECT jsonb_build_object(
    'id', p_attempt.id,
    'pipeline', p_attempt.pipeline,
    'job', p_attempt.job,
    'jobinstance', p_attempt.jobinstance,
    'retry', p_attempt.retry,
    'class_name', pj.class_name,
    'timeout_minutes', pj.timeout_minutes,
    'params', coalesce(
      (SELECT jsonb_object_agg(jp.key, jp.value) FROM job_parameter jp
        WHERE jp.pipeline = p_attempt.pipeline AND jp.job = p_attempt.job), '{}'::jsonb)
      || coalesce((SELECT r.params FROM run_request r
                    WHERE r.id = p_attempt.request_id AND jsonb_typeof(r.params) = 'object'),
                  '{}'::jsonb))
  INTO payload
  FROM (SELECT 1) AS one
  LEFT JOIN pipeline_job pj ON pj.pipeline = p_attempt.pipeline AND pj.job = p_attempt.job;
  RETURN payload;
END $$;

-- run_request: every status change is told on rush_run_request as "id:status,id:status…" for
-- clients waiting on their run. (A new request is handled at its commit: 30_run_request.sql.)
-- jit is off: the planner cannot see how small a transition table is, and on a server with JIT
-- it compiled this query for every statement that changed a request (12 ms each, measured).
CREATE OR REPLACE FUNCTION rush_run_request_updated() RETURNS trigger
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
  chunk text;
BEGIN
  -- Payloads are capped at 8000 bytes: long lists go out in several notifications.
  FOR chunk IN
    SELECT string_agg(item, ',' ORDER BY n)
    FROM (SELECT n.id || ':' || n.status AS item,
                 row_number() OVER (ORDER BY n.id) AS n
          FROM new_rows n JOIN old_rows o ON o.id = n.id
          WHERE n.status IS DISTINCT FROM o.status) AS changed
    GROUP BY (n - 1) / 300
  LOOP
    PERFORM pg_notify('rush_run_request', chunk);
  END LOOP;
  RETURN NULL;
END $$;

-- A request set back to Pending by hand wakes the master.
CREATE OR REPLACE FUNCTION rush_run_request_reopened() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM rush_wake_master('request');
  RETURN NULL;
END $$;

-- A cancelled run's running attempt is aborted by its worker, as at a timeout.
CREATE OR REPLACE FUNCTION rush_run_request_cancelled() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify(rush_worker_channel(s.worker), jsonb_build_object('cancel', s.id)::text)
  FROM run_state s
  WHERE s.request_id = NEW.id AND s.status = 'Running';
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER run_request_reopened
  AFTER UPDATE ON run_request FOR EACH ROW
  WHEN (NEW.status = 'Pending' AND OLD.status <> 'Pending')
  EXECUTE FUNCTION rush_run_request_reopened();

CREATE OR REPLACE TRIGGER run_request_cancelled
  AFTER UPDATE ON run_request FOR EACH ROW
  WHEN (NEW.status = 'Cancelled' AND OLD.status <> 'Cancelled')
  EXECUTE FUNCTION rush_run_request_cancelled();

CREATE OR REPLACE TRIGGER run_request_status_changed
  AFTER UPDATE ON run_request REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION rush_run_request_updated();

-- The triggers below are row-level with WHEN conditions, so that PostgreSQL itself filters out
-- the rows nobody needs to hear about (a heartbeat, a message edit, what Rush's own functions
-- already told): a filtered row costs no function call and no transition table. A condition on
-- rush.master_woken means the master is either already woken in this transaction or is the one
-- making the change.

-- run_state: an attempt newly Running tells its worker, with the whole payload when it fits,
-- unless that worker takes it itself as it finishes another (rush.claimers); a finished attempt
-- or one made Ready or Waiting wakes the master.
CREATE OR REPLACE FUNCTION rush_run_state_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  payload text;
BEGIN
  IF NEW.status = 'Running' THEN
    payload := rush_attempt_payload(NEW)::text;
    IF octet_length(payload) > 7900 THEN
      payload := jsonb_build_object('id', NEW.id)::text;
    END IF;
    PERFORM pg_notify(rush_worker_channel(NEW.worker), payload);
  ELSIF NEW.status IN ('Complete', 'Failed') THEN
    PERFORM rush_wake_master('finished');
  ELSE
    PERFORM rush_wake_master('ready');
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER run_state_inserted
  AFTER INSERT ON run_state FOR EACH ROW
  WHEN ((NEW.status = 'Running' AND NEW.worker IS NOT NULL
         AND NOT coalesce(nullif(current_setting('rush.claimers', true), '')::jsonb ? NEW.worker, false))
        OR (NEW.status IN ('Complete', 'Failed', 'Ready', 'Waiting')
            AND coalesce(current_setting('rush.master_woken', true), '') = ''))
  EXECUTE FUNCTION rush_run_state_changed();

CREATE OR REPLACE TRIGGER run_state_updated
  AFTER UPDATE ON run_state FOR EACH ROW
  WHEN ((OLD.status, OLD.worker) IS DISTINCT FROM (NEW.status, NEW.worker)
        AND ((NEW.status = 'Running' AND NEW.worker IS NOT NULL
              AND NOT coalesce(nullif(current_setting('rush.claimers', true), '')::jsonb ? NEW.worker, false))
             OR (NEW.status IN ('Complete', 'Failed', 'Ready', 'Waiting')
                 AND coalesce(current_setting('rush.master_woken', true), '') = '')))
  EXECUTE FUNCTION rush_run_state_changed();

-- worker: a worker that becomes Free may take work; a heartbeat wakes nobody.
CREATE OR REPLACE FUNCTION rush_worker_freed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM rush_wake_master('worker');
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER worker_inserted
  AFTER INSERT ON worker FOR EACH ROW
  WHEN (NEW.status = 'Free' AND coalesce(current_setting('rush.master_woken', true), '') = '')
  EXECUTE FUNCTION rush_worker_freed();

CREATE OR REPLACE TRIGGER worker_updated
  AFTER UPDATE ON worker FOR EACH ROW
  WHEN (NEW.status = 'Free' AND OLD.status <> 'Free'
        AND coalesce(current_setting('rush.master_woken', true), '') = '')
  EXECUTE FUNCTION rush_worker_freed();

-- master_token: a master that resigns tells the standbys at once.
CREATE OR REPLACE FUNCTION rush_lease_released() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('rush_lease', 'released');
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER master_token_released
  AFTER UPDATE ON master_token FOR EACH ROW
  WHEN (NEW.master IS NULL AND OLD.master IS NOT NULL)
  EXECUTE FUNCTION rush_lease_released();
