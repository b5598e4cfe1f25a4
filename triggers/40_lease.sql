-- The master lease. Whoever holds an unexpired master_token row is the master; every change of
-- holder raises term, and the master's writes check their term, so a deposed master that wakes
-- up late changes nothing.

-- Takes the lease when it is free, expired, or already ours (a restarted master gets it back at
-- once, under a new term that fences its former self). Returns no row when someone else holds it.
CREATE OR REPLACE FUNCTION rush_acquire_lease(p_master text, p_ttl_seconds numeric)
RETURNS TABLE (term bigint, endtime timestamptz)
LANGUAGE sql AS $$
  UPDATE master_token t
  SET master = p_master,
      endtime = clock_timestamp() + p_ttl_seconds * interval '1 second',
      term = t.term + 1,
      last_tick = clock_timestamp(),
      contact_since = clock_timestamp()
  WHERE t.master IS NULL OR t.endtime <= clock_timestamp() OR t.master = p_master
  RETURNING t.term, t.endtime
$$;

-- Extends our own term only: after anyone else took the lease, this returns no row.
CREATE OR REPLACE FUNCTION rush_renew_lease(p_master text, p_term bigint, p_ttl_seconds numeric)
RETURNS TABLE (term bigint, endtime timestamptz)
LANGUAGE sql AS $$
  UPDATE master_token t
  SET endtime = clock_timestamp() + p_ttl_seconds * interval '1 second'
  WHERE t.master = p_master AND t.term = p_term
  RETURNING t.term, t.endtime
$$;

-- Clears the lease; the trigger on master_token tells the standbys on rush_lease.
CREATE OR REPLACE FUNCTION rush_release_lease(p_master text, p_term bigint) RETURNS boolean
LANGUAGE sql AS $$
  WITH released AS (
    UPDATE master_token t SET master = NULL, endtime = '-infinity'
    WHERE t.master = p_master AND t.term = p_term
    RETURNING 1
  )
  SELECT EXISTS (SELECT 1 FROM released)
$$;

-- Holds the lease for the rest of the transaction when it is still ours and unexpired: a
-- takeover waits for the transaction to end, so no two masters' writes ever interleave.
CREATE OR REPLACE FUNCTION rush_hold_lease(p_master text, p_term bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM master_token t
  WHERE t.master = p_master AND t.term = p_term AND t.endtime > clock_timestamp()
  FOR SHARE;
  RETURN FOUND;
END $$;

-- Notes a maintenance tick, and returns since when the master has been in touch: a gap of more
-- than p_gap_seconds since its last tick starts the count again.
CREATE OR REPLACE FUNCTION rush_note_contact(p_master text, p_term bigint, p_gap_seconds numeric)
RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
  since timestamptz;
BEGIN
  UPDATE master_token t
  SET contact_since = CASE
        WHEN t.last_tick IS NULL OR t.contact_since IS NULL
             OR t.last_tick < clock_timestamp() - p_gap_seconds * interval '1 second'
        THEN clock_timestamp() ELSE t.contact_since END,
      last_tick = clock_timestamp()
  WHERE t.master = p_master AND t.term = p_term
  RETURNING t.contact_since INTO since;
  RETURN since;
END $$;
