-- The assistant's conversations (components/assistant): ChatKit threads and their items,
-- owned by one user each. Item order is `seq` (insertion order); pages are keyset pages over
-- it. Deleting a thread deletes its items.
CREATE TABLE chat_threads (
    id         text        PRIMARY KEY CHECK (char_length(id) BETWEEN 1 AND 64),
    user_id    text        NOT NULL CHECK (char_length(user_id) BETWEEN 1 AND 255),
    title      text        CHECK (char_length(title) <= 255),
    created_at timestamptz NOT NULL DEFAULT now(),
    seq        bigint      GENERATED ALWAYS AS IDENTITY UNIQUE
);
CREATE INDEX chat_threads_user ON chat_threads (user_id, seq);

-- `kind` user_message / assistant_message are the items a ChatKit client sees; a tool_step
-- (the model's tool calls and the results it was given) is kept for the model's history only.
-- `content` is todo_chat::history::HistoryItem as JSON.
CREATE TABLE chat_items (
    id         text        PRIMARY KEY CHECK (char_length(id) BETWEEN 1 AND 64),
    thread_id  text        NOT NULL REFERENCES chat_threads (id) ON DELETE CASCADE,
    user_id    text        NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('user_message', 'assistant_message', 'tool_step')),
    content    jsonb       NOT NULL,
    feedback   text        CHECK (feedback IN ('positive', 'negative')),
    created_at timestamptz NOT NULL DEFAULT now(),
    seq        bigint      GENERATED ALWAYS AS IDENTITY UNIQUE
);
CREATE INDEX chat_items_thread ON chat_items (thread_id, seq);
