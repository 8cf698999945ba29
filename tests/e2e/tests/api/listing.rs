//! Listing: every filter, every sort key in both orders, keyset pagination, bad parameters.

use serde_json::{json, Value};
use todo_e2e::{spawn_app, TestApp};

async fn list(app: &TestApp, query: &str) -> (Vec<Value>, Option<String>) {
    let response = app
        .get("alice", &format!("/api/alice/tasks?{query}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "?{query}");
    let cursor = response
        .headers()
        .get("x-next-cursor")
        .map(|v| v.to_str().unwrap().to_string());
    (response.json::<Vec<Value>>().await.unwrap(), cursor)
}

fn titles(tasks: &[Value]) -> Vec<&str> {
    tasks.iter().map(|t| t["title"].as_str().unwrap()).collect()
}

async fn seed(app: &TestApp) {
    let tasks = [
        json!({"title": "Alpha report", "priority": "high", "category": "work", "tags": ["q1", "urgent"], "dueDate": "2027-01-10T00:00:00Z"}),
        json!({"title": "beta groceries", "priority": "low", "category": "home", "tags": ["shop"], "description": "milk 100% fresh"}),
        json!({"title": "Gamma call", "priority": "medium", "category": "personal", "tags": ["q1"], "dueDate": "2027-01-05T00:00:00Z"}),
        json!({"title": "delta_plan", "priority": "high", "category": "work", "tags": ["urgent", "q1"], "dueDate": "2027-02-01T00:00:00Z"}),
    ];
    for task in tasks {
        app.create_task("alice", task).await;
    }
    app.create_task("bob", json!({"title": "Alpha of bob"}))
        .await;
}

#[tokio::test]
async fn filters_select_exactly_the_matching_tasks_of_the_caller() {
    let app = spawn_app().await;
    seed(&app).await;
    let (all, cursor) = list(&app, "").await;
    assert_eq!(all.len(), 4, "only alice's tasks");
    assert!(cursor.is_none());
    // Default order: newest first.
    assert_eq!(
        titles(&all),
        ["delta_plan", "Gamma call", "beta groceries", "Alpha report"]
    );

    let gamma = &all[1];
    app.patch(
        "alice",
        &format!(
            "/api/alice/tasks/{}/complete",
            gamma["id"].as_str().unwrap()
        ),
    )
    .send()
    .await
    .unwrap();

    let cases: &[(&str, &[&str])] = &[
        ("status=completed", &["Gamma call"]),
        (
            "status=pending",
            &["delta_plan", "beta groceries", "Alpha report"],
        ),
        ("priority=high", &["delta_plan", "Alpha report"]),
        ("priority=HIGH", &["delta_plan", "Alpha report"]),
        ("category=home", &["beta groceries"]),
        ("search=ALPHA", &["Alpha report"]),
        ("search=100%25", &["beta groceries"]),
        ("search=_", &["delta_plan"]),
        ("search=%25", &["beta groceries"]),
        ("search=%27%3B%20DROP%20TABLE%20tasks%3B--", &[]),
        ("tags=q1", &["delta_plan", "Gamma call", "Alpha report"]),
        ("tags=urgent,q1", &["delta_plan", "Alpha report"]),
        ("tags=URGENT,%20q1%20", &["delta_plan", "Alpha report"]),
        (
            "due_before=2027-01-10T00:00:00Z",
            &["Gamma call", "Alpha report"],
        ),
        (
            "due_after=2027-01-06T00:00:00Z",
            &["delta_plan", "Alpha report"],
        ),
        (
            "due_after=2027-01-06T00:00:00Z&due_before=2027-01-31T00:00:00Z&priority=high",
            &["Alpha report"],
        ),
    ];
    for (query, expected) in cases {
        let (tasks, _) = list(&app, query).await;
        assert_eq!(&titles(&tasks), expected, "?{query}");
    }
    let count: i64 = app
        .pg()
        .await
        .query_one("SELECT count(*) FROM tasks", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 5, "the SQL-looking search was only text");
}

#[tokio::test]
async fn every_sort_key_in_both_orders() {
    let app = spawn_app().await;
    seed(&app).await;
    let cases: &[(&str, &[&str])] = &[
        (
            "sort_by=createdAt&sort_order=asc",
            &["Alpha report", "beta groceries", "Gamma call", "delta_plan"],
        ),
        // As people read them: case ignored.
        (
            "sort_by=title&sort_order=asc",
            &["Alpha report", "beta groceries", "delta_plan", "Gamma call"],
        ),
        (
            "sort_by=priority&sort_order=desc",
            &["delta_plan", "Alpha report", "Gamma call", "beta groceries"],
        ),
        (
            "sort_by=priority&sort_order=asc",
            &["beta groceries", "Gamma call", "Alpha report", "delta_plan"],
        ),
        // Tasks without a due date come last in both orders.
        (
            "sort_by=dueDate&sort_order=asc",
            &["Gamma call", "Alpha report", "delta_plan", "beta groceries"],
        ),
        (
            "sort_by=dueDate&sort_order=desc",
            &["delta_plan", "Alpha report", "Gamma call", "beta groceries"],
        ),
    ];
    for (query, expected) in cases {
        let (tasks, _) = list(&app, query).await;
        assert_eq!(&titles(&tasks), expected, "?{query}");
    }
    // updatedAt follows the latest change.
    let (tasks, _) = list(&app, "sort_by=createdAt&sort_order=asc").await;
    let first = tasks[0]["id"].as_str().unwrap();
    app.put(
        "alice",
        &format!("/api/alice/tasks/{first}"),
        &json!({"description": "touched"}),
    )
    .send()
    .await
    .unwrap();
    let (tasks, _) = list(&app, "sort_by=updatedAt").await;
    assert_eq!(tasks[0]["id"].as_str().unwrap(), first);
}

async fn collect_pages(app: &TestApp, query: &str, limit: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = format!("{query}&limit={limit}");
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={c}"));
        }
        let (page, next) = list(app, &q).await;
        assert!(page.len() <= limit);
        ids.extend(page.iter().map(|t| t["id"].as_str().unwrap().to_string()));
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    ids
}

#[tokio::test]
async fn keyset_pages_cover_every_task_once_for_every_sort() {
    let app = spawn_app().await;
    let priorities = ["low", "medium", "high"];
    for i in 0..23 {
        let mut body =
            json!({"title": format!("task {:02}", i % 7), "priority": priorities[i % 3]});
        if i % 4 != 0 {
            body["dueDate"] = json!(format!("2027-03-{:02}T00:00:00Z", 1 + i % 5));
        }
        app.create_task("alice", body).await;
    }
    let (all, _) = list(&app, "limit=500").await;
    let mut expected: Vec<String> = all
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    expected.sort();
    for sort in ["createdAt", "updatedAt", "dueDate", "priority", "title"] {
        for order in ["asc", "desc"] {
            let query = format!("sort_by={sort}&sort_order={order}");
            let (reference, _) = list(&app, &format!("{query}&limit=500")).await;
            let reference: Vec<String> = reference
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_string())
                .collect();
            let paged = collect_pages(&app, &query, 4).await;
            assert_eq!(
                paged, reference,
                "pages in the same order as one big page for {query}"
            );
            let mut sorted = paged.clone();
            sorted.sort();
            assert_eq!(sorted, expected, "{query}");
        }
    }
}

#[tokio::test]
async fn pages_have_no_duplicates_or_gaps_while_tasks_are_inserted() {
    let app = spawn_app().await;
    for i in 0..30 {
        app.create_task("alice", json!({"title": format!("old {i}")}))
            .await;
    }
    let (reference, _) = list(&app, "limit=500").await;
    let original: Vec<String> = reference
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut inserted = 0;
    loop {
        let q = match &cursor {
            Some(c) => format!("limit=7&cursor={c}"),
            None => "limit=7".to_string(),
        };
        let (page, next) = list(&app, &q).await;
        seen.extend(page.iter().map(|t| t["id"].as_str().unwrap().to_string()));
        // Insert between page reads.
        app.create_task("alice", json!({"title": format!("new {inserted}")}))
            .await;
        inserted += 1;
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no task twice");
    assert_eq!(
        seen, original,
        "every task that existed at the start, in order, none skipped"
    );
}

#[tokio::test]
async fn bad_list_parameters_are_422() {
    let app = spawn_app().await;
    app.create_task("alice", json!({"title": "x"})).await;
    let (_, cursor) = {
        app.create_task("alice", json!({"title": "y"})).await;
        list(&app, "limit=1").await
    };
    let cursor = cursor.expect("a next cursor");
    for query in [
        "sort_by=colour".to_string(),
        "sort_order=sideways".to_string(),
        "status=done".to_string(),
        "priority=urgent".to_string(),
        "category=garden".to_string(),
        "limit=0".to_string(),
        "limit=100000".to_string(),
        "limit=ten".to_string(),
        "due_before=yesterday".to_string(),
        "cursor=not-a-cursor".to_string(),
        format!("cursor={cursor}&sort_by=title"),
    ] {
        let response = app
            .get("alice", &format!("/api/alice/tasks?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "?{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["detail"][0]["loc"][0], "query", "?{query}: {body}");
    }
    let (page, _) = list(&app, "limit=500").await;
    assert_eq!(page.len(), 2, "limit 500 is allowed");
}

/// Every filter together with every sort, direction and kind of cursor (each is a statement of
/// its own in `task_list_page`, `migrations/0009_*`): paging three at a time yields exactly the
/// caller's matching tasks in the domain's order (`ListQuery::matches`, `compare_tasks`).
#[tokio::test]
async fn filtered_pages_follow_the_domain_order_for_every_sort_and_cursor() {
    use todo_domain::listing::{compare_tasks, parse_list_query};
    use todo_domain::task::Task;

    let app = spawn_app().await;
    let priorities = ["low", "medium", "high"];
    let categories = ["work", "personal", "home", "other"];
    let words = ["plan", "Report", "call", "shop"];
    for i in 0..26 {
        let mut body = json!({
            "title": format!("{} {:02}", words[i % 4], i % 9),
            "priority": priorities[i % 3],
            "category": categories[i % 4],
            "tags": if i % 2 == 0 { json!(["even"]) } else { json!(["odd", "x"]) },
        });
        if i % 5 != 0 {
            // Repeated dates, so that ties are ordered by id.
            body["dueDate"] = json!(format!("2027-03-{:02}T09:00:00Z", 1 + i % 6));
        }
        if i % 7 == 3 {
            body["description"] = json!("has a REPORT inside");
        }
        let task = app.create_task("alice", body).await;
        if i % 3 == 1 {
            let id = task["id"].as_str().unwrap();
            let response = app
                .patch("alice", &format!("/api/alice/tasks/{id}/complete"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
        // Distinct creation and update instants at the API's millisecond precision.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    // Another user's tasks match every filter and must never appear.
    for _ in 0..3 {
        app.create_task(
            "bob",
            json!({"title": "plan report call shop", "priority": "high", "category": "work",
                   "tags": ["even", "odd", "x"], "dueDate": "2027-03-02T09:00:00Z"}),
        )
        .await;
    }
    let (all, _) = list(&app, "limit=500").await;
    assert_eq!(all.len(), 26);
    let all: Vec<Task> = all
        .into_iter()
        .map(|t| serde_json::from_value(t).unwrap())
        .collect();

    let filters = [
        "",
        "status=pending",
        "status=completed&priority=high",
        "category=work",
        "search=report",
        "tags=odd,x",
        "due_after=2027-03-02T09:00:00Z&due_before=2027-03-05T09:00:00Z",
        "status=pending&tags=even&search=a",
    ];
    for filter in filters {
        for sort in ["createdAt", "updatedAt", "dueDate", "priority", "title"] {
            for order in ["asc", "desc"] {
                let query = format!("{filter}&sort_by={sort}&sort_order={order}");
                // (no percent-escapes in these queries)
                let pairs: Vec<(String, String)> = query
                    .split('&')
                    .filter_map(|pair| pair.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                let reference = parse_list_query(&pairs).unwrap();
                let mut expected: Vec<&Task> =
                    all.iter().filter(|t| reference.matches(t)).collect();
                expected
                    .sort_by(|a, b| compare_tasks(a, b, reference.sort_by, reference.sort_order));
                let expected: Vec<String> = expected.iter().map(|t| t.id.to_string()).collect();
                assert_eq!(collect_pages(&app, &query, 3).await, expected, "?{query}");
            }
        }
    }
}
