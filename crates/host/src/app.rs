//! Loading an application: manifest + runtime config + variables, validated and resolved into
//! what the triggers and host interfaces need. Every configuration error surfaces here, at
//! start-up, before anything is compiled or served.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::manifest::{Manifest, ManifestError};
use crate::outbound_hosts::{AllowedHostError, AllowedHosts, Endpoint};
use crate::routing::{RouteError, Router};
use crate::runtime_config::{
    KeyValueStoreConfig, RuntimeConfig, RuntimeConfigError, VariablesProviderConfig,
};
use crate::variables::{self, EnvProvider, VariableError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    RuntimeConfig(#[from] RuntimeConfigError),
    #[error("{context}: {source}")]
    Variable {
        context: String,
        source: VariableError,
    },
    #[error("component '{component}': {source}")]
    AllowedHost {
        component: String,
        source: AllowedHostError,
    },
    #[error(transparent)]
    Route(#[from] RouteError),
    #[error("{0}")]
    Invalid(String),
}

/// Everything the host knows about one component.
#[derive(Debug, Clone)]
pub struct ComponentConfig {
    pub id: String,
    pub source: PathBuf,
    pub allowed_hosts: AllowedHosts,
    pub environment: Vec<(String, String)>,
    /// Resolved `[component.<id>.variables]`.
    pub variables: HashMap<String, String>,
    pub key_value_stores: HashSet<String>,
}

impl ComponentConfig {
    /// Whether this component may open `address` as the host interfaces decide when it tries:
    /// a PostgreSQL connection string (URL or `key=value`; every host is checked, Unix sockets
    /// never), or any other URL (`redis://`, `https://`, ...) by its scheme, host and port.
    pub fn may_connect(&self, address: &str) -> Result<(), String> {
        let scheme = address.split_once("://").map(|(s, _)| s);
        if matches!(scheme, Some("postgres" | "postgresql")) || scheme.is_none() {
            return crate::pg::check_allowed(address, &self.allowed_hosts);
        }
        match Endpoint::parse(address) {
            Some(e) if self.allowed_hosts.allows(&e.scheme, &e.host, e.port) => Ok(()),
            Some(e) => Err(format!(
                "address {e} is not permitted by allowed_outbound_hosts"
            )),
            None => Err(format!("'{address}' is not a URL with a host and a port")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct HttpRoute {
    pub route: String,
    pub component: String,
}

#[derive(Debug, Clone)]
pub struct RedisSubscription {
    /// Resolved address.
    pub address: String,
    pub channel: String,
    pub component: String,
}

#[derive(Debug, Clone)]
pub struct CronJob {
    pub component: String,
    pub expression: String,
    pub schedule: crate::cron_trigger::Schedule,
}

/// How a key-value label is backed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvBackend {
    Sqlite(PathBuf),
    /// A `spin` store without a `path`: in Spin, an SQLite database in memory, one per label,
    /// shared by every instance of the process and gone when it exits.
    SqliteInMemory,
    Redis(String),
}

#[derive(Debug, Clone)]
pub struct App {
    pub name: String,
    pub http_base: String,
    pub components: BTreeMap<String, ComponentConfig>,
    pub http_routes: Vec<HttpRoute>,
    pub redis: Vec<RedisSubscription>,
    pub cron: Vec<CronJob>,
    pub kv_stores: HashMap<String, KvBackend>,
}

pub struct LoadOptions<'a> {
    pub manifest_path: &'a Path,
    pub runtime_config: Option<&'a Path>,
    /// `-c/--component-id`; empty = all.
    pub only_components: &'a [String],
    /// Environment lookup (the process environment in production, a map in tests).
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

fn var_err(context: impl Into<String>) -> impl FnOnce(VariableError) -> AppError {
    let context = context.into();
    move |source| AppError::Variable { context, source }
}

/// Loads, validates and resolves an application as `up` runs it. Fails with the error `up`
/// would stop with.
pub fn load(opts: &LoadOptions<'_>) -> Result<App, AppError> {
    let (manifest, manifest_dir, runtime_config) = read(opts.manifest_path, opts.runtime_config)?;
    resolve(manifest, &manifest_dir, runtime_config, opts)
}

/// Reads the manifest and the runtime config; returns them with the manifest's directory.
pub(crate) fn read(
    manifest_path: &Path,
    runtime_config: Option<&Path>,
) -> Result<(Manifest, PathBuf, RuntimeConfig), AppError> {
    let manifest = Manifest::load(manifest_path)?;
    let manifest_dir = manifest_path
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p.to_path_buf()
            }
        })
        .unwrap_or_else(|| PathBuf::from("."));
    let runtime_config = match runtime_config {
        Some(p) => RuntimeConfig::load(p)?,
        None => RuntimeConfig::default(),
    };
    Ok((manifest, manifest_dir, runtime_config))
}

/// The checks that need no variable values, for the whole manifest whatever is selected (as
/// Spin validates it): every template references declared variables, every component's
/// key-value labels exist; and for the selection: its ids exist, its cron expressions parse,
/// its HTTP routes are valid. Returns the router of the selected components' routes.
pub(crate) fn check_unresolved(
    manifest: &Manifest,
    kv_stores: &HashMap<String, KvBackend>,
    only_components: &[String],
) -> Result<Router, AppError> {
    let declared = &manifest.variables;
    let check =
        |ctx: String, t: &str| variables::check_template_refs(t, declared).map_err(var_err(ctx));
    if let Some(r) = &manifest.application.trigger.redis {
        check("[application.trigger.redis] address".into(), &r.address)?;
    }
    for t in &manifest.trigger.redis {
        if let Some(a) = &t.address {
            check(format!("Redis trigger for channel '{}'", t.channel), a)?;
        }
        check(format!("Redis trigger channel '{}'", t.channel), &t.channel)?;
    }
    for (id, c) in &manifest.component {
        for (k, v) in &c.variables {
            check(format!("component '{id}' variable '{k}'"), v)?;
        }
        for h in &c.allowed_outbound_hosts {
            check(format!("component '{id}' allowed_outbound_hosts"), h)?;
        }
        for label in &c.key_value_stores {
            if !kv_stores.contains_key(label) {
                return Err(AppError::Invalid(format!(
                    "component '{id}' uses key-value store '{label}', which is not defined in the runtime config"
                )));
            }
        }
    }
    for only in only_components {
        if !manifest.component.contains_key(only) {
            return Err(AppError::Invalid(format!(
                "--component-id '{only}': no such component in the manifest"
            )));
        }
    }
    let selected = |id: &str| is_selected(only_components, id);
    for t in manifest
        .trigger
        .cron
        .iter()
        .filter(|t| selected(&t.component))
    {
        crate::cron_trigger::parse_schedule(&t.cron_expression).map_err(AppError::Invalid)?;
    }
    let router = Router::build(
        &http_base(manifest),
        manifest
            .trigger
            .http
            .iter()
            .filter(|t| selected(&t.component))
            .map(|t| (t.component.as_str(), t.route.as_str())),
    )?;
    Ok(router)
}

/// `-c/--component-id`: an empty selection means every component.
pub(crate) fn is_selected(only_components: &[String], id: &str) -> bool {
    only_components.is_empty() || only_components.iter().any(|c| c == id)
}

/// `[application.trigger.http] base`, `/` by default.
pub(crate) fn http_base(manifest: &Manifest) -> String {
    manifest
        .application
        .trigger
        .http
        .as_ref()
        .map(|h| h.base.clone())
        .unwrap_or_else(|| "/".to_string())
}

/// The key-value labels the application can open: `default` always (a SQLite file next to
/// the manifest unless the runtime config says otherwise), and every label of the runtime
/// config.
pub(crate) fn kv_backends(
    manifest_dir: &Path,
    runtime_config: &RuntimeConfig,
) -> HashMap<String, KvBackend> {
    let mut kv_stores = HashMap::new();
    kv_stores.insert(
        "default".to_string(),
        KvBackend::Sqlite(manifest_dir.join(".spin").join("sqlite_key_value.db")),
    );
    for (label, cfg) in &runtime_config.key_value_store {
        let backend = match cfg {
            KeyValueStoreConfig::Spin { path: None } => KvBackend::SqliteInMemory,
            KeyValueStoreConfig::Spin { path: Some(path) } => {
                KvBackend::Sqlite(if path.is_absolute() {
                    path.clone()
                } else {
                    runtime_config.base_dir.join(path)
                })
            }
            KeyValueStoreConfig::Redis { url } => KvBackend::Redis(url.clone()),
        };
        kv_stores.insert(label.clone(), backend);
    }
    kv_stores
}

fn resolve(
    manifest: Manifest,
    manifest_dir: &Path,
    runtime_config: RuntimeConfig,
    opts: &LoadOptions<'_>,
) -> Result<App, AppError> {
    // Variable providers.
    let mut providers = Vec::new();
    for p in &runtime_config.variables_provider {
        match p {
            VariablesProviderConfig::Env {
                prefix,
                dotenv_path,
            } => providers.push(
                EnvProvider::new(prefix.as_deref(), dotenv_path.as_deref())
                    .map_err(var_err("variables provider"))?,
            ),
        }
    }
    if providers.is_empty() {
        providers.push(EnvProvider::new(None, None).map_err(var_err("variables provider"))?);
    }

    let kv_stores = kv_backends(manifest_dir, &runtime_config);
    check_unresolved(&manifest, &kv_stores, opts.only_components)?;
    let values = variables::resolve_app_variables(&manifest.variables, &providers, opts.env)
        .map_err(var_err("application variables"))?;
    let selected = |id: &str| is_selected(opts.only_components, id);

    let mut components = BTreeMap::new();
    for (id, c) in &manifest.component {
        if !selected(id) {
            continue;
        }
        let mut component_vars = HashMap::new();
        for (k, v) in &c.variables {
            let expanded = variables::expand(v, &values)
                .map_err(var_err(format!("component '{id}' variable '{k}'")))?;
            component_vars.insert(k.clone(), expanded);
        }
        let mut hosts = Vec::new();
        for h in &c.allowed_outbound_hosts {
            hosts.push(
                variables::expand(h, &values)
                    .map_err(var_err(format!("component '{id}' allowed_outbound_hosts")))?,
            );
        }
        let allowed_hosts =
            AllowedHosts::parse(&hosts).map_err(|source| AppError::AllowedHost {
                component: id.clone(),
                source,
            })?;
        let source = manifest_dir.join(&c.source);
        components.insert(
            id.clone(),
            ComponentConfig {
                id: id.clone(),
                source,
                allowed_hosts,
                environment: c
                    .environment
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                variables: component_vars,
                key_value_stores: c.key_value_stores.iter().cloned().collect(),
            },
        );
    }

    let http_routes = manifest
        .trigger
        .http
        .iter()
        .filter(|t| selected(&t.component))
        .map(|t| HttpRoute {
            route: t.route.clone(),
            component: t.component.clone(),
        })
        .collect();

    let app_redis_address = manifest
        .application
        .trigger
        .redis
        .as_ref()
        .map(|r| variables::expand(&r.address, &values))
        .transpose()
        .map_err(var_err("[application.trigger.redis] address"))?;
    let mut redis = Vec::new();
    for t in manifest
        .trigger
        .redis
        .iter()
        .filter(|t| selected(&t.component))
    {
        let address = match &t.address {
            Some(a) => variables::expand(a, &values)
                .map_err(var_err(format!("Redis trigger for channel '{}'", t.channel)))?,
            None => app_redis_address.clone().ok_or_else(|| {
                AppError::Invalid(format!(
                    "Redis trigger for channel '{}' has no address and [application.trigger.redis] address is not set",
                    t.channel
                ))
            })?,
        };
        let channel = variables::expand(&t.channel, &values)
            .map_err(var_err(format!("Redis trigger channel '{}'", t.channel)))?;
        redis.push(RedisSubscription {
            address,
            channel,
            component: t.component.clone(),
        });
    }

    let mut cron = Vec::new();
    for t in manifest
        .trigger
        .cron
        .iter()
        .filter(|t| selected(&t.component))
    {
        cron.push(CronJob {
            component: t.component.clone(),
            expression: t.cron_expression.clone(),
            schedule: crate::cron_trigger::parse_schedule(&t.cron_expression)
                .map_err(AppError::Invalid)?,
        });
    }

    Ok(App {
        name: manifest.application.name.clone(),
        http_base: http_base(&manifest),
        components,
        http_routes,
        redis,
        cron,
        kv_stores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str, rc: Option<&str>, only: &[String]) -> Result<App, AppError> {
        let manifest = Manifest::parse(text)?;
        let runtime_config = match rc {
            Some(t) => RuntimeConfig::parse(t).map_err(AppError::Invalid)?,
            None => RuntimeConfig::default(),
        };
        let env = |_: &str| None;
        let opts = LoadOptions {
            manifest_path: Path::new("spin.toml"),
            runtime_config: None,
            only_components: only,
            env: &env,
        };
        resolve(manifest, Path::new("."), runtime_config, &opts)
    }

    const APP: &str = r#"
spin_manifest_version = 2
[application]
name = "t"
[application.trigger.redis]
address = "redis://{{ redis_host }}"
[variables]
redis_host = { default = "127.0.0.1:6379" }
db_host = { default = "db:5432" }
[[trigger.http]]
route = "/..."
component = "web"
[[trigger.redis]]
channel = "events"
component = "worker"
[[trigger.cron]]
component = "worker"
cron_expression = "*/5 * * * * *"
[component.web]
source = "web.wasm"
allowed_outbound_hosts = ["postgres://{{ db_host }}"]
key_value_stores = ["default"]
[component.web.variables]
db = "postgres://u@{{ db_host }}/x"
[component.worker]
source = "worker.wasm"
"#;

    #[test]
    fn resolves_templates_and_triggers() {
        let app = load_text(APP, None, &[]).expect("loads");
        let web = &app.components["web"];
        assert_eq!(web.variables["db"], "postgres://u@db:5432/x");
        assert!(web.allowed_hosts.allows("postgres", "db", 5432));
        assert_eq!(app.redis[0].address, "redis://127.0.0.1:6379");
        assert_eq!(app.cron.len(), 1);
    }

    #[test]
    fn may_connect_checks_every_kind_of_address() {
        let text = APP.replace(
            r#"allowed_outbound_hosts = ["postgres://{{ db_host }}"]"#,
            r#"allowed_outbound_hosts = ["postgres://{{ db_host }}", "redis://{{ redis_host }}", "https://*.example.com"]"#,
        );
        let app = load_text(&text, None, &[]).expect("loads");
        let web = &app.components["web"];
        assert_eq!(
            web.allowed_hosts.entries(),
            [
                "postgres://db:5432",
                "redis://127.0.0.1:6379",
                "https://*.example.com"
            ]
        );
        assert_eq!(web.may_connect("postgres://u:p@db:5432/x"), Ok(()));
        assert_eq!(web.may_connect("postgresql://u@db/x"), Ok(()));
        assert_eq!(web.may_connect("host=db port=5432 user=u"), Ok(()));
        assert!(web
            .may_connect("postgres://u@db:5433/x")
            .unwrap_err()
            .contains("postgres://db:5433"));
        assert!(web.may_connect("host=/tmp user=u").is_err());
        assert_eq!(web.may_connect("redis://:secret@127.0.0.1:6379/0"), Ok(()));
        assert!(web.may_connect("redis://127.0.0.1:6380").is_err());
        assert_eq!(web.may_connect("https://auth.example.com/jwks"), Ok(()));
        assert!(web
            .may_connect("http://auth.example.com/jwks")
            .unwrap_err()
            .contains("http://auth.example.com:80"));
        assert!(web.may_connect("not a url").is_err());
        let worker = &app.components["worker"];
        assert!(worker.may_connect("redis://127.0.0.1:6379").is_err());
    }

    #[test]
    fn component_selection_filters_triggers() {
        let app = load_text(APP, None, &["web".to_string()]).expect("loads");
        assert_eq!(app.components.len(), 1);
        assert!(app.redis.is_empty() && app.cron.is_empty());
        assert_eq!(app.http_routes.len(), 1);
        assert!(load_text(APP, None, &["nope".to_string()]).is_err());
    }

    #[test]
    fn undefined_variable_is_an_error() {
        let text = APP.replace("{{ db_host }}/x", "{{ nope }}/x");
        let err = load_text(&text, None, &[]).expect_err("undefined");
        assert!(
            err.to_string().contains("undefined variable 'nope'"),
            "{err}"
        );
    }

    #[test]
    fn unknown_kv_label_is_an_error_unless_configured() {
        let text = APP.replace(
            "key_value_stores = [\"default\"]",
            "key_value_stores = [\"cache\"]",
        );
        let err = load_text(&text, None, &[]).expect_err("unknown label");
        assert!(err.to_string().contains("key-value store 'cache'"), "{err}");
        let app = load_text(
            &text,
            Some("[key_value_store.cache]\ntype = \"redis\"\nurl = \"redis://x\"\n"),
            &[],
        )
        .expect("configured label");
        assert_eq!(app.kv_stores["cache"], KvBackend::Redis("redis://x".into()));
    }

    #[test]
    fn required_variable_without_value_is_an_error() {
        let text = APP.replace(
            "db_host = { default = \"db:5432\" }",
            "db_host = { required = true }",
        );
        let err = load_text(&text, None, &[]).expect_err("missing");
        assert!(err.to_string().contains("'db_host' is required"), "{err}");
    }
}
