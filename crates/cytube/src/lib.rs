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
//! - `discovery.rs`: `/socketconfig/<channel>.json` → websocket URL.
//! - `config.rs`: [`ClientConfig`] and its validation.
//! - `state.rs`: [`ChannelState`], an optional mirror of the channel built from events.
//! - `connection.rs`: the task that owns the socket ([`connect`] spawns it).
//! - [`tls`]: the `wss://` connector on the process's one TLS configuration (`rosey-net`);
//!   the reconnect `Backoff` is `rosey-net`'s too.
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
//!
//! # Behaviour (what the bot can rely on)
//! - **Lifecycle.** Each connection emits `Connected` (after the socket.io CONNECT ack; clear
//!   your state here), then the join burst as `Server(..)` events, then `Joined` right after
//!   `userlist`. Chat before `Joined` is history replay: `ChatMessage::history` is true.
//!   `from_self` marks the server's echo of our own chat and PMs.
//! - **Reconnect.** Any failure (discovery, websocket, CONNECT_ERROR, ping timeout, server
//!   restart, kick, login error of unknown kind) emits `Disconnected { reason }` and
//!   `Reconnecting { attempt, delay }`, then tries again, forever. Delays grow from
//!   `backoff.base` to `backoff.cap` (default 5 s … 60 s) with up to 25 % jitter; the count
//!   restarts after a connection that reached `Joined`. A kick emits `Kicked { reason }` first.
//! - **Stops** (emit `Stopped { reason }`, then the stream ends) happen only where retrying
//!   cannot help: `shutdown()` or every handle dropped; a "Duplicate login" kick with
//!   [`DuplicateLoginPolicy::Stop`] (the default: another instance owns the name, and two
//!   instances must not kick each other in turn; `BackOffToCap` waits the cap and retries);
//!   a refused login whose cause is permanent (wrong password, unknown user, name reserved or
//!   registered); a missing or rejected channel password; an invalid config.
//! - **Guest login refusals that pass with time** ("one guest login per IP per 60 s", "name
//!   already in use" while our previous socket is still a ghost) are retried on the same
//!   connection every `login_retry` (65 s by default).
//! - **Channel password.** `channel_password` goes in `joinChannel`; on `needPassword` it is sent
//!   once more as `channelPassword`; a second refusal stops the client.
//! - **Sending.** Commands are accepted only while joined (`SendError::NotJoined` otherwise, so
//!   a caller can retry later); they wait in one FIFO until we are logged in. Chat and PMs are
//!   split at `max_message_len` (320 UTF-16 units) on word boundaries and paced below the
//!   server's flood limiter ([`Throttle`]: burst 16, then one per 140 ms by default; stricter
//!   when the channel's `chat_antiflood` applies to our rank). Chat text is plain text: no
//!   part of it reaches the server starting with `/` (a guard goes in front); channel commands
//!   (`/kick`, `/me`) are a type of their own, [`ChannelCommand`], sent with
//!   [`CytubeHandle::command`]. `queue` is paced below the
//!   playlist-add limiter. If the server still answers `cooldown`, the queue pauses, slows
//!   down, and the dropped message is sent again in its place. The `*_confirmed` methods
//!   resolve when the frame is written to the socket, or fail with `Disconnected`/`Closed` when
//!   the connection ends first; everything still queued at a disconnect is failed, not kept.
//! - **State.** The client keeps a [`ChannelState`] only for its own needs (name, rank, AFK,
//!   antiflood). It is not shared: a bot keeps its own by calling [`ChannelState::apply`] on
//!   each event it receives, so its state always matches the event being handled. It has the
//!   user list with ranks/AFK/mute, usercount, the playlist with uids ([`ChannelState::uid_at`]
//!   maps a 1-based position to a uid), current media, leader, our name and rank, channel
//!   options and permissions.
//! - **Hostile input.** Undecodable frames are logged and skipped; events with an unexpected
//!   payload arrive as [`ServerEvent::Other`] with the raw arguments. Nothing panics.

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
pub mod tls;

pub use command::{
    ChannelCommand, Command, Limiter, MODERATION_VERBS, QueuePosition, QueueRequest,
};
pub use config::{ClientConfig, ConfigError, DuplicateLoginPolicy, Login};
pub use connection::connect;
pub use discovery::{
    DiscoveryError, ServerEntry, choose_server, discover, read_socketconfig, websocket_url,
};
pub use event::{
    BanEntry, ChangeMedia, ChannelOpts, ChatMessage, EventDecodeError, FloodParams, LoginReply,
    Media, PlaylistItem, Poll, PollCount, Position, PrivateMessage, Profile, Rank, ServerEvent,
    User, UserMeta, VOTESKIP_NOTICE, VoteskipPassed,
};
pub use handle::{ClientStats, CytubeEvent, CytubeHandle, EventStream, SendError};
pub use html::to_plain_text;
pub use rosey_net::Backoff;
pub use split::{
    COMMAND_GUARD, MAX_MESSAGE_UNITS, guard_line, split_chat, split_message, starts_like_command,
    utf16_len,
};
pub use state::ChannelState;
pub use throttle::{Throttle, ThrottleParams};

/// The wire codecs, public for tools and fuzzing (`bytes ↔ packets`).
pub mod codec {
    pub use crate::engineio::{
        DecodeError as EngineIoDecodeError, Handshake, Packet as EngineIoPacket,
    };
    pub use crate::socketio::{DecodeError as SocketIoDecodeError, Packet as SocketIoPacket};
}
