//! List query strings: `parse_list_query` on arbitrary (name, value) pairs never panics; what
//! it accepts is within bounds, and its SQL helpers produce SQL for it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use todo_domain::listing::{keyset_predicate_sql, like_pattern, order_by_sql, parse_list_query};

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
        let pattern = like_pattern(search);
        assert!(pattern.starts_with('%') && pattern.ends_with('%'));
    }
    if let Some(cursor) = &q.cursor {
        assert_eq!(
            (cursor.sort_by, cursor.sort_order),
            (q.sort_by, q.sort_order)
        );
        let sql = keyset_predicate_sql(cursor, "$8", "$9");
        assert!(!sql.is_empty());
    }
    assert!(order_by_sql(q.sort_by, q.sort_order).contains("id"));
});
