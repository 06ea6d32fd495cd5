//! Rosey plugins: separate processes on the NATS bus that answer chat commands.
//!
//! A plugin is a NATS micro service (the `$SRV.PING/INFO/STATS` discovery API) whose
//! metadata marks it as a Rosey plugin and whose endpoints are its commands, each with its
//! help text and the minimum rank it needs. The bot discovers plugins, checks rank and rate
//! limits itself, and sends each command as a request; the reply says what to say. The wire
//! format is documented for every language in `docs/plugins.md`.
//!
//! # Layout
//! - [`protocol`]: the versioned JSON payloads (request, reply) and the naming rules
//!   (subjects, metadata keys). Pure data.
//! - [`runtime`]: [`Plugin`], the builder that registers the micro service and runs the
//!   handlers, one task per request, so a Rust plugin is a few lines.
//! - [`discovery`]: finding the plugins on the bus (`$SRV.INFO`), for the bot, `!help` and
//!   `rosey plugins list`.
//! - [`kv`]: [`Kv`], a client of the database service's plugin key-value store.
//!
//! A plugin must not reach the database or the bot in any other way than the bus.
//!
//! ```no_run
//! use rosey_plugin::{CommandSpec, Plugin, Reply};
//! # async fn run() -> Result<(), rosey_plugin::PluginError> {
//! let client = async_nats::connect("nats://127.0.0.1:4222").await.unwrap();
//! Plugin::new("hello", "1.0.0")
//!     .command(CommandSpec::new("hello", "Says hello."), |req| async move {
//!         Reply::chat(format!("Hello, {}!", req.user))
//!     })
//!     .run(&client)
//!     .await
//! # }
//! ```

pub mod discovery;
pub mod kv;
pub mod protocol;
pub mod runtime;

pub use discovery::{PluginInfo, discover};
pub use kv::{Kv, KvError};
pub use protocol::{CommandInfo, CommandRequest, Context, MediaInfo, PollSpec, Reply};
pub use runtime::{CommandSpec, Plugin, PluginError, RunningPlugin};
