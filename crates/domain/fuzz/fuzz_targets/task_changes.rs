//! Update bodies: `parse_task_changes` + `apply_changes` on arbitrary JSON never panic; an
//! accepted update keeps the task valid (its JSON form parses back), and an update that changes
//! nothing reports no change.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use serde_json::json;
use todo_domain::input::{apply_changes, parse_new_task, parse_task_changes};
use todo_domain::task::Task;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(changes) = parse_task_changes(&body) else {
        return;
    };
    let created = Utc.with_ymd_and_hms(2026, 1, 31, 9, 0, 0).unwrap();
    let task = parse_new_task(&json!({
        "title": "fuzz", "dueDate": "2026-03-29T01:30:00Z", "recurringRule": "monthly",
        "reminderAt": "2026-03-29T01:00:00Z", "tags": ["a"], "timeZone": "Europe/London"
    }))
    .unwrap()
    .into_task(uuid::Uuid::nil(), "fuzz-user", created);
    let now = Utc.with_ymd_and_hms(2026, 2, 1, 9, 0, 0).unwrap();
    let Ok((updated, changed)) = apply_changes(&task, &changes, now) else {
        return;
    };
    if changed.is_empty() {
        assert_eq!(updated.to_json(), task.to_json());
    } else {
        assert_eq!(updated.version, task.version + 1);
    }
    if let (Some(due), Some(end)) = (updated.due_date, updated.recurring_end_date) {
        assert!(end >= due, "end before due accepted");
    }
    let json = updated.to_json();
    let back = serde_json::from_value::<Task>(json.clone()).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(back.to_json(), json);
    // Applying the same changes again changes nothing more.
    if let Ok((again, more)) = apply_changes(&updated, &changes, now) {
        assert!(more.is_empty(), "not idempotent: {more:?}");
        assert_eq!(again.to_json(), updated.to_json());
    }
});
