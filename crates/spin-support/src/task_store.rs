//! The `tasks` row <-> `todo_domain::task::Task` mapping, written once for every component.

use chrono::{DateTime, Utc};
use todo_domain::task::{Description, Tags, Task, TimeZone, Title};
use uuid::Uuid;

use crate::db::{param, DbError, Row, Statement};

/// Select list matching [`stored_task_from_row`], instants converted for Spin's decoder.
pub const TASK_COLUMNS: &str = "id, user_id, title, description, priority, category, status, \
     due_date AT TIME ZONE 'UTC', created_at AT TIME ZONE 'UTC', updated_at AT TIME ZONE 'UTC', \
     completed_at AT TIME ZONE 'UTC', recurring_rule, recurring_end_date AT TIME ZONE 'UTC', \
     parent_task_id, reminder_at AT TIME ZONE 'UTC', reminder_sent, tags, time_zone, version, \
     occurrence_index, series_id, series_anchor AT TIME ZONE 'UTC'";

/// A task with the series bookkeeping that only storage needs.
#[derive(Debug, Clone)]
pub struct StoredTask {
    pub task: Task,
    /// The series root's id (a root's own id); unique with `occurrence_index`.
    pub series_id: Uuid,
    /// Due instant of occurrence 0, which every later occurrence is computed from.
    pub series_anchor: Option<DateTime<Utc>>,
}

impl StoredTask {
    /// A new task that starts its own series.
    pub fn new_root(task: Task) -> StoredTask {
        let series_anchor = task.recurring_rule.map(|_| task.own_anchor());
        StoredTask {
            series_id: task.id,
            series_anchor,
            task,
        }
    }
}

fn corrupt(column: usize, detail: impl ToString) -> DbError {
    DbError::Decode {
        column,
        detail: detail.to_string(),
    }
}

pub fn stored_task_from_row(row: &Row) -> Result<StoredTask, DbError> {
    let task = Task {
        id: row.uuid(0)?,
        user_id: row.text(1)?,
        title: Title::parse(&row.text(2)?).map_err(|e| corrupt(2, e))?,
        description: match row.opt_text(3)? {
            Some(text) => Description::parse(&text).map_err(|e| corrupt(3, e))?,
            None => None,
        },
        priority: row.text(4)?.parse().map_err(|e| corrupt(4, e))?,
        category: row.text(5)?.parse().map_err(|e| corrupt(5, e))?,
        status: row.text(6)?.parse().map_err(|e| corrupt(6, e))?,
        due_date: row.opt_instant(7)?,
        created_at: row.instant(8)?,
        updated_at: row.instant(9)?,
        completed_at: row.opt_instant(10)?,
        recurring_rule: match row.opt_text(11)? {
            Some(rule) => Some(rule.parse().map_err(|e| corrupt(11, e))?),
            None => None,
        },
        recurring_end_date: row.opt_instant(12)?,
        parent_task_id: row.opt_uuid(13)?,
        reminder_at: row.opt_instant(14)?,
        reminder_sent: row.boolean(15)?,
        tags: Tags::parse(&row.text_array(16)?).map_err(|e| corrupt(16, e))?,
        time_zone: TimeZone::parse(&row.text(17)?).map_err(|e| corrupt(17, e))?,
        version: row.int(18)?,
        occurrence_index: i32::try_from(row.int(19)?).map_err(|e| corrupt(19, e))?,
    };
    Ok(StoredTask {
        task,
        series_id: row.uuid(20)?,
        series_anchor: row.opt_instant(21)?,
    })
}

pub fn task_from_row(row: &Row) -> Result<Task, DbError> {
    stored_task_from_row(row).map(|stored| stored.task)
}

/// `INSERT INTO tasks ... RETURNING id` for `stored`, a CTE body. With `guard`, the row is
/// only inserted when the CTE of that name produced a row (idempotent create).
pub fn insert_task_sql(
    statement: &mut Statement,
    stored: &StoredTask,
    guard: Option<&str>,
) -> String {
    let t = &stored.task;
    let ts = |statement: &mut Statement, v| {
        format!(
            "{}::text::timestamptz",
            statement.bind(param::opt_instant(v))
        )
    };
    let values = [
        format!("{}::uuid", statement.bind(param::uuid(t.id))),
        format!("{}::text", statement.bind(param::text(&t.user_id))),
        format!("{}::text", statement.bind(param::text(t.title.as_str()))),
        format!(
            "{}::text",
            statement.bind(param::opt_text(t.description.as_ref().map(|d| d.as_str())))
        ),
        format!("{}::text", statement.bind(param::text(t.priority.as_str()))),
        format!("{}::text", statement.bind(param::text(t.category.as_str()))),
        format!("{}::text", statement.bind(param::text(t.status.as_str()))),
        ts(statement, t.due_date),
        ts(statement, Some(t.created_at)),
        ts(statement, Some(t.updated_at)),
        ts(statement, t.completed_at),
        format!(
            "{}::text",
            statement.bind(param::opt_text(t.recurring_rule.map(|r| r.as_str())))
        ),
        ts(statement, t.recurring_end_date),
        format!(
            "{}::uuid",
            statement.bind(param::opt_uuid(t.parent_task_id))
        ),
        ts(statement, t.reminder_at),
        format!("{}::bool", statement.bind(param::boolean(t.reminder_sent))),
        format!(
            "{}::text[]",
            statement.bind(param::text_array(t.tags.as_slice()))
        ),
        format!("{}::text", statement.bind(param::text(t.time_zone.name()))),
        format!("{}::int8", statement.bind(param::int64(t.version))),
        format!("{}::int4", statement.bind(param::int32(t.occurrence_index))),
        format!("{}::uuid", statement.bind(param::uuid(stored.series_id))),
        ts(statement, stored.series_anchor),
    ];
    let guard = guard.map_or(String::new(), |g| {
        format!(" WHERE EXISTS (SELECT 1 FROM {g})")
    });
    format!(
        "INSERT INTO tasks (id, user_id, title, description, priority, category, status, due_date, \
         created_at, updated_at, completed_at, recurring_rule, recurring_end_date, parent_task_id, \
         reminder_at, reminder_sent, tags, time_zone, version, occurrence_index, series_id, series_anchor) \
         SELECT {}{guard} RETURNING id",
        values.join(", ")
    )
}

/// `UPDATE tasks SET <every mutable column> ... WHERE id AND user_id AND version = <expected>
/// RETURNING id`: optimistic concurrency, the row is only written if nobody changed it since
/// it was read. A CTE body.
pub fn update_task_sql(statement: &mut Statement, task: &Task, expected_version: i64) -> String {
    let sets = [
        format!("title = {}", statement.bind(param::text(task.title.as_str()))),
        format!(
            "description = {}",
            statement.bind(param::opt_text(task.description.as_ref().map(|d| d.as_str())))
        ),
        format!("priority = {}", statement.bind(param::text(task.priority.as_str()))),
        format!("category = {}", statement.bind(param::text(task.category.as_str()))),
        format!("status = {}", statement.bind(param::text(task.status.as_str()))),
        format!("due_date = {}::text::timestamptz", statement.bind(param::opt_instant(task.due_date))),
        format!("updated_at = {}::text::timestamptz", statement.bind(param::instant(task.updated_at))),
        format!(
            "completed_at = {}::text::timestamptz",
            statement.bind(param::opt_instant(task.completed_at))
        ),
        format!(
            "recurring_rule = {}",
            statement.bind(param::opt_text(task.recurring_rule.map(|r| r.as_str())))
        ),
        format!(
            "recurring_end_date = {}::text::timestamptz",
            statement.bind(param::opt_instant(task.recurring_end_date))
        ),
        format!(
            "reminder_at = {}::text::timestamptz",
            statement.bind(param::opt_instant(task.reminder_at))
        ),
        format!("reminder_sent = {}", statement.bind(param::boolean(task.reminder_sent))),
        format!("tags = {}", statement.bind(param::text_array(task.tags.as_slice()))),
        format!("time_zone = {}", statement.bind(param::text(task.time_zone.name()))),
        format!("version = {}", statement.bind(param::int64(task.version))),
        // A root that becomes recurring starts its series at its own due date.
        format!(
            "series_anchor = CASE WHEN parent_task_id IS NULL THEN {}::text::timestamptz ELSE series_anchor END",
            statement.bind(param::opt_instant(task.recurring_rule.map(|_| task.own_anchor())))
        ),
    ];
    let id = statement.bind(param::uuid(task.id));
    let user = statement.bind(param::text(&task.user_id));
    let version = statement.bind(param::int64(expected_version));
    format!(
        "UPDATE tasks SET {} WHERE id = {id} AND user_id = {user} AND version = {version} RETURNING id",
        sets.join(", ")
    )
}
