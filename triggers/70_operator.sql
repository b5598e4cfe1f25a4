-- What an operator does by hand (rush retry, rush cancel): one function each, so that a change
-- of state is one transaction, checked where the rows are locked, and the same from psql.

-- A Stuck attempt gets one more try: it becomes Ready (the run_state trigger wakes the master)
-- and its request goes from Stuck back to Accepted, together or not at all.
CREATE OR REPLACE FUNCTION rush_retry_attempt(p_attempt bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  attempt run_state;
  request run_request;
  archived text;
  other bigint;
BEGIN
  SELECT * INTO attempt FROM run_state s WHERE s.id = p_attempt FOR UPDATE;
  IF NOT FOUND THEN
    SELECT a.status INTO archived FROM archive a WHERE a.id = p_attempt;
    IF archived IS NOT NULL THEN
      RAISE EXCEPTION 'attempt % ended % and is archived: only a Stuck attempt can be retried',
        p_attempt, archived
        USING HINT = 'rush status lists the Stuck attempts';
    END IF;
    RAISE EXCEPTION 'attempt % does not exist', p_attempt
      USING HINT = 'rush status lists the Stuck attempts';
  END IF;
  IF attempt.status <> 'Stuck' THEN
    RAISE EXCEPTION 'attempt % is %, not Stuck: only a Stuck attempt can be retried',
      p_attempt, attempt.status;
  END IF;

  SELECT * INTO request FROM run_request r WHERE r.id = attempt.request_id FOR UPDATE;
  IF request.status IS DISTINCT FROM 'Stuck' THEN
    RAISE EXCEPTION 'attempt % belongs to run_request %, which is %, not Stuck',
      p_attempt, attempt.request_id, coalesce(request.status, 'gone');
  END IF;

  BEGIN
    UPDATE run_request r SET status = 'Accepted', message = NULL WHERE r.id = request.id;
  EXCEPTION WHEN unique_violation THEN
    -- run_request_one_live_run: another run of this instance was accepted meanwhile.
    SELECT r.id INTO other FROM run_request r
    WHERE r.pipeline = request.pipeline AND r.jobinstance = request.jobinstance
      AND r.status = 'Accepted' AND r.id <> request.id
    LIMIT 1;
    RAISE EXCEPTION 'instance % of pipeline % has another run in flight (run_request %): '
                    'retry attempt % once that run has ended',
      request.jobinstance, quote_literal(request.pipeline), coalesce(other::text, '?'), p_attempt
      USING ERRCODE = 'unique_violation';
  END;

  UPDATE run_state s
  SET status = 'Ready', retry = s.retry + 1, readytime = now(), message = NULL,
      worker = NULL, starttime = NULL, endtime = NULL, deadline = NULL
  WHERE s.id = p_attempt
  RETURNING s.* INTO attempt;

  RETURN jsonb_build_object(
    'attempt', attempt.id, 'request', request.id, 'pipeline', attempt.pipeline,
    'job', attempt.job, 'jobinstance', attempt.jobinstance, 'retry', attempt.retry,
    'status', attempt.status, 'request_status', 'Accepted');
END $$;

-- A request that has not ended is Cancelled. Its attempts that have not started are failed
-- now, so the master archives them (and, the request being no longer Accepted, queues nothing
-- after them). A Running attempt is left to its worker, which is told to abort it by the
-- run_request trigger; this function sends no notification itself.
CREATE OR REPLACE FUNCTION rush_cancel_request(p_request bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  request run_request;
  stopped jsonb;
  running jsonb;
BEGIN
  SELECT * INTO request FROM run_request r WHERE r.id = p_request FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'run_request % does not exist', p_request;
  END IF;
  IF request.status NOT IN ('Pending', 'Accepted') THEN
    RAISE EXCEPTION 'run_request % is % already: only a Pending or Accepted run can be cancelled',
      p_request, request.status;
  END IF;

  UPDATE run_request r SET status = 'Cancelled', message = 'cancelled by an operator'
  WHERE r.id = p_request;

  WITH failed AS (
    UPDATE run_state s
    SET status = 'Failed', endtime = now(), message = 'cancelled before it started'
    WHERE s.request_id = p_request AND s.status IN ('Ready', 'Waiting')
    RETURNING s.id
  )
  SELECT coalesce(jsonb_agg(f.id ORDER BY f.id), '[]') INTO stopped FROM failed f;

  SELECT coalesce(jsonb_agg(jsonb_build_object('attempt', s.id, 'job', s.job,
                                               'worker', s.worker) ORDER BY s.id), '[]')
  INTO running
  FROM run_state s WHERE s.request_id = p_request AND s.status = 'Running';

  RETURN jsonb_build_object(
    'request', p_request, 'pipeline', request.pipeline, 'jobinstance', request.jobinstance,
    'was', request.status, 'status', 'Cancelled', 'stopped', stopped, 'running', running);
END $$;
