//! What an application declares, for callers other than `up`: the end-to-end tests (through
//! this module) and scripts (`todo-host inspect`, the same structures as JSON). It is built by
//! the code `up` loads with, so each of Spin's rules has one implementation in the project.
//!
//! [`describe`] needs no variable values: it validates everything that does not depend on them
//! and reports the manifest as written (templates unexpanded). [`Resolved`] adds what a
//! process started with a given set of values would use: expanded `allowed_outbound_hosts`,
//! and for every URL in the configuration whether the component may connect to it. Secret
//! values are never reported, only where they point.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::app::{self, App, AppError, KvBackend};
use crate::manifest::Manifest;
use crate::outbound_hosts::Endpoint;
use crate::routing::{RouteMatch, Router};
use crate::variables::{self, Part};

/// The path Spin's HTTP trigger answers itself (`200 OK`) whatever the routes.
pub use crate::http_trigger::HEALTH_PATH as SPIN_HEALTH_PATH;

/// An application as declared, validated as far as it can be without variable values.
#[derive(Debug, Clone, Serialize)]
pub struct AppInfo {
    pub application: ApplicationInfo,
    /// Every application variable (whatever is selected).
    pub variables: BTreeMap<String, VariableInfo>,
    /// The selected components (all of them when none is selected).
    pub components: BTreeMap<String, ComponentInfo>,
    /// The key-value labels a component may list: `default` and the runtime config's.
    pub key_value_stores: BTreeMap<String, KvStoreInfo>,
    /// The HTTP routes of the selected components, after duplicates are resolved (the later
    /// trigger wins), in manifest order.
    pub routes: Vec<RouteInfo>,
    #[serde(skip)]
    router: Router,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApplicationInfo {
    pub name: String,
    /// `[application.trigger.http] base`.
    pub http_base: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct VariableInfo {
    pub required: bool,
    pub default: Option<String>,
    pub secret: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComponentInfo {
    /// The `.wasm` file, relative to the working directory.
    pub source: PathBuf,
    pub triggers: Vec<TriggerInfo>,
    /// `[component.<id>.variables]`, as templates.
    pub variables: BTreeMap<String, String>,
    /// As written, templates unexpanded.
    pub allowed_outbound_hosts: Vec<String>,
    pub key_value_stores: Vec<String>,
    pub environment: BTreeMap<String, String>,
    /// Every application variable this component's configuration refers to: its variables,
    /// its `allowed_outbound_hosts`, its triggers and the application-level address its Redis
    /// triggers fall back to.
    pub uses_variables: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum TriggerInfo {
    Http {
        /// As written.
        route: String,
    },
    Redis {
        channel: String,
        /// The trigger's address, else `[application.trigger.redis] address` (a template).
        address: Option<String>,
    },
    Cron {
        cron_expression: String,
    },
}

impl TriggerInfo {
    /// `http`, `redis` or `cron`: the trigger type as the manifest names it.
    pub fn kind(&self) -> &'static str {
        match self {
            TriggerInfo::Http { .. } => "http",
            TriggerInfo::Redis { .. } => "redis",
            TriggerInfo::Cron { .. } => "cron",
        }
    }
}

impl ComponentInfo {
    /// The types of this component's triggers (`http`, `redis`, `cron`).
    pub fn trigger_types(&self) -> BTreeSet<&'static str> {
        self.triggers.iter().map(TriggerInfo::kind).collect()
    }

    /// Triggered by HTTP only: such a component keeps running when Redis is down (Spin exits
    /// when a Redis subscription drops), so deployments run these apart from the others.
    pub fn is_http_only(&self) -> bool {
        !self.triggers.is_empty() && self.trigger_types() == BTreeSet::from(["http"])
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct KvStoreInfo {
    /// `spin` (a SQLite file) or `redis`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Whether the runtime config defines it (`default` exists without).
    pub from_runtime_config: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RouteInfo {
    /// As written, with the application's base.
    pub route: String,
    pub component: String,
}

/// What Spin's HTTP trigger does with a request path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum RouteAnswer {
    /// A component's route matches.
    Component(RouteMatch),
    /// Spin's own health check ([`SPIN_HEALTH_PATH`]).
    Spin,
    /// No route matches: `404`.
    NotFound,
    /// No selected component has an HTTP route: the HTTP trigger does not run at all.
    NoHttpTrigger,
}

/// Describes the application of `manifest_path` as `up -c <only_components>...` would run it,
/// without variable values; fails with the error `up` would stop with for these reasons.
pub fn describe(
    manifest_path: &Path,
    runtime_config: Option<&Path>,
    only_components: &[String],
) -> Result<AppInfo, AppError> {
    let (manifest, manifest_dir, runtime_config) = app::read(manifest_path, runtime_config)?;
    let kv = app::kv_backends(&manifest_dir, &runtime_config);
    let router = app::check_unresolved(&manifest, &kv, only_components)?;
    let components = manifest
        .component
        .iter()
        .filter(|(id, _)| app::is_selected(only_components, id))
        .map(|(id, c)| {
            let info = ComponentInfo {
                source: manifest_dir.join(&c.source),
                triggers: triggers_of(&manifest, id),
                variables: c.variables.clone(),
                allowed_outbound_hosts: c.allowed_outbound_hosts.clone(),
                key_value_stores: c.key_value_stores.clone(),
                environment: c.environment.clone(),
                uses_variables: BTreeSet::new(),
            };
            let uses = uses_variables(&info);
            (
                id.clone(),
                ComponentInfo {
                    uses_variables: uses,
                    ..info
                },
            )
        })
        .collect();
    Ok(AppInfo {
        application: ApplicationInfo {
            name: manifest.application.name.clone(),
            http_base: app::http_base(&manifest),
        },
        variables: manifest
            .variables
            .iter()
            .map(|(name, decl)| {
                let info = VariableInfo {
                    required: decl.required,
                    default: decl.default.clone(),
                    secret: decl.secret,
                };
                (name.clone(), info)
            })
            .collect(),
        components,
        key_value_stores: kv
            .iter()
            .map(|(label, backend)| {
                let kind = match backend {
                    KvBackend::Sqlite(_) | KvBackend::SqliteInMemory => "spin",
                    KvBackend::Redis(_) => "redis",
                };
                let from_runtime_config = runtime_config.key_value_store.contains_key(label);
                let info = KvStoreInfo {
                    kind,
                    from_runtime_config,
                };
                (label.clone(), info)
            })
            .collect(),
        routes: router
            .entries()
            .map(|(route, component)| RouteInfo {
                route: route.to_string(),
                component: component.to_string(),
            })
            .collect(),
        router,
    })
}

fn triggers_of(manifest: &Manifest, id: &str) -> Vec<TriggerInfo> {
    let app_redis = manifest
        .application
        .trigger
        .redis
        .as_ref()
        .map(|r| r.address.clone());
    let http = manifest
        .trigger
        .http
        .iter()
        .filter(|t| t.component == id)
        .map(|t| TriggerInfo::Http {
            route: t.route.clone(),
        });
    let redis = manifest
        .trigger
        .redis
        .iter()
        .filter(|t| t.component == id)
        .map(|t| TriggerInfo::Redis {
            channel: t.channel.clone(),
            address: t.address.clone().or_else(|| app_redis.clone()),
        });
    let cron = manifest
        .trigger
        .cron
        .iter()
        .filter(|t| t.component == id)
        .map(|t| TriggerInfo::Cron {
            cron_expression: t.cron_expression.clone(),
        });
    http.chain(redis).chain(cron).collect()
}

/// The variables the templates of a component refer to (already checked to parse).
fn uses_variables(component: &ComponentInfo) -> BTreeSet<String> {
    let mut templates: Vec<&str> = component.variables.values().map(String::as_str).collect();
    templates.extend(component.allowed_outbound_hosts.iter().map(String::as_str));
    for t in &component.triggers {
        if let TriggerInfo::Redis { channel, address } = t {
            templates.push(channel);
            templates.extend(address.as_deref());
        }
    }
    templates
        .into_iter()
        .flat_map(|t| variables::parse_template(t).unwrap_or_default())
        .filter_map(|part| match part {
            Part::Variable(name) => Some(name),
            Part::Literal(_) => None,
        })
        .collect()
}

impl AppInfo {
    /// What the HTTP trigger does with `path` (a query string is ignored), with the routes of
    /// the selected components only.
    pub fn route(&self, path: &str) -> RouteAnswer {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        if self.routes.is_empty() {
            RouteAnswer::NoHttpTrigger
        } else if path == SPIN_HEALTH_PATH {
            RouteAnswer::Spin
        } else {
            match self.router.route(path) {
                Some(m) => RouteAnswer::Component(m),
                None => RouteAnswer::NotFound,
            }
        }
    }

    /// The component serving `path`, if a component does.
    pub fn component_for_path(&self, path: &str) -> Option<String> {
        match self.route(path) {
            RouteAnswer::Component(m) => Some(m.component),
            _ => None,
        }
    }

    /// Components triggered by HTTP only (see [`ComponentInfo::is_http_only`]), sorted.
    pub fn http_only_components(&self) -> Vec<&str> {
        self.components
            .iter()
            .filter(|(_, c)| c.is_http_only())
            .map(|(id, _)| id.as_str())
            .collect()
    }

    /// Components with at least one trigger that is not HTTP, sorted.
    pub fn event_driven_components(&self) -> Vec<&str> {
        self.components
            .iter()
            .filter(|(_, c)| !c.triggers.is_empty() && !c.is_http_only())
            .map(|(id, _)| id.as_str())
            .collect()
    }

    /// Whether `template` uses a secret application variable.
    fn is_secret(&self, template: &str) -> bool {
        variables::parse_template(template)
            .unwrap_or_default()
            .iter()
            .any(|part| matches!(part, Part::Variable(name) if self.variables.get(name).is_some_and(|v| v.secret)))
    }
}

/// The application as a process started with particular variable values would run it.
#[derive(Debug, Clone, Serialize)]
pub struct Resolved {
    pub components: BTreeMap<String, ResolvedComponent>,
    /// Every Redis subscription of the selected components, with where it connects.
    pub redis_triggers: Vec<ResolvedRedisTrigger>,
    pub key_value_stores: BTreeMap<String, ResolvedKvStore>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResolvedComponent {
    /// Expanded.
    pub allowed_outbound_hosts: Vec<String>,
    pub variables: BTreeMap<String, ResolvedVariable>,
}

/// One `[component.<id>.variables]` value. A value that uses a secret application variable
/// is not reported; where it points is.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedVariable {
    pub secret: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// When the value is a URL with a host: where it points, and whether the component may
    /// connect there ([`crate::app::ComponentConfig::may_connect`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<Connection>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Connection {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused_because: Option<String>,
}

/// Whether a component may open an address ([`crate::app::ComponentConfig::may_connect`]).
/// The address itself is not reported (it may hold credentials), only where it points.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectAnswer {
    pub component: String,
    /// `None` when the address is not a URL with a host (e.g. a `key=value` connection string).
    pub endpoint: Option<Endpoint>,
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused_because: Option<String>,
}

impl ConnectAnswer {
    /// `app` resolved with the selection the component is in.
    pub fn new(app: &App, component: &str, address: &str) -> Result<Self, AppError> {
        let config = app.components.get(component).ok_or_else(|| {
            AppError::Invalid(format!(
                "component '{component}' is not in the manifest or not selected"
            ))
        })?;
        let verdict = config.may_connect(address);
        Ok(Self {
            component: component.to_string(),
            endpoint: Endpoint::parse(address),
            allowed: verdict.is_ok(),
            refused_because: verdict.err(),
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ResolvedRedisTrigger {
    pub component: String,
    pub channel: String,
    /// `None` when the address is not a URL with a host.
    pub address: Option<Endpoint>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ResolvedKvStore {
    /// `path` is `None` for an in-memory store (a `spin` store configured without a path).
    Spin {
        path: Option<PathBuf>,
    },
    Redis {
        address: Option<Endpoint>,
    },
}

impl Resolved {
    /// `app` is `info`'s application loaded with values ([`crate::app::load`], same selection).
    pub fn new(info: &AppInfo, app: &App) -> Self {
        let components = app
            .components
            .iter()
            .map(|(id, config)| {
                let templates = info.components.get(id).map(|c| &c.variables);
                let variables = config
                    .variables
                    .iter()
                    .map(|(name, value)| {
                        let secret = templates
                            .and_then(|t| t.get(name))
                            .is_some_and(|t| info.is_secret(t));
                        let connection = Endpoint::parse(value).map(|endpoint| {
                            let verdict = config.may_connect(value);
                            Connection {
                                endpoint,
                                allowed: verdict.is_ok(),
                                refused_because: verdict.err(),
                            }
                        });
                        let resolved = ResolvedVariable {
                            secret,
                            value: (!secret).then(|| value.clone()),
                            connection,
                        };
                        (name.clone(), resolved)
                    })
                    .collect();
                let resolved = ResolvedComponent {
                    allowed_outbound_hosts: config.allowed_hosts.entries().to_vec(),
                    variables,
                };
                (id.clone(), resolved)
            })
            .collect();
        let redis_triggers = app
            .redis
            .iter()
            .map(|s| ResolvedRedisTrigger {
                component: s.component.clone(),
                channel: s.channel.clone(),
                address: Endpoint::parse(&s.address),
            })
            .collect();
        let key_value_stores = app
            .kv_stores
            .iter()
            .map(|(label, backend)| {
                let store = match backend {
                    KvBackend::Sqlite(path) => ResolvedKvStore::Spin {
                        path: Some(path.clone()),
                    },
                    KvBackend::SqliteInMemory => ResolvedKvStore::Spin { path: None },
                    KvBackend::Redis(url) => ResolvedKvStore::Redis {
                        address: Endpoint::parse(url),
                    },
                };
                (label.clone(), store)
            })
            .collect();
        Resolved {
            components,
            redis_triggers,
            key_value_stores,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = include_str!("../tests/apps/inspect/spin.toml");

    fn manifest(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("spin.toml");
        std::fs::write(&path, text).expect("write manifest");
        (dir, path)
    }

    #[test]
    fn describes_components_triggers_and_used_variables() {
        let (_dir, path) = manifest(APP);
        let info = describe(&path, None, &[]).expect("valid without values");
        let api = &info.components["api"];
        assert_eq!(
            api.triggers,
            vec![TriggerInfo::Http {
                route: "/api/...".into()
            }]
        );
        assert_eq!(
            api.uses_variables,
            BTreeSet::from(["db_host".into(), "db_url".into(), "origins".into()])
        );
        let worker = &info.components["worker"];
        assert_eq!(worker.trigger_types(), BTreeSet::from(["cron", "redis"]));
        assert_eq!(
            worker.uses_variables,
            BTreeSet::from(["redis_url".to_string()])
        );
        assert_eq!(info.http_only_components(), ["api", "sweep", "users"]);
        assert_eq!(info.event_driven_components(), ["worker"]);
        assert!(info.variables["db_url"].required && info.variables["db_url"].secret);
        assert!(!info.key_value_stores["default"].from_runtime_config);
    }

    #[test]
    fn matches_paths_like_the_http_trigger() {
        let (_dir, path) = manifest(APP);
        let info = describe(&path, None, &[]).unwrap();
        assert_eq!(
            info.component_for_path("/api/tasks?x=1"),
            Some("api".into())
        );
        assert_eq!(
            info.component_for_path("/api/users/42"),
            Some("users".into())
        );
        assert_eq!(
            info.component_for_path("/api/users/42/x"),
            Some("api".into())
        );
        assert_eq!(
            info.component_for_path("/internal/sweep"),
            Some("sweep".into())
        );
        assert_eq!(info.route("/nope"), RouteAnswer::NotFound);
        assert_eq!(info.route(SPIN_HEALTH_PATH), RouteAnswer::Spin);
        let RouteAnswer::Component(m) = info.route("/api/users/7") else {
            panic!("routed")
        };
        assert_eq!(m.captures, vec![("id".to_string(), "7".to_string())]);

        let only_api = describe(&path, None, &["api".into()]).unwrap();
        assert_eq!(
            only_api.component_for_path("/api/users/42"),
            Some("api".into())
        );
        assert_eq!(only_api.route("/internal/sweep"), RouteAnswer::NotFound);
        let only_worker = describe(&path, None, &["worker".into()]).unwrap();
        assert_eq!(only_worker.route("/api/x"), RouteAnswer::NoHttpTrigger);
        assert_eq!(
            only_worker.route(SPIN_HEALTH_PATH),
            RouteAnswer::NoHttpTrigger
        );
    }

    #[test]
    fn refuses_what_up_refuses_without_values() {
        for (from, to, expected) in [
            (
                "{{ db_host }}",
                "{{ db_hots }}",
                "undefined variable 'db_hots'",
            ),
            ("/internal/sweep", "/a/.../b", "invalid route"),
            ("*/5 * * * * *", "every minute", "cron expression"),
            ("[\"default\"]", "[\"cache\"]", "key-value store 'cache'"),
        ] {
            let (_dir, path) = manifest(&APP.replace(from, to));
            let err = describe(&path, None, &[]).expect_err(to);
            assert!(err.to_string().contains(expected), "{to}: {err}");
        }
        let (_dir, path) = manifest(APP);
        assert!(describe(&path, None, &["nope".into()]).is_err());
    }

    #[test]
    fn resolved_reports_connections_without_secret_values() {
        let (_dir, path) = manifest(APP);
        let info = describe(&path, None, &[]).unwrap();
        let env = |k: &str| match k {
            "SPIN_VARIABLE_DB_URL" => Some("postgres://u:hunter2@127.0.0.1:5433/x".to_string()),
            _ => None,
        };
        let app = app::load(&app::LoadOptions {
            manifest_path: &path,
            runtime_config: None,
            only_components: &[],
            env: &env,
        })
        .unwrap();
        let resolved = Resolved::new(&info, &app);
        let json = serde_json::to_string(&resolved).unwrap();
        assert!(!json.contains("hunter2"), "{json}");
        let db_url = &resolved.components["api"].variables["db_url"];
        assert!(db_url.secret && db_url.value.is_none());
        let connection = db_url.connection.as_ref().expect("a URL");
        assert_eq!(connection.endpoint.to_string(), "postgres://127.0.0.1:5433");
        assert!(!connection.allowed);
        assert!(connection
            .refused_because
            .as_deref()
            .unwrap()
            .contains("not permitted"));
        let origins = &resolved.components["api"].variables["origins"];
        assert_eq!(origins.value.as_deref(), Some("http://a.example"));
        assert_eq!(
            resolved.components["api"].allowed_outbound_hosts,
            ["postgres://127.0.0.1:5432"]
        );
        assert_eq!(resolved.redis_triggers.len(), 1);
        assert_eq!(
            resolved.redis_triggers[0]
                .address
                .as_ref()
                .unwrap()
                .to_string(),
            "redis://127.0.0.1:6379"
        );
    }
}
