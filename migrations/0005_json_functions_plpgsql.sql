-- The JSON functions of 0003 as PL/pgSQL, so that a statement calling them costs one function
-- call to plan. As SQL functions they were inlined: every statement that used one (every task
-- read, every read-modify-write) re-parsed and re-planned their bodies, and Spin prepares an
-- unnamed statement per `query` (no plan is ever reused), so a single-task read spent most of
-- its PostgreSQL time planning (pgbench -M extended: 4,300 tx/s inlined, 11,600 as PL/pgSQL;
-- -M prepared: 24,000 either way). PL/pgSQL plans its expression once per connection.
-- Same output, byte for byte (tests/e2e/tests/api/sql_json.rs).

CREATE OR REPLACE FUNCTION task_json(t tasks) RETURNS text
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    AS $$
BEGIN
    -- Concatenated rather than row_to_json(ROW(...)::task_api): the same bytes (text escaped by
    -- the same to_json), in a third less time per row (row_to_json looks up every column's
    -- output function on every call). Only values the table's CHECKs confine to plain ASCII
    -- words (priority, status, recurring_rule) and numbers, booleans, uuids and instants are
    -- written without to_json.
    RETURN '{"category":' || to_json(t.category)
        || ',"completed":' || (t.status = 'completed')
        || ',"completedAt":' || coalesce('"' || api_instant(t.completed_at) || '"', 'null')
        || ',"createdAt":"' || api_instant(t.created_at)
        || '","description":' || coalesce(to_json(t.description)::text, 'null')
        || ',"dueDate":' || coalesce('"' || api_instant(t.due_date) || '"', 'null')
        || ',"id":"' || t.id
        || '","occurrenceIndex":' || t.occurrence_index
        || ',"parentTaskId":' || coalesce('"' || t.parent_task_id || '"', 'null')
        || ',"priority":"' || t.priority
        || '","recurringEndDate":' || coalesce('"' || api_instant(t.recurring_end_date) || '"', 'null')
        || ',"recurringRule":' || coalesce('"' || t.recurring_rule || '"', 'null')
        || ',"reminderAt":' || coalesce('"' || api_instant(t.reminder_at) || '"', 'null')
        || ',"reminderSent":' || t.reminder_sent
        || ',"status":"' || t.status
        || '","tags":' || to_json(t.tags)
        || ',"timeZone":' || to_json(t.time_zone)
        || ',"title":' || to_json(t.title)
        || ',"updatedAt":"' || api_instant(t.updated_at)
        || '","userId":' || to_json(t.user_id)
        || ',"version":' || t.version || '}';
END
$$;

CREATE OR REPLACE FUNCTION task_record(t tasks) RETURNS text
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    AS $$
BEGIN
    RETURN row_to_json(ROW(
        t.id, t.user_id, t.title, t.description, t.priority, t.category, t.status,
        stored_instant(t.due_date), stored_instant(t.created_at), stored_instant(t.updated_at),
        stored_instant(t.completed_at), t.recurring_rule, stored_instant(t.recurring_end_date),
        t.parent_task_id, stored_instant(t.reminder_at), t.reminder_sent, t.tags, t.time_zone,
        t.version, t.occurrence_index, t.series_id, stored_instant(t.series_anchor)
    )::task_stored)::text;
END
$$;

CREATE OR REPLACE FUNCTION notification_json(n notifications) RETURNS text
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    AS $$
BEGIN
    RETURN row_to_json(ROW(api_instant(n.created_at), n.id, n.message, n.read, n.task_id, n.user_id)::notification_api)::text;
END
$$;
