//! Typed client → server commands and their socket.io encoding (cytube-protocol.md §4).
//!
//! Pure code, no I/O. Chat commands such as `/kick` and `/clear` are chat lines on the wire;
//! they are a type of their own, [`ChannelCommand`], sent as [`Command::ChannelCommand`], and
//! go through the chat flood limiter like any chat. [`Command::Chat`] is plain text and never
//! a command: its encoding guards a line that would start with `/` (see `split.rs`). Text
//! splitting (320 characters) happens before commands are built, in `split.rs`.

use serde_json::{Value, json};

use crate::event::Position;
use crate::handle::SendError;
use crate::socketio;
use crate::split::guard_line;

/// The moderation verbs [`ChannelCommand::moderation`] builds.
pub const MODERATION_VERBS: &[&str] = &["kick", "ban", "mute", "smute", "unmute"];

/// A chat line CyTube runs as a channel command (`/kick x`, `/me waves`, `/clear`), with the
/// bot's rank. Only the constructors here make one, each from an explicit choice of command;
/// no plain text turns into one ([`Command::Chat`] is guarded). Who may ask for which command
/// is the caller's decision (the PM shell checks the sender's rank).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelCommand(String);

impl ChannelCommand {
    /// `/<verb> name[ rest]` for a verb of [`MODERATION_VERBS`]; the name must be one word.
    pub fn moderation(verb: &str, name: &str, rest: Option<&str>) -> Result<Self, SendError> {
        if !MODERATION_VERBS.contains(&verb) {
            return Err(SendError::Invalid(format!(
                "not a moderation command: {verb}"
            )));
        }
        if name.is_empty() || name.contains(char::is_whitespace) || name.starts_with('/') {
            return Err(SendError::Invalid(format!("bad user name {name:?}")));
        }
        let rest = rest.map(one_line).filter(|r| !r.is_empty());
        Ok(ChannelCommand(match rest {
            Some(rest) => format!("/{verb} {name} {rest}"),
            None => format!("/{verb} {name}"),
        }))
    }

    /// `/clear` (needs `chatclear`).
    pub fn clear() -> Self {
        ChannelCommand("/clear".into())
    }

    /// `/afk` (toggles our AFK flag).
    pub fn afk() -> Self {
        ChannelCommand("/afk".into())
    }

    /// A whole command line, `/verb args…`, as a user who may issue it typed it (the caller
    /// has checked that). One line: line breaks become spaces.
    pub fn from_line(line: &str) -> Result<Self, SendError> {
        let line = one_line(line);
        let verb = line.split_whitespace().next().unwrap_or("");
        if verb.len() < 2 || !verb.starts_with('/') {
            return Err(SendError::Invalid(format!(
                "not a channel command: {line:?} (it must start with /)"
            )));
        }
        Ok(ChannelCommand(line))
    }

    /// The command word without its `/` (`kick`, `me`).
    pub fn verb(&self) -> &str {
        self.0
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_start_matches('/')
    }

    /// The line as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ChannelCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Trimmed, with line breaks and other control characters as spaces (CyTube does the same).
fn one_line(s: &str) -> String {
    let spaced: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    spaced.trim().to_string()
}

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
    /// Plain chat text, never a command: a line that would start with `/` is sent with an
    /// invisible guard in front (`split.rs`).
    Chat(String),
    /// A channel command such as `/kick x`, sent as a chat line.
    ChannelCommand(ChannelCommand),
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
            Command::Chat(msg) => (
                "chatMsg",
                vec![json!({ "msg": guard_line(msg), "meta": {} })],
            ),
            Command::ChannelCommand(c) => ("chatMsg", vec![json!({ "msg": c.0, "meta": {} })]),
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
            Command::Raw { name, args } if name == "chatMsg" => {
                // Raw chat is plain text too.
                let mut args = args.clone();
                if let Some(msg) = args
                    .first_mut()
                    .and_then(|a| a.get_mut("msg"))
                    .filter(|m| m.is_string())
                {
                    *msg = json!(guard_line(msg.as_str().unwrap_or_default()));
                }
                ("chatMsg", args)
            }
            Command::Raw { name, args } => (name.as_str(), args.clone()),
        };
        (name.to_owned(), args)
    }

    /// A moderation chat command aimed at one user: `/<verb> name[ rest]` (`kick`, `ban`,
    /// `mute`, `smute`, `unmute`). A name must be one word.
    pub fn moderation(verb: &str, name: &str, rest: Option<&str>) -> Result<Command, SendError> {
        ChannelCommand::moderation(verb, name, rest).map(Command::ChannelCommand)
    }

    /// The socket.io packet for this command.
    pub fn to_packet(&self) -> socketio::Packet {
        let (name, args) = self.to_event();
        socketio::Packet::event(name, args)
    }

    /// The server-side limiter this command is counted against.
    pub fn limiter(&self) -> Limiter {
        match self {
            Command::Chat(_) => Limiter::Chat { cost: 1 },
            Command::ChannelCommand(c) => Limiter::Chat {
                cost: chat_cost(c.as_str()),
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
            Command::Chat(_) => true,
            Command::ChannelCommand(c) => matches!(c.verb(), "me" | "sp"),
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
            Ok(Command::ChannelCommand(ChannelCommand(
                "/ban troll spam".into()
            )))
        );
        assert_eq!(
            Command::moderation("mute", "troll", None),
            Ok(Command::ChannelCommand(ChannelCommand(
                "/mute troll".into()
            )))
        );
        assert!(Command::moderation("kick", "two words", None).is_err());
        assert!(Command::moderation("op", "x", None).is_err());
        assert_eq!(
            wire(Command::moderation("kick", "x", Some("bye\n/ban y")).unwrap()),
            json!(["chatMsg", {"msg": "/kick x bye /ban y", "meta": {}}])
        );
        let q = QueueRequest::new("https://x/a.m3u8", "hl", QueuePosition::End);
        assert_eq!(
            wire(Command::Queue(q)),
            json!(["queue", {"id": "https://x/a.m3u8", "type": "hl", "pos": "end", "temp": true}])
        );
    }

    #[test]
    fn plain_chat_never_encodes_a_command() {
        for text in ["/kick mod2", " /ban mod2", "\n/clear", "/me waves"] {
            let sent = wire(Command::Chat(text.into()));
            let msg = sent[1]["msg"].as_str().unwrap();
            assert!(msg.starts_with('\u{200B}'), "{text:?} went out as {msg:?}");
        }
        let raw = Command::Raw {
            name: "chatMsg".into(),
            args: vec![json!({"msg": "/kick x", "meta": {}})],
        };
        assert_eq!(wire(raw)[1]["msg"], "\u{200B}/kick x");
        assert_eq!(
            wire(Command::ChannelCommand(ChannelCommand::clear())),
            json!(["chatMsg", {"msg": "/clear", "meta": {}}])
        );
    }

    #[test]
    fn command_lines_must_start_with_a_slash() {
        let me = ChannelCommand::from_line(" /me waves\n").unwrap();
        assert_eq!((me.as_str(), me.verb()), ("/me waves", "me"));
        assert!(ChannelCommand::from_line("hello /kick x").is_err());
        assert!(ChannelCommand::from_line("/").is_err());
    }

    #[test]
    fn limiter_costs() {
        let cmd = |l: &str| Command::ChannelCommand(ChannelCommand::from_line(l).unwrap());
        assert_eq!(cmd("/me waves").limiter(), Limiter::Chat { cost: 2 });
        assert_eq!(
            Command::Chat("hello".into()).limiter(),
            Limiter::Chat { cost: 1 }
        );
        assert_eq!(
            Command::Chat("/me is plain".into()).limiter(),
            Limiter::Chat { cost: 1 }
        );
        assert_eq!(cmd("/kick x").limiter(), Limiter::Chat { cost: 1 });
        assert_eq!(Command::Delete { uid: 1 }.limiter(), Limiter::None);
        assert!(cmd("/me waves").expects_echo());
        assert!(cmd("/sp hidden").expects_echo());
        assert!(!cmd("/kick x").expects_echo());
        assert!(Command::Chat("/kick x".into()).expects_echo());
    }
}
