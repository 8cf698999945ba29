//! Application variables: `{{ name }}` templates, providers (`SPIN_VARIABLE_*` environment
//! variables and a `.env` file), and the per-component view `variables::get` sees.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::manifest::VariableDecl;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum VariableError {
    #[error("invalid template '{template}': {reason}")]
    BadTemplate { template: String, reason: String },
    #[error("template '{template}' references undefined variable '{name}'")]
    Undefined { template: String, name: String },
    #[error("variable '{0}' is required but has no value (set {1} or add it to .env)")]
    MissingRequired(String, String),
    #[error("cannot read {path}: {reason}")]
    DotEnv { path: String, reason: String },
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Literal(String),
    Variable(String),
}

/// Parses `"postgres://{{ user }}@{{host}}/db"` into literal and variable parts.
pub fn parse_template(template: &str) -> Result<Vec<Part>, VariableError> {
    let bad = |reason: &str| VariableError::BadTemplate {
        template: template.to_string(),
        reason: reason.to_string(),
    };
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            parts.push(Part::Literal(rest[..start].to_string()));
        }
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| bad("unclosed '{{'"))?;
        let name = after[..end].trim();
        if name.is_empty() {
            return Err(bad("empty variable reference"));
        }
        crate::manifest::check_variable_name(name).map_err(|_| bad("invalid variable name"))?;
        parts.push(Part::Variable(name.to_string()));
        rest = &after[end + 2..];
    }
    if rest.contains("}}") {
        return Err(bad("unmatched '}}'"));
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest.to_string()));
    }
    Ok(parts)
}

/// Expands a template against resolved application variables.
pub fn expand(template: &str, values: &HashMap<String, String>) -> Result<String, VariableError> {
    let mut out = String::new();
    for part in parse_template(template)? {
        match part {
            Part::Literal(s) => out.push_str(&s),
            Part::Variable(name) => match values.get(&name) {
                Some(v) => out.push_str(v),
                None => {
                    return Err(VariableError::Undefined {
                        template: template.to_string(),
                        name,
                    })
                }
            },
        }
    }
    Ok(out)
}

/// An environment-variable provider: `<PREFIX>_<NAME>` from the process environment, then the
/// dotenv file.
#[derive(Debug, Clone)]
pub struct EnvProvider {
    pub prefix: String,
    pub dotenv: HashMap<String, String>,
}

impl EnvProvider {
    /// `prefix` defaults to `SPIN_VARIABLE`; `dotenv_path` (relative to the working directory)
    /// defaults to `.env`, which may be absent.
    pub fn new(prefix: Option<&str>, dotenv_path: Option<&Path>) -> Result<Self, VariableError> {
        let path = dotenv_path.unwrap_or_else(|| Path::new(".env"));
        let mut dotenv = HashMap::new();
        if path.exists() {
            let iter = dotenvy::from_path_iter(path).map_err(|e| VariableError::DotEnv {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            for item in iter {
                let (k, v) = item.map_err(|e| VariableError::DotEnv {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                dotenv.insert(k, v);
            }
        }
        Ok(Self {
            prefix: prefix.unwrap_or("SPIN_VARIABLE").to_string(),
            dotenv,
        })
    }

    fn key(&self, name: &str) -> String {
        format!("{}_{}", self.prefix, name.to_ascii_uppercase())
    }

    fn get(&self, name: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        let key = self.key(name);
        env(&key).or_else(|| self.dotenv.get(&key).cloned())
    }
}

/// Resolves every application variable: providers first (in order), then the default.
pub fn resolve_app_variables(
    decls: &BTreeMap<String, VariableDecl>,
    providers: &[EnvProvider],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<HashMap<String, String>, VariableError> {
    let mut values = HashMap::new();
    for (name, decl) in decls {
        let provided = providers.iter().find_map(|p| p.get(name, env));
        let value = match (provided, &decl.default) {
            (Some(v), _) => v,
            (None, Some(d)) => d.clone(),
            (None, None) => {
                let hint = providers
                    .first()
                    .map(|p| p.key(name))
                    .unwrap_or_else(|| name.to_string());
                return Err(VariableError::MissingRequired(name.clone(), hint));
            }
        };
        values.insert(name.clone(), value);
    }
    Ok(values)
}

/// Checks that every variable a template references is declared (without resolving).
pub fn check_template_refs(
    template: &str,
    declared: &BTreeMap<String, VariableDecl>,
) -> Result<(), VariableError> {
    for part in parse_template(template)? {
        if let Part::Variable(name) = part {
            if !declared.contains_key(&name) {
                return Err(VariableError::Undefined {
                    template: template.to_string(),
                    name,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(default: Option<&str>, required: bool) -> VariableDecl {
        VariableDecl {
            default: default.map(str::to_string),
            required,
            secret: false,
        }
    }

    #[test]
    fn parses_templates() {
        assert_eq!(
            parse_template("postgres://{{ user }}@{{host}}/db").unwrap(),
            vec![
                Part::Literal("postgres://".into()),
                Part::Variable("user".into()),
                Part::Literal("@".into()),
                Part::Variable("host".into()),
                Part::Literal("/db".into()),
            ]
        );
        assert_eq!(
            parse_template("plain").unwrap(),
            vec![Part::Literal("plain".into())]
        );
        assert!(parse_template("{{ open").is_err());
        assert!(parse_template("{{ }}").is_err());
        assert!(parse_template("{{ Bad }}").is_err());
        assert!(parse_template("x }}").is_err());
    }

    #[test]
    fn expands_and_reports_undefined() {
        let values = HashMap::from([("host".to_string(), "db:5432".to_string())]);
        assert_eq!(
            expand("pg://{{ host }}/x", &values).unwrap(),
            "pg://db:5432/x"
        );
        assert_eq!(
            expand("{{ nope }}", &values).unwrap_err(),
            VariableError::Undefined {
                template: "{{ nope }}".into(),
                name: "nope".into()
            }
        );
    }

    #[test]
    fn env_beats_dotenv_beats_default_and_required_must_be_set() {
        let decls = BTreeMap::from([
            ("a".to_string(), decl(Some("da"), false)),
            ("b".to_string(), decl(Some("db"), false)),
            ("c".to_string(), decl(None, true)),
        ]);
        let provider = EnvProvider {
            prefix: "SPIN_VARIABLE".into(),
            dotenv: HashMap::from([
                ("SPIN_VARIABLE_A".to_string(), "dotenv-a".to_string()),
                ("SPIN_VARIABLE_C".to_string(), "dotenv-c".to_string()),
            ]),
        };
        let env = |k: &str| (k == "SPIN_VARIABLE_A").then(|| "env-a".to_string());
        let values = resolve_app_variables(&decls, std::slice::from_ref(&provider), &env).unwrap();
        assert_eq!(values["a"], "env-a");
        assert_eq!(values["b"], "db");
        assert_eq!(values["c"], "dotenv-c");

        let empty = EnvProvider {
            prefix: "SPIN_VARIABLE".into(),
            dotenv: HashMap::new(),
        };
        let err = resolve_app_variables(&decls, &[empty], &|_| None).unwrap_err();
        assert!(matches!(err, VariableError::MissingRequired(ref n, _) if n == "c"));
    }

    #[test]
    fn template_refs_must_be_declared() {
        let decls = BTreeMap::from([("a".to_string(), decl(Some("x"), false))]);
        assert!(check_template_refs("{{ a }}", &decls).is_ok());
        assert!(check_template_refs("{{ b }}", &decls).is_err());
    }
}
