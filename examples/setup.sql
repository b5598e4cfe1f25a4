-- The table the example pipeline loads. rush up runs every examples/*.sql at start, so keep
-- these scripts idempotent.
CREATE TABLE IF NOT EXISTS sales_by_region (
  region text PRIMARY KEY,
  orders integer NOT NULL,
  revenue numeric(12, 2) NOT NULL
);
