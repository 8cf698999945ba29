//! `sort_by=title` sorts as people read: case and accents ignored ("alpha" < "Beta"), titles
//! equal but for case or accents ordered by id, Urdu after Latin, in both orders and across
//! pages of every size.

use std::cmp::Ordering;

use serde_json::{json, Value};
use todo_domain::listing::compare_titles;
use todo_e2e::{spawn_app, TestApp};

const TITLES: &[&str] = &[
    "Zebra",
    "beta",
    "ALPHA",
    "éclair",
    "ábaco",
    "alpha",
    "Beta",
    "بازار",
    "Eclair",
    "zebra",
    "ändern",
    "اردو",
    "Alpha",
    "eclair",
    "ZEBRA",
    "Éclair",
];

/// The groups of equal titles, in ascending order.
const GROUPS: &[&[&str]] = &[
    &["ábaco"],
    &["ALPHA", "alpha", "Alpha"],
    &["ändern"],
    &["beta", "Beta"],
    &["éclair", "Eclair", "eclair", "Éclair"],
    &["Zebra", "zebra", "ZEBRA"],
    &["اردو"],
    &["بازار"],
];

async fn page(app: &TestApp, query: &str) -> (Vec<(String, String)>, Option<String>) {
    let response = app
        .get("alice", &format!("/api/alice/tasks?{query}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{query}");
    let cursor = response
        .headers()
        .get("x-next-cursor")
        .map(|c| c.to_str().unwrap().to_string());
    let tasks: Vec<Value> = response.json().await.unwrap();
    let items = tasks
        .iter()
        .map(|t| {
            (
                t["title"].as_str().unwrap().to_string(),
                t["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (items, cursor)
}

#[tokio::test]
async fn titles_sort_case_and_accent_insensitively_with_ties_by_id_across_pages() {
    let app = spawn_app().await;
    for title in TITLES {
        app.create_task("alice", json!({ "title": title })).await;
    }
    let (ascending, _) = page(&app, "sort_by=title&sort_order=asc&limit=500").await;
    let (descending, _) = page(&app, "sort_by=title&sort_order=desc&limit=500").await;

    // The groups in order, each group's titles ordered by id (uuid order is its hex order).
    let titles: Vec<&str> = ascending.iter().map(|(t, _)| t.as_str()).collect();
    let mut at = 0;
    for group in GROUPS {
        let mut got: Vec<&str> = titles[at..at + group.len()].to_vec();
        got.sort();
        let mut want = group.to_vec();
        want.sort();
        assert_eq!(got, want, "group at {at} in {titles:?}");
        let ids: Vec<&String> = ascending[at..at + group.len()]
            .iter()
            .map(|(_, id)| id)
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ties by id: {ids:?}");
        at += group.len();
    }
    assert_eq!(at, TITLES.len());

    // The domain's order (ICU4X, root collation at primary strength) is PostgreSQL's.
    let mut model = ascending.clone();
    model.sort_by(|a, b| compare_titles(&a.0, &b.0).then_with(|| a.1.cmp(&b.1)));
    assert_eq!(ascending, model);
    assert_eq!(compare_titles("alpha", "Beta"), Ordering::Less);
    assert_eq!(compare_titles("Éclair", "eclair"), Ordering::Equal);

    let mut reversed = ascending.clone();
    reversed.reverse();
    assert_eq!(descending, reversed, "descending is the exact reverse");

    for (order, one_page) in [("asc", &ascending), ("desc", &descending)] {
        for size in 1..=TITLES.len() {
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let mut query = format!("sort_by=title&sort_order={order}&limit={size}");
                if let Some(c) = &cursor {
                    query.push_str(&format!("&cursor={c}"));
                }
                let (items, next) = page(&app, &query).await;
                assert!(items.len() <= size);
                seen.extend(items);
                match next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            assert_eq!(&seen, one_page, "{order}, pages of {size}");
        }
    }
}
