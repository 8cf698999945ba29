//! The OpenAPI document served by backend-api describes exactly the routes it routes.

use std::collections::BTreeSet;

use serde_json::Value;
use todo_e2e::spawn_app;

#[tokio::test]
async fn served_document_and_routing_table_agree_in_both_directions() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");

    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "post", "put", "patch", "delete"].contains(&k.as_str()))
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let routed: BTreeSet<(String, String)> = todo_api_routes::ROUTES
        .iter()
        .map(|(_, method, path)| (method.to_string(), path.to_string()))
        .collect();
    assert_eq!(documented, routed);

    // And each documented route is really served: never the router's 404/405.
    for (method, path) in &documented {
        let concrete = path
            .replace("{user_id}", "alice")
            .replace("{task_id}", &uuid::Uuid::new_v4().to_string())
            .replace("{notification_id}", &uuid::Uuid::new_v4().to_string());
        let response = app
            .client
            .request(method.parse().unwrap(), app.url(&concrete))
            .bearer_auth(app.token("alice"))
            .json(&serde_json::json!({"title": "probe"}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status != 405, "{method} {path} is not routed");
        assert!(
            !(status == 404 && body["detail"] == "Not Found"),
            "{method} {path} is not routed"
        );
    }
}
