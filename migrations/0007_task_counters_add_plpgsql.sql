-- task_counters_add as PL/pgSQL. As an SQL function called with PERFORM from the counter
-- trigger, PostgreSQL 15 planned its INSERT ... ON CONFLICT again on every write; PL/pgSQL
-- plans it once per connection (pgbench -M extended, inserts into tasks: ~15% more per
-- second). Same statement, same effect.

CREATE OR REPLACE FUNCTION task_counters_add(p_user text, d_total bigint, d_pending bigint, d_completed bigint, d_high bigint)
    RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO task_counters AS c (user_id, shard, total, pending, completed, high_priority_pending)
    VALUES (p_user, pg_backend_pid() % 16, d_total, d_pending, d_completed, d_high)
    ON CONFLICT (user_id, shard) DO UPDATE SET
        total = c.total + EXCLUDED.total,
        pending = c.pending + EXCLUDED.pending,
        completed = c.completed + EXCLUDED.completed,
        high_priority_pending = c.high_priority_pending + EXCLUDED.high_priority_pending;
END
$$;
