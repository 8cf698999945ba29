//! `allowed_outbound_hosts`: parsing the (already template-expanded) entries and matching
//! outbound addresses against them.

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid allowed_outbound_hosts entry '{entry}': {reason}")]
pub struct AllowedHostError {
    pub entry: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// `*.example.com`: any subdomain (not the bare domain).
    Subdomain(String),
    Exact(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Exact(u16),
    Range(u16, u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

/// The parsed allow-list of one component.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    allow_all: bool,
    entries: Vec<AllowedHost>,
    /// The entries as written (after template expansion).
    written: Vec<String>,
}

/// Default port for the schemes Spin knows.
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "postgres" => Some(5432),
        "redis" => Some(6379),
        "mysql" => Some(3306),
        "mqtt" => Some(1883),
        _ => None,
    }
}

impl AllowedHosts {
    pub fn parse(entries: &[String]) -> Result<Self, AllowedHostError> {
        let mut out = AllowedHosts {
            written: entries.to_vec(),
            ..AllowedHosts::default()
        };
        for entry in entries {
            if entry == "insecure:allow-all" {
                out.allow_all = true;
                continue;
            }
            out.entries.push(parse_entry(entry)?);
        }
        Ok(out)
    }

    /// The entries as written in the manifest, templates expanded.
    pub fn entries(&self) -> &[String] {
        &self.written
    }

    /// Is a connection to `host:port` with `scheme` allowed?
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        if self.allow_all {
            return true;
        }
        let host = normalise_host(host);
        self.entries.iter().any(|e| {
            e.scheme.as_deref().is_none_or(|s| s == scheme)
                && match &e.host {
                    HostPattern::Any => true,
                    HostPattern::Exact(h) => *h == host,
                    HostPattern::Subdomain(d) => {
                        host.len() > d.len() + 1
                            && host.ends_with(d.as_str())
                            && host.as_bytes()[host.len() - d.len() - 1] == b'.'
                    }
                }
                && match e.port {
                    PortPattern::Any => true,
                    PortPattern::Exact(p) => p == port,
                    PortPattern::Range(a, b) => (a..=b).contains(&port),
                }
        })
    }

    /// Checks a URL such as `redis://host:6379/0` or `https://example.com/x`.
    pub fn allows_url(&self, url: &str) -> bool {
        Endpoint::parse(url).is_some_and(|e| self.allows(&e.scheme, &e.host, e.port))
    }
}

/// Where a URL connects to: its scheme, host and port (the scheme's default port when the URL
/// names none). Credentials, path and query are not part of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Endpoint {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    /// `None` when `url` is not a URL with a host, or has no port and a scheme without a
    /// well-known default port.
    pub fn parse(url: &str) -> Option<Self> {
        let parsed = url::Url::parse(url).ok()?;
        let scheme = parsed.scheme().to_string();
        let host = parsed.host_str().filter(|h| !h.is_empty())?;
        let port = parsed.port().or_else(|| default_port(&scheme))?;
        Some(Self {
            host: normalise_host(host),
            scheme,
            port,
        })
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.scheme, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

fn normalise_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

fn parse_entry(entry: &str) -> Result<AllowedHost, AllowedHostError> {
    let err = |reason: &str| AllowedHostError {
        entry: entry.to_string(),
        reason: reason.to_string(),
    };
    let (scheme, rest) = entry
        .split_once("://")
        .ok_or_else(|| err("must be of the form scheme://host[:port]"))?;
    if scheme.is_empty() {
        return Err(err("empty scheme"));
    }
    if scheme != "*"
        && !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.')
    {
        return Err(err("invalid scheme"));
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') {
        return Err(err("paths are not allowed"));
    }
    // Split host and port; IPv6 literals are bracketed.
    let (host, port) = if let Some(stripped) = rest.strip_prefix('[') {
        let close = stripped.find(']').ok_or_else(|| err("unclosed '['"))?;
        let host = &stripped[..close];
        let after = &stripped[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(err("unexpected text after IPv6 address")),
        };
        (host.to_string(), port)
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (rest.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(err("empty host"));
    }
    let host_pattern = if host == "*" {
        HostPattern::Any
    } else if let Some(domain) = host.strip_prefix("*.") {
        if domain.is_empty() || domain.contains('*') {
            return Err(err("invalid wildcard host"));
        }
        HostPattern::Subdomain(domain.to_ascii_lowercase())
    } else if host.contains('*') {
        return Err(err(
            "'*' is allowed only as the whole host or a leading '*.'",
        ));
    } else {
        HostPattern::Exact(host.to_ascii_lowercase())
    };
    let port_pattern = match port {
        Some("*") => PortPattern::Any,
        Some(p) => {
            if let Some((a, b)) = p.split_once("..") {
                let a: u16 = a.parse().map_err(|_| err("invalid port range"))?;
                let b: u16 = b.parse().map_err(|_| err("invalid port range"))?;
                if a > b {
                    return Err(err("invalid port range"));
                }
                PortPattern::Range(a, b)
            } else {
                PortPattern::Exact(p.parse().map_err(|_| err("invalid port"))?)
            }
        }
        None => match default_port(scheme) {
            Some(p) => PortPattern::Exact(p),
            None => {
                return Err(err(
                    "a port is required when the scheme has no well-known default port",
                ))
            }
        },
    };
    Ok(AllowedHost {
        scheme: (scheme != "*").then(|| scheme.to_ascii_lowercase()),
        host: host_pattern,
        port: port_pattern,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("valid entries")
    }

    #[test]
    fn empty_list_allows_nothing() {
        let h = hosts(&[]);
        assert!(!h.allows("postgres", "127.0.0.1", 5432));
        assert!(!h.allows_url("https://example.com"));
    }

    #[test]
    fn default_ports_apply() {
        let h = hosts(&["postgres://db", "redis://cache", "https://api.example.com"]);
        assert!(h.allows("postgres", "db", 5432));
        assert!(!h.allows("postgres", "db", 5433));
        assert!(h.allows("redis", "cache", 6379));
        assert!(h.allows_url("redis://cache"));
        assert!(h.allows_url("https://api.example.com/path"));
        assert!(!h.allows_url("http://api.example.com/path"));
        assert!(!h.allows_url("https://api.example.com:8443/"));
    }

    #[test]
    fn explicit_ports_and_schemes() {
        let h = hosts(&["postgres://127.0.0.1:55432", "*://localhost:*"]);
        assert!(h.allows("postgres", "127.0.0.1", 55432));
        assert!(!h.allows("redis", "127.0.0.1", 55432));
        assert!(h.allows("redis", "localhost", 1234));
        assert!(h.allows_url("http://localhost:8080/x"));
    }

    #[test]
    fn wildcards() {
        let h = hosts(&[
            "https://*.example.com",
            "http://*:8080",
            "redis://h:7000..7002",
        ]);
        assert!(h.allows("https", "a.example.com", 443));
        assert!(h.allows("https", "a.b.example.com", 443));
        assert!(!h.allows("https", "example.com", 443));
        assert!(!h.allows("https", "badexample.com", 443));
        assert!(h.allows("http", "anything", 8080));
        assert!(h.allows("redis", "h", 7001));
        assert!(!h.allows("redis", "h", 7003));
    }

    #[test]
    fn allow_all_and_errors() {
        assert!(hosts(&["insecure:allow-all"]).allows("redis", "x", 1));
        for bad in [
            "localhost",
            "*://localhost",
            "http://a/b",
            "http://a*b",
            "http://h:x",
        ] {
            assert!(AllowedHosts::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn endpoints_of_urls() {
        let e = Endpoint::parse("redis://:secret@todo-redis/0").expect("endpoint");
        assert_eq!(
            (e.scheme.as_str(), e.host.as_str(), e.port),
            ("redis", "todo-redis", 6379)
        );
        assert_eq!(e.to_string(), "redis://todo-redis:6379");
        let e = Endpoint::parse("postgres://u:p@DB.example:6000/todo?sslmode=require").unwrap();
        assert_eq!(e.to_string(), "postgres://db.example:6000");
        assert_eq!(
            Endpoint::parse("http://[::1]:8080/").unwrap().to_string(),
            "http://[::1]:8080"
        );
        assert_eq!(Endpoint::parse("https://a.example/x").unwrap().port, 443);
        for not_an_endpoint in ["", "db:5432", "foo://host/x", "mailto:a@b", "file:///tmp"] {
            assert_eq!(Endpoint::parse(not_an_endpoint), None, "{not_an_endpoint}");
        }
    }

    #[test]
    fn host_match_is_case_insensitive_and_handles_ipv6() {
        let h = hosts(&["http://Example.COM", "http://[::1]:8080"]);
        assert!(h.allows("http", "example.com", 80));
        assert!(h.allows_url("http://[::1]:8080/"));
    }
}
