//! The Rosey wire model: every payload that crosses the bus, the subject names, and the
//! normalized chat event. Pure data — no I/O, no async — so every other crate can depend on it.
//!
//! # Layout
//! - [`subjects`]: the one table of subject names (`rosey.db.*`) and the builders for
//!   `rosey.events.<channel>.<kind>` and `rosey.commands.<channel>.<action>`.
//! - [`payload`]: typed structs for every `rosey.db.*` event, request and reply (SPEC §3).
//! - [`event`]: the normalized event the bot publishes (SPEC §4.2).
//! - [`web`]: requests and replies of the dashboard's subjects (current status, outbound
//!   rows, user search, chat activity, API tokens).
//! - [`codec`]: the one JSON helper: decode with a size limit and an error naming the field.
//! - [`media`]: the media history's queries and replies (`rosey.db.query.media.*`) and the
//!   names of how a play ends.
//! - [`kv`]: the plugin key-value store's requests and replies (`rosey.db.kv.*`).
//!
//! Compatibility rules (SPEC §2–§3): unknown fields are ignored on input, field names are
//! exactly those of Rosey v0.5, and a missing `channel` means the default channel.

pub mod codec;
pub mod event;
pub mod kv;
pub mod media;
pub mod payload;
pub mod subjects;
pub mod web;

pub use codec::{DecodeError, MAX_PAYLOAD_BYTES, decode, decode_list, encode};
pub use event::{EventBody, NormalizedEvent, UserData};
