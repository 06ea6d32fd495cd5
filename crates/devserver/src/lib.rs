//! A CyTube-compatible development server for offline development, demos and tests
//! (SPEC §4.4). It speaks socket.io v4 (Engine.IO 4) through `socketioxide` and serves
//! `/socketconfig/<channel>.json` through `axum` on the same port. Behaviour follows
//! `cytube-protocol.md`: join burst order, login replies, HTML escaping, the 20/10 flood
//! limit with `cooldown`, 320-character truncation, PMs, `/kick`, playlist events.
//!
//! # Layout
//! - [`config`]: [`DevServerConfig`] and [`Account`]; defaults are CyTube's values.
//! - [`error`]: the error type, [`DevServerError`].
//! - [`server`]: [`DevServer`] — listener, socket.io wiring, event routing, the
//!   observation/control handle used by tests and `rosey demo`.
//! - [`socketconfig`]: the `/socketconfig/<channel>.json` route; `server` also answers
//!   `/devserver/presence/<name>` (in how many channels a user is), which CyTube has not.
//! - [`listen`]: the HTTP listener (hyper with a request-header timeout).
//! - [`state`]: the in-memory world (connections, channels, permissions) and the
//!   [`state::Outbox`] handlers write frames to.
//! - [`session`]: connect, `joinChannel`, channel passwords, `login`, the join burst, leaving.
//! - [`chat`]: `chatMsg` pipeline, chat commands, `pm`.
//! - [`playlist`]: queue/delete/move/jump/skip/clear, voteskip, leader.
//! - [`poll`]: `newPoll`, `vote`, `closePoll`, `/poll`, `/hpoll`.
//! - [`moderation`]: `/mute`, `/smute`, `/unmute`, `/ban`, `/ipban`, `requestBanlist`, `unban`.
//! - [`flood`]: CyTube's rate limiter (pure).
//! - [`text`]: truncation, control characters, HTML escaping, links, name rules (pure).
//!
//! Outside `src/`: `tests/` drives the server over real sockets (a raw Engine.IO client in
//! `tests/common`), and `js/client.js` drives it with the official `socket.io-client`.
//!
//! As under CyTube, an event sent before the namespace CONNECT ack closes the connection
//! (socketioxide does this itself). A leader's `mediaUpdate` is relayed to the channel. Not
//! implemented (yet): poll timeouts, `setOptions`/`setPermissions` from clients,
//! chat filters, emotes, timed `mediaUpdate` ticks (playback advances at its end only with
//! `DevServerConfig::playback_speed`), per-IP connection
//! limits, the `usercount` debounce (it is sent at once). See `README.md` for the deliberate differences.

pub mod chat;
pub mod config;
pub mod error;
pub mod flood;
pub mod listen;
pub mod moderation;
pub mod playlist;
pub mod poll;
pub mod server;
pub mod session;
pub mod socketconfig;
pub mod state;
pub mod text;

pub use config::{Account, DevServerConfig};
pub use error::DevServerError;
pub use server::DevServer;
pub use state::{ChatRecord, Footprint, PmRecord, UserInfo};
