//! Secret redaction for anything a human or a log will see (`rosey config check --print`).
//!
//! Redacts the known secret fields (NATS password and token, platform user and channel
//! passwords), the password part of NATS URLs, and — because `llm` and `legacy` are free
//! form — any string under a key that looks like a secret.

use serde_json::Value;

/// What a redacted secret is replaced with.
pub const REDACTED: &str = "<redacted>";

/// Key fragments that mark a free-form value as secret.
const SECRET_KEY_PARTS: &[&str] = &["password", "passwd", "secret", "token", "api_key", "apikey"];

/// Replaces every secret in a configuration value, in place.
pub fn redact(value: &mut Value) {
    redact_secret_keys(value);
    if let Some(nats) = value.get_mut("nats") {
        match nats.get_mut("url") {
            Some(Value::String(url)) => *url = redact_url(url),
            Some(Value::Array(urls)) => {
                for url in urls.iter_mut() {
                    if let Value::String(u) = url {
                        *u = redact_url(u);
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(Value::Array(platforms)) = value.get_mut("platforms") {
        for p in platforms {
            for key in ["user", "channel"] {
                // The second element of [name, password] is the secret.
                if let Some(Value::Array(pair)) = p.get_mut(key)
                    && let Some(secret) = pair.get_mut(1)
                {
                    *secret = Value::String(REDACTED.to_owned());
                }
            }
        }
    }
}

fn redact_secret_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                let lower = key.to_ascii_lowercase();
                if v.is_string() && SECRET_KEY_PARTS.iter().any(|part| lower.contains(part)) {
                    *v = Value::String(REDACTED.to_owned());
                } else {
                    redact_secret_keys(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_secret_keys),
        _ => {}
    }
}

/// `nats://user:pw@host` → `nats://user:<redacted>@host`; `nats://token@host` →
/// `nats://<redacted>@host`; a URL without user info is returned as is. Use it whenever a
/// server URL goes into a log line.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    let shown = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:{REDACTED}"),
        None => REDACTED.to_owned(),
    };
    format!("{scheme}://{shown}@{host}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_kind_of_secret_is_redacted() {
        let mut v = json!({
            "nats": {"url": ["nats://u:pw@a:4222", "nats://tok@b:4222", "nats://c:4222"],
                     "password": "np", "token": "nt", "user": "nu"},
            "platforms": [{"name": "x", "user": ["Bot", "upw"], "channel": ["Chan", "cpw"]},
                          {"name": "y", "user": ["Guest"], "channel": "Open"}],
            "llm": {"openai": {"api_key": "sk-1"}, "model": "m"},
        });
        redact(&mut v);
        let r = REDACTED;
        assert_eq!(
            v,
            json!({
                "nats": {"url": [format!("nats://u:{r}@a:4222"), format!("nats://{r}@b:4222"), "nats://c:4222"],
                         "password": r, "token": r, "user": "nu"},
                "platforms": [{"name": "x", "user": ["Bot", r], "channel": ["Chan", r]},
                              {"name": "y", "user": ["Guest"], "channel": "Open"}],
                "llm": {"openai": {"api_key": r}, "model": "m"},
            })
        );
    }
}
