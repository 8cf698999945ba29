//! `runtime-config.toml` (only when passed with `--runtime-config-file`): key-value stores and
//! variable providers. Unknown keys are errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeConfigError {
    #[error("cannot read runtime config {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid runtime config {path}: {message}")]
    Parse { path: String, message: String },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    #[serde(default)]
    pub key_value_store: BTreeMap<String, KeyValueStoreConfig>,
    #[serde(default)]
    pub variables_provider: Vec<VariablesProviderConfig>,
    /// Directory relative paths are resolved against (the file's directory).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum KeyValueStoreConfig {
    /// SQLite file.
    Spin {
        #[serde(default)]
        path: Option<PathBuf>,
    },
    Redis {
        url: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum VariablesProviderConfig {
    Env {
        #[serde(default)]
        prefix: Option<String>,
        #[serde(default)]
        dotenv_path: Option<PathBuf>,
    },
}

impl RuntimeConfig {
    pub fn load(path: &Path) -> Result<Self, RuntimeConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| RuntimeConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut config = Self::parse(&text).map_err(|message| RuntimeConfigError::Parse {
            path: path.display().to_string(),
            message,
        })?;
        config.base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(config)
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stores_and_providers() {
        let c = RuntimeConfig::parse(
            r#"
[key_value_store.default]
type = "redis"
url = "redis://127.0.0.1:6379"

[key_value_store.cache]
type = "spin"
path = "cache.db"

[[variables_provider]]
type = "env"
prefix = "TODO"
"#,
        )
        .expect("valid");
        assert!(matches!(
            c.key_value_store["default"],
            KeyValueStoreConfig::Redis { .. }
        ));
        assert!(matches!(
            c.key_value_store["cache"],
            KeyValueStoreConfig::Spin { .. }
        ));
        assert_eq!(c.variables_provider.len(), 1);
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(RuntimeConfig::parse("[llm_compute]\ntype = \"spin\"\n").is_err());
        assert!(RuntimeConfig::parse(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://x\"\nextra = 1\n"
        )
        .is_err());
        assert!(
            RuntimeConfig::parse("[key_value_store.default]\ntype = \"azure_cosmos\"\n").is_err()
        );
    }
}
