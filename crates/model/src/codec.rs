//! The one JSON helper of the project: decode a payload into a typed struct with a size
//! limit and an error that names the offending field; encode to bytes.
//!
//! It must never panic, whatever the input (see the property tests).

use serde::{Serialize, de::DeserializeOwned};

/// Payloads larger than this are rejected before parsing (the NATS default max payload and
/// CyTube's `maxHttpBufferSize` are both 1 MiB).
pub const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;

/// Why a payload could not be decoded. The `Display` form is meant for operators and for
/// `{success:false, error}` replies: it says what was wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The payload is bigger than [`MAX_PAYLOAD_BYTES`].
    #[error("payload too large: {size} bytes (limit {limit})")]
    TooLarge { size: usize, limit: usize },
    /// Not valid UTF-8 JSON at all.
    #[error("malformed JSON at line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// Valid JSON with the wrong shape: a field is missing or has the wrong type.
    #[error("field `{field}`: {message}")]
    Field { field: String, message: String },
}

impl DecodeError {
    /// A short, stable name of the error kind, for counters and "log once per kind".
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::TooLarge { .. } => "too_large",
            DecodeError::Syntax { .. } => "malformed_json",
            DecodeError::Field { .. } => "bad_field",
        }
    }

    /// The field the error is about, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            DecodeError::Field { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Decodes `bytes` as `T`. Unknown fields are ignored (forward compatibility); a missing
/// or mistyped field gives [`DecodeError::Field`] naming it (dotted path for nested fields).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    // Payloads are JSON objects (SPEC §2). serde would otherwise map an array onto a
    // struct's fields by position, which no publisher means.
    decode_shaped(bytes, b'{', "a JSON object")
}

/// Decodes a JSON array of `T` (the legacy list replies of SPEC §3.2). A JSON object is
/// rejected (an `{success:false, error}` reply is decoded with [`decode`] instead).
pub fn decode_list<T: DeserializeOwned>(bytes: &[u8]) -> Result<Vec<T>, DecodeError> {
    decode_shaped(bytes, b'[', "a JSON array")
}

/// The one decoding path: size limit, top-level shape (`{` or `[`), then typed decoding
/// with the path of the offending field.
fn decode_shaped<T: DeserializeOwned>(
    bytes: &[u8],
    opener: u8,
    expected: &str,
) -> Result<T, DecodeError> {
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(DecodeError::TooLarge {
            size: bytes.len(),
            limit: MAX_PAYLOAD_BYTES,
        });
    }
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&opener) {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Err(e) => syntax(e),
                Ok(_) => DecodeError::Field {
                    field: "(payload)".to_string(),
                    message: format!("expected {expected}"),
                },
            },
        );
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    match result {
        Ok(v) => {
            // Trailing garbage after the value is malformed input, not a valid payload.
            de.end().map_err(syntax)?;
            Ok(v)
        }
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() || inner.is_io() {
                return Err(syntax(inner));
            }
            let message = strip_position(&inner.to_string());
            let field = if path.is_empty() || path == "." {
                // serde reports a missing field at its parent: take the name from the message.
                missing_field_name(&message).unwrap_or_else(|| "(payload)".to_string())
            } else if let Some(name) = missing_field_name(&message) {
                format!("{path}.{name}")
            } else {
                path
            };
            Err(DecodeError::Field { field, message })
        }
    }
}

/// Encodes a value as compact JSON bytes. Serializing our own plain data types cannot fail;
/// should a custom type ever fail, the error is returned as a JSON error object instead of a
/// panic.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|e| {
        serde_json::to_vec(&serde_json::json!({"success": false, "error": e.to_string()}))
            .unwrap_or_default()
    })
}

fn syntax(e: serde_json::Error) -> DecodeError {
    DecodeError::Syntax {
        line: e.line(),
        column: e.column(),
        message: strip_position(&e.to_string()),
    }
}

/// serde_json appends " at line L column C"; the position means little to a reader of a
/// field error, so it is dropped there (syntax errors carry it separately).
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

fn missing_field_name(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    let end = rest.find('`')?;
    Some(rest[..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        n: i64,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        inner: Inner,
    }

    #[test]
    fn missing_top_level_field_is_named() {
        let e = decode::<Outer>(br#"{"inner":{"n":1}}"#).unwrap_err();
        assert_eq!(e.field(), Some("name"));
        assert!(e.to_string().contains("missing field `name`"), "{e}");
    }

    #[test]
    fn wrong_nested_type_is_named_with_path() {
        let e = decode::<Outer>(br#"{"name":"a","inner":{"n":"x"}}"#).unwrap_err();
        assert_eq!(e.field(), Some("inner.n"));
        assert!(
            e.to_string().starts_with("field `inner.n`: invalid type"),
            "{e}"
        );
    }

    #[test]
    fn missing_nested_field_is_named_with_path() {
        let e = decode::<Outer>(br#"{"name":"a","inner":{}}"#).unwrap_err();
        assert_eq!(e.field(), Some("inner.n"));
    }

    #[test]
    fn syntax_errors_carry_position() {
        let e = decode::<Outer>(b"{\n \"name\": }").unwrap_err();
        match e {
            DecodeError::Syntax { line, column, .. } => {
                assert_eq!(line, 2);
                assert!(column > 0);
            }
            other => panic!("expected syntax error, got {other:?}"),
        }
        assert_eq!(
            decode::<Outer>(br#"{"name":"a","inner":{"n":1}} x"#)
                .unwrap_err()
                .kind(),
            "malformed_json"
        );
    }

    #[test]
    fn oversized_payload_is_rejected_before_parsing() {
        let big = vec![b' '; MAX_PAYLOAD_BYTES + 1];
        assert_eq!(decode::<Outer>(&big).unwrap_err().kind(), "too_large");
    }

    #[test]
    fn non_objects_are_rejected() {
        let e = decode::<Outer>(br#"["a",{"n":1}]"#).unwrap_err();
        assert_eq!(e.field(), Some("(payload)"));
        assert_eq!(decode::<Outer>(b"").unwrap_err().kind(), "malformed_json");
        assert_eq!(
            decode::<Outer>(b"\xff").unwrap_err().kind(),
            "malformed_json"
        );
    }

    #[test]
    fn lists() {
        let v: Vec<Inner> = decode_list(br#"[{"n":1},{"n":2,"x":0}]"#).unwrap();
        assert_eq!(v.iter().map(|i| i.n).collect::<Vec<_>>(), vec![1, 2]);
        let e = decode_list::<Inner>(br#"[{"n":1},{"n":"x"}]"#).unwrap_err();
        assert_eq!(e.field(), Some("[1].n"));
        let e = decode_list::<Inner>(br#"{"success":false}"#).unwrap_err();
        assert_eq!(e.field(), Some("(payload)"));
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let o: Outer = decode(br#"{"name":"a","inner":{"n":1,"zz":2},"extra":[1,2]}"#).unwrap();
        assert_eq!(o.name, "a");
        assert_eq!(o.inner.n, 1);
    }
}
