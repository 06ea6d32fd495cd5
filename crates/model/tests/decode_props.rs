//! Property tests: no byte string and no JSON value makes a payload decoder panic, and a
//! JSON object with a mistyped field yields an error that names the field.

use proptest::prelude::*;
use rosey_model::{DecodeError, decode, payload::*};
use serde_json::{Map, Value};

/// Runs `decode` for every payload type of the contract.
fn decode_all(bytes: &[u8]) -> Vec<Result<(), DecodeError>> {
    vec![
        decode::<UserJoined>(bytes).map(|_| ()),
        decode::<UserLeft>(bytes).map(|_| ()),
        decode::<MessageLog>(bytes).map(|_| ()),
        decode::<UserCount>(bytes).map(|_| ()),
        decode::<HighWater>(bytes).map(|_| ()),
        decode::<StatusUpdate>(bytes).map(|_| ()),
        decode::<MarkSent>(bytes).map(|_| ()),
        decode::<MarkFailed>(bytes).map(|_| ()),
        decode::<PmCommand>(bytes).map(|_| ()),
        decode::<MediaPlayed>(bytes).map(|_| ()),
        decode::<OutboundGet>(bytes).map(|_| ()),
        decode::<RecentChatGet>(bytes).map(|_| ()),
        decode::<ChannelStatsQuery>(bytes).map(|_| ()),
        decode::<UserStatsQuery>(bytes).map(|_| ()),
        decode::<UserCountHistoryQuery>(bytes).map(|_| ()),
        decode::<OutboundEnqueue>(bytes).map(|_| ()),
        decode::<rosey_model::NormalizedEvent>(bytes).map(|_| ()),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("username".to_string()),
                    Just("message".to_string()),
                    Just("chat_count".to_string()),
                    Just("status_data".to_string()),
                    Just("message_id".to_string()),
                    Just("channel".to_string()),
                    Just("id".to_string()),
                    Just("ts".to_string()),
                    Just("kind".to_string()),
                    "[a-z_]{1,10}",
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        for r in decode_all(&bytes) {
            if let Err(e) = r {
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    #[test]
    fn random_json_never_panics(v in json_value()) {
        let bytes = serde_json::to_vec(&v).unwrap();
        for r in decode_all(&bytes) {
            if let Err(e) = r {
                // A structurally valid JSON document is never reported as a syntax error.
                prop_assert_ne!(e.kind(), "malformed_json", "{}", e);
            }
        }
    }

    #[test]
    fn mistyped_username_is_named(n in any::<i64>()) {
        let bytes = format!(r#"{{"username":{n},"message":"hi"}}"#);
        let e = decode::<MessageLog>(bytes.as_bytes()).unwrap_err();
        prop_assert_eq!(e.field(), Some("username"));
    }
}
