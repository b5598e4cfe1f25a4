-- One master tick, in one round trip: every step is a set-based, conditional statement, and the
-- whole tick runs only while the caller holds the lease (rush_hold_lease). p_now lets tests
-- steer time; in production it is the transaction's now().
--
-- Returns what it did, for the log, and when the master should tick next by itself
-- (the earliest retry to release or timeout to enforce); "more" says a step hit p_limit.

-- Pending requests (those left to the master: see 30_run_request.sql): reject what cannot run,
-- accept the rest and queue their first job.
--
-- The steps are plpgsql, not SQL functions, because plpgsql keeps their plans per connection:
-- a SQL function's statement is planned again at every call.
CREATE OR REPLACE FUNCTION rush_accept_requests(p_now timestamptz, p_limit integer)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  result jsonb;
BEGIN
  -- A client inserting into a pipeline holds its lock until commit (see
  -- rush_run_request_defaults), and its request may be a duplicate of one of these: their
  -- requests wait for the next tick rather than race it (or block the tick on the client).
  WITH pending AS (
    SELECT r.id, r.pipeline, r.job, r.jobinstance, r.params
    FROM run_request r
    WHERE r.status = 'Pending'
      AND pg_try_advisory_xact_lock(hashtext('rush.jobinstance'), hashtext(r.pipeline))
    ORDER BY r.id
    LIMIT p_limit
    FOR UPDATE SKIP LOCKED
  ),
  checked AS (
    SELECT p.id, p.pipeline, p.jobinstance, coalesce(p.job, first_job.job) AS job,
           rush_request_problem(p.pipeline, coalesce(p.job, first_job.job), p.jobinstance,
                                p.params) AS problem
    FROM pending p
    LEFT JOIN pipeline_job first_job ON first_job.pipeline = p.pipeline AND first_job.position = 1
  ),
  -- A run of the same instance already in flight, or an earlier request for it in this batch,
  -- makes a request a duplicate.
  judged AS (
    SELECT c.id, c.job,
           coalesce(c.problem,
             CASE
               WHEN live.id IS NOT NULL THEN
                 format('duplicate: instance %s of pipeline %L is already running (request %s)',
                        c.jobinstance, c.pipeline, live.id)
               WHEN row_number() OVER (PARTITION BY c.pipeline, c.jobinstance, c.problem IS NULL
                                       ORDER BY c.id) > 1 AND c.problem IS NULL THEN
                 format('duplicate: instance %s of pipeline %L is requested twice; an earlier '
                        'request runs it', c.jobinstance, c.pipeline)
             END) AS problem
    FROM checked c
    LEFT JOIN LATERAL (
      SELECT r.id FROM run_request r
      WHERE r.pipeline = c.pipeline AND r.jobinstance = c.jobinstance AND r.status = 'Accepted'
      LIMIT 1
    ) AS live ON c.problem IS NULL
  ),
  rejected AS (
    UPDATE run_request r SET status = 'Rejected', message = j.problem
    FROM judged j
    WHERE r.id = j.id AND j.problem IS NOT NULL AND r.status = 'Pending'
    RETURNING r.id
  ),
  accepted AS (
    UPDATE run_request r SET status = 'Accepted', job = j.job, message = NULL
    FROM judged j
    WHERE r.id = j.id AND j.problem IS NULL AND r.status = 'Pending'
    RETURNING r.id, r.pipeline, r.job, r.jobinstance
  ),
  queued AS (
    INSERT INTO run_state (request_id, pipeline, job, jobinstance, retry, status, readytime)
    SELECT a.id, a.pipeline, a.job, a.jobinstance, 0, 'Ready', p_now FROM accepted a
    RETURNING 1
  )
  SELECT jsonb_build_object('accepted', (SELECT count(*) FROM queued),
                            'rejected', (SELECT count(*) FROM rejected))
  INTO result;
  RETURN result;
END $$;

-- Finished attempts that no worker settled: those failed by the master itself, by a worker's
-- restart (rush_register_worker), by an operator (rush_cancel_request), or set by hand. A
-- worker settles what it finishes in the same transaction.
CREATE OR REPLACE FUNCTION rush_settle_finished(p_now timestamptz, p_limit integer)
RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  RETURN rush_settle(ARRAY(SELECT f.id FROM run_state f
                           WHERE f.status IN ('Complete', 'Failed')
                           ORDER BY f.id LIMIT p_limit FOR UPDATE SKIP LOCKED), p_now);
END $$;

-- Running attempts are failed here when their worker went silent (counted from when the master
-- was last out of touch, if that is later than its last beat) or no longer holds them, or
-- when they overran their timeout by more than the grace the worker has to fail them itself.
CREATE OR REPLACE FUNCTION rush_fail_abandoned(p_now timestamptz, p_worker_ttl_seconds numeric,
                                               p_timeout_grace_seconds numeric,
                                               p_contact_since timestamptz DEFAULT '-infinity')
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  result jsonb;
BEGIN
  -- A worker row someone holds is being written by its own process (a finish, a beat) or
  -- handed work by a commit: it is skipped, not waited for, and looked at again next tick. So
  -- the tick never waits on a worker, and never deadlocks with a finish of several slots.
  WITH silent AS (
    SELECT w.name FROM worker w
    WHERE w.status IN ('Free', 'Busy')
      AND greatest(w.lastseen, p_contact_since) < p_now - p_worker_ttl_seconds * interval '1 second'
    FOR UPDATE SKIP LOCKED
  ),
  lost AS (
    UPDATE worker w SET status = 'Lost'
    FROM silent
    WHERE w.name = silent.name
    RETURNING w.name, w.lastseen
  ),
  failed AS (
    UPDATE run_state s
    SET status = 'Failed', endtime = p_now,
        message = CASE
          WHEN l.name IS NOT NULL THEN
            format('worker %L was lost: no heartbeat since %s', s.worker, l.lastseen)
          WHEN h.name IS NULL THEN
            format('worker %L no longer holds this attempt', s.worker)
          ELSE
            format('timed out after %s minute(s), and worker %L did not fail it within %s s',
                   round(extract(epoch FROM s.deadline - s.starttime) / 60, 3), s.worker,
                   p_timeout_grace_seconds)
        END
    FROM run_state x
    LEFT JOIN lost l ON l.name = x.worker
    LEFT JOIN worker h ON h.name = x.worker AND h.run_id = x.id AND h.status = 'Busy'
    WHERE s.id = x.id AND x.status = 'Running'
      AND (l.name IS NOT NULL OR h.name IS NULL
           OR x.deadline + p_timeout_grace_seconds * interval '1 second' < p_now)
    RETURNING s.id, l.name IS NULL AND h.name IS NOT NULL AS timed_out
  )
  SELECT jsonb_build_object('lost_workers', (SELECT count(*) FROM lost),
                            'timed_out', (SELECT count(*) FROM failed WHERE timed_out))
  INTO result;
  RETURN result;
END $$;

-- Retries whose gap has passed become Ready.
CREATE OR REPLACE FUNCTION rush_release_retries(p_now timestamptz) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  released integer;
BEGIN
  UPDATE run_state s SET status = 'Ready'
  WHERE s.status = 'Waiting' AND s.readytime <= p_now;
  GET DIAGNOSTICS released = ROW_COUNT;
  RETURN jsonb_build_object('released', released);
END $$;

-- Pairs Ready attempts (oldest first) with Free workers (longest idle first), or only with the
-- Free workers named in p_workers. The trigger on run_state then tells each worker what to run,
-- except the workers that take their next attempt as they finish one (rush.claimers).
CREATE OR REPLACE FUNCTION rush_assign_ready(p_now timestamptz, p_limit integer,
                                             p_workers text[] DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  free_workers text[];
  assigned integer;
BEGIN
  -- Lock only as many Ready attempts as there are Free workers to take them.
  SELECT array_agg(f.name ORDER BY f.lastseen, f.name) INTO free_workers
  FROM (SELECT w.name, w.lastseen FROM worker w
        WHERE w.status = 'Free' AND (p_workers IS NULL OR w.name = ANY (p_workers))
        ORDER BY w.lastseen, w.name LIMIT p_limit
        FOR UPDATE SKIP LOCKED) AS f;
  IF free_workers IS NULL THEN
    RETURN jsonb_build_object('assigned', 0);
  END IF;

  WITH ready AS (
    SELECT a.id, a.pipeline, a.job, row_number() OVER (ORDER BY a.readytime, a.id) AS n
    FROM (SELECT s.id, s.pipeline, s.job, s.readytime FROM run_state s
          WHERE s.status = 'Ready'
          ORDER BY s.readytime, s.id LIMIT cardinality(free_workers)
          FOR UPDATE SKIP LOCKED) AS a
  ),
  pairs AS (
    SELECT r.id, f.name, coalesce(pj.timeout_minutes, 60) AS timeout_minutes
    FROM ready r
    JOIN unnest(free_workers) WITH ORDINALITY AS f(name, n) ON f.n = r.n
    LEFT JOIN pipeline_job pj ON pj.pipeline = r.pipeline AND pj.job = r.job
  ),
  busy AS (
    UPDATE worker w SET status = 'Busy', run_id = p.id
    FROM pairs p WHERE w.name = p.name AND w.status = 'Free'
    RETURNING w.name
  ),
  running AS (
    UPDATE run_state s
    SET status = 'Running', worker = p.name, starttime = p_now,
        deadline = p_now + p.timeout_minutes * interval '1 minute'
    FROM pairs p WHERE s.id = p.id AND s.status = 'Ready'
    RETURNING 1
  )
  SELECT count(*) INTO assigned FROM running;
  RETURN jsonb_build_object('assigned', assigned);
END $$;

CREATE OR REPLACE FUNCTION rush_master_tick(
  p_master text,
  p_term bigint,
  p_now timestamptz DEFAULT now(),
  p_limit integer DEFAULT 2000,
  p_worker_ttl_seconds numeric DEFAULT 15,
  p_timeout_grace_seconds numeric DEFAULT 30,
  p_maintenance boolean DEFAULT true,
  p_renew_seconds numeric DEFAULT NULL,
  p_beat_workers text[] DEFAULT NULL,
  p_ping text DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  done jsonb := jsonb_build_object(
    'accepted', 0, 'rejected', 0, 'archived', 0, 'next_jobs', 0, 'retries', 0, 'waiting', 0,
    'stuck', 0, 'completed', 0, 'lost_workers', 0, 'timed_out', 0, 'released', 0, 'assigned', 0);
  next_wake timestamptz;
  contact timestamptz;
BEGIN
  IF NOT rush_hold_lease(p_master, p_term) THEN
    RETURN jsonb_build_object('master', false);
  END IF;
  PERFORM set_config('rush.master_woken', 'tick', true);
  -- The sweep of the master's own process beats here, first, rather than in a statement of its
  -- own: an idle fleet then sends one statement per process per poll interval.
  IF p_beat_workers IS NOT NULL THEN
    done := done || jsonb_build_object('beat', (
      SELECT jsonb_agg(to_jsonb(h)) FROM rush_worker_heartbeat(p_beat_workers, p_master, p_ping) h));
  END IF;
  -- A tick of the sweep or the timer renews the lease too: an idle master then sends one
  -- statement per sweep, not two.
  IF p_renew_seconds IS NOT NULL THEN
    UPDATE master_token t SET endtime = clock_timestamp() + p_renew_seconds * interval '1 second'
    WHERE t.master = p_master AND t.term = p_term;
    done := done || jsonb_build_object('renewed', true);
  END IF;

  -- Each step runs only when an index probe finds work for it, so an idle or notified tick
  -- costs a few probes. Lost workers and overdue attempts are looked for on the timer and the
  -- sweep (p_maintenance), not on every notification.
  IF p_maintenance THEN
    -- Ticks come every poll interval; a gap of half a TTL means the master was out of touch.
    contact := rush_note_contact(p_master, p_term, p_worker_ttl_seconds / 2);
    done := done || rush_fail_abandoned(p_now, p_worker_ttl_seconds, p_timeout_grace_seconds,
                                        contact);
  END IF;
  IF EXISTS (SELECT 1 FROM run_request WHERE status = 'Pending') THEN
    done := done || rush_accept_requests(p_now, p_limit);
  END IF;
  IF EXISTS (SELECT 1 FROM run_state WHERE status IN ('Complete', 'Failed')) THEN
    done := done || rush_settle_finished(p_now, p_limit);
  END IF;
  IF EXISTS (SELECT 1 FROM run_state WHERE status = 'Waiting' AND readytime <= p_now) THEN
    done := done || rush_release_retries(p_now);
  END IF;
  IF EXISTS (SELECT 1 FROM worker WHERE status = 'Free')
     AND EXISTS (SELECT 1 FROM run_state WHERE status = 'Ready') THEN
    done := done || rush_assign_ready(p_now, p_limit);
  END IF;

  SELECT least(
           (SELECT min(s.readytime) FROM run_state s WHERE s.status = 'Waiting'),
           (SELECT min(s.deadline) + p_timeout_grace_seconds * interval '1 second'
            FROM run_state s WHERE s.status = 'Running'))
  INTO next_wake;

  RETURN done || jsonb_build_object(
    'master', true,
    'more', (done ->> 'accepted')::integer + (done ->> 'rejected')::integer >= p_limit
            OR (done ->> 'archived')::integer >= p_limit
            OR (done ->> 'assigned')::integer >= p_limit,
    'next_wake_at', next_wake,
    -- Measured on the database's clock, so the worker's clock skew does not matter.
    'next_wake_in_ms',
      CASE WHEN next_wake IS NOT NULL
        THEN round(greatest(0, extract(epoch FROM next_wake - clock_timestamp()) * 1000)) END);
END $$;
