//! `spin.toml` (manifest version 2): the subset the host supports, parsed strictly.
//!
//! Every table denies unknown fields, so a typo or a feature the host does not implement is
//! a start-up error instead of being silently ignored.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read manifest {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid manifest {path}: {message}")]
    Parse { path: String, message: String },
    #[error("invalid manifest: {0}")]
    Invalid(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub spin_manifest_version: u32,
    pub application: Application,
    #[serde(default)]
    pub variables: BTreeMap<String, VariableDecl>,
    #[serde(default)]
    pub trigger: Triggers,
    #[serde(default)]
    pub component: BTreeMap<String, Component>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
// Some fields are parsed only so that the manifest is validated strictly.
#[allow(dead_code)]
pub struct Application {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub trigger: AppTriggerConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppTriggerConfig {
    #[serde(default)]
    pub http: Option<AppHttpConfig>,
    #[serde(default)]
    pub redis: Option<AppRedisConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppHttpConfig {
    #[serde(default = "default_base")]
    pub base: String,
}

fn default_base() -> String {
    "/".to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppRedisConfig {
    pub address: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
// Some fields are parsed only so that the manifest is validated strictly.
#[allow(dead_code)]
pub struct VariableDecl {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    #[serde(default)]
    pub http: Vec<HttpTrigger>,
    #[serde(default)]
    pub redis: Vec<RedisTrigger>,
    #[serde(default)]
    pub cron: Vec<CronTrigger>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
// Some fields are parsed only so that the manifest is validated strictly.
#[allow(dead_code)]
pub struct HttpTrigger {
    #[serde(default)]
    pub id: Option<String>,
    pub route: String,
    pub component: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
// Some fields are parsed only so that the manifest is validated strictly.
#[allow(dead_code)]
pub struct RedisTrigger {
    #[serde(default)]
    pub id: Option<String>,
    pub channel: String,
    pub component: String,
    #[serde(default)]
    pub address: Option<String>,
}

/// The cron trigger plugin accepts `component` and `cron_expression` only.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronTrigger {
    pub component: String,
    pub cron_expression: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
// Some fields are parsed only so that the manifest is validated strictly.
#[allow(dead_code)]
pub struct Component {
    pub source: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub build: Option<BuildConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
// Some fields are parsed only so that the manifest is validated strictly.
#[allow(dead_code)]
pub struct BuildConfig {
    pub command: String,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub watch: Vec<String>,
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|e| match e {
            ManifestError::Parse { message, .. } => ManifestError::Parse {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| ManifestError::Parse {
            path: String::new(),
            message: e.to_string(),
        })?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Structural checks Spin performs at load time.
    fn validate(&self) -> Result<(), ManifestError> {
        if self.spin_manifest_version != 2 {
            return Err(ManifestError::Invalid(format!(
                "spin_manifest_version must be 2, got {}",
                self.spin_manifest_version
            )));
        }
        for name in self.variables.keys() {
            check_variable_name(name)?;
        }
        for (name, decl) in &self.variables {
            if decl.required && decl.default.is_some() {
                return Err(ManifestError::Invalid(format!(
                    "variable '{name}' cannot be both required and have a default"
                )));
            }
            if !decl.required && decl.default.is_none() {
                return Err(ManifestError::Invalid(format!(
                    "variable '{name}' must either have a default or be required"
                )));
            }
        }
        for (id, component) in &self.component {
            check_component_id(id)?;
            for key in component.variables.keys() {
                check_variable_name(key)?;
            }
            for label in &component.key_value_stores {
                if label.is_empty() {
                    return Err(ManifestError::Invalid(format!(
                        "component '{id}': empty key-value store label"
                    )));
                }
            }
        }
        let known = |c: &str| self.component.contains_key(c);
        for t in &self.trigger.http {
            if !known(&t.component) {
                return Err(ManifestError::Invalid(format!(
                    "HTTP trigger for route '{}' names unknown component '{}'",
                    t.route, t.component
                )));
            }
        }
        for t in &self.trigger.redis {
            if !known(&t.component) {
                return Err(ManifestError::Invalid(format!(
                    "Redis trigger for channel '{}' names unknown component '{}'",
                    t.channel, t.component
                )));
            }
        }
        for t in &self.trigger.cron {
            if !known(&t.component) {
                return Err(ManifestError::Invalid(format!(
                    "cron trigger names unknown component '{}'",
                    t.component
                )));
            }
        }
        Ok(())
    }
}

/// Spin variable names: lower-case ASCII letters, digits and underscores, starting with a letter.
pub fn check_variable_name(name: &str) -> Result<(), ManifestError> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.ends_with('_')
        && !name.contains("__");
    if ok {
        Ok(())
    } else {
        Err(ManifestError::Invalid(format!(
            "invalid variable name '{name}': use lower-case letters, digits and single underscores, starting with a letter"
        )))
    }
}

/// Component ids are kebab-case: lower-case letters and digits, words separated by single `-`.
fn check_component_id(id: &str) -> Result<(), ManifestError> {
    let ok = !id.is_empty()
        && id.split('-').all(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && id.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    if ok {
        Ok(())
    } else {
        Err(ManifestError::Invalid(format!(
            "invalid component id '{id}': use kebab-case (lower-case letters and digits, words separated by '-')"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
spin_manifest_version = 2
[application]
name = "t"
[[trigger.http]]
route = "/..."
component = "web"
[component.web]
source = "web.wasm"
"#;

    #[test]
    fn parses_minimal_manifest() {
        let m = Manifest::parse(MINIMAL).expect("valid manifest");
        assert_eq!(m.trigger.http.len(), 1);
        assert_eq!(m.component["web"].source, "web.wasm");
    }

    #[test]
    fn unknown_field_is_an_error() {
        let text = MINIMAL.replace("source = \"web.wasm\"", "source = \"web.wasm\"\nfiles = []");
        let err = Manifest::parse(&text).expect_err("unknown field");
        assert!(err.to_string().contains("unknown field `files`"), "{err}");
        let text = MINIMAL.replace("name = \"t\"", "name = \"t\"\nflavour = \"x\"");
        assert!(Manifest::parse(&text).is_err());
    }

    #[test]
    fn cron_trigger_accepts_nothing_else() {
        let text = format!(
            "{MINIMAL}\n[[trigger.cron]]\ncomponent = \"web\"\ncron_expression = \"* * * * * *\"\nid = \"x\"\n"
        );
        assert!(Manifest::parse(&text).is_err());
    }

    #[test]
    fn trigger_for_unknown_component_is_an_error() {
        let text = MINIMAL.replace("component = \"web\"", "component = \"nope\"");
        let err = Manifest::parse(&text).expect_err("unknown component");
        assert!(err.to_string().contains("unknown component 'nope'"));
    }

    #[test]
    fn variable_names_are_checked() {
        assert!(check_variable_name("db_url").is_ok());
        assert!(check_variable_name("a1").is_ok());
        assert!(check_variable_name("DB_URL").is_err());
        assert!(check_variable_name("1a").is_err());
        assert!(check_variable_name("a-b").is_err());
        assert!(check_variable_name("").is_err());
    }

    #[test]
    fn wrong_version_is_an_error() {
        let text = MINIMAL.replace("spin_manifest_version = 2", "spin_manifest_version = 1");
        assert!(Manifest::parse(&text).is_err());
    }
}
