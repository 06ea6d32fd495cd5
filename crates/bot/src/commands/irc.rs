//! The IRC side of command routing: an [`IrcHandle`] as the [`Outlet`] (its send queue is
//! the flood-paced token bucket, so replies never trip the server's excess-flood limit)
//! and the request [`Context`] from what an IRC channel has (its members; no media).
//! IRC has no polls: a plugin's poll is refused as "not supported on this platform".

use rosey_irc::IrcHandle;
use rosey_plugin::Context;

use super::Outlet;
use crate::platform::{ActionError, Platform};

impl Outlet for IrcHandle {
    fn chat(&self, text: &str) -> Result<(), String> {
        Platform::say(self, text).map_err(|e| e.to_string())
    }

    fn pm(&self, to: &str, text: &str) -> Result<(), String> {
        Platform::pm(self, to, text).map_err(|e| e.to_string())
    }

    fn poll(&self, _title: &str, _options: Vec<String>) -> Result<(), String> {
        Err(ActionError::Unsupported("poll").to_string())
    }
}

/// What a plugin is told about an IRC channel.
pub fn context(handle: &IrcHandle, bot_started: f64) -> Context {
    Context {
        bot_started: Some(bot_started),
        users: Some(handle.members().len() as u64),
        ..Context::default()
    }
}
