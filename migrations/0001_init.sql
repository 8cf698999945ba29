-- todo-backend schema. Every instant is timestamptz (UTC). Every user-owned row carries
-- user_id and every query filters on it.

CREATE TABLE tasks (
    id                 uuid        PRIMARY KEY,
    user_id            text        NOT NULL CHECK (char_length(user_id) BETWEEN 1 AND 255),
    title              text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 255),
    description        text        CHECK (char_length(description) <= 1000),
    priority           text        NOT NULL CHECK (priority IN ('low', 'medium', 'high')),
    category           text        NOT NULL CHECK (category IN ('work', 'personal', 'home', 'other')),
    status             text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'completed')),
    completed          boolean     GENERATED ALWAYS AS (status = 'completed') STORED,
    due_date           timestamptz,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    completed_at       timestamptz,
    recurring_rule     text        CHECK (recurring_rule IN ('daily', 'weekly', 'monthly', 'yearly')),
    recurring_end_date timestamptz,
    time_zone          text        NOT NULL DEFAULT 'UTC',
    -- A recurring series: the root task's id (a root's series_id is its own id), the
    -- occurrence's index in it, and the due date of occurrence 0 that every later due date
    -- is computed from (so month ends never drift).
    series_id          uuid        NOT NULL,
    occurrence_index   integer     NOT NULL DEFAULT 0 CHECK (occurrence_index >= 0),
    series_anchor      timestamptz,
    parent_task_id     uuid,
    reminder_at        timestamptz,
    reminder_sent      boolean     NOT NULL DEFAULT false,
    tags               text[]      NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 10),
    version            bigint      NOT NULL DEFAULT 1,
    CHECK (recurring_end_date IS NULL OR due_date IS NULL OR recurring_end_date >= due_date),
    CHECK ((status = 'completed') = (completed_at IS NOT NULL)),
    -- Exactly one task per occurrence of a series: the successor of a completed occurrence is
    -- created once, however often the completion event is delivered.
    UNIQUE (series_id, occurrence_index)
);

-- Keyset pagination: one index per sort key, all led by the owner, with id as tie-breaker.
-- The key expressions are exactly those of todo_domain::listing::SortBy::sql_key (priority
-- sorts low < medium < high; titles sort by code point whatever the database's locale).
CREATE INDEX tasks_user_created  ON tasks (user_id, created_at, id);
CREATE INDEX tasks_user_updated  ON tasks (user_id, updated_at, id);
CREATE INDEX tasks_user_due      ON tasks (user_id, due_date, id);
CREATE INDEX tasks_user_priority ON tasks (user_id, (CASE priority WHEN 'low' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END), id);
CREATE INDEX tasks_user_title    ON tasks (user_id, (title COLLATE "C"), id);
CREATE INDEX tasks_tags          ON tasks USING gin (tags);
-- The reminder sweep reads only armed reminders.
CREATE INDEX tasks_reminders_due ON tasks (reminder_at) WHERE NOT reminder_sent AND reminder_at IS NOT NULL;

CREATE TABLE notifications (
    id          uuid        PRIMARY KEY,
    user_id     text        NOT NULL,
    task_id     uuid,
    message     text        NOT NULL,
    read        boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    -- Which arming of which reminder produced it: one notification per arming.
    reminder_at timestamptz,
    UNIQUE (task_id, reminder_at)
);
CREATE INDEX notifications_user_created ON notifications (user_id, created_at DESC, id DESC);

CREATE TABLE audit_logs (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    uuid        NOT NULL UNIQUE,
    event_type  text        NOT NULL,
    entity_type text        NOT NULL,
    entity_id   text        NOT NULL,
    user_id     text        NOT NULL,
    "timestamp" timestamptz NOT NULL,
    data        jsonb       NOT NULL
);
CREATE INDEX audit_logs_user_time ON audit_logs (user_id, "timestamp" DESC, id DESC);
CREATE INDEX audit_logs_user_entity ON audit_logs (user_id, entity_id);

-- The transactional outbox and durable event log: one row per state change, written in the
-- change's transaction. `seq` is the commit-side order; `published_at` is set once Redis
-- accepted the PUBLISH.
CREATE TABLE events (
    id               uuid        PRIMARY KEY,
    seq              bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    topic            text        NOT NULL CHECK (topic IN ('task-created', 'task-updated', 'task-completed', 'task-deleted', 'reminder-due')),
    user_id          text        NOT NULL,
    subject          text        NOT NULL,
    payload          jsonb       NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    published_at     timestamptz,
    publish_attempts integer     NOT NULL DEFAULT 0
);
CREATE INDEX events_unpublished ON events (seq) WHERE published_at IS NULL;
CREATE INDEX events_user_seq ON events (user_id, seq);

-- Idempotent create: the first response to (user, key) is kept and replayed.
CREATE TABLE idempotency_keys (
    user_id      text        NOT NULL,
    key          text        NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
    request_hash text        NOT NULL,
    task_id      uuid        NOT NULL,
    -- The first response's status and body, replayed verbatim on a retry.
    status_code  integer     NOT NULL,
    response     jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
