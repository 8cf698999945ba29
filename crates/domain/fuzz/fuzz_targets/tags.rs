//! Tags: `Tags::parse` on arbitrary strings never panics; what it accepts is normalised
//! (trimmed, lower-case, 1-50 characters, no duplicates, at most 10) and parsing it again is
//! the identity.
#![no_main]

use libfuzzer_sys::fuzz_target;
use todo_domain::task::Tags;

fuzz_target!(|input: Vec<String>| {
    let Ok(tags) = Tags::parse(&input) else {
        return;
    };
    assert!(tags.len() <= 10);
    for (i, tag) in tags.as_slice().iter().enumerate() {
        let n = tag.chars().count();
        assert!((1..=50).contains(&n), "{tag:?}");
        assert_eq!(tag.trim(), tag);
        assert!(!tags.as_slice()[..i].contains(tag), "duplicate {tag:?}");
    }
    let again = Tags::parse(tags.as_slice()).unwrap_or_else(|e| panic!("{tags:?}: {}", e.msg));
    assert_eq!(again, tags);
});
