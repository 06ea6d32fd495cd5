//! Writing a configuration value back out as JSON or YAML for people to read: keys in the
//! documented order rather than the alphabetical order `serde_json::Map` iterates in, and
//! short lists kept on one line.
//!
//! The documented order is the order the serde types declare their fields in, read from the
//! generated schema ([`crate::schema::order`]): `version` first, then the sections of SPEC
//! §6.1, and within each object its fields in declaration order. Comment keys come before
//! everything, so an explanation sits above what it explains; keys the schema does not name
//! (free-form `llm`/`legacy` contents, unknown keys) follow, alphabetically.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::source::{Format, is_comment_key};

/// Lists shorter than this (as one line) that hold only scalars are written on one line.
const INLINE_LIST_MAX: usize = 60;

/// The entries of the object at schema path `path` (see [`crate::schema`]) in the order
/// they are written.
fn ordered<'a>(map: &'a Map<String, Value>, path: &str) -> Vec<(&'a String, &'a Value)> {
    let order = crate::schema::order(path);
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by_key(|(k, _)| {
        let rank = if is_comment_key(k) {
            0
        } else {
            order
                .iter()
                .position(|known| known == k)
                .map_or(order.len() + 1, |i| i + 1)
        };
        (rank, (*k).clone())
    });
    entries
}

/// The schema path of `key` inside the object at `path`.
fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Renders `value` in `format`, with a trailing newline.
pub fn render(value: &Value, format: Format) -> String {
    match format {
        Format::Json => to_pretty_json(value),
        Format::Yaml => to_yaml(value),
    }
}

impl crate::model::Config {
    /// [`Config::to_redacted_value`](crate::model::Config::to_redacted_value) as pretty JSON,
    /// keys in the documented order. (Here, not in `model`, so that the model depends on
    /// neither the renderer nor the schema that orders it.)
    pub fn to_redacted_json(&self) -> String {
        to_pretty_json(&self.to_redacted_value())
    }
}

/// Pretty JSON, two-space indent, documented key order, trailing newline.
pub fn to_pretty_json(value: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, value, 0, "");
    out.push('\n');
    out
}

fn write_json(out: &mut String, value: &Value, depth: usize, path: &str) {
    let pad = |n: usize| "  ".repeat(n);
    match value {
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Object(map) => {
            out.push_str("{\n");
            let entries = ordered(map, path);
            for (i, (k, v)) in entries.iter().enumerate() {
                let _ = write!(out, "{}{}: ", pad(depth + 1), Value::String((*k).clone()));
                write_json(out, v, depth + 1, &child(path, k));
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
                        write_json(out, v, depth + 1, &format!("{path}[]"));
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
    serde_norway::to_string(&to_yaml_value(value, "")).unwrap_or_default()
}

fn to_yaml_value(value: &Value, path: &str) -> serde_norway::Value {
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
        Value::Array(items) => {
            let item_path = format!("{path}[]");
            Y::Sequence(items.iter().map(|v| to_yaml_value(v, &item_path)).collect())
        }
        Value::Object(map) => {
            let mut m = serde_norway::Mapping::new();
            for (k, v) in ordered(map, path) {
                m.insert(Y::String(k.clone()), to_yaml_value(v, &child(path, k)));
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
