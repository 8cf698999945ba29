//! The pure parts of a reminder: the notification text and JSON, the `reminder-due` event,
//! and the sweep token check. No I/O; unit-tested natively.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use todo_domain::event::{self, EventEnvelope};
use todo_domain::task::{format_instant, Task};
use uuid::Uuid;

/// The `source` of the events this service writes.
pub const EVENT_SOURCE: &str = "notification-service";

/// `"Reminder: <title>"`, plus `" (due YYYY-MM-DD HH:MM)"` in the task's time zone when the
/// task has a due date.
pub fn message(task: &Task) -> String {
    let title = task.title.as_str();
    match task.due_date {
        Some(due) => {
            let local = due.with_timezone(&task.time_zone.tz());
            format!("Reminder: {title} (due {})", local.format("%Y-%m-%d %H:%M"))
        }
        None => format!("Reminder: {title}"),
    }
}

/// A reminder about to fire: the notification (as the API returns it) and its event.
pub struct Fired {
    pub notification_id: Uuid,
    pub message: String,
    pub created_at: DateTime<Utc>,
    pub event: EventEnvelope,
}

/// Builds the notification and the `reminder-due` event for `task` as it will be once the
/// claim marked its reminder sent (`claimed`: `reminderSent = true`, next version).
pub fn fire(claimed: &Task, created_at: DateTime<Utc>, correlation_id: &str) -> Fired {
    let notification_id = Uuid::now_v7();
    let message = message(claimed);
    let notification = json!({
        "id": notification_id.to_string(),
        "userId": claimed.user_id,
        "message": message,
        "taskId": claimed.id.to_string(),
        "read": false,
        "createdAt": format_instant(created_at),
    });
    let event =
        event::reminder_due(&notification, claimed, correlation_id).with_source(EVENT_SOURCE);
    Fired {
        notification_id,
        message,
        created_at,
        event,
    }
}

/// The task as the claim leaves it: reminder sent, version bumped (so an API write that read
/// the task before the claim retries instead of re-arming the reminder with stale data).
pub fn claimed_state(task: &Task) -> Task {
    let mut claimed = task.clone();
    claimed.reminder_sent = true;
    claimed.version += 1;
    claimed
}

/// What one sweep did (the HTTP route's JSON body).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    /// Notifications created (and their events written).
    pub fired: u64,
    /// Reminders of completed tasks, marked sent without a notification.
    pub skipped_completed: u64,
    /// Claimed, but a notification for this arming already existed (no second one).
    pub already_notified: u64,
    /// Another sweep claimed it first, or the task changed since it was read.
    pub lost: u64,
    /// Rows that could not be read as a task (logged, left untouched).
    pub undecodable: u64,
    /// Rows whose claim failed other than by the database being unavailable (logged, left armed).
    pub failed: u64,
    pub batches: u64,
    /// The time budget ran out with due reminders possibly left for the next sweep.
    pub more_due: bool,
    pub duration_ms: u64,
}

impl Summary {
    pub fn to_json(&self) -> Value {
        json!({
            "fired": self.fired,
            "skipped_completed": self.skipped_completed,
            "already_notified": self.already_notified,
            "lost": self.lost,
            "undecodable": self.undecodable,
            "failed": self.failed,
            "batches": self.batches,
            "more_due": self.more_due,
            "duration_ms": self.duration_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use todo_domain::event::Topic;
    use todo_domain::task::{parse_instant, Category, Priority, Status, Tags, TimeZone, Title};

    fn task(due: Option<&str>, zone: &str) -> Task {
        let created = parse_instant("2026-03-01T08:00:00Z").unwrap();
        Task {
            id: Uuid::parse_str("0190b9a4-1111-7000-8000-000000000001").unwrap(),
            user_id: "alice".into(),
            title: Title::parse("Pay rent").unwrap(),
            description: None,
            priority: Priority::Medium,
            category: Category::Home,
            status: Status::Pending,
            due_date: due.map(|d| parse_instant(d).unwrap()),
            created_at: created,
            updated_at: created,
            completed_at: None,
            recurring_rule: None,
            recurring_end_date: None,
            parent_task_id: None,
            reminder_at: Some(parse_instant("2026-03-31T12:00:00Z").unwrap()),
            reminder_sent: false,
            tags: Tags::empty(),
            time_zone: TimeZone::parse(zone).unwrap(),
            version: 3,
            occurrence_index: 0,
        }
    }

    #[test]
    fn message_without_due_date() {
        assert_eq!(message(&task(None, "UTC")), "Reminder: Pay rent");
    }

    #[test]
    fn message_shows_the_due_date_in_the_task_time_zone() {
        assert_eq!(
            message(&task(Some("2026-03-31T13:30:00Z"), "UTC")),
            "Reminder: Pay rent (due 2026-03-31 13:30)"
        );
        // New York is on daylight time (UTC-4) at the end of March.
        assert_eq!(
            message(&task(Some("2026-03-31T13:30:00Z"), "America/New_York")),
            "Reminder: Pay rent (due 2026-03-31 09:30)"
        );
        // Crossing midnight into the next local day.
        assert_eq!(
            message(&task(Some("2026-03-31T23:45:59Z"), "Asia/Tokyo")),
            "Reminder: Pay rent (due 2026-04-01 08:45)"
        );
    }

    #[test]
    fn fired_reminder_carries_notification_and_claimed_task() {
        let claimed = claimed_state(&task(Some("2026-03-31T13:30:00Z"), "UTC"));
        assert!(claimed.reminder_sent);
        assert_eq!(claimed.version, 4);
        let created = parse_instant("2026-03-31T12:00:00.250Z").unwrap();
        let fired = fire(&claimed, created, "sweep-1");
        assert_eq!(fired.notification_id.get_version_num(), 7);
        let e = &fired.event;
        assert_eq!(e.topic, Topic::ReminderDue);
        assert_eq!(e.source, EVENT_SOURCE);
        assert_eq!(e.user_id, "alice");
        assert_eq!(e.subject, claimed.id.to_string());
        assert_eq!(e.correlation_id, "sweep-1");
        let n = &e.data["notification"];
        assert_eq!(n["id"], fired.notification_id.to_string());
        assert_eq!(n["message"], "Reminder: Pay rent (due 2026-03-31 13:30)");
        assert_eq!(n["taskId"], claimed.id.to_string());
        assert_eq!(n["userId"], "alice");
        assert_eq!(n["read"], false);
        assert_eq!(n["createdAt"], "2026-03-31T12:00:00.250Z");
        assert_eq!(e.data["reminderSent"], true);
        assert_eq!(e.data["version"], 4);
        // The published bytes parse back strictly, and the realtime payload is the notification.
        let parsed = EventEnvelope::parse(&e.to_bytes()).expect("strict parse");
        assert_eq!(parsed.id, e.id);
        assert_eq!(parsed.realtime_payload()["type"], "reminder");
        assert_eq!(parsed.realtime_payload()["data"], *n);
    }

    #[test]
    fn summary_json() {
        let s = Summary {
            fired: 2,
            skipped_completed: 1,
            ..Summary::default()
        };
        let j = s.to_json();
        assert_eq!(j["fired"], 2);
        assert_eq!(j["skipped_completed"], 1);
        assert_eq!(j["more_due"], false);
    }
}
