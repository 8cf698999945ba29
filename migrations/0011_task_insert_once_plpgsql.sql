-- The two creates that still ran as one CTE statement planned per request, as PL/pgSQL
-- functions planned once per pooled connection (see 0008), each around `task_insert`:
-- - a create with an `Idempotency-Key`: the key, the task and its events, or the key's first
--   response when the key was already used;
-- - the recurring service's successor: the series marker, the task and its event, or nothing
--   when the marker exists (exactly one successor per completed occurrence, ever).
-- Same rows written, same answers, as the statements they replace. One difference: a function's
-- statements each take a new snapshot, so a first response committed while this create waited
-- on the key's row is read at once (the statement had to be followed by a second query).

-- Returns (true, NULL) when the key was new and the task is written, else (false,
-- `[request_hash, status_code, response]` of the key's first response as JSON text).
CREATE FUNCTION task_insert_once(
    p_key text, p_request_hash text, p_response jsonb,
    p_id uuid, p_user text, p_title text, p_description text, p_priority text,
    p_category text, p_status text, p_due_date text, p_created_at text, p_updated_at text,
    p_completed_at text, p_recurring_rule text, p_recurring_end_date text,
    p_parent_task_id uuid, p_reminder_at text, p_reminder_sent boolean, p_tags text[],
    p_time_zone text, p_version bigint, p_occurrence_index integer, p_series_id uuid,
    p_series_anchor text,
    p_event_ids text[], p_event_topics text[], p_event_users text[], p_event_subjects text[],
    p_event_payloads text[],
    OUT inserted boolean, OUT first_response text)
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO idempotency_keys (user_id, key, request_hash, task_id, status_code, response)
    VALUES (p_user, p_key, p_request_hash, p_id, 201, p_response)
    ON CONFLICT (user_id, key) DO NOTHING;
    inserted := FOUND;
    IF inserted THEN
        PERFORM task_insert(p_id, p_user, p_title, p_description, p_priority, p_category,
            p_status, p_due_date, p_created_at, p_updated_at, p_completed_at, p_recurring_rule,
            p_recurring_end_date, p_parent_task_id, p_reminder_at, p_reminder_sent, p_tags,
            p_time_zone, p_version, p_occurrence_index, p_series_id, p_series_anchor,
            p_event_ids, p_event_topics, p_event_users, p_event_subjects, p_event_payloads);
        RETURN;
    END IF;
    SELECT json_build_array(k.request_hash, k.status_code, k.response)::text INTO first_response
    FROM idempotency_keys k WHERE k.user_id = p_user AND k.key = p_key;
END
$$;

-- Returns whether the successor was written (false: this occurrence's successor was created
-- before). A concurrent creation of the same occurrence fails on the tasks' own unique
-- (series_id, occurrence_index), as before.
CREATE FUNCTION task_insert_successor(
    p_id uuid, p_user text, p_title text, p_description text, p_priority text,
    p_category text, p_status text, p_due_date text, p_created_at text, p_updated_at text,
    p_completed_at text, p_recurring_rule text, p_recurring_end_date text,
    p_parent_task_id uuid, p_reminder_at text, p_reminder_sent boolean, p_tags text[],
    p_time_zone text, p_version bigint, p_occurrence_index integer, p_series_id uuid,
    p_series_anchor text,
    p_event_ids text[], p_event_topics text[], p_event_users text[], p_event_subjects text[],
    p_event_payloads text[])
    RETURNS boolean
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO recurrence_successors (series_id, occurrence_index, task_id)
    VALUES (p_series_id, p_occurrence_index, p_id)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM task_insert(p_id, p_user, p_title, p_description, p_priority, p_category,
        p_status, p_due_date, p_created_at, p_updated_at, p_completed_at, p_recurring_rule,
        p_recurring_end_date, p_parent_task_id, p_reminder_at, p_reminder_sent, p_tags,
        p_time_zone, p_version, p_occurrence_index, p_series_id, p_series_anchor,
        p_event_ids, p_event_topics, p_event_users, p_event_subjects, p_event_payloads);
    RETURN true;
END
$$;
