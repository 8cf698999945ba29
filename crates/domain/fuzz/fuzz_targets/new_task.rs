//! Create bodies: `parse_new_task` on arbitrary JSON never panics; what it accepts is a valid
//! task whose JSON form parses back to the same task.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use todo_domain::input::parse_new_task;
use todo_domain::task::Task;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(new) = parse_new_task(&body) else {
        return;
    };
    let title = new.title.as_str().to_string();
    assert!(!title.is_empty() && title.chars().count() <= 255);
    assert_eq!(title.trim(), title);
    assert!(new.tags.len() <= 10);
    if let (Some(due), Some(end)) = (new.due_date, new.recurring_end_date) {
        assert!(end >= due, "end before due accepted");
    }
    let now = Utc.with_ymd_and_hms(2026, 1, 31, 9, 0, 0).unwrap();
    let task = new.into_task(uuid::Uuid::nil(), "fuzz-user", now);
    let json = task.to_json();
    let back = serde_json::from_value::<Task>(json.clone()).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(back.to_json(), json);
});
