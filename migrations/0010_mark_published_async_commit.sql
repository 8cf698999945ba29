-- The in-request mark of published events commits without waiting for its WAL to be flushed
-- (`synchronous_commit = off` for that transaction only). Every write request commits twice:
-- the change with its events, which must be durable before the response, then this mark after
-- the publish to Redis, which need not be: if PostgreSQL crashes before the mark reaches disk,
-- the events read as unpublished again and the relay publishes them again, which the
-- at-least-once delivery of ARCHITECTURE.md already allows (every consumer is idempotent).
-- With PostgreSQL's default `synchronous_commit = on`, that saves a write request one WAL
-- flush (an fsync) of its two. No row or result changes; the body is 0008's plus the setting.
--
-- `set_config(..., true)` lasts until the end of the transaction, which is the statement's own
-- (Spin runs each `execute` in autocommit), and a function with a SET clause would undo it on
-- return, so the setting is made in the body.
CREATE OR REPLACE FUNCTION events_mark_published(p_ids text[]) RETURNS bigint
    LANGUAGE plpgsql
    AS $$
DECLARE
    marked bigint;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    UPDATE events SET published_at = now(), publish_attempts = publish_attempts + 1
    WHERE id = ANY(p_ids::uuid[]) AND published_at IS NULL;
    GET DIAGNOSTICS marked = ROW_COUNT;
    RETURN marked;
END
$$;
