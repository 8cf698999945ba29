-- Bookkeeping of the outbox relay (components/outbox-relay) and the recurring service.
--
-- Publishing: a relay replica claims a batch of unpublished events by setting a short lease
-- (`claimed_until`) in one statement, so concurrent replicas (or a cron tick and an HTTP sweep
-- at once) publish disjoint batches; a replica that dies mid-batch leaves the lease to expire.
--
-- Repair: an event may have been published while a consumer was down (Spin's Redis trigger is
-- at-most-once). The relay walks the task events in `seq` order behind a cursor, re-publishes
-- those whose consumer effect is missing (no audit row; a completed recurring occurrence with
-- no successor), with exponential back-off (`repair_attempts`, `repaired_at`), and moves the
-- cursor over the events that need nothing more. The walk is bounded by the cursor and the
-- `seq` index, whatever the size of the table.
ALTER TABLE events ADD COLUMN claimed_until timestamptz;
ALTER TABLE events ADD COLUMN repair_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN repaired_at timestamptz;

CREATE TABLE relay_cursors (
    name text   PRIMARY KEY,
    seq  bigint NOT NULL DEFAULT 0
);
INSERT INTO relay_cursors (name, seq) VALUES ('repair', 0);

-- One row per successor the recurring service ever created: (series, index of the new
-- occurrence). Written in the same statement as the successor task and kept when that task is
-- deleted, so a re-delivered completion (or a relay repair) never re-creates a successor the
-- user deleted: exactly one successor per completed occurrence, ever.
CREATE TABLE recurrence_successors (
    series_id        uuid        NOT NULL,
    occurrence_index integer     NOT NULL,
    task_id          uuid        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (series_id, occurrence_index)
);
