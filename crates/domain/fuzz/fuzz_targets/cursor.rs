//! Cursors: `Cursor::decode` on arbitrary text never panics, and what it accepts re-encodes to
//! a cursor that decodes to the same value, with an instant key the API can render.
#![no_main]

use libfuzzer_sys::fuzz_target;
use todo_domain::listing::{Cursor, CursorKey};
use todo_domain::task::{format_instant, parse_instant};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cursor) = Cursor::decode(text) else {
        return;
    };
    // An instant key is one the API could have issued: it renders as RFC 3339 and parses back
    // (a key beyond year 9999 reached PostgreSQL as text it cannot read).
    if let CursorKey::Instant(Some(t)) = &cursor.key {
        let shown = format_instant(*t);
        assert!(parse_instant(&shown).is_ok(), "{text:?}: key {shown}");
    }
    let encoded = cursor.encode();
    assert_eq!(Cursor::decode(&encoded).as_ref(), Ok(&cursor), "{encoded}");
});
