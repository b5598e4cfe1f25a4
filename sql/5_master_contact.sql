-- When the master last ticked, and since when it has ticked without a long gap: a worker is
-- judged silent only for as long as the master itself was in touch with the database. After
-- an outage of the database (or of the master's link to it), or a change of master, every
-- worker first gets a whole --worker-ttl to beat again.
ALTER TABLE master_token ADD COLUMN last_tick timestamptz;
ALTER TABLE master_token ADD COLUMN contact_since timestamptz;
