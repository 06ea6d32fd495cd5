//! Writing a configuration value back out as JSON or YAML for people to read: keys in the
//! documented order (`version` first, then the sections of SPEC §6.1) rather than the
//! alphabetical order `serde_json::Map` iterates in, and short lists kept on one line.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::source::{Format, is_comment_key};

/// The order keys are written in, at every depth; keys not listed follow, alphabetically.
/// Comment keys come before everything, so an explanation sits above what it explains.
const KEY_ORDER: &[&str] = &[
    "version",
    "nats",
    "database",
    "platforms",
    "shell",
    "logging",
    "plugins",
    "llm",
    "legacy",
    "moderation",
    // platforms (first part: these come before `user`, which nats also has)
    "type",
    "name",
    "enabled",
    "domain",
    "channel",
    // nats
    "url",
    "connection_timeout",
    "max_reconnect_attempts",
    "reconnect_delay",
    "user",
    "password",
    "token",
    "credentials",
    "nkey",
    "inbox_prefix",
    "tls",
    "ca",
    "cert",
    "key",
    "required",
    "jetstream",
    "jetstream_options",
    "stream",
    "consumer",
    "max_age",
    "max_bytes",
    "duplicate_window",
    "storage",
    "replicas",
    // database
    "path",
    "url",
    "run_as_service",
    "retention",
    "recent_chat_hours",
    "user_count_history_days",
    "sent_outbound_days",
    // platforms (after `user`)
    "response_timeout",
    "restart_delay",
    "proxy",
    "retry",
    "retry_delay",
    // shell
    "min_rank",
    // logging
    "level",
    "format",
    "chat_log_file",
    "media_log_file",
];

/// Lists shorter than this (as one line) that hold only scalars are written on one line.
const INLINE_LIST_MAX: usize = 60;

fn ordered(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by_key(|(k, _)| {
        let rank = if is_comment_key(k) {
            0
        } else {
            KEY_ORDER
                .iter()
                .position(|known| known == k)
                .map_or(KEY_ORDER.len() + 1, |i| i + 1)
        };
        (rank, (*k).clone())
    });
    entries
}

/// Renders `value` in `format`, with a trailing newline.
pub fn render(value: &Value, format: Format) -> String {
    match format {
        Format::Json => to_pretty_json(value),
        Format::Yaml => to_yaml(value),
    }
}

/// Pretty JSON, two-space indent, documented key order, trailing newline.
pub fn to_pretty_json(value: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, value, 0);
    out.push('\n');
    out
}

fn write_json(out: &mut String, value: &Value, depth: usize) {
    let pad = |n: usize| "  ".repeat(n);
    match value {
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Object(map) => {
            out.push_str("{\n");
            let entries = ordered(map);
            for (i, (k, v)) in entries.iter().enumerate() {
                let _ = write!(out, "{}{}: ", pad(depth + 1), Value::String((*k).clone()));
                write_json(out, v, depth + 1);
                out.push_str(if i + 1 < entries.len() { ",\n" } else { "\n" });
            }
            let _ = write!(out, "{}}}", pad(depth));
        }
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Array(items) => {
            let scalars = items.iter().all(|v| !v.is_object() && !v.is_array());
            let inline = scalars.then(|| {
                let parts: Vec<String> = items.iter().map(Value::to_string).collect();
                format!("[{}]", parts.join(", "))
            });
            match inline {
                Some(line) if line.len() < INLINE_LIST_MAX => out.push_str(&line),
                _ => {
                    out.push_str("[\n");
                    for (i, v) in items.iter().enumerate() {
                        out.push_str(&pad(depth + 1));
                        write_json(out, v, depth + 1);
                        out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                    }
                    let _ = write!(out, "{}]", pad(depth));
                }
            }
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// YAML in the documented key order.
pub fn to_yaml(value: &Value) -> String {
    // serde_norway's own mapping keeps insertion order, so converting through it (rather
    // than serialising the JSON map directly) preserves the order chosen above.
    serde_norway::to_string(&to_yaml_value(value)).unwrap_or_default()
}

fn to_yaml_value(value: &Value) -> serde_norway::Value {
    use serde_norway::Value as Y;
    match value {
        Value::Null => Y::Null,
        Value::Bool(b) => Y::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Y::Number(i.into())
            } else if let Some(u) = n.as_u64() {
                Y::Number(u.into())
            } else {
                Y::Number(n.as_f64().unwrap_or(f64::NAN).into())
            }
        }
        Value::String(s) => Y::String(s.clone()),
        Value::Array(items) => Y::Sequence(items.iter().map(to_yaml_value).collect()),
        Value::Object(map) => {
            let mut m = serde_norway::Mapping::new();
            for (k, v) in ordered(map) {
                m.insert(Y::String(k.clone()), to_yaml_value(v));
            }
            Y::Mapping(m)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::source::parse_text;

    fn sample() -> Value {
        json!({
            "zeta": 1, "version": "2.0", "_comment": "hi",
            "platforms": [{"user": ["Bot", "pw"], "name": "primary", "type": "cytube"}],
            "nats": {"url": ["nats://aaaaaaaaaaaaaaaaaaaa:4222", "nats://bbbbbbbbbbbbbbbbbbbbbbbbb:4222"]},
            "empty": {}, "none": [],
        })
    }

    #[test]
    fn json_output_parses_back_to_the_same_value_in_documented_order() {
        let text = to_pretty_json(&sample());
        assert_eq!(parse_text(&text, Format::Json).unwrap(), sample());
        let pos = |needle: &str| text.find(needle).unwrap();
        assert!(pos("_comment") < pos("\"version\""));
        assert!(pos("\"version\"") < pos("\"nats\""));
        assert!(pos("\"nats\"") < pos("\"platforms\""));
        assert!(pos("\"type\"") < pos("\"name\""));
        assert!(pos("\"name\"") < pos("\"user\""));
        assert!(pos("\"platforms\"") < pos("\"zeta\""));
        assert!(text.contains(r#""user": ["Bot", "pw"]"#), "{text}");
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn yaml_output_parses_back_to_the_same_value_in_documented_order() {
        let text = to_yaml(&sample());
        assert_eq!(parse_text(&text, Format::Yaml).unwrap(), sample());
        assert!(
            text.find("version").unwrap() < text.find("nats").unwrap(),
            "{text}"
        );
    }
}
