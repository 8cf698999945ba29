//! PostgreSQL writes the API's JSON (`task_json`, kept in the column `api_json` by a trigger on
//! every write, and `notification_json` of the migrations), and the reads pass it through: it
//! must be byte for byte what serde_json writes for the domain's values, for awkward values too.
//! `task_record` must give the stored task back at full precision (what read-modify-write
//! starts from).

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::json;
use todo_domain::task::{
    format_instant, parse_instant, Category, Description, Priority, RecurringRule, Status, Tags,
    Task, TimeZone, Title,
};
use todo_e2e::test_support::fresh_database;
use uuid::Uuid;

const INSERT: &str =
    "INSERT INTO tasks (id, user_id, title, description, priority, category, status, \
    due_date, created_at, updated_at, completed_at, recurring_rule, recurring_end_date, \
    parent_task_id, reminder_at, reminder_sent, tags, time_zone, version, occurrence_index, \
    series_id, series_anchor) \
    VALUES ($1::text::uuid, $2, $3, $4, $5, $6, $7, $8::text::timestamptz, $9::text::timestamptz, \
    $10::text::timestamptz, $11::text::timestamptz, $12, $13::text::timestamptz, $14::text::uuid, \
    $15::text::timestamptz, $16, $17, $18, $19, $20, $21::text::uuid, $22::text::timestamptz)";

fn micros(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

/// Inserts `task` (series anchor: its own due date) and returns `(api_json, task_record)`: the
/// stored JSON the API reads, and the record read-modify-write starts from.
async fn round_trip(client: &tokio_postgres::Client, task: &Task) -> (String, String) {
    let tags: Vec<String> = task.tags.as_slice().to_vec();
    let anchor = micros(task.due_date);
    // proptest re-runs a failing case while shrinking it: the same id may come again.
    client
        .execute(
            "DELETE FROM tasks WHERE id = $1::text::uuid",
            &[&task.id.to_string()],
        )
        .await
        .unwrap();
    client
        .execute(
            INSERT,
            &[
                &task.id.to_string(),
                &task.user_id,
                &task.title.as_str(),
                &task.description.as_ref().map(Description::as_str),
                &task.priority.as_str(),
                &task.category.as_str(),
                &task.status.as_str(),
                &micros(task.due_date),
                &micros(Some(task.created_at)),
                &micros(Some(task.updated_at)),
                &micros(task.completed_at),
                &task.recurring_rule.map(RecurringRule::as_str),
                &micros(task.recurring_end_date),
                &task.parent_task_id.map(|id| id.to_string()),
                &micros(task.reminder_at),
                &task.reminder_sent,
                &tags,
                &task.time_zone.name(),
                &task.version,
                &task.occurrence_index,
                &task.id.to_string(),
                &anchor,
            ],
        )
        .await
        .unwrap_or_else(|e| panic!("insert {task:?}: {e}"));
    let row = client
        .query_one(
            "SELECT t.api_json, task_record(t) FROM tasks t WHERE id = $1::text::uuid",
            &[&task.id.to_string()],
        )
        .await
        .expect("select");
    (row.get(0), row.get(1))
}

fn assert_same_bytes_and_record(task: &Task, json: &str, record: &str) {
    let expected = serde_json::to_string(&task.to_json()).unwrap();
    assert_eq!(json, expected, "api_json differs from Task::to_json");
    let stored = todo_tasks::store::decode_record(serde_json::from_str(record).unwrap())
        .unwrap_or_else(|e| panic!("{e}: {record}"));
    assert_eq!(&stored.task, task, "task_record lost something");
    assert_eq!(stored.series_id, task.id);
    assert_eq!(stored.series_anchor, task.due_date);
}

fn instant(s: &str) -> DateTime<Utc> {
    parse_instant(s).unwrap()
}

/// Every nullable field null, then every field set at its limits with awkward text.
fn fixed_tasks() -> Vec<Task> {
    let bare = Task {
        id: Uuid::from_u128(1),
        user_id: "u".into(),
        title: Title::parse("x").unwrap(),
        description: None,
        priority: Priority::Low,
        category: Category::Other,
        status: Status::Pending,
        due_date: None,
        created_at: instant("0001-01-01T00:00:00Z"),
        updated_at: instant("9999-12-31T23:59:59.999999Z"),
        completed_at: None,
        recurring_rule: None,
        recurring_end_date: None,
        parent_task_id: None,
        reminder_at: None,
        reminder_sent: false,
        tags: Tags::empty(),
        time_zone: TimeZone::UTC,
        version: 1,
        occurrence_index: 0,
    };
    let awkward =
        "\"quoted\" \\back\\slash \u{1}\u{8}\u{c}\n\r\t\u{1f}\u{7f} / é 😀 \u{2028} اردو کام";
    let full = Task {
        id: Uuid::from_u128(u128::MAX - 7),
        user_id: format!("{}{}", awkward, "ü".repeat(40)),
        title: Title::parse(&format!(
            "{awkward}{}",
            "ے".repeat(255 - awkward.chars().count())
        ))
        .unwrap(),
        description: Description::parse(&format!("{awkward}{}", "😀".repeat(900))).unwrap(),
        priority: Priority::High,
        category: Category::Personal,
        status: Status::Completed,
        due_date: Some(instant("2026-03-29T01:59:59.999999Z")),
        created_at: instant("2026-01-31T09:00:00.123456Z"),
        updated_at: instant("2026-01-31T09:00:00.000999Z"),
        completed_at: Some(instant("2026-02-01T00:00:00.000001Z")),
        recurring_rule: Some(RecurringRule::Monthly),
        recurring_end_date: Some(instant("2027-01-31T09:00:00.5Z")),
        parent_task_id: Some(Uuid::from_u128(42)),
        reminder_at: Some(instant("2026-03-28T23:59:59.9999Z")),
        reminder_sent: true,
        tags: Tags::parse(
            &(0..10)
                .map(|i| format!("{i}\"\\😀{}", "ß".repeat(40)))
                .collect::<Vec<_>>(),
        )
        .unwrap(),
        time_zone: TimeZone::parse("America/St_Johns").unwrap(),
        version: i64::MAX,
        occurrence_index: i32::MAX,
    };
    vec![bare, full]
}

#[tokio::test]
async fn task_json_is_task_to_json_byte_for_byte_for_awkward_values() {
    let db = fresh_database().await;
    let client = db.connect().await;
    for task in fixed_tasks() {
        let (json, record) = round_trip(&client, &task).await;
        assert_same_bytes_and_record(&task, &json, &record);
    }
    // An instant's sub-millisecond digits are cut, as chrono cuts them, never rounded.
    let row = client
        .query_one(
            "SELECT api_instant('2026-12-31T23:59:59.999999Z'), api_instant('0999-01-01T00:00:00Z')",
            &[],
        )
        .await
        .unwrap();
    let (a, b): (String, String) = (row.get(0), row.get(1));
    assert_eq!(a, format_instant(instant("2026-12-31T23:59:59.999999Z")));
    assert_eq!(a, "2026-12-31T23:59:59.999Z");
    assert_eq!(b, format_instant(instant("0999-01-01T00:00:00Z")));
}

#[tokio::test]
async fn the_stored_json_follows_every_update_of_the_row() {
    let db = fresh_database().await;
    let client = db.connect().await;
    let mut task = fixed_tasks().pop().unwrap();
    round_trip(&client, &task).await;
    let completed_at = instant("2027-03-04T05:06:07.891234Z");
    client
        .execute(
            "UPDATE tasks SET title = 'Renamed \"x\"', status = 'completed', \
             completed_at = $2::text::timestamptz, reminder_sent = NOT reminder_sent, \
             tags = '{}', version = version - 1 WHERE id = $1::text::uuid",
            &[&task.id.to_string(), &micros(Some(completed_at))],
        )
        .await
        .unwrap();
    task.title = Title::parse("Renamed \"x\"").unwrap();
    task.status = Status::Completed;
    task.completed_at = Some(completed_at);
    task.reminder_sent = !task.reminder_sent;
    task.tags = Tags::empty();
    task.version -= 1;
    let row = client
        .query_one(
            "SELECT t.api_json, task_json(t) FROM tasks t WHERE id = $1::text::uuid",
            &[&task.id.to_string()],
        )
        .await
        .unwrap();
    let (stored, computed): (String, String) = (row.get(0), row.get(1));
    assert_eq!(stored, computed, "api_json fell behind its row");
    assert_eq!(stored, serde_json::to_string(&task.to_json()).unwrap());
}

#[tokio::test]
async fn notification_json_is_the_api_shape_byte_for_byte() {
    let db = fresh_database().await;
    let client = db.connect().await;
    let id = Uuid::from_u128(9);
    let task = Uuid::from_u128(10);
    let message = "Reminder: \"rent\" \\ \u{1}\n اردو 😀";
    client
        .execute(
            "INSERT INTO notifications (id, user_id, task_id, message, read, created_at) \
             VALUES ($1::text::uuid, 'alice', $2::text::uuid, $3, false, '2026-01-31T09:00:00.123456Z')",
            &[&id.to_string(), &task.to_string(), &message],
        )
        .await
        .unwrap();
    let json: String = client
        .query_one("SELECT notification_json(n) FROM notifications n", &[])
        .await
        .unwrap()
        .get(0);
    let expected = json!({
        "id": id.to_string(), "userId": "alice", "message": message,
        "taskId": task.to_string(), "read": false, "createdAt": "2026-01-31T09:00:00.123Z",
    });
    assert_eq!(json, serde_json::to_string(&expected).unwrap());
}

fn awkward_text(max: usize) -> impl Strategy<Value = String> {
    let chars = prop::sample::select(vec![
        'a', 'Z', ' ', '"', '\\', '/', '\u{1}', '\n', '\t', '\u{1f}', '\u{7f}', 'é', 'ß', 'ا', 'ے',
        '😀', '\u{2028}', '\u{feff}', '<', '&',
    ]);
    prop::collection::vec(chars, 1..=max).prop_map(|c| c.into_iter().collect())
}

fn arb_instant() -> impl Strategy<Value = DateTime<Utc>> {
    (-62_135_596_800_000_000i64..=253_402_300_799_999_999i64)
        .prop_map(|us| DateTime::<Utc>::from_timestamp_micros(us).unwrap())
}

prop_compose! {
    fn arb_task()(
        id in any::<u128>(),
        user in awkward_text(255).prop_filter("no NUL", |s| !s.contains('\0')),
        title in awkward_text(255).prop_filter_map("a title", |s| Title::parse(&s).ok()),
        description in prop::option::of(awkward_text(1000)),
        priority in prop::sample::select(Priority::ALL.to_vec()),
        category in prop::sample::select(Category::ALL.to_vec()),
        completed_at in prop::option::of(arb_instant()),
        due in prop::option::of(arb_instant()),
        created in arb_instant(),
        updated in arb_instant(),
        rule in prop::option::of(prop::sample::select(RecurringRule::ALL.to_vec())),
        end in prop::option::of(arb_instant()),
        parent in prop::option::of(any::<u128>()),
        reminder in prop::option::of(arb_instant()),
        reminder_sent in any::<bool>(),
        tags in prop::collection::vec(awkward_text(50), 0..10),
        zone in prop::sample::select(vec!["UTC", "Asia/Karachi", "America/New_York", "Australia/Lord_Howe"]),
        version in 1i64..=i64::MAX,
        occurrence in 0i32..=i32::MAX,
    ) -> Option<Task> {
        let tags = Tags::parse(&tags).ok()?;
        // The table's own rule: a series ends on or after its first due date.
        let recurring_end_date = match (end, due) {
            (Some(end), Some(due)) if end < due => Some(due),
            (end, _) => end,
        };
        Some(Task {
            id: Uuid::from_u128(id),
            user_id: user,
            title,
            description: description.and_then(|d| Description::parse(&d).ok().flatten()),
            priority,
            category,
            status: if completed_at.is_some() { Status::Completed } else { Status::Pending },
            due_date: due,
            created_at: created,
            updated_at: updated,
            completed_at,
            recurring_rule: rule,
            recurring_end_date,
            parent_task_id: parent.map(Uuid::from_u128),
            reminder_at: reminder,
            reminder_sent,
            tags,
            time_zone: TimeZone::parse(zone).ok()?,
            version,
            occurrence_index: occurrence,
        })
    }
}

#[test]
fn task_json_and_task_record_agree_with_the_domain_for_generated_tasks() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = runtime.block_on(async { fresh_database().await.connect().await });
    let config = ProptestConfig {
        cases: 200,
        ..ProptestConfig::default()
    };
    proptest!(config, |(task in arb_task().prop_filter_map("valid", |t| t))| {
        let (json, record) = runtime.block_on(round_trip(&client, &task));
        assert_same_bytes_and_record(&task, &json, &record);
    });
}
