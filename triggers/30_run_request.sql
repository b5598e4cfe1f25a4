-- run_request defaults, filled in by the database so that a bare
--   INSERT INTO run_request (pipeline) VALUES ('etl');
-- starts the first job of the next instance.

-- Runs as its owner (SECURITY DEFINER): a rush_client may insert a request without reading
-- pipeline_job; search_path is pinned, pg_temp last, so no object of the caller's stands in.
CREATE OR REPLACE FUNCTION rush_run_request_defaults() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
  IF NEW.job IS NULL THEN
    SELECT pj.job INTO NEW.job FROM pipeline_job pj
    WHERE pj.pipeline = NEW.pipeline AND pj.position = 1;
  END IF;
  IF NEW.jobinstance IS NULL THEN
    -- Serialise numbering per pipeline until commit, so concurrent inserts never share one.
    PERFORM pg_advisory_xact_lock(hashtext('rush.jobinstance'), hashtext(NEW.pipeline));
    SELECT coalesce(max(r.jobinstance), 0) + 1 INTO NEW.jobinstance
    FROM run_request r WHERE r.pipeline = NEW.pipeline;
  END IF;
  NEW.status := coalesce(NEW.status, 'Pending');
  RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION rush_run_request_touched() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status IS DISTINCT FROM OLD.status THEN
    NEW.updated := now();
  END IF;
  RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER run_request_defaults
  BEFORE INSERT ON run_request
  FOR EACH ROW EXECUTE FUNCTION rush_run_request_defaults();

CREATE OR REPLACE TRIGGER run_request_touched
  BEFORE UPDATE ON run_request
  FOR EACH ROW EXECUTE FUNCTION rush_run_request_touched();
