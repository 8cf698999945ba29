//! Cursors: `Cursor::decode` on arbitrary text never panics, and what it accepts re-encodes to
//! a cursor that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use todo_domain::listing::Cursor;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cursor) = Cursor::decode(text) else {
        return;
    };
    let encoded = cursor.encode();
    assert_eq!(Cursor::decode(&encoded).as_ref(), Ok(&cursor), "{encoded}");
});
