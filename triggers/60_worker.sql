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

-- The heartbeat of every slot of a worker process, and the sweep of their state, in one round
-- trip: for each slot, the attempt assigned to it (in case its notification was lost), or the id
-- of one to abort because its run was cancelled, and whether it had been marked Lost (then
-- whatever it still runs was already failed and given to another worker: it must stop); and
-- whether the master lease is free to take (or still held under this process's name by a
-- former process). A worker that was marked Lost but is alive comes back Free; the attempt
-- taken from it was already failed and re-queued, and its id fences any late result. p_ping,
-- when given, is a channel to notify (the worker's check of its listening connection).
CREATE OR REPLACE FUNCTION rush_worker_heartbeat(p_workers text[], p_process text,
                                                 p_ping text DEFAULT NULL)
RETURNS TABLE (worker text, status text, was_lost boolean, attempt jsonb, cancel bigint,
               lease_free boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  free_lease boolean;
BEGIN
  -- The check rides on the beat: an idle worker sends no statement of its own for it.
  IF p_ping IS NOT NULL THEN
    PERFORM pg_notify(p_ping, '{"ping":true}');
  END IF;
  SELECT t.master IS NULL OR t.endtime <= clock_timestamp() OR t.master = p_process
  INTO free_lease FROM master_token t;

  RETURN QUERY
  WITH before AS (
    -- In name order, as rush_finish_attempts locks them: in any other order, a beat and a
    -- finish of the same slots deadlock.
    SELECT w.name, w.status FROM worker w WHERE w.name = ANY (p_workers)
    ORDER BY w.name FOR UPDATE
  ),
  beat AS (
    UPDATE worker w
    SET lastseen = now(),
        status = CASE WHEN w.status = 'Lost' THEN 'Free' ELSE w.status END,
        run_id = CASE WHEN w.status = 'Lost' THEN NULL ELSE w.run_id END
    FROM before
    WHERE w.name = before.name
    RETURNING w.name, w.status, w.run_id, before.status = 'Lost' AS was_lost
  )
  SELECT n.name, b.status, coalesce(b.was_lost, false),
         CASE WHEN r.status IS DISTINCT FROM 'Cancelled' AND s.id IS NOT NULL
              THEN rush_attempt_payload(s) END,
         CASE WHEN r.status = 'Cancelled' THEN s.id END,
         free_lease
  FROM unnest(p_workers) AS n(name)
  LEFT JOIN beat b ON b.name = n.name
  LEFT JOIN run_state s ON s.id = b.run_id AND s.worker = n.name AND s.status = 'Running'
  LEFT JOIN run_request r ON r.id = s.request_id;
END $$;

-- The payload of one attempt, when its notification was too large to carry it.
CREATE OR REPLACE FUNCTION rush_attempt_for_worker(p_worker text, p_attempt bigint)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT rush_attempt_payload(s) FROM run_state s
  WHERE s.id = p_attempt AND s.worker = p_worker AND s.status = 'Running'
$$;

-- Records the outcomes of finished attempts (one, or all the slots of a process that finished
-- together), settles them (archive; next job, retry or end of run) and lets each of those
-- workers take the oldest Ready attempt at once, all in one transaction: the handoff from one
-- job to the next costs one round trip and no notification. With nothing Ready (or when
-- stopping: then = 'Offline') a worker becomes Free (Offline) instead.
--
-- p_results: [{worker, attempt, ok, message, then_status}]. An attempt changes only while it is still
-- Running on its worker: a late result after a timeout, a loss or a restart changes nothing.
-- Returns [{attempt, taken, next}]: whether each result was taken, and the payload of the
-- attempt its worker now holds, if any.
--
-- Each row is written once: the attempt leaves run_state as its outcome is recorded (straight
-- to the archive), and the worker row goes from Busy to Busy on its next attempt, or to Free.
--
-- No bitmap scans: a partial index of Running attempts holds an entry for every attempt that
-- ran since the table was last vacuumed, and a bitmap scan reads them all, so each finish cost
-- more than the last (0.05 ms for the DELETE became 0.6 ms after 16,000 attempts). A plain
-- index scan marks the dead entries as it passes, and later scans skip them. Generic plans:
-- see rush_settle_rows.
CREATE OR REPLACE FUNCTION rush_finish_attempts(p_results jsonb) RETURNS jsonb
LANGUAGE plpgsql SET enable_bitmapscan = off SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  done run_state[];
  taken_ids bigint[];
  workers text[];
  bad_then boolean;
  settled jsonb := '{}';
  result jsonb;
BEGIN
  SELECT array_agg(r.worker), bool_or(r.then_status NOT IN ('Free', 'Offline'))
  INTO workers, bad_then
  FROM jsonb_to_recordset(p_results) AS r(worker text, then_status text);
  IF bad_then THEN
    RAISE EXCEPTION 'rush_finish_attempts: then must be Free or Offline';
  END IF;
  -- This function decides whom to wake; the triggers stay quiet, and do not tell these workers
  -- about the attempts they take themselves.
  PERFORM set_config('rush.master_woken', 'finish', true);
  PERFORM set_config('rush.claimers', to_jsonb(workers)::text, true);
  -- Lock order everywhere: worker rows, then run_state, then run_request (the master's tick
  -- marks a worker Lost before failing its attempt): taken here first, no deadlock.
  PERFORM 1 FROM worker w WHERE w.name = ANY (workers) ORDER BY w.name FOR UPDATE;

  WITH outcome AS (
    SELECT * FROM jsonb_to_recordset(p_results)
      AS r(worker text, attempt bigint, ok boolean, message text)
  ),
  removed AS (
    DELETE FROM run_state s
    USING outcome o
    WHERE s.id = o.attempt AND s.worker = o.worker AND s.status = 'Running'
    RETURNING jsonb_populate_record(s, jsonb_build_object(
      'status', CASE WHEN o.ok THEN 'Complete' ELSE 'Failed' END,
      'endtime', now(),
      'message', o.message)) AS attempt
  )
  SELECT array_agg(removed.attempt), array_agg((removed.attempt).id) INTO done, taken_ids
  FROM removed;
  IF taken_ids IS NOT NULL THEN
    settled := rush_settle_rows(done, now());
  END IF;

  -- Each worker that stays pairs with the oldest Ready attempt it can lock (in name order),
  -- and every finishing worker row is written once: Busy on its next attempt, Free, or Offline.
  -- A worker that stays Busy keeps its lastseen (its beats set it, and becoming Free), so no
  -- indexed column changes and the update is HOT: the worker table does not bloat under load.
  WITH finished AS (
    SELECT r.worker, coalesce(r.then_status, 'Free') AS then_status
    FROM jsonb_to_recordset(p_results) AS r(worker text, attempt bigint, then_status text)
    JOIN worker w ON w.name = r.worker AND w.run_id = r.attempt AND w.status = 'Busy'
  ),
  claimers AS (
    SELECT f.worker, row_number() OVER (ORDER BY f.worker) AS n
    FROM finished f WHERE f.then_status = 'Free'
  ),
  ready AS (
    SELECT a.id, a.pipeline, a.job, row_number() OVER (ORDER BY a.readytime, a.id) AS n
    FROM (SELECT s.id, s.pipeline, s.job, s.readytime FROM run_state s
          WHERE s.status = 'Ready'
          ORDER BY s.readytime, s.id LIMIT (SELECT count(*) FROM claimers)
          FOR UPDATE SKIP LOCKED) AS a
  ),
  running AS (
    UPDATE run_state s
    SET status = 'Running', worker = c.worker, starttime = now(),
        deadline = now() + coalesce(pj.timeout_minutes, 60) * interval '1 minute'
    FROM ready r
    JOIN claimers c ON c.n = r.n
    LEFT JOIN pipeline_job pj ON pj.pipeline = r.pipeline AND pj.job = r.job
    WHERE s.id = r.id AND s.status = 'Ready'
    RETURNING s.id, s.worker, rush_attempt_payload(s) AS payload
  ),
  moved AS (
    -- Runs to completion though nothing reads it, as every data-modifying WITH does.
    UPDATE worker w
    SET status = CASE WHEN nx.id IS NOT NULL THEN 'Busy' ELSE f.then_status END,
        run_id = nx.id,
        lastseen = CASE WHEN nx.id IS NOT NULL THEN w.lastseen ELSE now() END
    FROM finished f
    LEFT JOIN running nx ON nx.worker = f.worker
    WHERE w.name = f.worker
  )
  SELECT jsonb_agg(jsonb_build_object(
           'attempt', r.attempt,
           'taken', r.attempt = ANY (coalesce(taken_ids, '{}')),
           'next', nx.payload))
  INTO result
  FROM jsonb_to_recordset(p_results) AS r(worker text, attempt bigint)
  LEFT JOIN running nx ON nx.worker = r.worker;

  -- The master is needed for a retry's timer, or when Ready work is left and a worker is Free
  -- to take it (a backlog that only busy workers will drain needs nobody woken). Free workers
  -- are looked for first, here and wherever both are: the worker table is small, while the
  -- index of Ready attempts keeps an entry for every attempt taken since the last vacuum, and
  -- a probe walks past them all; under load nobody is Free and that probe is skipped.
  IF coalesce((settled ->> 'waiting')::integer, 0) > 0
     OR (EXISTS (SELECT 1 FROM worker WHERE status = 'Free')
         AND EXISTS (SELECT 1 FROM run_state WHERE status = 'Ready')) THEN
    PERFORM pg_notify('rush_master', 'finished');
  END IF;
  RETURN result;
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
