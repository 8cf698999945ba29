-- Reads answered by PostgreSQL in one row and one value: the API's JSON is built here, once,
-- by the functions below; stats come from per-user counters kept by triggers; titles sort
-- with an ICU collation, as people read them.

-- Titles sort case- and accent-insensitively ("alpha" < "Beta" < "Éclair" < "zebra"), by
-- the Unicode root collation at primary strength. The collation is nondeterministic: titles
-- that differ only in case or accents compare equal, so the list's tie-breaker (id) orders
-- them and the keyset cursor stays exact. ICU is optional in PostgreSQL builds before 16.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_collation WHERE collprovider = 'i') THEN
        RAISE EXCEPTION 'this PostgreSQL server was built without ICU support (pg_collation has no ICU collation)'
            USING HINT = 'todo-backend sorts task titles with an ICU collation: use a PostgreSQL build with ICU (the Debian/Ubuntu packages and the official Docker images have it; from PostgreSQL 16 it is the default)';
    END IF;
END
$$;

CREATE COLLATION task_title (provider = icu, locale = 'und-u-ks-level1', deterministic = false);

DROP INDEX tasks_user_title;
CREATE INDEX tasks_user_title ON tasks (user_id, (title COLLATE task_title), id);

-- `overdue` (pending tasks whose due date has passed) depends on now(): it is counted from
-- this index, so it costs the number of the user's overdue tasks, not of all their tasks.
CREATE INDEX tasks_user_pending_due ON tasks (user_id, due_date) WHERE status = 'pending' AND due_date IS NOT NULL;

-- An instant as the API writes it: UTC, milliseconds (truncated, as chrono's
-- SecondsFormat::Millis), `Z`.
CREATE FUNCTION api_instant(t timestamptz) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;

-- An instant at the precision PostgreSQL stores (microseconds), for the components' own reads.
CREATE FUNCTION stored_instant(t timestamptz) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;

-- The API's task (API.md "Task resource"), byte for byte what todo_domain::task::Task::to_json
-- serialised by serde_json gives: keys in sorted (byte) order, compact, nulls as null.
-- row_to_json over a composite type keeps the attribute order and writes no spaces.
CREATE TYPE task_api AS (
    "category"         text,
    "completed"        boolean,
    "completedAt"      text,
    "createdAt"        text,
    "description"      text,
    "dueDate"          text,
    "id"               uuid,
    "occurrenceIndex"  integer,
    "parentTaskId"     uuid,
    "priority"         text,
    "recurringEndDate" text,
    "recurringRule"    text,
    "reminderAt"       text,
    "reminderSent"     boolean,
    "status"           text,
    "tags"             text[],
    "timeZone"         text,
    "title"            text,
    "updatedAt"        text,
    "userId"           text,
    "version"          bigint
);

CREATE FUNCTION task_json(t tasks) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    SELECT row_to_json(ROW(
        t.category, t.status = 'completed', api_instant(t.completed_at), api_instant(t.created_at),
        t.description, api_instant(t.due_date), t.id, t.occurrence_index, t.parent_task_id,
        t.priority, api_instant(t.recurring_end_date), t.recurring_rule, api_instant(t.reminder_at),
        t.reminder_sent, t.status, t.tags, t.time_zone, t.title, api_instant(t.updated_at),
        t.user_id, t.version
    )::task_api)::text
    $$;

-- The stored task at full precision (microsecond instants) with the series bookkeeping, for
-- read-modify-write and the consumers: decoded by todo_tasks::store::StoredRecord.
CREATE TYPE task_stored AS (
    id                 uuid,
    user_id            text,
    title              text,
    description        text,
    priority           text,
    category           text,
    status             text,
    due_date           text,
    created_at         text,
    updated_at         text,
    completed_at       text,
    recurring_rule     text,
    recurring_end_date text,
    parent_task_id     uuid,
    reminder_at        text,
    reminder_sent      boolean,
    tags               text[],
    time_zone          text,
    version            bigint,
    occurrence_index   integer,
    series_id          uuid,
    series_anchor      text
);

CREATE FUNCTION task_record(t tasks) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    SELECT row_to_json(ROW(
        t.id, t.user_id, t.title, t.description, t.priority, t.category, t.status,
        stored_instant(t.due_date), stored_instant(t.created_at), stored_instant(t.updated_at),
        stored_instant(t.completed_at), t.recurring_rule, stored_instant(t.recurring_end_date),
        t.parent_task_id, stored_instant(t.reminder_at), t.reminder_sent, t.tags, t.time_zone,
        t.version, t.occurrence_index, t.series_id, stored_instant(t.series_anchor)
    )::task_stored)::text
    $$;

-- A notification as the API returns it (API.md), keys sorted as serde_json writes them.
CREATE TYPE notification_api AS (
    "createdAt" text,
    "id"        uuid,
    "message"   text,
    "read"      boolean,
    "taskId"    uuid,
    "userId"    text
);

CREATE FUNCTION notification_json(n notifications) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    SELECT row_to_json(ROW(api_instant(n.created_at), n.id, n.message, n.read, n.task_id, n.user_id)::notification_api)::text
    $$;

-- Per-user counters for GET /stats, kept exact by triggers in the transaction of every change
-- to `tasks`, whoever writes it (the API, the recurring service, future writers). Each user has
-- up to 16 shards, picked by the writing backend, so concurrent writes of one user do not
-- queue on one row; a read sums the user's shards.
CREATE TABLE task_counters (
    user_id               text     NOT NULL,
    shard                 smallint NOT NULL,
    total                 bigint   NOT NULL DEFAULT 0,
    pending               bigint   NOT NULL DEFAULT 0,
    completed             bigint   NOT NULL DEFAULT 0,
    high_priority_pending bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, shard)
)
-- Every change rewrites a counter row: room on the page keeps the new versions HOT (pruned on
-- the page, no new index entries), and an eager autovacuum keeps the few rows few.
WITH (fillfactor = 50, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);

CREATE FUNCTION task_counters_add(p_user text, d_total bigint, d_pending bigint, d_completed bigint, d_high bigint)
    RETURNS void
    LANGUAGE sql
    AS $$
    INSERT INTO task_counters AS c (user_id, shard, total, pending, completed, high_priority_pending)
    VALUES (p_user, pg_backend_pid() % 16, d_total, d_pending, d_completed, d_high)
    ON CONFLICT (user_id, shard) DO UPDATE SET
        total = c.total + EXCLUDED.total,
        pending = c.pending + EXCLUDED.pending,
        completed = c.completed + EXCLUDED.completed,
        high_priority_pending = c.high_priority_pending + EXCLUDED.high_priority_pending
    $$;

CREATE FUNCTION task_counters_track() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    old_pending bigint := 0; old_completed bigint := 0; old_high bigint := 0; old_total bigint := 0;
    new_pending bigint := 0; new_completed bigint := 0; new_high bigint := 0; new_total bigint := 0;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        old_total := 1;
        old_pending := (OLD.status = 'pending')::int;
        old_completed := (OLD.status = 'completed')::int;
        old_high := (OLD.status = 'pending' AND OLD.priority = 'high')::int;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_total := 1;
        new_pending := (NEW.status = 'pending')::int;
        new_completed := (NEW.status = 'completed')::int;
        new_high := (NEW.status = 'pending' AND NEW.priority = 'high')::int;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.user_id = NEW.user_id THEN
        PERFORM task_counters_add(NEW.user_id, 0, new_pending - old_pending,
            new_completed - old_completed, new_high - old_high);
    ELSE
        IF TG_OP <> 'INSERT' THEN
            PERFORM task_counters_add(OLD.user_id, -old_total, -old_pending, -old_completed, -old_high);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            PERFORM task_counters_add(NEW.user_id, new_total, new_pending, new_completed, new_high);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION task_counters_clear() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    DELETE FROM task_counters;
    RETURN NULL;
END
$$;

-- No write to `tasks` may slip between the backfill and the triggers.
LOCK TABLE tasks IN SHARE ROW EXCLUSIVE MODE;

CREATE TRIGGER tasks_counters_insert AFTER INSERT ON tasks
    FOR EACH ROW EXECUTE FUNCTION task_counters_track();
CREATE TRIGGER tasks_counters_delete AFTER DELETE ON tasks
    FOR EACH ROW EXECUTE FUNCTION task_counters_track();
-- Only changes that move a count fire (a title edit does not touch the counters).
CREATE TRIGGER tasks_counters_update AFTER UPDATE OF user_id, status, priority ON tasks
    FOR EACH ROW
    WHEN (OLD.user_id IS DISTINCT FROM NEW.user_id OR OLD.status IS DISTINCT FROM NEW.status
          OR OLD.priority IS DISTINCT FROM NEW.priority)
    EXECUTE FUNCTION task_counters_track();
CREATE TRIGGER tasks_counters_truncate AFTER TRUNCATE ON tasks
    FOR EACH STATEMENT EXECUTE FUNCTION task_counters_clear();

INSERT INTO task_counters (user_id, shard, total, pending, completed, high_priority_pending)
SELECT user_id, 0, count(*),
       count(*) FILTER (WHERE status = 'pending'),
       count(*) FILTER (WHERE status = 'completed'),
       count(*) FILTER (WHERE status = 'pending' AND priority = 'high')
FROM tasks
GROUP BY user_id;
