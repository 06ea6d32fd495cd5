//! Socket.IO protocol 5 packets (socket.io 3/4 servers): `text ↔ Packet`.
//!
//! Pure code, no I/O. A socket.io packet is the payload of an Engine.IO message packet:
//! `<type>[<attachments>-][<namespace>,][<ack id>][<json>]`. This module knows nothing about
//! CyTube; turning `Event { name, args }` into typed CyTube events is `event.rs`'s job.

use serde_json::Value;

/// The default namespace, which is the only one CyTube uses.
pub const ROOT_NAMESPACE: &str = "/";

/// Errors from decoding one socket.io packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty socket.io packet")]
    Empty,
    #[error("unknown socket.io packet type {0:?}")]
    UnknownType(char),
    #[error("bad attachment count in binary socket.io packet")]
    BadAttachments,
    #[error("socket.io ack id does not fit in 64 bits")]
    BadAckId,
    #[error("socket.io packet payload is not JSON: {0}")]
    BadJson(String),
    #[error("socket.io event payload must be an array starting with the event name")]
    BadEvent,
    #[error("socket.io ack packet has no id")]
    AckWithoutId,
    #[error("binary socket.io packets are not supported (CyTube sends none)")]
    Binary,
}

/// One socket.io packet.
#[derive(Debug, Clone, PartialEq)]
pub enum Packet {
    /// Client → server: join a namespace (optional auth payload). Server → client: the
    /// acknowledgement, with `{"sid": ..}`.
    Connect {
        nsp: String,
        data: Option<Value>,
    },
    Disconnect {
        nsp: String,
    },
    /// `42["name", arg1, arg2, ..]`. Zero-argument events (`42["channelNotRegistered"]`) have
    /// an empty `args`.
    Event {
        nsp: String,
        id: Option<u64>,
        name: String,
        args: Vec<Value>,
    },
    Ack {
        nsp: String,
        id: u64,
        args: Vec<Value>,
    },
    /// The server refused the namespace connection; `data` is `{"message": ..}`.
    ConnectError {
        nsp: String,
        data: Value,
    },
}

impl Packet {
    /// An event in the root namespace without an ack id: what CyTube sends and expects.
    pub fn event(name: impl Into<String>, args: Vec<Value>) -> Packet {
        Packet::Event {
            nsp: ROOT_NAMESPACE.to_owned(),
            id: None,
            name: name.into(),
            args,
        }
    }

    /// The human-readable reason of a CONNECT_ERROR (`{"message": ..}` in v5, a bare string in
    /// older servers).
    pub fn connect_error_message(data: &Value) -> String {
        match data {
            Value::String(s) => s.clone(),
            Value::Object(map) => match map.get("message") {
                Some(Value::String(s)) => s.clone(),
                _ => data.to_string(),
            },
            other => other.to_string(),
        }
    }

    /// Decodes the payload of one Engine.IO message packet.
    pub fn decode(text: &str) -> Result<Packet, DecodeError> {
        let mut rest = text;
        let kind = take_char(&mut rest).ok_or(DecodeError::Empty)?;
        match kind {
            '0'..='4' => {}
            '5' | '6' => {
                // Binary packets announce their attachments as `<n>-`; validate the shape so
                // that the error says what happened, then refuse them.
                let digits = take_digits(&mut rest);
                if digits.is_empty() || !rest.starts_with('-') {
                    return Err(DecodeError::BadAttachments);
                }
                return Err(DecodeError::Binary);
            }
            other => return Err(DecodeError::UnknownType(other)),
        }

        let nsp = if rest.starts_with('/') {
            let end = rest.find(',').unwrap_or(rest.len());
            let nsp = rest[..end].to_owned();
            rest = rest.get(end + 1..).unwrap_or("");
            nsp
        } else {
            ROOT_NAMESPACE.to_owned()
        };

        let digits = take_digits(&mut rest);
        let id = if digits.is_empty() {
            None
        } else {
            Some(digits.parse::<u64>().map_err(|_| DecodeError::BadAckId)?)
        };

        let data = if rest.is_empty() {
            None
        } else {
            Some(
                serde_json::from_str::<Value>(rest)
                    .map_err(|e| DecodeError::BadJson(e.to_string()))?,
            )
        };

        Ok(match kind {
            '0' => Packet::Connect { nsp, data },
            '1' => Packet::Disconnect { nsp },
            '2' => {
                let Some(Value::Array(mut items)) = data else {
                    return Err(DecodeError::BadEvent);
                };
                if !matches!(items.first(), Some(Value::String(_))) {
                    return Err(DecodeError::BadEvent);
                }
                let Value::String(name) = items.remove(0) else {
                    return Err(DecodeError::BadEvent);
                };
                Packet::Event {
                    nsp,
                    id,
                    name,
                    args: items,
                }
            }
            '3' => {
                let id = id.ok_or(DecodeError::AckWithoutId)?;
                let args = match data {
                    Some(Value::Array(items)) => items,
                    Some(other) => vec![other],
                    None => Vec::new(),
                };
                Packet::Ack { nsp, id, args }
            }
            _ => Packet::ConnectError {
                nsp,
                data: data.unwrap_or(Value::Null),
            },
        })
    }

    /// Encodes the packet as the payload of an Engine.IO message packet.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let (kind, nsp) = match self {
            Packet::Connect { nsp, .. } => ('0', nsp),
            Packet::Disconnect { nsp } => ('1', nsp),
            Packet::Event { nsp, .. } => ('2', nsp),
            Packet::Ack { nsp, .. } => ('3', nsp),
            Packet::ConnectError { nsp, .. } => ('4', nsp),
        };
        out.push(kind);
        if nsp != ROOT_NAMESPACE {
            out.push_str(nsp);
            out.push(',');
        }
        match self {
            Packet::Connect { data, .. } => {
                if let Some(data) = data {
                    out.push_str(&data.to_string());
                }
            }
            Packet::Disconnect { .. } => {}
            Packet::Event { id, name, args, .. } => {
                if let Some(id) = id {
                    out.push_str(&id.to_string());
                }
                let mut items = Vec::with_capacity(args.len() + 1);
                items.push(Value::String(name.clone()));
                items.extend(args.iter().cloned());
                out.push_str(&Value::Array(items).to_string());
            }
            Packet::Ack { id, args, .. } => {
                out.push_str(&id.to_string());
                out.push_str(&Value::Array(args.clone()).to_string());
            }
            Packet::ConnectError { data, .. } => out.push_str(&data.to_string()),
        }
        out
    }
}

fn take_char(rest: &mut &str) -> Option<char> {
    let mut chars = rest.chars();
    let c = chars.next()?;
    *rest = chars.as_str();
    Some(c)
}

fn take_digits<'a>(rest: &mut &'a str) -> &'a str {
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (digits, tail) = rest.split_at(end);
    *rest = tail;
    digits
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn decodes_connect_ack_and_error() {
        assert_eq!(
            Packet::decode(r#"0{"sid":"x1"}"#).unwrap(),
            Packet::Connect {
                nsp: "/".into(),
                data: Some(json!({"sid": "x1"}))
            }
        );
        let Packet::ConnectError { data, .. } =
            Packet::decode(r#"4{"message":"Rate limit exceeded"}"#).unwrap()
        else {
            panic!("not a connect error");
        };
        assert_eq!(Packet::connect_error_message(&data), "Rate limit exceeded");
    }

    #[test]
    fn decodes_events_with_and_without_args() {
        assert_eq!(
            Packet::decode(r#"2["channelNotRegistered"]"#).unwrap(),
            Packet::event("channelNotRegistered", vec![])
        );
        assert_eq!(
            Packet::decode(r#"2["rank",1.5]"#).unwrap(),
            Packet::event("rank", vec![json!(1.5)])
        );
        assert_eq!(
            Packet::decode(r#"2/admin,7["x",1,2]"#).unwrap(),
            Packet::Event {
                nsp: "/admin".into(),
                id: Some(7),
                name: "x".into(),
                args: vec![json!(1), json!(2)]
            }
        );
        assert_eq!(
            Packet::decode("1").unwrap(),
            Packet::Disconnect { nsp: "/".into() }
        );
    }

    #[test]
    fn encodes_like_the_reference_parser() {
        assert_eq!(
            Packet::Connect {
                nsp: "/".into(),
                data: None
            }
            .encode(),
            "0"
        );
        assert_eq!(
            Packet::event("playNext", vec![]).encode(),
            r#"2["playNext"]"#
        );
        assert_eq!(
            Packet::event("delete", vec![json!(5)]).encode(),
            r#"2["delete",5]"#
        );
    }

    #[test]
    fn rejects_malformed_packets() {
        assert_eq!(Packet::decode(""), Err(DecodeError::Empty));
        assert_eq!(Packet::decode("2[1]"), Err(DecodeError::BadEvent));
        assert_eq!(Packet::decode("2{}"), Err(DecodeError::BadEvent));
        assert_eq!(Packet::decode("2"), Err(DecodeError::BadEvent));
        assert_eq!(Packet::decode("3[]"), Err(DecodeError::AckWithoutId));
        assert_eq!(
            Packet::decode("299999999999999999999999[]"),
            Err(DecodeError::BadAckId)
        );
        assert_eq!(Packet::decode(r#"51-["x"]"#), Err(DecodeError::Binary));
        assert_eq!(Packet::decode("5x"), Err(DecodeError::BadAttachments));
        assert_eq!(Packet::decode("x"), Err(DecodeError::UnknownType('x')));
        assert!(matches!(
            Packet::decode("2[oops"),
            Err(DecodeError::BadJson(_))
        ));
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "\\PC{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn arb_nsp() -> impl Strategy<Value = String> {
        prop_oneof![Just("/".to_owned()), "/[a-z]{1,8}"]
    }

    fn arb_packet() -> impl Strategy<Value = Packet> {
        prop_oneof![
            (
                arb_nsp(),
                proptest::option::of(arb_json().prop_map(|v| json!({ "d": v })))
            )
                .prop_map(|(nsp, data)| Packet::Connect { nsp, data }),
            arb_nsp().prop_map(|nsp| Packet::Disconnect { nsp }),
            (
                arb_nsp(),
                proptest::option::of(any::<u64>()),
                "\\PC{0,12}",
                proptest::collection::vec(arb_json(), 0..4)
            )
                .prop_map(|(nsp, id, name, args)| Packet::Event {
                    nsp,
                    id,
                    name,
                    args
                }),
            (
                arb_nsp(),
                any::<u64>(),
                proptest::collection::vec(arb_json(), 0..4)
            )
                .prop_map(|(nsp, id, args)| Packet::Ack { nsp, id, args }),
            (arb_nsp(), "\\PC{0,12}").prop_map(|(nsp, m)| Packet::ConnectError {
                nsp,
                data: json!({ "message": m })
            }),
        ]
    }

    proptest! {
        #[test]
        fn random_text_never_panics(text in "\\PC*") {
            let _ = Packet::decode(&text);
        }

        #[test]
        fn random_prefixed_json_never_panics(kind in 0u8..8, json in arb_json()) {
            let _ = Packet::decode(&format!("{kind}{json}"));
        }

        #[test]
        fn encode_then_decode_is_identity(packet in arb_packet()) {
            prop_assert_eq!(Packet::decode(&packet.encode()).unwrap(), packet);
        }
    }
}
