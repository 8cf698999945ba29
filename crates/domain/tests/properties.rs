//! Property tests of the domain crate.

use chrono::{DateTime, Datelike, NaiveDate, SubsecRound, TimeZone as _, Timelike, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use todo_domain::event::{self, EventEnvelope, Topic};
use todo_domain::input::{apply_changes, parse_new_task, parse_task_changes};
use todo_domain::listing::{
    compare_tasks, cursor_after, is_after, parse_list_query, Cursor, CursorKey, SortBy, SortOrder,
};
use todo_domain::recurrence::{next_occurrence, occurrence_due, successor};
use todo_domain::task::{
    format_instant, parse_instant, Category, Description, Priority, RecurringRule, Status, Tags,
    Task, TimeZone, Title,
};
use uuid::Uuid;

// ------------------------------------------------------------------------------------------
// strategies

const FIELDS: &[&str] = &[
    "title",
    "description",
    "priority",
    "category",
    "dueDate",
    "recurringRule",
    "recurringEndDate",
    "reminderAt",
    "tags",
    "timeZone",
    "completed",
    "status",
    "other",
];

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,300}".prop_map(Value::String),
        prop::sample::select(vec![
            "",
            " ",
            "low",
            "HIGH",
            "urgent",
            "work",
            "daily",
            "none",
            "2026-01-31T09:00:00Z",
            "2026-02-30T00:00:00Z",
            "America/New_York",
            "Mars/Base",
            "pending",
            "completed",
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..12).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        prop::sample::select(FIELDS).prop_map(str::to_string),
                        ".{0,8}"
                    ],
                    inner
                ),
                0..12
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Objects whose keys are mostly the real field names.
fn arb_body() -> impl Strategy<Value = Value> {
    prop::collection::vec((prop::sample::select(FIELDS), arb_json()), 0..14)
        .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

/// Instants between 1900 and 2200, microsecond precision.
fn arb_instant() -> impl Strategy<Value = DateTime<Utc>> {
    (-2_208_988_800_000_000i64..7_258_118_400_000_000i64)
        .prop_map(|us| DateTime::<Utc>::from_timestamp_micros(us).unwrap())
}

fn arb_ms_instant() -> impl Strategy<Value = DateTime<Utc>> {
    arb_instant().prop_map(|t| t.trunc_subsecs(3))
}

fn arb_tz() -> impl Strategy<Value = Tz> {
    prop::sample::select(chrono_tz::TZ_VARIANTS.to_vec())
}

fn arb_title() -> impl Strategy<Value = Title> {
    "[^\u{0}]{0,260}".prop_filter_map("valid title", |s| Title::parse(&s).ok())
}

fn arb_tags() -> impl Strategy<Value = Tags> {
    prop::collection::vec("[ a-zA-Z0-9éß-]{1,12}", 0..12)
        .prop_filter_map("valid tags", |v| Tags::parse(&v).ok())
}

fn arb_task() -> impl Strategy<Value = Task> {
    (
        (
            any::<u128>(),
            "[a-z0-9-]{1,20}",
            arb_title(),
            prop::option::of("[^\u{0}]{1,50}"),
            prop::sample::select(Priority::ALL.to_vec()),
            prop::sample::select(Category::ALL.to_vec()),
            prop::sample::select(vec![Status::Pending, Status::Completed]),
        ),
        (
            prop::option::of(arb_ms_instant()),
            arb_ms_instant(),
            arb_ms_instant(),
            prop::option::of(arb_ms_instant()),
            prop::option::of(prop::sample::select(RecurringRule::ALL.to_vec())),
            prop::option::of(arb_ms_instant()),
        ),
        (
            prop::option::of(any::<u128>()),
            prop::option::of(arb_ms_instant()),
            any::<bool>(),
            arb_tags(),
            arb_tz(),
            1i64..1_000_000,
            0i32..10_000,
        ),
    )
        .prop_map(
            |(
                (id, user, title, desc, priority, category, status),
                (due, created, updated, completed_at, rule, end),
                (parent, reminder, sent, tags, tz, version, occ),
            )| Task {
                id: Uuid::from_u128(id),
                user_id: user,
                title,
                description: desc.and_then(|d| Description::parse(&d).ok().flatten()),
                priority,
                category,
                status,
                due_date: due,
                created_at: created,
                updated_at: updated,
                completed_at: if status == Status::Completed {
                    completed_at
                } else {
                    None
                },
                recurring_rule: rule,
                recurring_end_date: end,
                parent_task_id: parent.map(Uuid::from_u128),
                reminder_at: reminder,
                reminder_sent: sent,
                tags,
                time_zone: TimeZone(tz),
                version,
                occurrence_index: occ,
            },
        )
}

fn arb_cursor() -> impl Strategy<Value = Cursor> {
    let key_for = |sb: SortBy| -> BoxedStrategy<CursorKey> {
        match sb {
            SortBy::CreatedAt | SortBy::UpdatedAt => arb_instant()
                .prop_map(|t| CursorKey::Instant(Some(t)))
                .boxed(),
            SortBy::DueDate => prop::option::of(arb_instant())
                .prop_map(CursorKey::Instant)
                .boxed(),
            SortBy::Priority => (0i16..=2).prop_map(CursorKey::Rank).boxed(),
            SortBy::Title => arb_title()
                .prop_map(|t| CursorKey::Text(t.into_string()))
                .boxed(),
        }
    };
    (
        prop::sample::select(SortBy::ALL.to_vec()),
        any::<bool>(),
        any::<u128>(),
    )
        .prop_flat_map(move |(sb, asc, id)| {
            key_for(sb).prop_map(move |key| Cursor {
                sort_by: sb,
                sort_order: if asc { SortOrder::Asc } else { SortOrder::Desc },
                key,
                id: Uuid::from_u128(id),
            })
        })
}

fn month_len(y: i32, m: u32) -> u32 {
    let first = NaiveDate::from_ymd_opt(y, m, 1).unwrap();
    let next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    }
    .unwrap();
    (next - first).num_days() as u32
}

// ------------------------------------------------------------------------------------------

/// 512 cases per property unless `PROPTEST_CASES` says otherwise.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(512);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn body_parsers_never_panic(v in arb_json()) {
        let _ = parse_new_task(&v);
        let _ = parse_task_changes(&v);
    }

    #[test]
    fn body_parsers_never_panic_on_field_shaped_bodies(v in arb_body(), task in arb_task(), now in arb_instant()) {
        match parse_new_task(&v) {
            Ok(t) => {
                // everything accepted is within the rules
                prop_assert!((1..=255).contains(&t.title.as_str().chars().count()));
                prop_assert!(t.tags.len() <= 10);
                if let (Some(d), Some(e)) = (t.due_date, t.recurring_end_date) { prop_assert!(e >= d); }
            }
            Err(errs) => {
                prop_assert!(!errs.is_empty());
                for e in errs { prop_assert_eq!(e.loc[0].as_str(), "body"); prop_assert!(!e.msg.is_empty()); }
            }
        }
        if let Ok(c) = parse_task_changes(&v) {
            if let Ok((t, changes)) = apply_changes(&task, &c, now) {
                prop_assert_eq!(changes.is_empty(), t == task);
                if !changes.is_empty() { prop_assert_eq!(t.version, task.version + 1); }
                if t.reminder_at != task.reminder_at { prop_assert!(!t.reminder_sent); }
                else { prop_assert_eq!(t.reminder_sent, task.reminder_sent); }
                if let (Some(d), Some(e)) = (t.due_date, t.recurring_end_date) { prop_assert!(e >= d); }
                if t.status != task.status {
                    prop_assert_eq!(t.completed_at, (t.status == Status::Completed).then_some(now));
                } else {
                    prop_assert_eq!(t.completed_at, task.completed_at);
                }
            }
        }
    }

    #[test]
    fn title_accepts_exactly_the_rule(s in "\\PC{0,300}|[ \t\n]{0,3}[a-z]{250,260}[ \t\n]{0,3}") {
        let trimmed = s.trim();
        let ok = (1..=255).contains(&trimmed.chars().count()) && !trimmed.contains('\0');
        match Title::parse(&s) {
            Ok(t) => { prop_assert!(ok); prop_assert_eq!(t.as_str(), trimmed); }
            Err(e) => { prop_assert!(!ok); prop_assert_eq!(e.loc, vec!["body".to_string(), "title".to_string()]); }
        }
    }

    #[test]
    fn tags_normalisation_is_idempotent(v in prop::collection::vec("[ \tA-Za-zÄäÉé0-9_-]{0,55}", 0..15)) {
        if let Ok(t) = Tags::parse(&v) {
            let again = Tags::parse(t.as_slice()).unwrap();
            prop_assert_eq!(&again, &t);
            prop_assert!(t.len() <= 10);
            for tag in t.as_slice() {
                prop_assert_eq!(tag.trim(), tag.as_str());
                prop_assert_eq!(&tag.to_lowercase(), tag);
                prop_assert!((1..=50).contains(&tag.chars().count()));
            }
            let mut dedup = t.as_slice().to_vec();
            dedup.dedup();
            dedup.sort();
            dedup.dedup();
            prop_assert_eq!(dedup.len(), t.len());
        }
    }

    #[test]
    fn instants_format_and_parse_back(t in arb_instant(), offset_min in -1439i32..1439) {
        let ms = t.trunc_subsecs(3);
        let s = format_instant(t);
        prop_assert!(s.ends_with('Z'));
        prop_assert_eq!(s.len(), 24);
        prop_assert_eq!(parse_instant(&s).unwrap(), ms);
        let off = chrono::FixedOffset::east_opt(offset_min * 60).unwrap();
        let rfc = t.with_timezone(&off).to_rfc3339();
        prop_assert_eq!(parse_instant(&rfc).unwrap(), t);
    }

    #[test]
    fn parse_instant_never_panics(s in "\\PC{0,80}|[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,12})?)?(Z|[+-][0-9]{2}:[0-9]{2})?") {
        if let Ok(t) = parse_instant(&s) {
            // what is accepted is in PostgreSQL's precision and formats back to itself
            prop_assert_eq!(t.timestamp_subsec_nanos() % 1000, 0);
            prop_assert!(t.timestamp_subsec_nanos() < 1_000_000_000);
            prop_assert_eq!(parse_instant(&t.to_rfc3339()).unwrap(), t);
        }
    }

    #[test]
    fn cursor_round_trips(c in arb_cursor()) {
        let enc = c.encode();
        prop_assert_eq!(Cursor::decode(&enc).unwrap(), c.clone());
        let q = parse_list_query(&[
            ("sort_by".to_string(), c.sort_by.as_str().to_string()),
            ("sort_order".to_string(), c.sort_order.as_str().to_string()),
            ("cursor".to_string(), enc),
        ]).unwrap();
        prop_assert_eq!(q.cursor, Some(c));
    }

    #[test]
    fn cursor_decode_never_panics(s in "\\PC{0,200}|[A-Za-z0-9_-]{0,200}") {
        let _ = Cursor::decode(&s);
    }

    #[test]
    fn list_query_parser_never_panics(pairs in prop::collection::vec(
        (prop::sample::select(vec!["status", "priority", "category", "search", "tags", "due_before", "due_after",
            "sort_by", "sort_order", "limit", "cursor", "x"]).prop_map(str::to_string), "\\PC{0,60}"), 0..12)) {
        match parse_list_query(&pairs) {
            Ok(q) => prop_assert!((1..=500).contains(&q.limit)),
            Err(errs) => for e in errs { prop_assert_eq!(e.loc[0].as_str(), "query"); },
        }
    }

    /// Keyset pagination over a fixed set yields every task exactly once, in order.
    #[test]
    fn keyset_pages_have_no_gaps_or_duplicates(
        tasks in prop::collection::vec(arb_task(), 0..40),
        sb in prop::sample::select(SortBy::ALL.to_vec()),
        asc in any::<bool>(),
        page in 1usize..7,
    ) {
        let order = if asc { SortOrder::Asc } else { SortOrder::Desc };
        let mut expected = tasks.clone();
        expected.sort_by(|a, b| compare_tasks(a, b, sb, order));
        expected.dedup_by_key(|t| t.id);
        let mut seen: Vec<Task> = Vec::new();
        let mut cursor: Option<Cursor> = None;
        loop {
            let mut rest: Vec<&Task> = expected.iter().filter(|t| cursor.as_ref().is_none_or(|c| is_after(t, c))).collect();
            rest.sort_by(|a, b| compare_tasks(a, b, sb, order));
            let chunk: Vec<Task> = rest.into_iter().take(page).cloned().collect();
            if chunk.is_empty() { break; }
            let last = chunk.last().unwrap();
            let c = Cursor::decode(&cursor_after(last, sb, order).encode()).unwrap();
            cursor = Some(c);
            seen.extend(chunk);
        }
        prop_assert_eq!(seen.iter().map(|t| t.id).collect::<Vec<_>>(), expected.iter().map(|t| t.id).collect::<Vec<_>>());
    }

    /// Monthly occurrences never drift: day = min(anchor day, month length), same local time.
    #[test]
    fn monthly_never_drifts(anchor in arb_instant(), index in 0u32..2400) {
        let due = occurrence_due(RecurringRule::Monthly, anchor, Tz::UTC, index);
        let months = anchor.year() as i64 * 12 + anchor.month0() as i64 + index as i64;
        let (y, m) = (months.div_euclid(12) as i32, months.rem_euclid(12) as u32 + 1);
        prop_assert_eq!((due.year(), due.month()), (y, m));
        prop_assert_eq!(due.day(), anchor.day().min(month_len(y, m)));
        prop_assert_eq!(due.time(), anchor.time());
    }

    /// In any zone, monthly/yearly keep the local day rule and, unless the local time falls in
    /// a gap, the local wall-clock time.
    #[test]
    fn local_calendar_rules_in_any_zone(
        anchor in arb_instant(), tz in arb_tz(), index in 0u32..600,
        rule in prop::sample::select(RecurringRule::ALL.to_vec()),
    ) {
        let due = occurrence_due(rule, anchor, tz, index);
        let la = anchor.with_timezone(&tz);
        let ld = due.with_timezone(&tz);
        let expected_date = match rule {
            RecurringRule::Daily => la.date_naive() + chrono::Days::new(index as u64),
            RecurringRule::Weekly => la.date_naive() + chrono::Days::new(7 * index as u64),
            RecurringRule::Monthly => {
                let months = la.year() as i64 * 12 + la.month0() as i64 + index as i64;
                let (y, m) = (months.div_euclid(12) as i32, months.rem_euclid(12) as u32 + 1);
                NaiveDate::from_ymd_opt(y, m, la.day().min(month_len(y, m))).unwrap()
            }
            RecurringRule::Yearly => {
                let y = la.year() + index as i32;
                NaiveDate::from_ymd_opt(y, la.month(), la.day().min(month_len(y, la.month()))).unwrap()
            }
        };
        let wanted = expected_date.and_time(la.time());
        match tz.from_local_datetime(&wanted) {
            chrono::LocalResult::Single(t) => prop_assert_eq!(due, t.with_timezone(&Utc)),
            chrono::LocalResult::Ambiguous(a, b) => prop_assert_eq!(due, a.min(b).with_timezone(&Utc)),
            chrono::LocalResult::None => {
                // moved forward past the gap, to a valid instant on the same or next local day
                prop_assert!(ld.naive_local() > wanted);
                prop_assert!(ld.naive_local() - wanted <= chrono::TimeDelta::hours(24));
            }
        }
        // the successor is strictly later
        if let Some((n, next)) = next_occurrence(rule, anchor, tz, index, None) {
            prop_assert_eq!(n, index + 1);
            prop_assert!(next > due);
        }
    }

    /// 09:00 America/New_York daily stays 09:00 local across both 2026 DST changes (and any year).
    #[test]
    fn new_york_daily_keeps_0900(day0 in 0u32..3650, index in 0u32..800) {
        let ny = chrono_tz::America::New_York;
        let start = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + chrono::Days::new(day0 as u64);
        let anchor = ny.from_local_datetime(&start.and_hms_opt(9, 0, 0).unwrap()).single().unwrap().with_timezone(&Utc);
        let due = occurrence_due(RecurringRule::Daily, anchor, ny, index).with_timezone(&ny);
        prop_assert_eq!((due.hour(), due.minute(), due.second()), (9, 0, 0));
        prop_assert_eq!(due.date_naive(), start + chrono::Days::new(index as u64));
    }

    #[test]
    fn successor_chain_matches_direct_computation(task in arb_task(), steps in 1usize..15) {
        let mut t = task.clone();
        t.recurring_rule = Some(t.recurring_rule.unwrap_or(RecurringRule::Monthly));
        t.occurrence_index = 0;
        t.parent_task_id = None;
        t.recurring_end_date = None;
        let anchor = t.own_anchor();
        let mut cur = t.clone();
        for i in 1..=steps {
            let Some(next) = successor(&cur, anchor, Uuid::from_u128(i as u128), anchor) else { break };
            prop_assert_eq!(next.occurrence_index, i as i32);
            prop_assert_eq!(next.parent_task_id, Some(t.id));
            prop_assert_eq!(next.due_date, Some(occurrence_due(t.recurring_rule.unwrap(), anchor, t.time_zone.tz(), i as u32)));
            if let (Some(r), Some(d)) = (t.reminder_at, t.due_date) {
                prop_assert_eq!(next.reminder_at.map(|x| x - next.due_date.unwrap()), Some(r - d));
            }
            cur = next;
        }
    }

    #[test]
    fn task_json_round_trips(task in arb_task()) {
        let back: Task = serde_json::from_value(task.to_json()).unwrap();
        prop_assert_eq!(back, task);
    }

    #[test]
    fn envelope_round_trips(task in arb_task(), corr in "\\PC{0,40}", which in 0usize..5, source in "[a-z-]{1,20}") {
        let ev = match Topic::ALL[which] {
            Topic::TaskCreated => event::task_created(&task, &corr),
            Topic::TaskUpdated => {
                let mut t2 = task.clone();
                let changes = t2.toggle(task.updated_at);
                event::task_updated(&t2, &changes, &corr)
            }
            Topic::TaskCompleted => event::task_completed(&task, &corr),
            Topic::TaskDeleted => event::task_deleted(&task, &corr),
            Topic::ReminderDue => event::reminder_due(&json!({"id": "n", "message": corr}), &task, &corr),
        }
        .with_source(source);
        let back = EventEnvelope::parse(&ev.to_bytes()).unwrap();
        prop_assert_eq!(&back, &ev);
        prop_assert_eq!(back.task_id(), Some(task.id));
        prop_assert!(back.task().is_ok());
        prop_assert_eq!(EventEnvelope::parse(back.to_json().to_string().as_bytes()).unwrap(), back);
    }

    #[test]
    fn envelope_parse_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = EventEnvelope::parse(&bytes);
    }

    #[test]
    fn envelope_parse_never_panics_on_json(v in arb_json()) {
        let _ = EventEnvelope::parse(v.to_string().as_bytes());
    }

    /// A valid envelope with one attribute replaced by arbitrary JSON: parse never panics, and
    /// whatever it accepts re-serialises to something it accepts again.
    #[test]
    fn envelope_parse_with_mutated_attributes(
        task in arb_task(),
        path in prop::sample::select(vec!["specversion", "id", "source", "type", "subject", "time", "datacontenttype",
            "data", "data.event_id", "data.event_type", "data.timestamp", "data.user_id", "data.correlation_id", "data.data"]),
        v in arb_json(),
    ) {
        let mut j = event::task_created(&task, "c").to_json();
        let (outer, key) = match path.split_once('.') { Some((a, b)) => (Some(a), b), None => (None, path) };
        match outer {
            Some(o) => { j[o][key] = v; }
            None => { j[key] = v; }
        }
        if let Ok(ev) = EventEnvelope::parse(j.to_string().as_bytes()) {
            prop_assert!(EventEnvelope::parse(&ev.to_bytes()).is_ok());
        }
    }
}

#[test]
fn new_york_0900_every_day_of_2026() {
    let ny = chrono_tz::America::New_York;
    let anchor = parse_instant("2026-01-01T14:00:00Z").unwrap(); // 09:00 EST
    for i in 0..365 {
        let local = occurrence_due(RecurringRule::Daily, anchor, ny, i).with_timezone(&ny);
        assert_eq!(
            (local.hour(), local.minute()),
            (9, 0),
            "occurrence {i}: {local}"
        );
    }
}

#[test]
fn jan_31_monthly_over_a_year_in_a_zone() {
    let tz: Tz = "Europe/Paris".parse().unwrap();
    let anchor = tz
        .with_ymd_and_hms(2026, 1, 31, 8, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let days: Vec<u32> = (0..12)
        .map(|i| {
            occurrence_due(RecurringRule::Monthly, anchor, tz, i)
                .with_timezone(&tz)
                .day()
        })
        .collect();
    assert_eq!(days, vec![31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]);
}
