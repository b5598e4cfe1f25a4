-- What a worker process does to the database: join, beat, finish attempts, leave.

-- Joins (or re-joins) as Free. An attempt still Running under this name belonged to a former
-- process of the same name that died: it is failed now rather than at the next sweep.
CREATE OR REPLACE FUNCTION rush_register_worker(p_worker text, p_host text, p_pid integer)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE run_state s
  SET status = 'Failed', endtime = now(),
      message = format('worker %L restarted while running this attempt', p_worker)
  WHERE s.worker = p_worker AND s.status = 'Running';

  INSERT INTO worker AS w (name, host, pid, status, run_id, lastseen, started)
  VALUES (p_worker, p_host, p_pid, 'Free', NULL, now(), now())
  ON CONFLICT (name) DO UPDATE
    SET host = EXCLUDED.host, pid = EXCLUDED.pid, status = 'Free', run_id = NULL,
        lastseen = now(), started = now();

  RETURN rush_worker_channel(p_worker);
END $$;

-- The heartbeat, and the sweep of a worker's own state in the same round trip: it returns the
-- attempt assigned to this worker (in case its notification was lost), or the id of one to abort
-- because its run was cancelled, and whether the master lease is free to take (or still held
-- under this name by a former process). A worker that was marked Lost but is alive comes back
-- Free; the attempt taken from it was already failed and re-queued, and its id fences any late
-- result.
CREATE OR REPLACE FUNCTION rush_worker_heartbeat(p_worker text)
RETURNS TABLE (status text, attempt jsonb, cancel bigint, lease_free boolean)
LANGUAGE plpgsql AS $$
DECLARE
  me worker;
  mine run_state;
  request_status text;
BEGIN
  UPDATE worker w
  SET lastseen = now(),
      status = CASE WHEN w.status = 'Lost' THEN 'Free' ELSE w.status END,
      run_id = CASE WHEN w.status = 'Lost' THEN NULL ELSE w.run_id END
  WHERE w.name = p_worker
  RETURNING w.* INTO me;

  status := me.status;
  SELECT s.* INTO mine FROM run_state s
  WHERE s.id = me.run_id AND s.worker = p_worker AND s.status = 'Running';
  IF mine.id IS NOT NULL THEN
    SELECT r.status INTO request_status FROM run_request r WHERE r.id = mine.request_id;
    IF request_status = 'Cancelled' THEN
      cancel := mine.id;
    ELSE
      attempt := rush_attempt_payload(mine);
    END IF;
  END IF;
  SELECT t.master IS NULL OR t.endtime <= clock_timestamp() OR t.master = p_worker
  INTO lease_free FROM master_token t;
  RETURN NEXT;
END $$;

-- The payload of one attempt, when its notification was too large to carry it.
CREATE OR REPLACE FUNCTION rush_attempt_for_worker(p_worker text, p_attempt bigint)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT rush_attempt_payload(s) FROM run_state s
  WHERE s.id = p_attempt AND s.worker = p_worker AND s.status = 'Running'
$$;

-- Records an attempt's outcome, settles it (archive; next job, retry or end of run) and lets the
-- worker take the oldest Ready attempt at once, all in one transaction: the handoff from one job
-- to the next costs one round trip and no notification. With nothing Ready (or when stopping,
-- p_then = 'Offline') the worker becomes Free (Offline) instead.
--
-- The attempt changes only while it is still Running on this worker: a late result after a
-- timeout, a loss or a restart changes nothing. Returns {taken, next}: whether the result was
-- taken, and the payload of the attempt the worker now holds, if any.
CREATE OR REPLACE FUNCTION rush_finish_attempt(p_worker text, p_attempt bigint, p_ok boolean,
                                               p_message text, p_then text DEFAULT 'Free')
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  taken boolean;
  settled jsonb := '{}';
  candidate bigint;
  claimed run_state;
BEGIN
  IF p_then NOT IN ('Free', 'Offline') THEN
    RAISE EXCEPTION 'rush_finish_attempt: p_then must be Free or Offline (got %)', p_then;
  END IF;
  -- This function decides whom to wake; the triggers stay quiet, and do not tell this worker
  -- about the attempt it takes itself.
  PERFORM set_config('rush.master_woken', 'finish', true);
  PERFORM set_config('rush.claimer', p_worker, true);

  UPDATE run_state s
  SET status = CASE WHEN p_ok THEN 'Complete' ELSE 'Failed' END,
      endtime = now(),
      message = p_message
  WHERE s.id = p_attempt AND s.worker = p_worker AND s.status = 'Running';
  taken := FOUND;
  IF taken THEN
    settled := rush_settle(ARRAY[p_attempt], now());
  END IF;

  IF p_then = 'Free' THEN
    SELECT s.id INTO candidate FROM run_state s
    WHERE s.status = 'Ready'
    ORDER BY s.readytime, s.id LIMIT 1
    FOR UPDATE SKIP LOCKED;
    IF candidate IS NOT NULL THEN
      UPDATE worker w SET run_id = candidate, lastseen = now()
      WHERE w.name = p_worker AND w.run_id = p_attempt AND w.status = 'Busy';
      IF FOUND THEN
        UPDATE run_state s
        SET status = 'Running', worker = p_worker, starttime = now(),
            deadline = now() + coalesce(pj.timeout_minutes, 60) * interval '1 minute'
        FROM run_state x
        LEFT JOIN pipeline_job pj ON pj.pipeline = x.pipeline AND pj.job = x.job
        WHERE s.id = candidate AND x.id = candidate
        RETURNING s.* INTO claimed;
      END IF;
    END IF;
  END IF;

  IF claimed.id IS NULL THEN
    UPDATE worker w SET status = p_then, run_id = NULL, lastseen = now()
    WHERE w.name = p_worker AND w.run_id = p_attempt AND w.status = 'Busy';
  END IF;

  -- The master is needed for a retry's timer, or for Ready work this worker did not take.
  IF coalesce((settled ->> 'waiting')::integer, 0) > 0
     OR (claimed.id IS NULL AND EXISTS (SELECT 1 FROM run_state WHERE status = 'Ready')) THEN
    PERFORM pg_notify('rush_master', 'finished');
  END IF;

  RETURN jsonb_build_object(
    'taken', taken,
    'next', CASE WHEN claimed.id IS NOT NULL THEN rush_attempt_payload(claimed) END);
END $$;

-- Leaves cleanly, when no job of this worker is running. An attempt assigned in the meantime
-- was never started: it goes back to Ready for another worker, its retry count untouched.
CREATE OR REPLACE FUNCTION rush_worker_offline(p_worker text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE run_state s
  SET status = 'Ready', worker = NULL, starttime = NULL, deadline = NULL
  FROM worker w
  WHERE w.name = p_worker AND s.id = w.run_id AND s.worker = p_worker AND s.status = 'Running';

  UPDATE worker w SET status = 'Offline', run_id = NULL, lastseen = now()
  WHERE w.name = p_worker;
END $$;
