//! Text → JSON value: format detection, JSON/YAML parsing with line and column on syntax
//! errors, comment-key stripping, and recognising which version a file is.
//!
//! Everything here works on `serde_json::Value`, before any typing or validation, so the
//! validator and the migration see the same tree whatever the file format.

use std::{fmt, path::Path};

use serde_json::Value;

use crate::defaults as d;

/// A configuration file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.json` (and anything not named `.yaml`/`.yml`).
    Json,
    /// `.yaml` or `.yml`.
    Yaml,
}

impl Format {
    /// The format a file name implies: YAML for `.yaml`/`.yml`, JSON otherwise.
    pub fn from_path(path: &Path) -> Self {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("yaml" | "yml") => Format::Yaml,
            _ => Format::Json,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Json => "JSON",
            Format::Yaml => "YAML",
        })
    }
}

/// A syntax error, located (1-based line and column) when the parser knows where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Which parser complained.
    pub format: Format,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub column: usize,
    /// The parser's description, without its own location suffix.
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "invalid {} at line {}, column {}: {}",
                self.format, self.line, self.column, self.message
            )
        } else {
            write!(f, "invalid {}: {}", self.format, self.message)
        }
    }
}

/// Parses `text` as `format` into a JSON value. Comment keys are kept (see
/// [`strip_comments`]) because the migration must not drop them.
pub fn parse_text(text: &str, format: Format) -> Result<Value, SyntaxError> {
    // Some Windows editors start UTF-8 files with a byte-order mark; it is not content.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match format {
        Format::Json => serde_json::from_str(text).map_err(|e| SyntaxError {
            format,
            line: e.line(),
            // serde_json counts the column of the offending character from 1, but reports 0
            // at the very start of a line (e.g. an empty file); show that as column 1.
            column: e.column().max(1),
            message: strip_location_suffix(&e.to_string()),
        }),
        Format::Yaml => serde_norway::from_str(text).map_err(|e| {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            SyntaxError {
                format,
                line,
                column,
                message: strip_location_suffix(&e.to_string()),
            }
        }),
    }
}

/// Both parsers append their own " at line L column C"; we report the location in our own
/// words, so drop theirs rather than say it twice.
fn strip_location_suffix(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// True for keys the loader ignores: `_comment…` and `_note…` (SPEC §6.1).
pub fn is_comment_key(key: &str) -> bool {
    key.starts_with("_comment") || key.starts_with("_note")
}

/// Removes comment keys at every depth, including inside lists of objects.
pub fn strip_comments(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !is_comment_key(k));
            map.values_mut().for_each(strip_comments);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_comments),
        _ => {}
    }
}

/// True for the accepted spellings of version 2: `"2.0"`, `"2"`, `2`, `2.0`.
pub fn is_v2_version(v: &Value) -> bool {
    match v {
        Value::String(s) => matches!(s.trim(), "2" | "2.0"),
        Value::Number(n) => n.as_f64() == Some(2.0),
        _ => false,
    }
}

fn is_v1_version(v: &Value) -> bool {
    match v {
        Value::String(s) => matches!(s.trim(), "1" | "1.0"),
        Value::Number(n) => n.as_f64() == Some(1.0),
        _ => false,
    }
}

/// Top-level keys that only a v1 (flat) file has. `shell` and `llm` are not here: v2 has
/// keys of the same names.
pub const V1_ONLY_KEYS: &[&str] = &[
    "domain",
    "channel",
    "user",
    "response_timeout",
    "restart_delay",
    "log_level",
    "chat_log_file",
    "media_log_file",
    "db",
    "proxy",
    "retry",
    "retry_delay",
    // The v0.5 documents' spelling of the first two: `platform: "cytube"`, `server: <URL>`.
    "platform",
    "server",
];

/// Which configuration generation a parsed file belongs to.
#[derive(Debug, Clone, PartialEq)]
pub enum Generation {
    /// `version` is 2.
    V2,
    /// The legacy flat layout: no `version` (or version 1) and v1 keys at the top.
    V1,
    /// A `version` this build does not know.
    Unknown(Value),
    /// No `version` and nothing recognisably v1 (or not an object at all).
    Unversioned,
}

/// Classifies a parsed file.
pub fn generation(value: &Value) -> Generation {
    let Value::Object(map) = value else {
        return Generation::Unversioned;
    };
    match map.get("version") {
        Some(v) if is_v2_version(v) => Generation::V2,
        Some(v) if is_v1_version(v) => Generation::V1,
        Some(v) => Generation::Unknown(v.clone()),
        None if !map.contains_key("platforms")
            && V1_ONLY_KEYS.iter().any(|k| map.contains_key(*k)) =>
        {
            Generation::V1
        }
        None => Generation::Unversioned,
    }
}

/// The hint every "this is v1" message ends with.
pub fn migrate_hint(file: &str) -> String {
    format!(
        "run `rosey config migrate {file} --backup` to convert it to version {}",
        d::VERSION
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn format_follows_the_extension() {
        assert_eq!(Format::from_path(Path::new("a/b.yaml")), Format::Yaml);
        assert_eq!(Format::from_path(Path::new("b.YML")), Format::Yaml);
        assert_eq!(Format::from_path(Path::new("b.json")), Format::Json);
        assert_eq!(Format::from_path(Path::new("config")), Format::Json);
    }

    #[test]
    fn json_syntax_error_names_line_and_column() {
        let err = parse_text("{\n  \"a\": 1,\n  \"b\" 2\n}", Format::Json).unwrap_err();
        assert_eq!((err.line, err.column), (3, 7));
        let shown = err.to_string();
        assert!(
            shown.starts_with("invalid JSON at line 3, column 7: "),
            "{shown}"
        );
        assert_eq!(shown.matches("line").count(), 1, "{shown}");
    }

    #[test]
    fn yaml_syntax_error_names_line_and_column() {
        let err = parse_text("a: 1\nb: [1, 2\n", Format::Yaml).unwrap_err();
        assert!(err.line >= 2, "{err:?}");
        assert!(
            err.to_string().starts_with("invalid YAML at line "),
            "{err}"
        );
    }

    #[test]
    fn a_byte_order_mark_is_not_an_error() {
        let v = parse_text("\u{feff}{\"version\": 2}", Format::Json).unwrap();
        assert_eq!(v, json!({"version": 2}));
        let v = parse_text("\u{feff}version: 2\n", Format::Yaml).unwrap();
        assert_eq!(v, json!({"version": 2}));
    }

    #[test]
    fn comments_are_stripped_at_every_depth() {
        let mut v = json!({
            "_comment": "x", "_note_2": "y", "a": {"_comment_inner": 1, "b": 2},
            "list": [{"_note": 1, "c": 3}], "not_comment_": 4
        });
        strip_comments(&mut v);
        assert_eq!(
            v,
            json!({"a": {"b": 2}, "list": [{"c": 3}], "not_comment_": 4})
        );
    }

    #[test]
    fn versions_are_recognised() {
        for v in [json!("2.0"), json!(2), json!(2.0), json!("2")] {
            assert_eq!(generation(&json!({ "version": v })), Generation::V2);
        }
        assert_eq!(
            generation(&json!({"domain": "https://cytu.be"})),
            Generation::V1
        );
        assert_eq!(generation(&json!({"version": 1, "x": 1})), Generation::V1);
        assert_eq!(
            generation(&json!({"version": "3"})),
            Generation::Unknown(json!("3"))
        );
        assert_eq!(
            generation(&json!({"platforms": []})),
            Generation::Unversioned
        );
        assert_eq!(generation(&json!([1])), Generation::Unversioned);
    }
}
