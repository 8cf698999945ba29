//! Instants: `parse_instant` on arbitrary text never panics; what it accepts is at microsecond
//! precision, and the API's own rendering of it (`format_instant`) parses back (to the same
//! millisecond).
#![no_main]

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use todo_domain::task::{format_instant, parse_instant};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(t) = parse_instant(text) else {
        return;
    };
    assert_eq!(t.timestamp_subsec_nanos() % 1000, 0, "not microseconds");
    let shown = format_instant(t);
    let back = parse_instant(&shown).unwrap_or_else(|e| panic!("{text:?} -> {shown}: {e}"));
    let millis = DateTime::<Utc>::from_timestamp_millis(t.timestamp_millis()).unwrap();
    assert_eq!(back, millis, "{text:?} -> {shown}");
});
