-- The scripts in triggers/ are replaceable code: each migrate that finds them changed drops every
-- rush_* function (and with them the triggers that call them), then creates them all again, in
-- one transaction. So a script may change a function's signature freely, and nothing stale
-- survives an upgrade.
DO $$
DECLARE
  fn regprocedure;
BEGIN
  FOR fn IN
    SELECT p.oid::regprocedure FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = current_schema() AND p.proname LIKE 'rush\_%'
  LOOP
    EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', fn);
  END LOOP;
END $$;
