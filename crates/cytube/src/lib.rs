//! A CyTube client: socket.io v4 over websocket, typed events, paced commands, reconnects.
//!
//! # Layout
//! - `engineio.rs`: Engine.IO 4 packets ↔ websocket frame text (pure, property-tested).
//! - `socketio.rs`: socket.io 5 packets ↔ Engine.IO message payloads (pure, property-tested).
//! - `event.rs`: socket.io events ↔ typed [`ServerEvent`]s (pure; unknown/malformed → `Other`).
//! - `command.rs`: typed [`Command`]s → socket.io events.
//! - `html.rs`: chat/PM HTML → plain text.
//! - `split.rs`: long text → lines of at most 320 UTF-16 units, on word boundaries.
//! - `throttle.rs`: pacing below CyTube's flood limiter (pure, tested on a paused clock).
//! - `backoff.rs`: reconnect delays (exponential, jitter, cap).
//! - `discovery.rs`: `/socketconfig/<channel>.json` → websocket URL.
//! - `config.rs`: [`ClientConfig`] and its validation.
//! - `state.rs`: [`ChannelState`], an optional mirror of the channel built from events.
//! - `connection.rs`: the task that owns the socket ([`connect`] spawns it).
//! - `handle.rs`: [`CytubeHandle`] (commands in) and [`EventStream`] (events out).
//!
//! # Why a small codec and not `rust_socketio`
//! CyTube needs four things `rust_socketio` 0.6 makes awkward (cytube-protocol.md §7): waiting
//! for the namespace CONNECT acknowledgement before the first emit (its `connect()` returns
//! earlier), zero-argument events (it reports them as `"message"` with the name as data), a ping
//! timeout we control, and our own reconnect policy (CyTube's per-IP connection and guest-login
//! limits punish eager reconnects; its async reconnect is young). The protocol subset CyTube
//! uses — JSON text frames over one websocket — is small, so a pure, property-tested
//! `bytes ↔ packets` codec plus `tokio-tungstenite` gives full control with little code.
//!
//! # Using it
//! ```no_run
//! # async fn demo() {
//! use rosey_cytube::{ClientConfig, CytubeEvent, Login, ServerEvent, connect};
//! let cfg = ClientConfig::new("http://127.0.0.1:8080", "mychannel", Login::Guest("rosey".into()));
//! let (handle, mut events) = connect(cfg);
//! while let Some(event) = events.recv().await {
//!     match event {
//!         CytubeEvent::Joined { .. } => handle.chat("hello").unwrap(),
//!         CytubeEvent::Server(ServerEvent::ChatMsg(m)) if !m.history && !m.from_self => {
//!             println!("{}: {}", m.username, m.text);
//!         }
//!         _ => {}
//!     }
//! }
//! # }
//! ```
//! State: the client decodes events and keeps a [`ChannelState`] only for its own needs (name,
//! rank, AFK, antiflood); a bot keeps its own by calling [`ChannelState::apply`] on each event.

mod backoff;
mod command;
mod config;
mod connection;
mod discovery;
mod engineio;
mod event;
mod handle;
mod html;
mod socketio;
mod split;
mod state;
mod throttle;

pub use backoff::Backoff;
pub use command::{Command, Limiter, QueuePosition, QueueRequest};
pub use config::{ClientConfig, ConfigError, DuplicateLoginPolicy, Login};
pub use connection::connect;
pub use discovery::{DiscoveryError, ServerEntry, choose_server, discover, websocket_url};
pub use event::{
    ChangeMedia, ChannelOpts, ChatMessage, EventDecodeError, FloodParams, LoginReply, Media,
    PlaylistItem, Poll, PollCount, Position, PrivateMessage, Profile, Rank, ServerEvent, User,
    UserMeta,
};
pub use handle::{CytubeEvent, CytubeHandle, EventStream, SendError};
pub use html::to_plain_text;
pub use split::{MAX_MESSAGE_UNITS, split_message, utf16_len};
pub use state::ChannelState;
pub use throttle::{Throttle, ThrottleParams};

/// The wire codecs, public for tools and fuzzing (`bytes ↔ packets`).
pub mod codec {
    pub use crate::engineio::{
        DecodeError as EngineIoDecodeError, Handshake, Packet as EngineIoPacket,
    };
    pub use crate::socketio::{DecodeError as SocketIoDecodeError, Packet as SocketIoPacket};
}
