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

-- run_request: a new Pending request wakes the master; every status change is told on
-- rush_run_request as "id:status,id:status…" for clients waiting on their run.
CREATE OR REPLACE FUNCTION rush_run_request_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM new_rows WHERE status = 'Pending') THEN
    PERFORM rush_wake_master('request');
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION rush_run_request_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
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
  IF EXISTS (SELECT 1 FROM new_rows n JOIN old_rows o ON o.id = n.id
             WHERE n.status = 'Pending' AND o.status <> 'Pending') THEN
    PERFORM rush_wake_master('request');
  END IF;
  -- A cancelled run's running attempt is aborted by its worker, as at a timeout.
  PERFORM pg_notify(rush_worker_channel(s.worker), jsonb_build_object('cancel', s.id)::text)
  FROM new_rows n
  JOIN old_rows o ON o.id = n.id
  JOIN run_state s ON s.request_id = n.id AND s.status = 'Running'
  WHERE n.status = 'Cancelled' AND o.status <> 'Cancelled';
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER run_request_wake_master
  AFTER INSERT ON run_request REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION rush_run_request_inserted();

CREATE OR REPLACE TRIGGER run_request_status_changed
  AFTER UPDATE ON run_request REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION rush_run_request_updated();

-- run_state: an attempt newly Running tells its worker, with the whole payload when it fits;
-- a finished attempt or one made Ready by hand wakes the master.
CREATE OR REPLACE FUNCTION rush_run_state_notify(p_changed run_state[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  attempt run_state;
  payload text;
BEGIN
  FOREACH attempt IN ARRAY p_changed LOOP
    IF attempt.status = 'Running' AND attempt.worker IS NOT NULL
       AND NOT coalesce(nullif(current_setting('rush.claimers', true), '')::jsonb ? attempt.worker,
                        false) THEN
      payload := rush_attempt_payload(attempt)::text;
      IF octet_length(payload) > 7900 THEN
        payload := jsonb_build_object('id', attempt.id)::text;
      END IF;
      PERFORM pg_notify(rush_worker_channel(attempt.worker), payload);
    END IF;
  END LOOP;
  IF EXISTS (SELECT 1 FROM unnest(p_changed) c WHERE c.status IN ('Complete', 'Failed')) THEN
    PERFORM rush_wake_master('finished');
  ELSIF EXISTS (SELECT 1 FROM unnest(p_changed) c WHERE c.status IN ('Ready', 'Waiting')) THEN
    PERFORM rush_wake_master('ready');
  END IF;
END $$;

CREATE OR REPLACE FUNCTION rush_run_state_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM rush_run_state_notify(ARRAY(SELECT n::run_state FROM new_rows n));
  RETURN NULL;
END $$;

-- Only rows whose status or worker changed count: a message edit wakes nobody.
CREATE OR REPLACE FUNCTION rush_run_state_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM rush_run_state_notify(ARRAY(
    SELECT n::run_state FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE (n.status, n.worker) IS DISTINCT FROM (o.status, o.worker)));
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER run_state_inserted
  AFTER INSERT ON run_state REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION rush_run_state_inserted();

CREATE OR REPLACE TRIGGER run_state_updated
  AFTER UPDATE ON run_state REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION rush_run_state_updated();

-- worker: a worker that becomes Free may take work; a heartbeat wakes nobody.
CREATE OR REPLACE FUNCTION rush_worker_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM new_rows WHERE status = 'Free') THEN
    PERFORM rush_wake_master('worker');
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION rush_worker_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM new_rows n JOIN old_rows o ON o.name = n.name
             WHERE n.status = 'Free' AND o.status <> 'Free') THEN
    PERFORM rush_wake_master('worker');
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER worker_inserted
  AFTER INSERT ON worker REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION rush_worker_inserted();

CREATE OR REPLACE TRIGGER worker_updated
  AFTER UPDATE ON worker REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION rush_worker_updated();

-- master_token: a master that resigns tells the standbys at once.
CREATE OR REPLACE FUNCTION rush_lease_released() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM new_rows n JOIN old_rows o ON o.id = n.id
             WHERE n.master IS NULL AND o.master IS NOT NULL) THEN
    PERFORM pg_notify('rush_lease', 'released');
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER master_token_released
  AFTER UPDATE ON master_token REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION rush_lease_released();
