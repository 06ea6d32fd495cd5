//! Environment overrides: secrets and deployment settings that may come from the
//! environment instead of the file (SPEC §6.1). The environment wins over the file.
//!
//! Overrides are applied to the parsed value *before* validation, so a bad value from the
//! environment is reported like a bad value in the file (with the variable named). The
//! environment is passed in as a lookup function; nothing here reads the process
//! environment except [`process_env`], which callers hand in explicitly.
//!
//! | variable | sets |
//! |---|---|
//! | `ROSEY_NATS_URL`, else `NATS_URL` | `nats.url` (`embedded`, or URLs separated by commas) |
//! | `ROSEY_NATS_USER` / `ROSEY_NATS_PASSWORD` | `nats.user` / `nats.password` |
//! | `ROSEY_NATS_TOKEN` | `nats.token` |
//! | `ROSEY_NATS_CREDENTIALS` / `ROSEY_NATS_NKEY` | `nats.credentials` / `nats.nkey` (file paths) |
//! | `ROSEY_DATABASE_PATH`, else `DATABASE_PATH` | `database.path` |
//! | `ROSEY_DATABASE_URL`, else `DATABASE_URL` | `database.url` (PostgreSQL) |
//! | `ROSEY_LOG_LEVEL` | `logging.level` |
//! | `ROSEY_<NAME>_PASSWORD`, else `ROSEY_PASSWORD` | the password of `platforms[i].user` whose `name` is NAME |
//!
//! An empty variable counts as unset (`FOO=` in a compose file means "nothing"). A platform
//! password needs a user name in the file: the environment supplies secrets, not identities.

use std::fmt;

use serde_json::{Map, Value};

/// `nats.url`, most specific first.
pub const NATS_URL_VARS: &[&str] = &["ROSEY_NATS_URL", "NATS_URL"];
/// `database.path`, most specific first.
pub const DATABASE_PATH_VARS: &[&str] = &["ROSEY_DATABASE_PATH", "DATABASE_PATH"];
/// `database.url`, most specific first.
pub const DATABASE_URL_VARS: &[&str] = &["ROSEY_DATABASE_URL", "DATABASE_URL"];
/// `nats.user`.
pub const NATS_USER_VAR: &str = "ROSEY_NATS_USER";
/// `nats.password`.
pub const NATS_PASSWORD_VAR: &str = "ROSEY_NATS_PASSWORD";
/// `nats.token`.
pub const NATS_TOKEN_VAR: &str = "ROSEY_NATS_TOKEN";
/// `nats.credentials`.
pub const NATS_CREDENTIALS_VAR: &str = "ROSEY_NATS_CREDENTIALS";
/// `nats.nkey`.
pub const NATS_NKEY_VAR: &str = "ROSEY_NATS_NKEY";
/// `logging.level`.
pub const LOG_LEVEL_VAR: &str = "ROSEY_LOG_LEVEL";
/// The password of every platform user that has no `ROSEY_<NAME>_PASSWORD` of its own.
pub const PASSWORD_VAR: &str = "ROSEY_PASSWORD";

/// Variables with a fixed meaning; a platform name whose password variable would be one of
/// these (a platform called `nats` → `ROSEY_NATS_PASSWORD`) is rejected by validation.
pub const RESERVED_VARS: &[&str] = &[
    "ROSEY_NATS_URL",
    "ROSEY_DATABASE_PATH",
    "ROSEY_DATABASE_URL",
    NATS_USER_VAR,
    NATS_PASSWORD_VAR,
    NATS_TOKEN_VAR,
    NATS_CREDENTIALS_VAR,
    NATS_NKEY_VAR,
    LOG_LEVEL_VAR,
    PASSWORD_VAR,
];

/// One setting taken from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvOverride {
    /// The variable that supplied it.
    pub var: String,
    /// The configuration path it set, e.g. `nats.url` or `platforms[0].user`.
    pub path: String,
}

impl fmt::Display for EnvOverride {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ← {}", self.path, self.var)
    }
}

/// The lookup to pass for the real process environment.
pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// `ROSEY_<NAME>_PASSWORD` for a platform name: upper-cased, every character that is not
/// an ASCII letter or digit replaced by `_`.
pub fn platform_password_var(name: &str) -> String {
    format!("ROSEY_{}_PASSWORD", platform_var_name(name))
}

/// The environment variable that may hold a Matrix platform's access token:
/// `ROSEY_<NAME>_ACCESS_TOKEN`, NAME as in [`platform_password_var`].
pub fn platform_token_var(name: &str) -> String {
    format!("ROSEY_{}_ACCESS_TOKEN", platform_var_name(name))
}

fn platform_var_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Applies every override found through `env` to a parsed configuration and lists what it
/// set. Parts of the tree with the wrong shape are left alone for validation to report.
pub fn apply_env(value: &mut Value, env: impl Fn(&str) -> Option<String>) -> Vec<EnvOverride> {
    let lookup = |var: &str| env(var).filter(|v| !v.trim().is_empty());
    let first = |vars: &[&str]| {
        vars.iter()
            .find_map(|var| lookup(var).map(|v| ((*var).to_owned(), v)))
    };
    let mut applied = Vec::new();
    let Value::Object(top) = value else {
        return applied;
    };

    let mut set =
        |top: &mut Map<String, Value>, section: &str, key: &str, var: String, v: Value| {
            let entry = top
                .entry(section)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(map) = entry {
                map.insert(key.to_owned(), v);
                applied.push(EnvOverride {
                    var,
                    path: format!("{section}.{key}"),
                });
            }
        };

    if let Some((var, url)) = first(NATS_URL_VARS) {
        set(top, "nats", "url", var, nats_url_value(&url));
    }
    for (var, key) in [
        (NATS_USER_VAR, "user"),
        (NATS_PASSWORD_VAR, "password"),
        (NATS_TOKEN_VAR, "token"),
        (NATS_CREDENTIALS_VAR, "credentials"),
        (NATS_NKEY_VAR, "nkey"),
    ] {
        if let Some(v) = lookup(var) {
            set(top, "nats", key, var.to_owned(), Value::String(v));
        }
    }
    if let Some((var, path)) = first(DATABASE_PATH_VARS) {
        set(top, "database", "path", var, Value::String(path));
    }
    if let Some((var, url)) = first(DATABASE_URL_VARS) {
        set(top, "database", "url", var, Value::String(url));
    }
    if let Some(level) = lookup(LOG_LEVEL_VAR) {
        set(
            top,
            "logging",
            "level",
            LOG_LEVEL_VAR.to_owned(),
            Value::String(level),
        );
    }

    if let Some(Value::Array(platforms)) = top.get_mut("platforms") {
        for (i, platform) in platforms.iter_mut().enumerate() {
            let Value::Object(p) = platform else { continue };
            let own_var = p
                .get("name")
                .and_then(Value::as_str)
                .map(platform_password_var);
            let found = own_var
                .and_then(|var| lookup(&var).map(|pw| (var, pw)))
                .or_else(|| lookup(PASSWORD_VAR).map(|pw| (PASSWORD_VAR.to_owned(), pw)));
            let Some((var, password)) = found else {
                continue;
            };
            // Only a user given as [name] or [name, password] can take a password.
            if let Some(Value::Array(user)) = p.get_mut("user")
                && matches!(user.len(), 1 | 2)
                && user[0].is_string()
            {
                user.truncate(1);
                user.push(Value::String(password));
                applied.push(EnvOverride {
                    var,
                    path: format!("platforms[{i}].user"),
                });
            }
        }
    }
    applied
}

/// `NATS_URL` syntax → the value `nats.url` would have in a file.
fn nats_url_value(s: &str) -> Value {
    let urls: Vec<Value> = s
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| Value::String(u.to_owned()))
        .collect();
    match <[Value; 1]>::try_from(urls) {
        Ok([one]) => one,
        Err(many) => Value::Array(many),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn password_variable_names() {
        assert_eq!(platform_password_var("primary"), "ROSEY_PRIMARY_PASSWORD");
        assert_eq!(
            platform_password_var("my-chan 2"),
            "ROSEY_MY_CHAN_2_PASSWORD"
        );
        assert_eq!(platform_password_var("café"), "ROSEY_CAF__PASSWORD");
    }

    #[test]
    fn specific_variable_wins_over_generic() {
        let mut v = json!({"version": "2.0"});
        let env = env_of(&[
            ("ROSEY_NATS_URL", "nats://a:4222"),
            ("NATS_URL", "nats://b:4222"),
            ("DATABASE_PATH", "/data/x.db"),
        ]);
        let applied = apply_env(&mut v, env);
        assert_eq!(v["nats"]["url"], json!("nats://a:4222"));
        assert_eq!(v["database"]["path"], json!("/data/x.db"));
        assert_eq!(
            applied,
            vec![
                EnvOverride {
                    var: "ROSEY_NATS_URL".into(),
                    path: "nats.url".into()
                },
                EnvOverride {
                    var: "DATABASE_PATH".into(),
                    path: "database.path".into()
                },
            ]
        );
    }

    #[test]
    fn nats_url_list_and_empty_values() {
        let mut v = json!({"nats": {"url": "nats://file:4222"}});
        apply_env(&mut v, env_of(&[("NATS_URL", " nats://a:1, nats://b:2 ,")]));
        assert_eq!(v["nats"]["url"], json!(["nats://a:1", "nats://b:2"]));

        let mut v = json!({"nats": {"url": "nats://file:4222"}});
        let applied = apply_env(&mut v, env_of(&[("ROSEY_NATS_URL", "  ")]));
        assert!(applied.is_empty());
        assert_eq!(v["nats"]["url"], json!("nats://file:4222"));
    }

    #[test]
    fn platform_passwords() {
        let mut v = json!({"platforms": [
            {"name": "main", "user": ["Bot", "from-file"]},
            {"name": "other-one", "user": ["Bot2"]},
            {"name": "anon"},
        ]});
        let applied = apply_env(
            &mut v,
            env_of(&[
                ("ROSEY_PASSWORD", "generic"),
                ("ROSEY_OTHER_ONE_PASSWORD", "own"),
            ]),
        );
        assert_eq!(v["platforms"][0]["user"], json!(["Bot", "generic"]));
        assert_eq!(v["platforms"][1]["user"], json!(["Bot2", "own"]));
        assert_eq!(v["platforms"][2].get("user"), None);
        let vars: Vec<&str> = applied.iter().map(|a| a.var.as_str()).collect();
        assert_eq!(vars, ["ROSEY_PASSWORD", "ROSEY_OTHER_ONE_PASSWORD"]);
    }

    #[test]
    fn wrong_shapes_are_left_for_validation() {
        let mut v = json!({"nats": "oops", "platforms": {"x": 1}});
        let before = v.clone();
        let applied = apply_env(
            &mut v,
            env_of(&[("NATS_URL", "nats://a:1"), ("ROSEY_PASSWORD", "p")]),
        );
        assert!(applied.is_empty());
        assert_eq!(v, before);
    }
}
