//! Recurrence arithmetic of a recurring series.
//!
//! A series is anchored to its first due instant (occurrence 0: the root task's `dueDate`, or
//! its creation time if it has none, see [`Task::own_anchor`]). Occurrence `n` is computed from
//! the anchor, never from occurrence `n-1`, so month ends do not drift:
//! - daily / weekly: the anchor's local date + `n` days / `7n` days;
//! - monthly: the anchor's local month + `n`, day = min(anchor's local day, length of month)
//!   (Jan 31 -> Feb 28/29, Mar 31, Apr 30, ...);
//! - yearly: the anchor's local year + `n`, same month, day = min(anchor day, month length)
//!   (Feb 29 -> Feb 28 in common years, Feb 29 again in leap years);
//!
//! always at the anchor's local wall-clock time in the series' time zone. A local time that
//! does not exist (spring-forward gap) moves forward to the first valid instant (the end of the
//! gap, e.g. 02:30 -> 03:00 in America/New_York); an ambiguous one (fall-back overlap) takes the
//! earlier instant.

use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeDelta,
    TimeZone as _, Timelike, Utc,
};
use chrono_tz::Tz;
use uuid::Uuid;

use crate::task::{RecurringRule, Status, Task};

/// Occurrence `index` of the series, or `None` if the date is out of chrono's range.
pub fn try_occurrence_due(
    rule: RecurringRule,
    anchor: DateTime<Utc>,
    tz: Tz,
    index: u32,
) -> Option<DateTime<Utc>> {
    // `naive_local()` panics at the edges of chrono's range; this does not.
    let offset = tz.offset_from_utc_datetime(&anchor.naive_utc()).fix();
    let local = anchor.naive_utc().checked_add_offset(offset)?;
    let date = local.date();
    let n = u64::from(index);
    let target = match rule {
        RecurringRule::Daily => date.checked_add_days(Days::new(n))?,
        RecurringRule::Weekly => date.checked_add_days(Days::new(n.checked_mul(7)?))?,
        RecurringRule::Monthly => {
            let months = i64::from(date.year()) * 12 + i64::from(date.month0()) + n as i64;
            let year = i32::try_from(months.div_euclid(12)).ok()?;
            let month = months.rem_euclid(12) as u32 + 1;
            clamped_date(year, month, date.day())?
        }
        RecurringRule::Yearly => {
            let year = i32::try_from(i64::from(date.year()) + n as i64).ok()?;
            clamped_date(year, date.month(), date.day())?
        }
    };
    resolve_local(tz, target.and_time(local.time()))
}

/// Occurrence `index` of the series. Beyond chrono's date range (hundreds of thousands of
/// years) it saturates at [`DateTime::<Utc>::MAX_UTC`] instead of panicking.
pub fn occurrence_due(
    rule: RecurringRule,
    anchor: DateTime<Utc>,
    tz: Tz,
    index: u32,
) -> DateTime<Utc> {
    try_occurrence_due(rule, anchor, tz, index).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The successor of occurrence `index` (= `index + 1`) and its due instant, unless it is after
/// `end` (inclusive end) or out of range: `None`.
pub fn next_occurrence(
    rule: RecurringRule,
    anchor: DateTime<Utc>,
    tz: Tz,
    index: u32,
    end: Option<DateTime<Utc>>,
) -> Option<(u32, DateTime<Utc>)> {
    let next = index.checked_add(1)?;
    let due = try_occurrence_due(rule, anchor, tz, next)?;
    if end.is_some_and(|e| due > e) {
        return None;
    }
    Some((next, due))
}

/// `year-month-day`, with the day clamped to the month's length.
fn clamped_date(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let next_first = if month == 12 {
        NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    let len = match next_first {
        Some(n) => (n - first).num_days() as u32,
        None => 31, // December of chrono's last year
    };
    NaiveDate::from_ymd_opt(year, month, day.min(len))
}

/// The instant of a local wall-clock time in `tz`: the earlier one if ambiguous, the first
/// valid instant after the gap if it does not exist.
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Some(a.min(b).with_timezone(&Utc)),
        LocalResult::None => {
            // In a gap: the first valid local minute after it is the end of the gap (zone
            // transitions fall on whole minutes), whose earliest instant is the transition.
            let start = local.with_second(0)?.with_nanosecond(0)?;
            (1..=24 * 60).find_map(|m| {
                let candidate = start.checked_add_signed(TimeDelta::minutes(m))?;
                tz.from_local_datetime(&candidate)
                    .earliest()
                    .map(|t| t.with_timezone(&Utc))
            })
        }
    }
}

/// A reminder keeps its offset to the due date: `new_due + (reminder - due)`.
pub fn shifted_reminder(
    due: DateTime<Utc>,
    reminder: Option<DateTime<Utc>>,
    new_due: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let r = reminder?;
    new_due.checked_add_signed(r.signed_duration_since(due))
}

/// The next occurrence of `task` as a new pending task, or `None` if `task` is not recurring,
/// the series has ended (`recurring_end_date`, inclusive), or the index is out of range.
///
/// `anchor` is the series' first due instant (the root's [`Task::own_anchor`]). The successor
/// copies title, description, priority, category, tags, time zone, rule and end date; its
/// `reminder_at` keeps the reminder's offset to this occurrence's due date; `parent_task_id` is
/// the series root (`task.parent_task_id`, or `task.id` for the root itself);
/// `occurrence_index = task.occurrence_index + 1`; version 1; `created_at = updated_at = now`.
pub fn successor(
    task: &Task,
    anchor: DateTime<Utc>,
    new_id: Uuid,
    now: DateTime<Utc>,
) -> Option<Task> {
    let rule = task.recurring_rule?;
    let index = u32::try_from(task.occurrence_index).ok()?;
    let tz = task.time_zone.tz();
    let (next, due) = next_occurrence(rule, anchor, tz, index, task.recurring_end_date)?;
    let current_due = task
        .due_date
        .unwrap_or_else(|| occurrence_due(rule, anchor, tz, index));
    Some(Task {
        id: new_id,
        user_id: task.user_id.clone(),
        title: task.title.clone(),
        description: task.description.clone(),
        priority: task.priority,
        category: task.category,
        status: Status::Pending,
        due_date: Some(due),
        created_at: now,
        updated_at: now,
        completed_at: None,
        recurring_rule: Some(rule),
        recurring_end_date: task.recurring_end_date,
        parent_task_id: Some(task.parent_task_id.unwrap_or(task.id)),
        reminder_at: shifted_reminder(current_due, task.reminder_at, due),
        reminder_sent: false,
        tags: task.tags.clone(),
        time_zone: task.time_zone,
        version: 1,
        occurrence_index: i32::try_from(next).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::tests::sample_task;
    use crate::task::{format_instant, parse_instant};
    use chrono_tz::America::New_York;

    fn at(s: &str) -> DateTime<Utc> {
        parse_instant(s).unwrap()
    }

    fn series(rule: RecurringRule, anchor: &str, tz: Tz, n: u32) -> Vec<String> {
        (0..n)
            .map(|i| format_instant(occurrence_due(rule, at(anchor), tz, i)))
            .collect()
    }

    #[test]
    fn monthly_from_jan_31_does_not_drift() {
        let s = series(RecurringRule::Monthly, "2026-01-31T09:00:00Z", Tz::UTC, 13);
        let days: Vec<&str> = s.iter().map(|x| &x[..10]).collect();
        assert_eq!(
            days,
            vec![
                "2026-01-31",
                "2026-02-28",
                "2026-03-31",
                "2026-04-30",
                "2026-05-31",
                "2026-06-30",
                "2026-07-31",
                "2026-08-31",
                "2026-09-30",
                "2026-10-31",
                "2026-11-30",
                "2026-12-31",
                "2027-01-31"
            ]
        );
        assert!(s.iter().all(|x| x.ends_with("T09:00:00.000Z")));
        // leap February
        assert_eq!(
            format_instant(occurrence_due(
                RecurringRule::Monthly,
                at("2027-01-31T09:00:00Z"),
                Tz::UTC,
                13
            )),
            "2028-02-29T09:00:00.000Z"
        );
    }

    #[test]
    fn yearly_from_feb_29() {
        let s = series(RecurringRule::Yearly, "2028-02-29T12:00:00Z", Tz::UTC, 5);
        assert_eq!(
            s,
            vec![
                "2028-02-29T12:00:00.000Z",
                "2029-02-28T12:00:00.000Z",
                "2030-02-28T12:00:00.000Z",
                "2031-02-28T12:00:00.000Z",
                "2032-02-29T12:00:00.000Z"
            ]
        );
    }

    #[test]
    fn daily_and_weekly() {
        assert_eq!(
            series(RecurringRule::Daily, "2026-12-30T10:00:00Z", Tz::UTC, 3),
            vec![
                "2026-12-30T10:00:00.000Z",
                "2026-12-31T10:00:00.000Z",
                "2027-01-01T10:00:00.000Z"
            ]
        );
        assert_eq!(
            series(RecurringRule::Weekly, "2026-02-26T10:00:00Z", Tz::UTC, 3),
            vec![
                "2026-02-26T10:00:00.000Z",
                "2026-03-05T10:00:00.000Z",
                "2026-03-12T10:00:00.000Z"
            ]
        );
    }

    #[test]
    fn new_york_0900_daily_across_both_2026_transitions() {
        // 2026: DST starts Sun 8 March, ends Sun 1 November.
        let anchor = at("2026-03-06T14:00:00Z"); // 09:00 EST
        let s: Vec<String> = (0..4)
            .map(|i| format_instant(occurrence_due(RecurringRule::Daily, anchor, New_York, i)))
            .collect();
        assert_eq!(
            s,
            vec![
                "2026-03-06T14:00:00.000Z",
                "2026-03-07T14:00:00.000Z",
                "2026-03-08T13:00:00.000Z",
                "2026-03-09T13:00:00.000Z"
            ]
        );
        let autumn = at("2026-10-30T13:00:00Z"); // 09:00 EDT
        let s: Vec<String> = (0..4)
            .map(|i| format_instant(occurrence_due(RecurringRule::Daily, autumn, New_York, i)))
            .collect();
        assert_eq!(
            s,
            vec![
                "2026-10-30T13:00:00.000Z",
                "2026-10-31T13:00:00.000Z",
                "2026-11-01T14:00:00.000Z",
                "2026-11-02T14:00:00.000Z"
            ]
        );
    }

    #[test]
    fn gap_moves_forward_and_overlap_takes_earlier() {
        // 02:30 local on 7 March 2026 (EST): 8 March 02:30 does not exist -> 03:00 EDT.
        let anchor = at("2026-03-07T07:30:00Z");
        assert_eq!(
            format_instant(occurrence_due(RecurringRule::Daily, anchor, New_York, 1)),
            "2026-03-08T07:00:00.000Z"
        );
        assert_eq!(
            format_instant(occurrence_due(RecurringRule::Daily, anchor, New_York, 2)),
            "2026-03-09T06:30:00.000Z"
        );
        // 01:30 local on 31 October 2026 (EDT): 1 November 01:30 happens twice -> the EDT one.
        let anchor = at("2026-10-31T05:30:00Z");
        assert_eq!(
            format_instant(occurrence_due(RecurringRule::Daily, anchor, New_York, 1)),
            "2026-11-01T05:30:00.000Z"
        );
        assert_eq!(
            format_instant(occurrence_due(RecurringRule::Daily, anchor, New_York, 2)),
            "2026-11-02T06:30:00.000Z"
        );
    }

    #[test]
    fn month_end_is_taken_in_the_local_zone() {
        // 31 January 23:30 in New York is 1 February 04:30 UTC.
        let anchor = at("2026-02-01T04:30:00Z");
        assert_eq!(
            format_instant(occurrence_due(RecurringRule::Monthly, anchor, New_York, 1)),
            "2026-03-01T04:30:00.000Z"
        ); // 28 Feb 23:30 EST
        assert_eq!(
            format_instant(occurrence_due(RecurringRule::Monthly, anchor, New_York, 2)),
            "2026-04-01T03:30:00.000Z"
        ); // 31 Mar 23:30 EDT
    }

    #[test]
    fn next_occurrence_respects_inclusive_end_and_overflow() {
        let anchor = at("2026-01-01T09:00:00Z");
        assert_eq!(
            next_occurrence(
                RecurringRule::Daily,
                anchor,
                Tz::UTC,
                0,
                Some(at("2026-01-02T09:00:00Z"))
            ),
            Some((1, at("2026-01-02T09:00:00Z")))
        );
        assert_eq!(
            next_occurrence(
                RecurringRule::Daily,
                anchor,
                Tz::UTC,
                1,
                Some(at("2026-01-02T09:00:00Z"))
            ),
            None
        );
        assert_eq!(
            next_occurrence(RecurringRule::Daily, anchor, Tz::UTC, 5, None)
                .unwrap()
                .0,
            6
        );
        assert_eq!(
            next_occurrence(RecurringRule::Yearly, anchor, Tz::UTC, u32::MAX, None),
            None
        );
        assert_eq!(
            next_occurrence(RecurringRule::Yearly, anchor, Tz::UTC, u32::MAX - 1, None),
            None
        );
        assert_eq!(
            occurrence_due(RecurringRule::Daily, anchor, Tz::UTC, u32::MAX),
            DateTime::<Utc>::MAX_UTC
        );
        // extreme anchors do not panic
        for rule in RecurringRule::ALL {
            for idx in [0, 1, 12, 1000, u32::MAX] {
                let _ = occurrence_due(*rule, DateTime::<Utc>::MAX_UTC, New_York, idx);
                let _ = occurrence_due(*rule, DateTime::<Utc>::MIN_UTC, New_York, idx);
            }
        }
    }

    #[test]
    fn successor_copies_and_shifts_reminder() {
        let mut t = sample_task(); // monthly, due 2026-01-31T09:00Z, Europe/Paris (10:00 local)
        t.reminder_at = Some(at("2026-01-31T08:30:00Z"));
        t.reminder_sent = true;
        t.status = Status::Completed;
        let now = at("2026-01-31T10:00:00Z");
        let id = Uuid::from_u128(42);
        let s = successor(&t, t.own_anchor(), id, now).unwrap();
        assert_eq!(s.id, id);
        assert_eq!(s.parent_task_id, Some(t.id));
        assert_eq!(s.occurrence_index, 1);
        assert_eq!(s.status, Status::Pending);
        assert_eq!(s.due_date, Some(at("2026-02-28T09:00:00Z")));
        assert_eq!(s.reminder_at, Some(at("2026-02-28T08:30:00Z")));
        assert!(!s.reminder_sent);
        assert_eq!(
            (s.title.clone(), s.tags.clone(), s.time_zone, s.priority),
            (t.title.clone(), t.tags.clone(), t.time_zone, t.priority)
        );
        assert_eq!(s.version, 1);
        // the third occurrence is computed from the anchor, not from 28 February
        let s2 = successor(&s, t.own_anchor(), Uuid::from_u128(43), now).unwrap();
        assert_eq!(s2.due_date, Some(at("2026-03-31T08:00:00Z"))); // 10:00 CEST
        assert_eq!(s2.parent_task_id, Some(t.id));
        assert_eq!(s2.occurrence_index, 2);
        // ends
        let mut ended = s2.clone();
        ended.recurring_end_date = Some(at("2026-04-29T00:00:00Z"));
        assert_eq!(
            successor(&ended, t.own_anchor(), Uuid::from_u128(44), now),
            None
        );
        let mut plain = t.clone();
        plain.recurring_rule = None;
        assert_eq!(
            successor(&plain, t.own_anchor(), Uuid::from_u128(45), now),
            None
        );
    }

    #[test]
    fn recurring_without_due_date_recurs_from_creation() {
        let mut t = sample_task();
        t.due_date = None;
        t.recurring_rule = Some(RecurringRule::Daily);
        t.created_at = at("2026-01-10T07:15:00Z");
        let s = successor(
            &t,
            t.own_anchor(),
            Uuid::from_u128(1),
            at("2026-01-10T08:00:00Z"),
        )
        .unwrap();
        assert_eq!(s.due_date, Some(at("2026-01-11T07:15:00Z")));
    }
}
