//! Rosey's configuration: the v2 model, its validation, environment overrides and the
//! v1 → v2 migration (SPEC §6).
//!
//! # Layout
//! - [`defaults`] — every default value as a named constant.
//! - [`model`] — the typed v2 configuration other crates read ([`Config`] and its sections),
//!   with helpers such as [`Config::enabled_platforms`] and [`Config::default_channel`].
//! - [`source`] — text → JSON value: format by extension, JSON/YAML parsing with line and
//!   column, `_comment`/`_note` keys, v1/v2 detection.
//! - [`schema`] — the JSON Schema generated from the model's serde types: the one list of
//!   keys (unknown-key detection, rendering order, `rosey config schema`, `config.schema.json`).
//! - [`aliases`] — other spellings of v2 keys (v0.5's documents: `nats.timeout`, a CyTube
//!   platform's `server`), read as the documented key.
//! - [`validate`](mod@validate) — every rule, on the untyped value, reporting all [`Problem`]s at once.
//! - [`env`](mod@env) — environment overrides for secrets and deployment settings.
//! - [`load`] — the pipeline tying those together ([`Config::load`], [`load::load_file`]).
//! - [`moderation`] — the `moderation` section: the automated moderator's rule sets.
//! - [`media`] — `plugins.media`: the media commands' ranks and per-channel autoplay.
//! - [`redact`] — hiding secrets for `--print` and logs.
//! - [`render`] — writing a value back as JSON or YAML in the documented key order.
//! - [`migrate`] — v1 → v2 on values ([`migrate::migrate_v1`]) and files
//!   ([`migrate::migrate_file`], atomic, with backups).
//! - `atomic` (private) — write-temp-then-rename.
//! - [`error`] — [`ConfigError`].
//!
//! # Use
//! ```no_run
//! # fn main() -> Result<(), rosey_config::ConfigError> {
//! let config = rosey_config::Config::load(std::path::Path::new("config.json"))?;
//! for platform in config.enabled_platforms() {
//!     println!("{} → {}", platform.domain, platform.channel.name);
//! }
//! # Ok(()) }
//! ```

pub mod aliases;
mod atomic;
pub mod defaults;
pub mod env;
pub mod error;
pub mod load;
pub mod media;
pub mod migrate;
pub mod model;
pub mod moderation;
pub mod plugins;
pub mod redact;
pub mod render;
pub mod schema;
pub mod source;
pub mod validate;

pub use env::{EnvOverride, apply_env};
pub use error::ConfigError;
pub use load::Loaded;
pub use model::{
    Channel, ClusterConfig, Config, DatabaseConfig, JetStreamOptions, LogFileConfig, LogFormat,
    LogLevel, LogRotate, LoggingConfig, Login, MetricsConfig, NatsConfig, NatsUrl, PlatformConfig,
    PlatformKind, ReadyWhen, RetentionConfig, Secret, ShellConfig, StorageKind, TlsConfig,
    WebConfig,
};
pub use source::Format;
pub use validate::{Problem, validate};
