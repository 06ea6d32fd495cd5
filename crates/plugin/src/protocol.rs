//! The plugin protocol, version 1: what crosses the bus between the bot and a plugin.
//!
//! - A plugin registers a NATS micro service named after the plugin, with service metadata
//!   `rosey_plugin = "1"` (the protocol version).
//! - Each command is one endpoint: endpoint name = command name, subject
//!   `rosey.plugins.<plugin>.<command>`, endpoint metadata `help`, `usage` and `min_rank`.
//! - The bot sends a [`CommandRequest`] and waits for a [`Reply`].
//!
//! Payloads are JSON objects with a `v` field (the protocol version); readers ignore fields
//! they do not know, and every field but the few the bot always sends has a default, so
//! either side can add fields without breaking the other.

use serde::{Deserialize, Serialize};

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// Service metadata key that marks a Rosey plugin; its value is the protocol version.
pub const META_PROTOCOL: &str = "rosey_plugin";
/// Endpoint metadata: one line of help.
pub const META_HELP: &str = "help";
/// Endpoint metadata: a usage line (`!roll NdM`).
pub const META_USAGE: &str = "usage";
/// Endpoint metadata: the lowest rank that may run the command (a number; default 0).
pub const META_MIN_RANK: &str = "min_rank";
/// Endpoint metadata: `"true"` when the command may also be sent to the bot by PM (then it
/// is answered by PM).
pub const META_PM: &str = "pm";
/// Prefix of every command subject.
pub const SUBJECT_PREFIX: &str = "rosey.plugins";
/// A plugin publishes its name here once registered, so bots discover it at once instead
/// of at their next periodic discovery (optional: discovery finds it anyway).
pub const ANNOUNCE_SUBJECT: &str = "rosey.plugins.announce";

/// The standard plugins' names (`rosey plugins` runs them): when plugins claim one command
/// name at the same moment, the bot gives it to the standard plugin.
pub const STANDARD_PLUGINS: [&str; 14] = [
    "help",
    "seen",
    "stats",
    "media",
    "uptime",
    "dice",
    "eightball",
    "choose",
    "quote",
    "tell",
    "remind",
    "poll",
    "history",
    "blacklist",
];

/// `rosey.plugins.<plugin>.<command>`.
pub fn command_subject(plugin: &str, command: &str) -> String {
    format!("{SUBJECT_PREFIX}.{plugin}.{command}")
}

/// Is `name` usable as a plugin or command name (`[A-Za-z0-9_-]{1,64}`, which is also what
/// the micro-service API accepts and a single subject token)?
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn version() -> u32 {
    PROTOCOL_VERSION
}

/// A command, as the bot sends it to the plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CommandRequest {
    #[serde(default = "version")]
    pub v: u32,
    /// The channel the command was typed in.
    pub channel: String,
    /// Who typed it.
    pub user: String,
    /// The user's rank from the bot's own user list (never from the chat line).
    #[serde(default)]
    pub rank: f64,
    /// The command name, without the prefix (`roll`).
    pub command: String,
    /// Everything after the command word, trimmed (`2d6`).
    #[serde(default)]
    pub args: String,
    /// The id of the chat event that carried the command.
    #[serde(default)]
    pub event_id: String,
    /// When the line was typed, epoch seconds.
    #[serde(default)]
    pub ts: f64,
    /// The command prefix the channel uses (for help and usage lines).
    #[serde(default)]
    pub prefix: String,
    /// The command came by PM (the bot answers by PM whatever the reply's fields).
    #[serde(default)]
    pub pm: bool,
    /// What the bot knows about the channel right now.
    #[serde(default)]
    pub context: Context,
}

impl CommandRequest {
    /// The arguments split on white space.
    pub fn argv(&self) -> Vec<&str> {
        self.args.split_whitespace().collect()
    }
}

/// The channel as the bot sees it when the command arrives.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct Context {
    /// When the bot started, epoch seconds.
    pub bot_started: Option<f64>,
    /// Users in the chat.
    pub users: Option<u64>,
    /// What is playing.
    pub media: Option<MediaInfo>,
    /// The playlist: items and total length.
    pub playlist_items: Option<u64>,
    pub playlist_seconds: Option<u64>,
    /// The next titles after the current one (a few).
    pub upcoming: Vec<String>,
}

/// The current media.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct MediaInfo {
    pub title: String,
    #[serde(rename = "type")]
    pub media_type: String,
    pub id: String,
    /// Length in seconds (0 for live streams).
    pub duration: u64,
    /// Who queued it, when known.
    pub queued_by: Option<String>,
}

/// A poll the bot should open (needs the bot to have the poll permission).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PollSpec {
    pub title: String,
    pub options: Vec<String>,
}

/// What the plugin wants done. Empty = say nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Reply {
    #[serde(default = "version")]
    pub v: u32,
    /// Lines for the channel's chat.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chat: Vec<String>,
    /// Lines sent by PM to the user who asked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pm: Vec<String>,
    /// The command failed or was used wrongly: one short line the bot shows the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Open a poll in the channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<PollSpec>,
}

impl Reply {
    /// Say nothing.
    pub fn none() -> Reply {
        Reply {
            v: PROTOCOL_VERSION,
            ..Reply::default()
        }
    }

    /// One chat line.
    pub fn chat(line: impl Into<String>) -> Reply {
        Reply {
            chat: vec![line.into()],
            ..Reply::none()
        }
    }

    /// One PM to the asker.
    pub fn pm(line: impl Into<String>) -> Reply {
        Reply {
            pm: vec![line.into()],
            ..Reply::none()
        }
    }

    /// An error or usage line.
    pub fn error(text: impl Into<String>) -> Reply {
        Reply {
            error: Some(text.into()),
            ..Reply::none()
        }
    }
}

/// One command as discovered on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CommandInfo {
    pub name: String,
    pub subject: String,
    pub help: String,
    pub usage: String,
    pub min_rank: f64,
    /// Also answered when sent by PM.
    #[serde(default)]
    pub pm: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_ignored_and_missing_ones_default() {
        let r: CommandRequest =
            serde_json::from_str(r#"{"channel":"c","user":"u","command":"roll","future":{"x":1}}"#)
                .unwrap();
        assert_eq!((r.v, r.rank, r.args.as_str()), (1, 0.0, ""));
        let reply: Reply = serde_json::from_str(r#"{"chat":["hi"],"v":2,"sound":"x"}"#).unwrap();
        assert_eq!(reply.chat, vec!["hi"]);
        let empty: Reply = serde_json::from_str("{}").unwrap();
        assert!(empty.chat.is_empty() && empty.error.is_none());
    }

    #[test]
    fn names_are_single_subject_tokens() {
        assert!(valid_name("roll") && valid_name("my-plugin_2"));
        assert!(!valid_name("") && !valid_name("a.b") && !valid_name("a b") && !valid_name("*"));
        assert_eq!(command_subject("dice", "roll"), "rosey.plugins.dice.roll");
    }
}
