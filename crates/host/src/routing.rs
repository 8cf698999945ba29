//! HTTP route matching with Spin's rules: exact routes, `:name` segments, a trailing `/...`
//! wildcard; the most specific match wins (literal > `:name` > end of an exact route >
//! wildcard, compared segment by segment); if two triggers use the same route the later wins.

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid route '{route}' for component '{component}': {reason}")]
pub struct RouteError {
    pub route: String,
    pub component: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

#[derive(Debug, Clone)]
struct Route {
    component: String,
    /// The route as written in the manifest.
    raw: String,
    /// The route combined with the application base.
    based: String,
    segments: Vec<Segment>,
    wildcard: bool,
}

/// The outcome of routing a request path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RouteMatch {
    pub component: String,
    /// Route as written, with the base (`spin-matched-route`).
    pub based_route: String,
    /// Route as written (`spin-raw-component-route`).
    pub raw_route: String,
    /// Route without a trailing `/...` (`spin-component-route`).
    pub component_route: String,
    /// The part of the path matched by the trailing wildcard (`spin-path-info`).
    pub path_info: String,
    /// `:name` captures, in route order.
    pub captures: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
}

/// Ranks used to compare candidate routes position by position.
const RANK_LITERAL: u8 = 4;
const RANK_PARAM: u8 = 3;
const RANK_END: u8 = 2;
const RANK_WILDCARD: u8 = 1;

type Captures = Vec<(String, String)>;
/// Per-position ranks of a matching route (compared lexicographically) and its captures.
type Candidate = (Vec<u8>, Captures);

fn sanitize(s: &str) -> &str {
    s.strip_suffix('/').unwrap_or(s)
}

fn segments_of(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

impl Router {
    /// `routes` are `(component, route)` in manifest order.
    pub fn build<'a>(
        base: &str,
        routes: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, RouteError> {
        let mut out: Vec<Route> = Vec::new();
        let base = if base.starts_with('/') {
            base.to_string()
        } else {
            format!("/{base}")
        };
        for (component, raw) in routes {
            let err = |reason: &str| RouteError {
                route: raw.to_string(),
                component: component.to_string(),
                reason: reason.to_string(),
            };
            let abs = if raw.starts_with('/') {
                raw.to_string()
            } else {
                format!("/{raw}")
            };
            let based = format!("{}{}", sanitize(&base), sanitize(&abs));
            let (prefix, wildcard) = if let Some(p) = based.strip_suffix("/...") {
                (p.to_string(), true)
            } else if based == "..." {
                (String::new(), true)
            } else if let Some(p) = based.strip_suffix("/*") {
                (p.to_string(), true)
            } else {
                (based.clone(), false)
            };
            let mut segments = Vec::new();
            for seg in segments_of(&prefix) {
                if seg == "..." || seg.contains('*') {
                    return Err(err("a wildcard is allowed only as the final '/...'"));
                }
                if let Some(name) = seg.strip_prefix(':') {
                    if name.is_empty() {
                        return Err(err("empty ':' parameter name"));
                    }
                    segments.push(Segment::Param(name.to_string()));
                } else {
                    segments.push(Segment::Literal(seg.to_string()));
                }
            }
            let based_display = if based.is_empty() {
                "/".to_string()
            } else {
                based
            };
            let route = Route {
                component: component.to_string(),
                raw: raw.to_string(),
                based: based_display,
                segments,
                wildcard,
            };
            // A later trigger with the same route replaces the earlier one.
            if let Some(existing) = out.iter_mut().find(|r| r.raw == route.raw) {
                *existing = route;
            } else {
                out.push(route);
            }
        }
        Ok(Self { routes: out })
    }

    /// `(route for display, component)` pairs, in manifest order.
    pub fn routes(&self) -> impl Iterator<Item = (String, &str)> {
        self.routes.iter().map(|r| {
            let shown = if r.wildcard {
                let p = r.based.strip_suffix("/...").unwrap_or(&r.based);
                format!("{} (wildcard)", if p.is_empty() { "/" } else { p })
            } else {
                r.based.clone()
            };
            (shown, r.component.as_str())
        })
    }

    /// `(route with the base, component)` pairs, in manifest order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.routes
            .iter()
            .map(|r| (r.based.as_str(), r.component.as_str()))
    }

    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        let path_segments = segments_of(path);
        let mut best: Option<(Vec<u8>, &Route, Captures)> = None;
        for route in &self.routes {
            let Some((ranks, captures)) = match_route(route, &path_segments) else {
                continue;
            };
            let better = match &best {
                None => true,
                Some((best_ranks, _, _)) => ranks >= *best_ranks,
            };
            if better {
                best = Some((ranks, route, captures));
            }
        }
        let (_, route, captures) = best?;
        let path_info = if route.wildcard {
            let rest = path_segments[route.segments.len()..].join("/");
            match (rest.is_empty(), path.ends_with('/')) {
                (true, false) => String::new(),
                (true, true) => "/".to_string(),
                (false, false) => format!("/{rest}"),
                (false, true) => format!("/{rest}/"),
            }
        } else {
            String::new()
        };
        Some(RouteMatch {
            component: route.component.clone(),
            based_route: route.based.clone(),
            raw_route: route.raw.clone(),
            component_route: route
                .raw
                .strip_suffix("/...")
                .unwrap_or(&route.raw)
                .to_string(),
            path_info,
            captures,
        })
    }
}

fn match_route(route: &Route, path: &[&str]) -> Option<Candidate> {
    if path.len() < route.segments.len() || (!route.wildcard && path.len() != route.segments.len())
    {
        return None;
    }
    let mut ranks = Vec::with_capacity(route.segments.len() + 1);
    let mut captures = Vec::new();
    for (seg, actual) in route.segments.iter().zip(path) {
        match seg {
            Segment::Literal(l) if l == actual => ranks.push(RANK_LITERAL),
            Segment::Literal(_) => return None,
            Segment::Param(name) => {
                ranks.push(RANK_PARAM);
                captures.push((name.clone(), (*actual).to_string()));
            }
        }
    }
    ranks.push(if route.wildcard {
        RANK_WILDCARD
    } else {
        RANK_END
    });
    Some((ranks, captures))
}

/// The request header carrying a `:name` capture.
pub fn path_match_header(name: &str) -> String {
    format!(
        "spin-path-match-{}",
        name.to_ascii_lowercase().replace('_', "-")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        Router::build("/", routes.iter().copied()).expect("valid routes")
    }

    fn component(r: &Router, path: &str) -> Option<String> {
        r.route(path).map(|m| m.component)
    }

    #[test]
    fn exact_routes() {
        let r = router(&[("foo", "/foo"), ("foobar", "/foo/bar")]);
        assert_eq!(component(&r, "/foo").as_deref(), Some("foo"));
        assert_eq!(component(&r, "/foo/bar").as_deref(), Some("foobar"));
        assert_eq!(component(&r, "/foo/baz"), None);
        assert_eq!(component(&r, "/"), None);
        let m = r.route("/foo").unwrap();
        assert_eq!(m.path_info, "");
        assert_eq!(m.component_route, "/foo");
    }

    #[test]
    fn wildcard_and_path_info() {
        let r = router(&[("all", "/..."), ("api", "/api/...")]);
        assert_eq!(component(&r, "/x/y").as_deref(), Some("all"));
        assert_eq!(component(&r, "/").as_deref(), Some("all"));
        let m = r.route("/api/tasks/1").unwrap();
        assert_eq!(m.component, "api");
        assert_eq!(m.path_info, "/tasks/1");
        assert_eq!(m.based_route, "/api/...");
        assert_eq!(m.raw_route, "/api/...");
        assert_eq!(m.component_route, "/api");
        assert_eq!(r.route("/api").unwrap().path_info, "");
        assert_eq!(r.route("/api/").unwrap().path_info, "/");
        assert_eq!(r.route("/api/a/").unwrap().path_info, "/a/");
        assert_eq!(r.route("/").unwrap().path_info, "/");
    }

    #[test]
    fn longest_match_wins_regardless_of_order() {
        for routes in [
            vec![
                ("one", "/one/..."),
                ("two", "/one/two/..."),
                ("three", "/one/two/three/..."),
            ],
            vec![
                ("three", "/one/two/three/..."),
                ("two", "/one/two/..."),
                ("one", "/one/..."),
            ],
        ] {
            let r = router(&routes);
            assert_eq!(
                component(&r, "/one/two/three/four").as_deref(),
                Some("three")
            );
            assert_eq!(component(&r, "/one/two/x").as_deref(), Some("two"));
            assert_eq!(component(&r, "/one").as_deref(), Some("one"));
        }
    }

    #[test]
    fn exact_beats_wildcard() {
        let r = router(&[("wild", "/..."), ("exact", "/one"), ("onewild", "/one/...")]);
        assert_eq!(component(&r, "/one").as_deref(), Some("exact"));
        assert_eq!(component(&r, "/one/x").as_deref(), Some("onewild"));
    }

    #[test]
    fn named_parameters() {
        let r = router(&[
            ("user", "/users/:user_id"),
            ("me", "/users/me"),
            ("files", "/f/:id/..."),
        ]);
        let m = r.route("/users/42").unwrap();
        assert_eq!(m.component, "user");
        assert_eq!(m.captures, vec![("user_id".to_string(), "42".to_string())]);
        assert_eq!(component(&r, "/users/me").as_deref(), Some("me"));
        assert_eq!(component(&r, "/users/42/x"), None);
        let m = r.route("/f/7/a/b").unwrap();
        assert_eq!(m.captures, vec![("id".to_string(), "7".to_string())]);
        assert_eq!(m.path_info, "/a/b");
        assert_eq!(path_match_header("user_id"), "spin-path-match-user-id");
    }

    #[test]
    fn later_duplicate_wins() {
        let r = router(&[("first", "/dup"), ("second", "/dup")]);
        assert_eq!(component(&r, "/dup").as_deref(), Some("second"));
        assert_eq!(r.routes().count(), 1);
    }

    #[test]
    fn base_is_applied() {
        let r = Router::build("/base", [("c", "/x")]).unwrap();
        assert_eq!(component(&r, "/base/x").as_deref(), Some("c"));
        assert_eq!(component(&r, "/x"), None);
    }

    #[test]
    fn bad_routes_are_rejected() {
        assert!(Router::build("/", [("c", "/a/.../b")]).is_err());
        assert!(Router::build("/", [("c", "/a/:")]).is_err());
    }
}
