//! List query strings: `parse_list_query` on arbitrary (name, value) pairs never panics; what
//! it accepts is within bounds, and a cursor it accepts is bound to the query's sort.
#![no_main]

use libfuzzer_sys::fuzz_target;
use todo_domain::listing::parse_list_query;

fuzz_target!(|pairs: Vec<(String, String)>| {
    let Ok(q) = parse_list_query(&pairs) else {
        return;
    };
    assert!((1..=500).contains(&q.limit));
    assert!(q.tags.len() <= 1000);
    for tag in &q.tags {
        assert_eq!(tag.trim(), tag);
        assert!(!tag.is_empty());
    }
    if let Some(search) = &q.search {
        assert!(!search.is_empty());
    }
    if let Some(cursor) = &q.cursor {
        assert_eq!(
            (cursor.sort_by, cursor.sort_order),
            (q.sort_by, q.sort_order)
        );
    }
});
