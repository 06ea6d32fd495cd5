//! Engine.IO protocol 4 packets as they travel in websocket frames: `text ↔ Packet`.
//!
//! Pure code, no I/O. Over a websocket every text frame is exactly one packet: a one-digit type
//! followed by the payload (no length prefixes, those exist only for HTTP long-polling, which
//! this client does not use). Binary frames carry binary attachments, which CyTube never sends,
//! so they are not modelled here.

use std::time::Duration;

use serde::Deserialize;

/// Errors from decoding one Engine.IO frame. They describe the frame; the connection decides
/// whether a bad frame is fatal (it is not: it is logged and skipped).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty engine.io frame")]
    Empty,
    #[error("engine.io frame is not UTF-8")]
    NotUtf8,
    #[error("unknown engine.io packet type {0:?}")]
    UnknownType(char),
    #[error("engine.io open packet has an invalid handshake: {0}")]
    BadHandshake(String),
}

/// The handshake data of the open packet (`0{"sid":..,"pingInterval":..}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    pub sid: String,
    pub upgrades: Vec<String>,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    pub max_payload: u64,
}

impl Handshake {
    /// How long the link may stay silent before it is considered dead: the server pings every
    /// `ping_interval` and gives the client `ping_timeout` to answer, so a live server is never
    /// silent longer than their sum (the engine.io client uses the same bound).
    pub fn silence_limit(&self) -> Duration {
        self.ping_interval.saturating_add(self.ping_timeout)
    }
}

/// Wire shape of the handshake; kept private so that the public type has `Duration`s.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireHandshake {
    sid: String,
    #[serde(default)]
    upgrades: Vec<String>,
    ping_interval: u64,
    ping_timeout: u64,
    #[serde(default)]
    max_payload: u64,
}

/// One Engine.IO packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    Open(Handshake),
    Close,
    /// The server's heartbeat (EIO4: the server pings, the client answers [`Packet::Pong`]).
    Ping(String),
    Pong(String),
    /// A socket.io packet travels as the payload of a message packet.
    Message(String),
    Upgrade,
    Noop,
}

impl Packet {
    /// Decodes one websocket text frame.
    pub fn decode(frame: &str) -> Result<Packet, DecodeError> {
        let mut chars = frame.chars();
        let kind = chars.next().ok_or(DecodeError::Empty)?;
        let rest = chars.as_str();
        Ok(match kind {
            '0' => {
                let wire: WireHandshake = serde_json::from_str(rest)
                    .map_err(|e| DecodeError::BadHandshake(e.to_string()))?;
                Packet::Open(Handshake {
                    sid: wire.sid,
                    upgrades: wire.upgrades,
                    ping_interval: Duration::from_millis(wire.ping_interval),
                    ping_timeout: Duration::from_millis(wire.ping_timeout),
                    max_payload: wire.max_payload,
                })
            }
            '1' => Packet::Close,
            '2' => Packet::Ping(rest.to_owned()),
            '3' => Packet::Pong(rest.to_owned()),
            '4' => Packet::Message(rest.to_owned()),
            '5' => Packet::Upgrade,
            '6' => Packet::Noop,
            other => return Err(DecodeError::UnknownType(other)),
        })
    }

    /// Decodes raw frame bytes (a text frame whose UTF-8 has not been checked yet).
    pub fn decode_bytes(frame: &[u8]) -> Result<Packet, DecodeError> {
        let text = std::str::from_utf8(frame).map_err(|_| DecodeError::NotUtf8)?;
        Packet::decode(text)
    }

    /// Encodes the packet as the text of one websocket frame.
    pub fn encode(&self) -> String {
        match self {
            Packet::Open(h) => {
                let json = serde_json::json!({
                    "sid": h.sid,
                    "upgrades": h.upgrades,
                    "pingInterval": duration_ms(h.ping_interval),
                    "pingTimeout": duration_ms(h.ping_timeout),
                    "maxPayload": h.max_payload,
                });
                format!("0{json}")
            }
            Packet::Close => "1".to_owned(),
            Packet::Ping(data) => format!("2{data}"),
            Packet::Pong(data) => format!("3{data}"),
            Packet::Message(data) => format!("4{data}"),
            Packet::Upgrade => "5".to_owned(),
            Packet::Noop => "6".to_owned(),
        }
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_cytube_open_packet() {
        let frame = r#"0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":120000,"maxPayload":1048576}"#;
        let Packet::Open(h) = Packet::decode(frame).unwrap() else {
            panic!("not an open packet");
        };
        assert_eq!(h.sid, "abc");
        assert_eq!(h.ping_interval, Duration::from_secs(25));
        assert_eq!(h.silence_limit(), Duration::from_secs(145));
        assert_eq!(h.max_payload, 1_048_576);
    }

    #[test]
    fn decodes_heartbeat_and_message() {
        assert_eq!(Packet::decode("2").unwrap(), Packet::Ping(String::new()));
        assert_eq!(
            Packet::decode("3probe").unwrap(),
            Packet::Pong("probe".into())
        );
        assert_eq!(
            Packet::decode(r#"42["chatMsg",{}]"#).unwrap(),
            Packet::Message(r#"2["chatMsg",{}]"#.into())
        );
        assert_eq!(Packet::decode("6").unwrap(), Packet::Noop);
    }

    #[test]
    fn rejects_bad_frames() {
        assert_eq!(Packet::decode(""), Err(DecodeError::Empty));
        assert_eq!(Packet::decode("9x"), Err(DecodeError::UnknownType('9')));
        assert!(matches!(
            Packet::decode("0{}"),
            Err(DecodeError::BadHandshake(_))
        ));
        assert_eq!(
            Packet::decode_bytes(&[0x34, 0xff]),
            Err(DecodeError::NotUtf8)
        );
    }

    fn arb_packet() -> impl Strategy<Value = Packet> {
        prop_oneof![
            (any::<String>(), any::<u32>(), any::<u32>(), any::<u64>()).prop_map(
                |(sid, i, t, m)| Packet::Open(Handshake {
                    sid,
                    upgrades: vec!["websocket".into()],
                    ping_interval: Duration::from_millis(i.into()),
                    ping_timeout: Duration::from_millis(t.into()),
                    max_payload: m,
                })
            ),
            Just(Packet::Close),
            any::<String>().prop_map(Packet::Ping),
            any::<String>().prop_map(Packet::Pong),
            any::<String>().prop_map(Packet::Message),
            Just(Packet::Upgrade),
            Just(Packet::Noop),
        ]
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Packet::decode_bytes(&bytes);
        }

        #[test]
        fn random_text_never_panics(text in "\\PC*") {
            let _ = Packet::decode(&text);
        }

        #[test]
        fn encode_then_decode_is_identity(packet in arb_packet()) {
            prop_assert_eq!(Packet::decode(&packet.encode()).unwrap(), packet);
        }
    }
}
