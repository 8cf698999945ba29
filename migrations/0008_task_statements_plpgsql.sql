-- The statements of every single-task request and of the stats, as PL/pgSQL functions. Spin's
-- `query` and `execute` prepare an unnamed statement every time (Parse, Bind, Execute: nothing
-- is reused), so PostgreSQL parsed and planned each of them on every request, and for these
-- short statements that was most of their cost (pgbench, 8 clients, -M extended vs -M prepared:
-- the update with its event 2,900 vs 5,600 tx/s, the single-task read 14,700 vs 40,100). A
-- PL/pgSQL function plans the statements in its body once per connection (Spin's pool keeps
-- connections, and its `RecyclingMethod::Clean` reset on checkout does not discard plans); what
-- is planned per request is the call. Same rows written, same values returned, as the
-- statements they replace.

-- The API's JSON of task `p_id` of `p_user` and its version; one row, NULLs when there is no
-- such task (never zero rows: Spin 4.0.0-4.0.2 never answer a query without rows).
CREATE FUNCTION task_api_json_of(p_user text, p_id uuid, OUT json text, OUT version bigint)
    LANGUAGE plpgsql STABLE
    AS $$
BEGIN
    SELECT t.api_json, t.version INTO json, version
    FROM tasks t WHERE t.id = p_id AND t.user_id = p_user;
END
$$;

-- `task_record` of task `p_id` of `p_user`, or NULL.
CREATE FUNCTION task_record_of(p_user text, p_id uuid) RETURNS text
    LANGUAGE plpgsql STABLE
    AS $$
DECLARE
    record text;
BEGIN
    SELECT task_record(t) INTO record FROM tasks t WHERE t.id = p_id AND t.user_id = p_user;
    RETURN record;
END
$$;

-- `GET /stats` of `p_user`: the counts from the user's counter shards (kept by triggers),
-- `overdue` from the partial index of pending tasks by due date.
CREATE FUNCTION task_stats_of(p_user text) RETURNS text
    LANGUAGE plpgsql STABLE
    AS $$
DECLARE
    stats text;
BEGIN
    SELECT row_to_json(s)::text INTO stats FROM (
        SELECT coalesce(sum(c.completed), 0)::int8 AS "completed",
               coalesce(sum(c.high_priority_pending), 0)::int8 AS "highPriorityPending",
               (SELECT count(*) FROM tasks t
                 WHERE t.user_id = p_user AND t.status = 'pending' AND t.due_date IS NOT NULL
                   AND t.due_date < now())::int8 AS "overdue",
               coalesce(sum(c.pending), 0)::int8 AS "pending",
               coalesce(sum(c.total), 0)::int8 AS "total"
        FROM task_counters c WHERE c.user_id = p_user) AS s;
    RETURN stats;
END
$$;

-- Appends events to the outbox in array order (their `seq` follows it).
CREATE FUNCTION events_append(p_ids text[], p_topics text[], p_users text[], p_subjects text[], p_payloads text[])
    RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO events (id, topic, user_id, subject, payload)
    SELECT e.id::uuid, e.topic, e.user_id, e.subject, e.payload::jsonb
    FROM unnest(p_ids, p_topics, p_users, p_subjects, p_payloads)
        WITH ORDINALITY AS e(id, topic, user_id, subject, payload, n)
    ORDER BY e.n;
END
$$;

-- Writes every mutable column of task `p_id` of `p_user` if it is still at
-- `p_expected_version` (optimistic concurrency), and then, in the same transaction, its events.
-- Returns whether the row was written; when it was not, no event is written either.
-- Instants come as RFC 3339 text, as the statements they replace bound them.
CREATE FUNCTION task_update(
    p_user text, p_id uuid, p_expected_version bigint,
    p_title text, p_description text, p_priority text, p_category text, p_status text,
    p_due_date text, p_updated_at text, p_completed_at text, p_recurring_rule text,
    p_recurring_end_date text, p_reminder_at text, p_reminder_sent boolean, p_tags text[],
    p_time_zone text, p_version bigint, p_series_anchor text,
    p_event_ids text[], p_event_topics text[], p_event_users text[], p_event_subjects text[],
    p_event_payloads text[])
    RETURNS boolean
    LANGUAGE plpgsql
    AS $$
BEGIN
    UPDATE tasks SET
        title = p_title, description = p_description, priority = p_priority,
        category = p_category, status = p_status, due_date = p_due_date::timestamptz,
        updated_at = p_updated_at::timestamptz, completed_at = p_completed_at::timestamptz,
        recurring_rule = p_recurring_rule, recurring_end_date = p_recurring_end_date::timestamptz,
        reminder_at = p_reminder_at::timestamptz, reminder_sent = p_reminder_sent, tags = p_tags,
        time_zone = p_time_zone, version = p_version,
        -- A root that becomes recurring starts its series at its own due date.
        series_anchor = CASE WHEN parent_task_id IS NULL THEN p_series_anchor::timestamptz
                             ELSE series_anchor END
    WHERE id = p_id AND user_id = p_user AND version = p_expected_version;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM events_append(p_event_ids, p_event_topics, p_event_users, p_event_subjects, p_event_payloads);
    RETURN true;
END
$$;

-- Inserts a task and, in the same transaction, its events (a create without an
-- Idempotency-Key). Instants come as RFC 3339 text.
CREATE FUNCTION task_insert(
    p_id uuid, p_user text, p_title text, p_description text, p_priority text,
    p_category text, p_status text, p_due_date text, p_created_at text, p_updated_at text,
    p_completed_at text, p_recurring_rule text, p_recurring_end_date text,
    p_parent_task_id uuid, p_reminder_at text, p_reminder_sent boolean, p_tags text[],
    p_time_zone text, p_version bigint, p_occurrence_index integer, p_series_id uuid,
    p_series_anchor text,
    p_event_ids text[], p_event_topics text[], p_event_users text[], p_event_subjects text[],
    p_event_payloads text[])
    RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO tasks (id, user_id, title, description, priority, category, status, due_date,
        created_at, updated_at, completed_at, recurring_rule, recurring_end_date, parent_task_id,
        reminder_at, reminder_sent, tags, time_zone, version, occurrence_index, series_id,
        series_anchor)
    VALUES (p_id, p_user, p_title, p_description, p_priority, p_category, p_status,
        p_due_date::timestamptz, p_created_at::timestamptz, p_updated_at::timestamptz,
        p_completed_at::timestamptz, p_recurring_rule, p_recurring_end_date::timestamptz,
        p_parent_task_id, p_reminder_at::timestamptz, p_reminder_sent, p_tags, p_time_zone,
        p_version, p_occurrence_index, p_series_id, p_series_anchor::timestamptz);
    PERFORM events_append(p_event_ids, p_event_topics, p_event_users, p_event_subjects, p_event_payloads);
END
$$;

-- Deletes task `p_id` of `p_user` (only at `p_version` when given) and, in the same
-- transaction, writes its `task-deleted` event: `p_payload` with the deleted row's API JSON
-- merged into `data.data`. Returns that JSON when the task was deleted; otherwise NULL and the
-- task's current version (NULL too when there is no such task).
CREATE FUNCTION task_delete(
    p_user text, p_id uuid, p_version bigint,
    p_event_id text, p_event_topic text, p_event_user text, p_event_subject text,
    p_event_payload text,
    OUT json text, OUT version bigint)
    LANGUAGE plpgsql
    AS $$
BEGIN
    DELETE FROM tasks t
    WHERE t.id = p_id AND t.user_id = p_user AND (p_version IS NULL OR t.version = p_version)
    RETURNING t.api_json INTO json;
    IF json IS NULL THEN
        SELECT t.version INTO version FROM tasks t WHERE t.id = p_id AND t.user_id = p_user;
        RETURN;
    END IF;
    INSERT INTO events (id, topic, user_id, subject, payload)
    VALUES (p_event_id::uuid, p_event_topic, p_event_user, p_event_subject,
            jsonb_set(p_event_payload::jsonb, '{data,data}',
                      (p_event_payload::jsonb #> '{data,data}') || json::jsonb));
END
$$;

-- Marks the events that reached Redis as published (the in-request publish of the outbox).
CREATE FUNCTION events_mark_published(p_ids text[]) RETURNS bigint
    LANGUAGE plpgsql
    AS $$
DECLARE
    marked bigint;
BEGIN
    UPDATE events SET published_at = now(), publish_attempts = publish_attempts + 1
    WHERE id = ANY(p_ids::uuid[]) AND published_at IS NULL;
    GET DIAGNOSTICS marked = ROW_COUNT;
    RETURN marked;
END
$$;
