-- pipeline_job becomes a table kept by a trigger on pipeline (triggers/10_pipeline.sql), instead of
-- a view that unpacked every definition's JSON at each lookup: the master and the workers look a
-- job up on every settle and every assignment. Filled from pipeline when the triggers are applied.
DROP VIEW IF EXISTS pipeline_job;

CREATE TABLE pipeline_job (
  pipeline text NOT NULL REFERENCES pipeline (name) ON DELETE CASCADE ON UPDATE CASCADE,
  position integer NOT NULL,
  job text NOT NULL,
  class_name text NOT NULL,
  timeout_minutes numeric NOT NULL,
  retry_gap_minutes numeric NOT NULL,
  retry_limit integer NOT NULL,
  is_last boolean NOT NULL,
  PRIMARY KEY (pipeline, job),
  UNIQUE (pipeline, position)
);
