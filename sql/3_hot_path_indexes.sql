-- Partial indexes that match the hot queries exactly: each looks at live rows of one status, in
-- the order the query wants, so its cost follows the work to do and not the table's history.
-- (All the attempts a tick accepts share one readytime: without id in the index, taking the
-- oldest Ready attempt sorted every Ready row.)
CREATE INDEX run_state_ready ON run_state (readytime, id) WHERE status = 'Ready';
CREATE INDEX run_state_waiting ON run_state (readytime) WHERE status = 'Waiting';
CREATE INDEX run_state_finished ON run_state (id) WHERE status IN ('Complete', 'Failed');
CREATE INDEX run_state_deadline ON run_state (deadline) WHERE status = 'Running';
DROP INDEX run_state_status;

DROP INDEX worker_free;
CREATE INDEX worker_free ON worker (lastseen, name) WHERE status = 'Free';
