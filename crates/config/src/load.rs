//! The loading pipeline: read → parse → reject v1 → strip comments → aliases → environment
//! overrides → validate → type. Each step is its own module; this one only strings them
//! together and turns their results into [`ConfigError`]s.

use std::path::Path;

use serde_json::Value;

use crate::{
    aliases,
    env::{self, EnvOverride},
    error::ConfigError,
    model::Config,
    source::{self, Format, Generation},
    validate::{Problem, validate},
};

/// What was used for text that did not come from a file.
const TEXT_ORIGIN: &str = "<config>";

/// A loaded configuration and the settings the environment supplied.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The effective configuration.
    pub config: Config,
    /// What the environment overrode, in the order applied (for `--print` and a log line;
    /// holds variable names and paths, never values).
    pub overrides: Vec<EnvOverride>,
}

/// Loads `path` (format from its extension) with overrides looked up through `env`.
pub fn load_file(path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    load_text(
        &text,
        Format::from_path(path),
        &path.display().to_string(),
        env,
    )
}

/// Loads configuration text; `origin` names it in messages.
pub fn load_text(
    text: &str,
    format: Format,
    origin: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigError> {
    let value = source::parse_text(text, format).map_err(|error| ConfigError::Syntax {
        origin: origin.to_owned(),
        error,
    })?;
    load_value(value, origin, env)
}

/// Loads an already-parsed value; `origin` names it in messages.
pub fn load_value(
    mut value: Value,
    origin: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigError> {
    if source::generation(&value) == Generation::V1 {
        return Err(ConfigError::LegacyV1 {
            origin: origin.to_owned(),
        });
    }
    source::strip_comments(&mut value);
    if let Value::Object(top) = &mut value {
        // Names the schema for editors; nothing to load.
        top.remove(crate::schema::SCHEMA_KEY);
    }
    let (renamed, mut problems) = aliases::apply(&mut value);
    let overrides = env::apply_env(&mut value, env);
    problems.extend(validate(&value));
    if !problems.is_empty() {
        for p in &mut problems {
            note_env_source(p, &overrides);
            if !overrides.iter().any(|o| o.path == p.path) {
                renamed.iter().for_each(|r| r.report_at_alias(p));
            }
        }
        return Err(ConfigError::Invalid {
            origin: origin.to_owned(),
            problems,
        });
    }
    drop_nulls(&mut value);
    // The rules above cover every field they know; a field added to the types without a
    // rule is still checked here, by its type, and reported at its path.
    match serde_path_to_error::deserialize::<_, Config>(value) {
        Ok(config) => Ok(Loaded { config, overrides }),
        Err(e) => {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            Err(ConfigError::Invalid {
                origin: origin.to_owned(),
                problems: vec![Problem::new(path, e.into_inner().to_string())],
            })
        }
    }
}

/// Validation reads `"key": null` as "not set" (YAML's `key:` with nothing after it is
/// null, and so are `.nan`/`.inf` once in JSON); serde only applies a field's default when
/// the key is absent, so remove such keys before typing. `llm` and `legacy` are free-form
/// and kept exactly as written.
fn drop_nulls(value: &mut Value) {
    fn walk(value: &mut Value) {
        match value {
            Value::Object(map) => {
                map.retain(|_, v| !v.is_null());
                map.values_mut().for_each(walk);
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    if let Value::Object(top) = value {
        top.retain(|_, v| !v.is_null());
        for (key, v) in top.iter_mut() {
            if key != "llm" && key != "legacy" {
                walk(v);
            }
        }
    }
}

/// A bad value that came from the environment says so: the file is not where to look.
fn note_env_source(problem: &mut Problem, overrides: &[EnvOverride]) {
    let from_env = overrides.iter().rev().find(|o| {
        problem.path == o.path
            || problem.path.starts_with(&format!("{}.", o.path))
            || problem.path.starts_with(&format!("{}[", o.path))
    });
    if let Some(o) = from_env {
        problem.message.push_str(&format!(" (set by {})", o.var));
    }
}

impl Config {
    /// Loads and validates a file, ignoring the environment.
    pub fn from_path(path: &Path) -> Result<Config, ConfigError> {
        load_file(path, |_| None).map(|l| l.config)
    }

    /// Loads and validates a file with the process environment's overrides: what the
    /// binary uses.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        load_file(path, env::process_env).map(|l| l.config)
    }

    /// Loads and validates a file with overrides looked up through `env` (tests pass a map).
    pub fn load_with_env(
        path: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        load_file(path, env).map(|l| l.config)
    }

    /// Parses and validates text in a known format, ignoring the environment.
    pub fn from_str_with_format(text: &str, format: Format) -> Result<Config, ConfigError> {
        load_text(text, format, TEXT_ORIGIN, |_| None).map(|l| l.config)
    }

    /// Validates an already-parsed value, ignoring the environment.
    pub fn from_value(value: Value) -> Result<Config, ConfigError> {
        load_value(value, TEXT_ORIGIN, |_| None).map(|l| l.config)
    }

    /// Applies environment overrides to a configuration already in hand (for example
    /// `Config::default()` when a command runs without a file) and re-validates it.
    /// On error `self` is unchanged.
    pub fn apply_env(
        &mut self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Vec<EnvOverride>, ConfigError> {
        let loaded = load_value(self.to_value(), "environment", env)?;
        *self = loaded.config;
        Ok(loaded.overrides)
    }
}
