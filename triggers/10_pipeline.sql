-- Pipeline definitions: checked by the database itself, so that any SQL client gets the same
-- clear refusal, and read back through one view that holds every default.

-- The message names the field for people (jobs[1] (load).retry_limit); DETAIL holds its plain
-- path (jobs[1].retry_limit) for tools that point at the line of a file.
CREATE OR REPLACE FUNCTION rush_definition_error(p_pipeline text, p_field text, p_problem text,
                                                 p_path text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'pipeline %: % %', quote_literal(coalesce(p_pipeline, '')), p_field, p_problem
    USING ERRCODE = 'check_violation',
          DETAIL = coalesce(p_path, p_field),
          HINT = 'A definition is {"jobs":[{"name","class_name","timeout_minutes",'
                 '"retry_gap_minutes","retry_limit"}]}; only name and class_name are required.';
END $$;

CREATE OR REPLACE FUNCTION rush_check_definition(p_pipeline text, p_definition jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  known_job_fields constant text[] :=
    ARRAY['name', 'class_name', 'timeout_minutes', 'retry_gap_minutes', 'retry_limit', 'description'];
  job jsonb;
  position integer := 0;
  field text;
  prefix text;
  path text;
  names text[] := '{}';
  value jsonb;
BEGIN
  IF p_pipeline IS NULL OR btrim(p_pipeline) = '' THEN
    PERFORM rush_definition_error(p_pipeline, 'name', 'must not be empty');
  END IF;
  IF p_definition IS NULL OR jsonb_typeof(p_definition) <> 'object' THEN
    PERFORM rush_definition_error(p_pipeline, 'definition', 'must be a JSON object {"jobs":[…]}');
  END IF;
  FOR field IN SELECT jsonb_object_keys(p_definition) LOOP
    IF field NOT IN ('jobs', 'description') THEN
      PERFORM rush_definition_error(p_pipeline, field,
        'is not a known field (known: jobs, description)');
    END IF;
  END LOOP;
  IF jsonb_typeof(p_definition -> 'jobs') IS DISTINCT FROM 'array' THEN
    PERFORM rush_definition_error(p_pipeline, 'jobs', 'must be an array of jobs');
  END IF;
  IF jsonb_array_length(p_definition -> 'jobs') = 0 THEN
    PERFORM rush_definition_error(p_pipeline, 'jobs', 'must hold at least one job');
  END IF;

  FOR job IN SELECT j FROM jsonb_array_elements(p_definition -> 'jobs') AS j LOOP
    prefix := format('jobs[%s]', position);
    path := prefix;
    position := position + 1;
    IF jsonb_typeof(job) <> 'object' THEN
      PERFORM rush_definition_error(p_pipeline, prefix, 'must be an object');
    END IF;
    FOR field IN SELECT jsonb_object_keys(job) LOOP
      IF NOT field = ANY (known_job_fields) THEN
        PERFORM rush_definition_error(p_pipeline, prefix || '.' || field,
          format('is not a known field (known: %s)', array_to_string(known_job_fields, ', ')));
      END IF;
    END LOOP;

    value := job -> 'name';
    IF jsonb_typeof(value) IS DISTINCT FROM 'string' OR btrim(value #>> '{}') = '' THEN
      PERFORM rush_definition_error(p_pipeline, prefix || '.name', 'must be a non-empty string');
    END IF;
    IF (value #>> '{}') = ANY (names) THEN
      PERFORM rush_definition_error(p_pipeline, prefix || '.name',
        format('%s is used by an earlier job: job names must be unique', value));
    END IF;
    names := names || (value #>> '{}');
    prefix := format('jobs[%s] (%s)', position - 1, value #>> '{}');

    value := job -> 'class_name';
    IF jsonb_typeof(value) IS DISTINCT FROM 'string' OR btrim(value #>> '{}') = '' THEN
      PERFORM rush_definition_error(p_pipeline, prefix || '.class_name',
        'must be a non-empty string such as "jobs.dummy_job.DummyJob"',
        path || '.class_name');
    END IF;

    value := job -> 'timeout_minutes';
    IF value IS NOT NULL AND (jsonb_typeof(value) <> 'number' OR value::numeric <= 0) THEN
      PERFORM rush_definition_error(p_pipeline, prefix || '.timeout_minutes',
        format('must be a number > 0 (got %s)', value),
        path || '.timeout_minutes');
    END IF;

    value := job -> 'retry_gap_minutes';
    IF value IS NOT NULL AND (jsonb_typeof(value) <> 'number' OR value::numeric < 0) THEN
      PERFORM rush_definition_error(p_pipeline, prefix || '.retry_gap_minutes',
        format('must be a number >= 0 (got %s)', value),
        path || '.retry_gap_minutes');
    END IF;

    value := job -> 'retry_limit';
    IF value IS NOT NULL AND (jsonb_typeof(value) <> 'number' OR value::numeric < 0
                              OR value::numeric <> trunc(value::numeric)
                              OR value::numeric > 1000000) THEN
      PERFORM rush_definition_error(p_pipeline, prefix || '.retry_limit',
        format('must be a whole number >= 0 (got %s)', value),
        path || '.retry_limit');
    END IF;
  END LOOP;
END $$;

CREATE OR REPLACE FUNCTION rush_pipeline_before_write() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM rush_check_definition(NEW.name, NEW.definition);
  NEW.updated := now();
  RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER pipeline_check_definition
  BEFORE INSERT OR UPDATE ON pipeline
  FOR EACH ROW EXECUTE FUNCTION rush_pipeline_before_write();

-- Every job of every pipeline with its defaults applied, kept in the pipeline_job table: the one
-- place that knows the defaults.
CREATE OR REPLACE FUNCTION rush_refresh_pipeline_jobs(p_pipeline text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM pipeline_job pj WHERE p_pipeline IS NULL OR pj.pipeline = p_pipeline;
  INSERT INTO pipeline_job (pipeline, position, job, class_name, timeout_minutes,
                            retry_gap_minutes, retry_limit, is_last)
  SELECT p.name, j.position::integer, j.value ->> 'name', j.value ->> 'class_name',
         coalesce((j.value ->> 'timeout_minutes')::numeric, 60),
         coalesce((j.value ->> 'retry_gap_minutes')::numeric, 1),
         coalesce((j.value ->> 'retry_limit')::integer, 0),
         j.position = jsonb_array_length(p.definition -> 'jobs')
  FROM pipeline p
  CROSS JOIN LATERAL jsonb_array_elements(p.definition -> 'jobs') WITH ORDINALITY AS j(value, position)
  WHERE p_pipeline IS NULL OR p.name = p_pipeline;
END $$;

CREATE OR REPLACE FUNCTION rush_pipeline_after_write() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.name <> NEW.name THEN
    PERFORM rush_refresh_pipeline_jobs(OLD.name);
  END IF;
  PERFORM rush_refresh_pipeline_jobs(NEW.name);
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER pipeline_refresh_jobs
  AFTER INSERT OR UPDATE ON pipeline
  FOR EACH ROW EXECUTE FUNCTION rush_pipeline_after_write();

-- Applied with every change of these scripts: the table matches the definitions whatever the
-- defaults were before.
SELECT rush_refresh_pipeline_jobs(NULL);
