//! Typed client → server commands and their socket.io encoding (cytube-protocol.md §4).
//!
//! Pure code, no I/O. Chat commands such as `/kick` and `/clear` are chat lines on the wire, so
//! they are built here as [`Command::Chat`] and go through the chat flood limiter like any chat.
//! Text splitting (320 characters) happens before commands are built, in `split.rs`.

use serde_json::{Value, json};

use crate::event::Position;
use crate::handle::SendError;
use crate::socketio;

/// Where `queue` puts a new item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueuePosition {
    Next,
    End,
}

/// A `queue` request. `media_type` is the CyTube type code (`yt`, `li`, `hl`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct QueueRequest {
    pub id: String,
    pub media_type: String,
    pub pos: QueuePosition,
    pub temp: bool,
    /// Honoured by the server only for custom/raw-file items.
    pub title: Option<String>,
    /// Honoured by the server only for live items (seconds).
    pub duration: Option<f64>,
}

impl QueueRequest {
    pub fn new(id: impl Into<String>, media_type: impl Into<String>, pos: QueuePosition) -> Self {
        QueueRequest {
            id: id.into(),
            media_type: media_type.into(),
            pos,
            temp: true,
            title: None,
            duration: None,
        }
    }
}

/// A command to the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    JoinChannel {
        name: String,
        password: Option<String>,
    },
    /// `password: None` is a guest login.
    Login {
        name: String,
        password: Option<String>,
    },
    ChannelPassword(String),
    Chat(String),
    Pm {
        to: String,
        msg: String,
    },
    Queue(QueueRequest),
    Delete {
        uid: u64,
    },
    MoveMedia {
        from: u64,
        after: Position,
    },
    JumpTo {
        uid: u64,
    },
    PlayNext,
    /// An empty name removes the leader.
    AssignLeader {
        name: String,
    },
    Voteskip,
    Vote {
        option: u64,
    },
    /// `newPoll {title, opts, obscured, timeout?}` (needs `pollctl`, 1.5 by default).
    /// `timeout` closes the poll after that many seconds (1–86400).
    NewPoll {
        title: String,
        options: Vec<String>,
        obscured: bool,
        timeout: Option<u32>,
    },
    ClosePoll,
    /// Asks for `banlist` (needs `ban`).
    RequestBanlist,
    /// Lifts the ban with this id (from `banlist`); the server echoes `banlistRemove`.
    Unban {
        id: u64,
        name: String,
    },
    /// Anything else, sent as `42[name, ...args]`.
    Raw {
        name: String,
        args: Vec<Value>,
    },
}

/// Which flood limiter a command passes through on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limiter {
    /// The chat limiter, hit `cost` times (`/me`, `/sp`, `/say` cost two: §4.2).
    Chat {
        cost: u32,
    },
    /// The playlist-add limiter.
    Queue,
    None,
}

impl Command {
    /// The event name and arguments as sent on the wire.
    pub fn to_event(&self) -> (String, Vec<Value>) {
        let (name, args): (&str, Vec<Value>) = match self {
            Command::JoinChannel { name, password } => {
                let mut data = json!({ "name": name });
                if let Some(pw) = password {
                    data["pw"] = json!(pw);
                }
                ("joinChannel", vec![data])
            }
            Command::Login { name, password } => {
                let mut data = json!({ "name": name });
                if let Some(pw) = password {
                    data["pw"] = json!(pw);
                }
                ("login", vec![data])
            }
            Command::ChannelPassword(pw) => ("channelPassword", vec![json!(pw)]),
            Command::Chat(msg) => ("chatMsg", vec![json!({ "msg": msg, "meta": {} })]),
            Command::Pm { to, msg } => ("pm", vec![json!({ "to": to, "msg": msg, "meta": {} })]),
            Command::Queue(q) => {
                let mut data = json!({
                    "id": q.id,
                    "type": q.media_type,
                    "pos": match q.pos { QueuePosition::Next => "next", QueuePosition::End => "end" },
                    "temp": q.temp,
                });
                if let Some(title) = &q.title {
                    data["title"] = json!(title);
                }
                if let Some(duration) = q.duration {
                    data["duration"] = json!(duration);
                }
                ("queue", vec![data])
            }
            // `delete` and `jumpTo` take a bare number, not an object (§4.4).
            Command::Delete { uid } => ("delete", vec![json!(uid)]),
            Command::MoveMedia { from, after } => (
                "moveMedia",
                vec![json!({ "from": from, "after": after.to_value() })],
            ),
            Command::JumpTo { uid } => ("jumpTo", vec![json!(uid)]),
            Command::PlayNext => ("playNext", vec![]),
            Command::AssignLeader { name } => ("assignLeader", vec![json!({ "name": name })]),
            Command::Voteskip => ("voteskip", vec![]),
            Command::Vote { option } => ("vote", vec![json!({ "option": option })]),
            Command::NewPoll {
                title,
                options,
                obscured,
                timeout,
            } => {
                let mut data = json!({ "title": title, "opts": options, "obscured": obscured });
                if let Some(t) = timeout {
                    data["timeout"] = json!(t);
                }
                ("newPoll", vec![data])
            }
            Command::ClosePoll => ("closePoll", vec![]),
            Command::RequestBanlist => ("requestBanlist", vec![]),
            Command::Unban { id, name } => ("unban", vec![json!({ "id": id, "name": name })]),
            Command::Raw { name, args } => (name.as_str(), args.clone()),
        };
        (name.to_owned(), args)
    }

    /// A moderation chat command aimed at one user: `/<verb> name[ rest]` (`kick`, `ban`,
    /// `mute`, `smute`, `unmute`). A name must be one word.
    pub fn moderation(verb: &str, name: &str, rest: Option<&str>) -> Result<Command, SendError> {
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(SendError::Invalid(format!("bad user name {name:?}")));
        }
        Ok(Command::Chat(
            match rest.map(str::trim).filter(|r| !r.is_empty()) {
                Some(rest) => format!("/{verb} {name} {rest}"),
                None => format!("/{verb} {name}"),
            },
        ))
    }

    /// The socket.io packet for this command.
    pub fn to_packet(&self) -> socketio::Packet {
        let (name, args) = self.to_event();
        socketio::Packet::event(name, args)
    }

    /// The server-side limiter this command is counted against.
    pub fn limiter(&self) -> Limiter {
        match self {
            Command::Chat(msg) => Limiter::Chat {
                cost: chat_cost(msg),
            },
            Command::Pm { .. } => Limiter::Chat { cost: 1 },
            Command::Queue(_) => Limiter::Queue,
            _ => Limiter::None,
        }
    }

    /// Whether the server echoes this command back to us as a `chatMsg`/`pm` from ourselves,
    /// which is how a message dropped by the flood limiter is identified (see `connection.rs`).
    pub fn expects_echo(&self) -> bool {
        match self {
            Command::Chat(msg) => {
                !msg.starts_with('/') || ["/me ", "/sp "].iter().any(|p| msg.starts_with(p))
            }
            Command::Pm { .. } => true,
            _ => false,
        }
    }
}

/// `/me`, `/sp`, `/say`, `/shout`, `/rcv` re-enter the chat pipeline on the server and hit the
/// flood limiter twice.
fn chat_cost(msg: &str) -> u32 {
    let word = msg.split_whitespace().next().unwrap_or("");
    match word {
        "/me" | "/sp" | "/say" | "/shout" | "/rcv" => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes, then decodes with the socket.io codec, so that the comparison does not depend
    /// on JSON key order (serde_json's `preserve_order` may be on in the workspace).
    fn wire(c: Command) -> Value {
        match socketio::Packet::decode(&c.to_packet().encode()).unwrap() {
            socketio::Packet::Event { name, mut args, .. } => {
                args.insert(0, Value::String(name));
                Value::Array(args)
            }
            other => panic!("not an event: {other:?}"),
        }
    }

    #[test]
    fn encodes_commands_as_cytube_expects() {
        assert_eq!(
            wire(Command::Chat("hi".into())),
            json!(["chatMsg", {"msg": "hi", "meta": {}}])
        );
        assert_eq!(wire(Command::Delete { uid: 4 }), json!(["delete", 4]));
        assert_eq!(wire(Command::JumpTo { uid: 9 }), json!(["jumpTo", 9]));
        assert_eq!(Command::PlayNext.to_packet().encode(), r#"2["playNext"]"#);
        assert_eq!(Command::Voteskip.to_packet().encode(), r#"2["voteskip"]"#);
        assert_eq!(
            wire(Command::ChannelPassword("pw".into())),
            json!(["channelPassword", "pw"])
        );
        assert_eq!(
            wire(Command::MoveMedia {
                from: 3,
                after: Position::Prepend
            }),
            json!(["moveMedia", {"from": 3, "after": "prepend"}])
        );
        assert_eq!(
            wire(Command::Login {
                name: "bot".into(),
                password: None
            }),
            json!(["login", {"name": "bot"}])
        );
        assert_eq!(
            wire(Command::JoinChannel {
                name: "c".into(),
                password: Some("p".into())
            }),
            json!(["joinChannel", {"name": "c", "pw": "p"}])
        );
        assert_eq!(
            wire(Command::NewPoll {
                title: "Best?".into(),
                options: vec!["a".into(), "b".into()],
                obscured: false,
                timeout: None
            }),
            json!(["newPoll", {"title": "Best?", "opts": ["a", "b"], "obscured": false}])
        );
        assert_eq!(
            wire(Command::Unban {
                id: 3,
                name: "x".into()
            }),
            json!(["unban", {"id": 3, "name": "x"}])
        );
        assert_eq!(
            Command::RequestBanlist.to_packet().encode(),
            r#"2["requestBanlist"]"#
        );
        assert_eq!(
            Command::moderation("ban", "troll", Some(" spam ")),
            Ok(Command::Chat("/ban troll spam".into()))
        );
        assert_eq!(
            Command::moderation("mute", "troll", None),
            Ok(Command::Chat("/mute troll".into()))
        );
        assert!(Command::moderation("kick", "two words", None).is_err());
        let q = QueueRequest::new("https://x/a.m3u8", "hl", QueuePosition::End);
        assert_eq!(
            wire(Command::Queue(q)),
            json!(["queue", {"id": "https://x/a.m3u8", "type": "hl", "pos": "end", "temp": true}])
        );
    }

    #[test]
    fn limiter_costs() {
        assert_eq!(
            Command::Chat("/me waves".into()).limiter(),
            Limiter::Chat { cost: 2 }
        );
        assert_eq!(
            Command::Chat("hello".into()).limiter(),
            Limiter::Chat { cost: 1 }
        );
        assert_eq!(
            Command::Chat("/kick x".into()).limiter(),
            Limiter::Chat { cost: 1 }
        );
        assert_eq!(Command::Delete { uid: 1 }.limiter(), Limiter::None);
        assert!(Command::Chat("/me waves".into()).expects_echo());
        assert!(!Command::Chat("/kick x".into()).expects_echo());
    }
}
