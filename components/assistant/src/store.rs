//! Threads and items in PostgreSQL (`migrations/0004_assistant.sql`), every statement scoped
//! to the caller: another user's thread is indistinguishable from a missing one. Every `query`
//! returns exactly one row by construction (Spin 4.0.0-4.0.2 hang on a query returning none).

use chrono::{DateTime, Utc};
use serde_json::Value;
use spin_support::db::{param, Db, DbError, Row, Statement};
use todo_chat::chatkit::{ItemRecord, Order, Page, PageParams, ThreadRecord};
use todo_chat::history::HistoryItem;
use uuid::Uuid;

/// How many of a thread's newest items are read to build the model's history (the budget then
/// keeps what fits).
const HISTORY_ITEMS: i64 = 400;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("Thread not found")]
    ThreadNotFound,
    #[error("Item not found")]
    ItemNotFound,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

pub fn new_thread_id() -> String {
    format!("thr_{}", Uuid::now_v7().simple())
}

pub fn new_item_id() -> String {
    format!("msg_{}", Uuid::now_v7().simple())
}

fn kind(item: &HistoryItem) -> &'static str {
    match item {
        HistoryItem::UserMessage { .. } => "user_message",
        HistoryItem::AssistantMessage { .. } => "assistant_message",
        HistoryItem::ToolStep { .. } => "tool_step",
    }
}

fn content_json(item: &HistoryItem) -> Value {
    serde_json::to_value(item).unwrap_or(Value::Null)
}

fn decode<T>(result: Result<T, impl ToString>, column: usize) -> Result<T, DbError> {
    result.map_err(|e| DbError::Decode {
        column,
        detail: e.to_string(),
    })
}

fn parse_instant(text: &str) -> Result<DateTime<Utc>, DbError> {
    decode(DateTime::parse_from_rfc3339(text), 0).map(|t| t.with_timezone(&Utc))
}

/// A row's JSON object (see [`ITEM_JSON`] / [`THREAD_JSON`]) as a record.
fn item_from_json(thread_id: &str, value: &Value) -> Result<ItemRecord, DbError> {
    let field = |name: &str| value.get(name).and_then(Value::as_str).unwrap_or_default();
    Ok(ItemRecord {
        id: field("id").to_string(),
        thread_id: thread_id.to_string(),
        created_at: parse_instant(field("created_at"))?,
        content: decode(
            serde_json::from_value(value.get("content").cloned().unwrap_or(Value::Null)),
            0,
        )?,
    })
}

fn thread_from_json(value: &Value) -> Result<ThreadRecord, DbError> {
    let field = |name: &str| value.get(name).and_then(Value::as_str);
    Ok(ThreadRecord {
        id: field("id").unwrap_or_default().to_string(),
        title: field("title").map(str::to_string),
        created_at: parse_instant(field("created_at").unwrap_or_default())?,
    })
}

/// `created_at` as RFC 3339 text (Spin cannot decode `timestamptz`, and inside JSON it must be
/// text anyway).
const CREATED_AT: &str =
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";

fn item_json_sql() -> String {
    format!("jsonb_build_object('id', id, 'created_at', {CREATED_AT}, 'content', content)")
}

fn thread_json_sql() -> String {
    format!("jsonb_build_object('id', id, 'title', title, 'created_at', {CREATED_AT})")
}

fn one_row(db: &Db, statement: &Statement) -> Result<Row, DbError> {
    db.query_one(statement)?
        .ok_or_else(|| DbError::Query("a single-row query returned no row".into()))
}

/// A new thread titled `title` holding its first item.
pub fn create_thread(
    db: &Db,
    user: &str,
    title: &str,
    first: &HistoryItem,
) -> Result<(ThreadRecord, ItemRecord), StoreError> {
    let thread_id = new_thread_id();
    let item_id = new_item_id();
    let statement = Statement::new(format!(
        "WITH t AS (INSERT INTO chat_threads (id, user_id, title) VALUES ($1, $2, $3) \
                    RETURNING id, title, created_at), \
              i AS (INSERT INTO chat_items (id, thread_id, user_id, kind, content) \
                    SELECT $4, t.id, $2, $5, $6 FROM t RETURNING id, created_at, content) \
         SELECT (SELECT {} FROM t), (SELECT {} FROM i)",
        thread_json_sql(),
        item_json_sql()
    ))
    .arg(param::text(&thread_id))
    .arg(param::text(user))
    .arg(param::text(title))
    .arg(param::text(&item_id))
    .arg(param::text(kind(first)))
    .arg(param::jsonb(&content_json(first)));
    let row = one_row(db, &statement)?;
    let thread = thread_from_json(&row.json(0)?)?;
    let item = item_from_json(&thread.id, &row.json(1)?)?;
    Ok((thread, item))
}

/// The caller's thread `thread_id`.
pub fn thread(db: &Db, user: &str, thread_id: &str) -> Result<ThreadRecord, StoreError> {
    let statement = Statement::new(format!(
        "SELECT (SELECT {} FROM chat_threads WHERE id = $1 AND user_id = $2)",
        thread_json_sql()
    ))
    .arg(param::text(thread_id))
    .arg(param::text(user));
    let row = one_row(db, &statement)?;
    if row.is_null(0) {
        return Err(StoreError::ThreadNotFound);
    }
    Ok(thread_from_json(&row.json(0)?)?)
}

/// Appends `item` to the caller's thread under a new id.
pub fn add_item(
    db: &Db,
    user: &str,
    thread_id: &str,
    item: &HistoryItem,
) -> Result<ItemRecord, StoreError> {
    add_item_with_id(db, user, thread_id, &new_item_id(), item)
}

/// Appends `item` to the caller's thread under `item_id` (an id already shown to a client).
pub fn add_item_with_id(
    db: &Db,
    user: &str,
    thread_id: &str,
    item_id: &str,
    item: &HistoryItem,
) -> Result<ItemRecord, StoreError> {
    let statement = Statement::new(format!(
        "WITH t AS (SELECT id FROM chat_threads WHERE id = $1 AND user_id = $2), \
              i AS (INSERT INTO chat_items (id, thread_id, user_id, kind, content) \
                    SELECT $3, t.id, $2, $4, $5 FROM t RETURNING id, created_at, content) \
         SELECT (SELECT {} FROM i)",
        item_json_sql()
    ))
    .arg(param::text(thread_id))
    .arg(param::text(user))
    .arg(param::text(item_id))
    .arg(param::text(kind(item)))
    .arg(param::jsonb(&content_json(item)));
    let row = one_row(db, &statement)?;
    if row.is_null(0) {
        return Err(StoreError::ThreadNotFound);
    }
    Ok(item_from_json(thread_id, &row.json(0)?)?)
}

/// The newest items of the caller's thread (tool steps included), oldest first: the model's
/// history before the budget is applied.
pub fn history(db: &Db, user: &str, thread_id: &str) -> Result<Vec<HistoryItem>, StoreError> {
    let statement = Statement::new(
        "WITH t AS (SELECT id FROM chat_threads WHERE id = $1 AND user_id = $2), \
              newest AS (SELECT content, seq FROM chat_items \
                         WHERE thread_id IN (SELECT id FROM t) ORDER BY seq DESC LIMIT $3) \
         SELECT (SELECT count(*) FROM t)::int8, \
                coalesce((SELECT jsonb_agg(content ORDER BY seq) FROM newest), '[]'::jsonb)",
    )
    .arg(param::text(thread_id))
    .arg(param::text(user))
    .arg(param::int64(HISTORY_ITEMS));
    let row = one_row(db, &statement)?;
    if row.int(0)? == 0 {
        return Err(StoreError::ThreadNotFound);
    }
    Ok(decode(serde_json::from_value(row.json(1)?), 1)?)
}

/// The records of a JSON array read `limit + 1` deep: the first `limit`, and whether there
/// were more.
fn page_of<T>(
    values: &Value,
    limit: u32,
    decode_one: impl Fn(&Value) -> Result<T, DbError>,
) -> Result<Page<T>, StoreError> {
    let mut data = values
        .as_array()
        .map(|rows| rows.iter().map(&decode_one).collect::<Result<Vec<_>, _>>())
        .transpose()?
        .unwrap_or_default();
    let has_more = data.len() > limit as usize;
    data.truncate(limit as usize);
    Ok(Page { data, has_more })
}

/// A page of the caller's thread's visible items (user and assistant messages).
pub fn items(
    db: &Db,
    user: &str,
    thread_id: &str,
    page: &PageParams,
) -> Result<Page<ItemRecord>, StoreError> {
    let (comparison, direction) = match page.order {
        Order::Asc => (">", "ASC"),
        Order::Desc => ("<", "DESC"),
    };
    let statement = Statement::new(format!(
        "WITH t AS (SELECT id FROM chat_threads WHERE id = $1 AND user_id = $2), \
              a AS (SELECT seq FROM chat_items WHERE id = $3 AND thread_id IN (SELECT id FROM t) \
                    AND kind <> 'tool_step'), \
              page AS (SELECT id, created_at, content, seq FROM chat_items \
                       WHERE thread_id IN (SELECT id FROM t) AND kind <> 'tool_step' \
                         AND ($3::text IS NULL OR seq {comparison} (SELECT seq FROM a)) \
                       ORDER BY seq {direction} LIMIT $4) \
         SELECT (SELECT count(*) FROM t)::int8, (SELECT count(*) FROM a)::int8, \
                coalesce((SELECT jsonb_agg({} ORDER BY seq {direction}) FROM page), '[]'::jsonb)",
        item_json_sql()
    ))
    .arg(param::text(thread_id))
    .arg(param::text(user))
    .arg(param::opt_text(page.after.as_deref()))
    .arg(param::int64(i64::from(page.limit) + 1));
    let row = one_row(db, &statement)?;
    if row.int(0)? == 0 {
        return Err(StoreError::ThreadNotFound);
    }
    if page.after.is_some() && row.int(1)? == 0 {
        return Err(StoreError::Invalid(
            "after names no item of this thread".into(),
        ));
    }
    page_of(&row.json(2)?, page.limit, |v| item_from_json(thread_id, v))
}

/// A page of the caller's threads, by creation.
pub fn threads(db: &Db, user: &str, page: &PageParams) -> Result<Page<ThreadRecord>, StoreError> {
    let (comparison, direction) = match page.order {
        Order::Asc => (">", "ASC"),
        Order::Desc => ("<", "DESC"),
    };
    let statement = Statement::new(format!(
        "WITH a AS (SELECT seq FROM chat_threads WHERE id = $2 AND user_id = $1), \
              page AS (SELECT id, title, created_at, seq FROM chat_threads \
                       WHERE user_id = $1 AND ($2::text IS NULL OR seq {comparison} (SELECT seq FROM a)) \
                       ORDER BY seq {direction} LIMIT $3) \
         SELECT (SELECT count(*) FROM a)::int8, \
                coalesce((SELECT jsonb_agg({} ORDER BY seq {direction}) FROM page), '[]'::jsonb)",
        thread_json_sql()
    ))
    .arg(param::text(user))
    .arg(param::opt_text(page.after.as_deref()))
    .arg(param::int64(i64::from(page.limit) + 1));
    let row = one_row(db, &statement)?;
    if page.after.is_some() && row.int(0)? == 0 {
        return Err(StoreError::Invalid(
            "after names none of your threads".into(),
        ));
    }
    page_of(&row.json(1)?, page.limit, thread_from_json)
}

pub fn set_title(
    db: &Db,
    user: &str,
    thread_id: &str,
    title: &str,
) -> Result<ThreadRecord, StoreError> {
    let statement = Statement::new(format!(
        "WITH t AS (UPDATE chat_threads SET title = $3 WHERE id = $1 AND user_id = $2 \
                    RETURNING id, title, created_at) \
         SELECT (SELECT {} FROM t)",
        thread_json_sql()
    ))
    .arg(param::text(thread_id))
    .arg(param::text(user))
    .arg(param::opt_text((!title.is_empty()).then_some(title)));
    let row = one_row(db, &statement)?;
    if row.is_null(0) {
        return Err(StoreError::ThreadNotFound);
    }
    Ok(thread_from_json(&row.json(0)?)?)
}

/// Deletes the caller's thread and (by the foreign key) its items.
pub fn delete_thread(db: &Db, user: &str, thread_id: &str) -> Result<(), StoreError> {
    let statement = Statement::new("DELETE FROM chat_threads WHERE id = $1 AND user_id = $2")
        .arg(param::text(thread_id))
        .arg(param::text(user));
    match db.execute(&statement)? {
        0 => Err(StoreError::ThreadNotFound),
        _ => Ok(()),
    }
}

/// Records `feedback` on items of the caller's thread: all of them or, if one is not a visible
/// item of that thread, none.
pub fn set_feedback(
    db: &Db,
    user: &str,
    thread_id: &str,
    item_ids: &[String],
    feedback: &str,
) -> Result<(), StoreError> {
    let statement = Statement::new(
        "WITH t AS (SELECT id FROM chat_threads WHERE id = $1 AND user_id = $2), \
              wanted AS (SELECT DISTINCT unnest($3::text[]) AS id), \
              found AS (SELECT i.id FROM chat_items i JOIN wanted USING (id) \
                        WHERE i.thread_id IN (SELECT id FROM t) AND i.kind <> 'tool_step'), \
              changed AS (UPDATE chat_items SET feedback = $4 WHERE id IN (SELECT id FROM found) \
                          AND (SELECT count(*) FROM found) = (SELECT count(*) FROM wanted) \
                          RETURNING id) \
         SELECT (SELECT count(*) FROM t)::int8, (SELECT count(*) FROM changed)::int8, \
                (SELECT count(*) FROM wanted)::int8",
    )
    .arg(param::text(thread_id))
    .arg(param::text(user))
    .arg(param::text_array(item_ids))
    .arg(param::text(feedback));
    let row = one_row(db, &statement)?;
    if row.int(0)? == 0 {
        return Err(StoreError::ThreadNotFound);
    }
    if row.int(1)? != row.int(2)? {
        return Err(StoreError::ItemNotFound);
    }
    Ok(())
}

/// For `threads.retry_after_item`: deletes every item after the caller's user message
/// `item_id` and returns that message and the history before it.
pub fn rewind_to(
    db: &Db,
    user: &str,
    thread_id: &str,
    item_id: &str,
) -> Result<(ItemRecord, Vec<HistoryItem>), StoreError> {
    let statement = Statement::new(format!(
        "WITH t AS (SELECT id FROM chat_threads WHERE id = $1 AND user_id = $2), \
              m AS (SELECT id, created_at, content, seq FROM chat_items \
                    WHERE id = $3 AND thread_id IN (SELECT id FROM t) AND kind = 'user_message'), \
              gone AS (DELETE FROM chat_items WHERE thread_id IN (SELECT id FROM t) \
                       AND seq > (SELECT seq FROM m) RETURNING id), \
              before AS (SELECT content, seq FROM chat_items \
                         WHERE thread_id IN (SELECT id FROM t) AND seq < (SELECT seq FROM m) \
                         ORDER BY seq DESC LIMIT $4) \
         SELECT (SELECT count(*) FROM t)::int8, (SELECT {} FROM m), \
                coalesce((SELECT jsonb_agg(content ORDER BY seq) FROM before), '[]'::jsonb), \
                (SELECT count(*) FROM gone)::int8",
        item_json_sql()
    ))
    .arg(param::text(thread_id))
    .arg(param::text(user))
    .arg(param::text(item_id))
    .arg(param::int64(HISTORY_ITEMS));
    let row = one_row(db, &statement)?;
    if row.int(0)? == 0 {
        return Err(StoreError::ThreadNotFound);
    }
    if row.is_null(1) {
        return Err(StoreError::ItemNotFound);
    }
    let message = item_from_json(thread_id, &row.json(1)?)?;
    let history = decode(serde_json::from_value(row.json(2)?), 2)?;
    Ok((message, history))
}

/// The time zone of the caller's most recently created task, if any.
pub fn latest_task_zone(db: &Db, user: &str) -> Result<Option<String>, StoreError> {
    let statement = Statement::new(
        "SELECT (SELECT time_zone FROM tasks WHERE user_id = $1 \
                 ORDER BY created_at DESC, id DESC LIMIT 1)",
    )
    .arg(param::text(user));
    Ok(one_row(db, &statement)?.opt_text(0)?)
}
