//! One channel's instruments (atomics, updated by the channel runner, the pump and the
//! shell, read at scrape time by [`crate::metrics`]).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use rosey_metrics::LabeledCounters;

use crate::breaker::Breaker;

/// Kinds of CyTube events counted in `rosey_bot_cytube_events_total`.
pub const EVENT_KINDS: &[&str] = &[
    "chat",
    "pm",
    "add_user",
    "user_leave",
    "userlist",
    "usercount",
    "change_media",
    "playlist",
    "cooldown",
    "kick",
    "error",
    "connection",
    "other",
];

/// Shell commands counted by name; anything else counts as `other`.
pub const SHELL_COMMANDS: &[&str] = &[
    "help", "info", "status", "stats", "users", "user", "afk", "say", "pm", "clear", "playlist",
    "current", "add", "remove", "move", "jump", "next", "pause", "kick", "voteskip", "poll",
    "vote", "mute", "unmute", "ban", "smute", "unban", "banlist", "endpoll", "redact", "other",
];

/// One channel's instruments. Shared (through the [`Publisher`]) by the channel loop, the
/// pump and the shell.
#[derive(Debug)]
pub struct ChannelMetrics {
    pub reconnects: AtomicU64,
    pub users_chat: AtomicI64,
    pub users_connected: AtomicI64,
    pub events: LabeledCounters,
    pub shell_success: LabeledCounters,
    pub shell_error: LabeledCounters,
    pub outbound_sent: AtomicU64,
    pub outbound_failed: AtomicU64,
    /// The breaker on this channel's database queries.
    pub breaker: Breaker,
    /// The next playlist items, for the bot's status (kept by the channel loop).
    pub upcoming: std::sync::Mutex<Vec<crate::platform::Upcoming>>,
    /// The users and their ranks, for the bot's status (kept by the channel loop).
    pub users: std::sync::Mutex<Vec<crate::platform::StatusUser>>,
}

impl ChannelMetrics {
    pub fn new(channel: &str, breaker: crate::breaker::BreakerSettings) -> Self {
        ChannelMetrics {
            reconnects: AtomicU64::new(0),
            users_chat: AtomicI64::new(0),
            users_connected: AtomicI64::new(0),
            events: LabeledCounters::new(EVENT_KINDS),
            shell_success: LabeledCounters::new(SHELL_COMMANDS),
            shell_error: LabeledCounters::new(SHELL_COMMANDS),
            outbound_sent: AtomicU64::new(0),
            outbound_failed: AtomicU64::new(0),
            breaker: Breaker::new(channel, breaker),
            upcoming: std::sync::Mutex::new(Vec::new()),
            users: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Counts an event of `kind` (one of [`EVENT_KINDS`]; anything else is `other`), and a
    /// reconnect attempt.
    pub fn on_event(&self, kind: &str, reconnect: bool) {
        let i = self.events.index_of(kind).unwrap_or(EVENT_KINDS.len() - 1);
        self.events.inc(i);
        if reconnect {
            self.reconnects.fetch_add(1, Relaxed);
        }
    }

    /// Counts a shell command by name and outcome (a lookup in a short fixed list: shell
    /// commands are rare).
    pub fn shell(&self, command: &str, success: bool) {
        let i = self
            .shell_success
            .index_of(command)
            .unwrap_or(SHELL_COMMANDS.len() - 1);
        if success {
            self.shell_success.inc(i);
        } else {
            self.shell_error.inc(i);
        }
    }
}
