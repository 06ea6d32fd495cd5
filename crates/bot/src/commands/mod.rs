//! Chat commands answered by plugin processes (`docs/plugins.md`): a line starting with the
//! prefix (`!roll 2d6`) is routed to the plugin that registered the command, and the
//! plugin's reply becomes chat lines or PMs through the channel's normal send path (so the
//! flood pacing applies).
//!
//! The bot, not the plugin, enforces everything a plugin could abuse or get wrong: the
//! command's minimum rank (from the bot's own user list, never from the chat line), rate
//! limits per user and per channel, a timeout per request, an output budget per command,
//! and which plugins a channel has. Each request runs in its own task: a slow, hung or dead
//! plugin costs its asker one timeout and never holds up the channel or other commands.
//!
//! This module sees a chat line as (channel, user, rank, text) and sends through the
//! channel's [`Platform`](crate::platform::Platform); it names no platform type.
//!
//! # Layout
//! - [`registry`]: the plugins on the bus (micro-service discovery, refreshed on a timer
//!   and when a plugin announces itself) and the command → plugin table.
//! - [`limits`]: token buckets per user and per channel.
//! - [`router`]: [`ChannelCommands`], one channel's routing: parse, check, ask, answer.
//! - [`context`]: the request context from the channel's live view.

pub mod context;
pub mod limits;
pub mod registry;
pub mod router;

pub use registry::Registry;
pub use router::{ChannelCommands, ChatLine, CommandStats, Outcome};
