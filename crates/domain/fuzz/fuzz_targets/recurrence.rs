//! Recurrence: `next_occurrence` with arbitrary rules, anchors, zones, indices and end dates
//! never panics; occurrences move forward, never past the end date, and the index advances
//! by one.
#![no_main]

use arbitrary::Arbitrary;
use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use todo_domain::recurrence::{next_occurrence, try_occurrence_due};
use todo_domain::task::RecurringRule;

#[derive(Debug, Arbitrary)]
struct Input {
    rule: u8,
    anchor_micros: i64,
    zone: u16,
    index: u32,
    end_micros: Option<i64>,
}

fuzz_target!(|input: Input| {
    let rule = RecurringRule::ALL[usize::from(input.rule) % RecurringRule::ALL.len()];
    let Some(anchor) = DateTime::<Utc>::from_timestamp_micros(input.anchor_micros) else {
        return;
    };
    let tz = chrono_tz::TZ_VARIANTS[usize::from(input.zone) % chrono_tz::TZ_VARIANTS.len()];
    let end = input
        .end_micros
        .and_then(DateTime::<Utc>::from_timestamp_micros);
    let Some((next, due)) = next_occurrence(rule, anchor, tz, input.index, end) else {
        return;
    };
    assert_eq!(next, input.index + 1);
    if let Some(end) = end {
        assert!(due <= end);
    }
    if let Some(previous) = try_occurrence_due(rule, anchor, tz, input.index) {
        assert!(
            due > previous,
            "{rule:?} {tz} {anchor} #{}: {previous} then {due}",
            input.index
        );
    }
});
