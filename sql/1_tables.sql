-- Rush tables. Names and columns of the original system are kept so that its SQL still works;
-- what Rush adds (ids, times, message, the lease term) sits beside them.

CREATE TABLE rush_meta (
  key text PRIMARY KEY,
  value text NOT NULL
);

CREATE TABLE pipeline (
  name text PRIMARY KEY,
  definition jsonb NOT NULL,
  created timestamptz NOT NULL DEFAULT now(),
  updated timestamptz NOT NULL DEFAULT now()
);

-- No foreign key to pipeline: a request for an unknown pipeline must be accepted by the
-- database and then Rejected by the master with a message, as clients poll for that.
CREATE TABLE run_request (
  id bigserial PRIMARY KEY,
  pipeline text NOT NULL,
  job text,
  jobinstance integer,
  status text NOT NULL DEFAULT 'Pending'
    CHECK (status IN ('Pending', 'Accepted', 'Complete', 'Stuck', 'Cancelled', 'Rejected')),
  params jsonb,
  message text,
  created timestamptz NOT NULL DEFAULT now(),
  updated timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX run_request_instance ON run_request (pipeline, jobinstance);
CREATE INDEX run_request_pending ON run_request (id) WHERE status = 'Pending';
-- One run in flight per pipeline instance, whatever the master does.
CREATE UNIQUE INDEX run_request_one_live_run ON run_request (pipeline, jobinstance)
  WHERE status = 'Accepted';

CREATE TABLE job_parameter (
  pipeline text NOT NULL,
  job text NOT NULL,
  key text NOT NULL,
  value text NOT NULL,
  PRIMARY KEY (pipeline, job, key)
);

CREATE TABLE worker (
  name text PRIMARY KEY,
  host text,
  pid integer,
  status text NOT NULL DEFAULT 'Free' CHECK (status IN ('Free', 'Busy', 'Offline', 'Lost')),
  run_id bigint,
  lastseen timestamptz NOT NULL DEFAULT now(),
  started timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX worker_free ON worker (lastseen) WHERE status = 'Free';

-- One row per live attempt. Every try of a job is a new row with a new id, so a worker that
-- finishes late is fenced out by the id alone.
CREATE TABLE run_state (
  id bigserial PRIMARY KEY,
  request_id bigint NOT NULL REFERENCES run_request (id),
  pipeline text NOT NULL,
  job text NOT NULL,
  jobinstance integer NOT NULL,
  retry integer NOT NULL DEFAULT 0,
  status text NOT NULL
    CHECK (status IN ('Waiting', 'Ready', 'Running', 'Complete', 'Failed', 'Stuck')),
  worker text,
  readytime timestamptz,
  starttime timestamptz,
  endtime timestamptz,
  deadline timestamptz,
  message text
);
CREATE INDEX run_state_status ON run_state (status, readytime);
CREATE INDEX run_state_worker ON run_state (worker) WHERE status = 'Running';
CREATE INDEX run_state_request ON run_state (request_id);

-- Every finished attempt, forever: the run history.
CREATE TABLE archive (
  id bigint PRIMARY KEY,
  request_id bigint NOT NULL,
  pipeline text NOT NULL,
  job text NOT NULL,
  jobinstance integer NOT NULL,
  retry integer NOT NULL,
  status text NOT NULL,
  worker text,
  readytime timestamptz,
  starttime timestamptz,
  endtime timestamptz,
  message text,
  archived timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX archive_request ON archive (request_id);
CREATE INDEX archive_pipeline ON archive (pipeline, jobinstance);

-- The master lease: a single row. term grows at every change of master and fences the
-- writes of a deposed one.
CREATE TABLE master_token (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  master text,
  endtime timestamptz NOT NULL DEFAULT '-infinity',
  term bigint NOT NULL DEFAULT 0
);
INSERT INTO master_token DEFAULT VALUES;
