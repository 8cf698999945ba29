//! Every route of `backend-api`, as data: the component's router matches requests against
//! this table, and the end-to-end tests compare it with `openapi.json` in both directions (a
//! route that is served but not documented, or documented but not served, fails) and cross
//! every protected route with every bad credential. A crate of its own, without dependencies,
//! so that the tests use the very table the component routes with without building the
//! component natively.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Health,
    Live,
    Ready,
    OpenApi,
    ListTasks,
    CreateTask,
    GetTask,
    UpdateTask,
    DeleteTask,
    ToggleTask,
    Stats,
    ListNotifications,
    ReadAllNotifications,
    ReadNotification,
    DeleteNotification,
    ListAudit,
}

/// (route, method, path template in OpenAPI syntax).
pub const ROUTES: &[(Route, &str, &str)] = &[
    (Route::Health, "GET", "/health"),
    (Route::Live, "GET", "/health/live"),
    (Route::Ready, "GET", "/health/ready"),
    (Route::OpenApi, "GET", "/api/openapi.json"),
    (Route::ListTasks, "GET", "/api/{user_id}/tasks"),
    (Route::CreateTask, "POST", "/api/{user_id}/tasks"),
    (Route::GetTask, "GET", "/api/{user_id}/tasks/{task_id}"),
    (Route::UpdateTask, "PUT", "/api/{user_id}/tasks/{task_id}"),
    (
        Route::DeleteTask,
        "DELETE",
        "/api/{user_id}/tasks/{task_id}",
    ),
    (
        Route::ToggleTask,
        "PATCH",
        "/api/{user_id}/tasks/{task_id}/complete",
    ),
    (Route::Stats, "GET", "/api/{user_id}/stats"),
    (
        Route::ListNotifications,
        "GET",
        "/api/{user_id}/notifications",
    ),
    (
        Route::ReadAllNotifications,
        "PATCH",
        "/api/{user_id}/notifications/read-all",
    ),
    (
        Route::ReadNotification,
        "PATCH",
        "/api/{user_id}/notifications/{notification_id}/read",
    ),
    (
        Route::DeleteNotification,
        "DELETE",
        "/api/{user_id}/notifications/{notification_id}",
    ),
    (Route::ListAudit, "GET", "/api/{user_id}/audit"),
];

/// The path template of `route` (what the log line names instead of the raw path).
pub fn template(route: Route) -> &'static str {
    ROUTES
        .iter()
        .find(|(r, _, _)| *r == route)
        .map(|(_, _, template)| *template)
        .unwrap_or_default()
}

/// The outcome of matching a path against the table.
#[derive(Debug, PartialEq, Eq)]
pub enum Match<'a> {
    /// The route and the values of its `{params}`, in order.
    Found(Route, Vec<&'a str>),
    /// The path exists (this template), with other methods.
    MethodNotAllowed(&'static str),
    NotFound,
}

/// A template matches when every literal segment is equal and every `{param}` segment is
/// non-empty. Templates with more literal segments are tried first, so `read-all` wins over
/// `{notification_id}`; and, as in OpenAPI, a path owned by a more literal template is not
/// matched by a less literal one for another method (`DELETE .../notifications/read-all` is a
/// 405, not a delete of a notification named `read-all`).
pub fn find<'a>(method: &str, segments: &[&'a str]) -> Match<'a> {
    let literals = |template: &str| template.split('/').filter(|s| !s.starts_with('{')).count();
    let mut candidates: Vec<&(Route, &str, &str)> = ROUTES.iter().collect();
    candidates.sort_by_key(|(_, _, template)| std::cmp::Reverse(literals(template)));
    let mut owner = None;
    let mut owner_literals = None;
    for (route, route_method, template) in candidates {
        if owner_literals.is_some_and(|owner| literals(template) < owner) {
            break;
        }
        let parts: Vec<&str> = template.split('/').filter(|s| !s.is_empty()).collect();
        if parts.len() != segments.len() {
            continue;
        }
        let mut params = Vec::new();
        let matched = parts.iter().zip(segments).all(|(part, segment)| {
            if part.starts_with('{') {
                params.push(*segment);
                !segment.is_empty()
            } else {
                part == segment
            }
        });
        if !matched {
            continue;
        }
        if *route_method == method {
            return Match::Found(*route, params);
        }
        owner.get_or_insert(*template);
        owner_literals = Some(literals(template));
    }
    match owner {
        Some(template) => Match::MethodNotAllowed(template),
        None => Match::NotFound,
    }
}

/// The template of the route serving this path, whatever the method (`None`: no route).
pub fn path_template(segments: &[&str]) -> Option<&'static str> {
    match find("GET", segments) {
        Match::Found(route, _) => Some(template(route)),
        Match::MethodNotAllowed(template) => Some(template),
        Match::NotFound => None,
    }
}

/// The methods served on a path (for the `Allow` header of a `405`, which RFC 9110 requires),
/// plus `OPTIONS` (CORS preflight, answered on every path).
pub fn allowed_methods(segments: &[&str]) -> Vec<&'static str> {
    let mut methods: Vec<&'static str> = ROUTES
        .iter()
        .filter(|(_, method, _)| matches!(find(method, segments), Match::Found(..)))
        .map(|(_, method, _)| *method)
        .collect();
    methods.sort_unstable();
    methods.dedup();
    methods.push("OPTIONS");
    methods
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_segments_win_and_methods_are_distinguished() {
        assert_eq!(
            find("PATCH", &["api", "u", "notifications", "read-all"]),
            Match::Found(Route::ReadAllNotifications, vec!["u"])
        );
        assert_eq!(
            find("DELETE", &["api", "u", "notifications", "n1"]),
            Match::Found(Route::DeleteNotification, vec!["u", "n1"])
        );
        assert_eq!(
            find("DELETE", &["api", "u", "tasks"]),
            Match::MethodNotAllowed("/api/{user_id}/tasks")
        );
        assert_eq!(find("GET", &["api", "u", "nothing"]), Match::NotFound);
        assert_eq!(
            allowed_methods(&["api", "u", "tasks", "t1"]),
            vec!["DELETE", "GET", "PUT", "OPTIONS"]
        );
        assert_eq!(
            allowed_methods(&["api", "u", "notifications", "read-all"]),
            vec!["PATCH", "OPTIONS"]
        );
        assert_eq!(
            find("DELETE", &["api", "u", "notifications", "read-all"]),
            Match::MethodNotAllowed("/api/{user_id}/notifications/read-all")
        );
        assert_eq!(
            find("GET", &["api", "openapi.json"]),
            Match::Found(Route::OpenApi, vec![])
        );
    }

    #[test]
    fn every_route_has_its_template() {
        for (route, _, path) in ROUTES {
            assert_eq!(template(*route), *path);
        }
        assert_eq!(
            path_template(&["api", "u", "tasks", "t1", "complete"]),
            Some("/api/{user_id}/tasks/{task_id}/complete")
        );
        assert_eq!(path_template(&["api", "u", "nothing"]), None);
    }
}
