//! Every default value of the v2 configuration, as a named constant.
//!
//! The typed model ([`crate::model`]), the migration ([`crate::migrate`]) and the docs all
//! read these, so a default is changed in exactly one place. Durations are in seconds, as
//! they are written in the file.

/// The version string written by `rosey config migrate` and by `--print`.
pub const VERSION: &str = "2.0";

/// `nats.url` value (and the meaning of a missing `nats` section): the in-process bus.
pub const NATS_URL_EMBEDDED: &str = "embedded";
/// `nats.connection_timeout`, seconds.
pub const NATS_CONNECTION_TIMEOUT_SECS: f64 = 5.0;
/// `nats.max_reconnect_attempts`; `-1` means "retry forever".
pub const NATS_MAX_RECONNECT_ATTEMPTS: i64 = -1;
/// `nats.reconnect_delay`, seconds.
pub const NATS_RECONNECT_DELAY_SECS: f64 = 2.0;
/// `nats.jetstream`: durable mode is opt-in.
pub const NATS_JETSTREAM: bool = false;
/// `nats.tls.required`.
pub const NATS_TLS_REQUIRED: bool = false;

/// `nats.jetstream_options.stream`: the stream that holds the `rosey.db.*` event subjects.
pub const JETSTREAM_STREAM: &str = "ROSEY_DB";
/// `nats.jetstream_options.consumer`: the durable consumer the database services share.
pub const JETSTREAM_CONSUMER: &str = "rosey-db-service";
/// `nats.jetstream_options.max_age`, seconds (7 days): how long events wait for a database
/// service that is down before the server discards them.
pub const JETSTREAM_MAX_AGE_SECS: f64 = 7.0 * 24.0 * 3600.0;
/// `nats.jetstream_options.max_bytes` (1 GiB); `-1` means unlimited.
pub const JETSTREAM_MAX_BYTES: i64 = 1 << 30;
/// `nats.jetstream_options.duplicate_window`, seconds: the window in which the server drops
/// a re-published event with the same message id (NATS's own default is 2 minutes).
pub const JETSTREAM_DUPLICATE_WINDOW_SECS: f64 = 120.0;
/// `nats.jetstream_options.storage`: `"file"` survives a server restart, `"memory"` does not.
pub const JETSTREAM_STORAGE: &str = "file";
/// `nats.jetstream_options.replicas` (1 for a single server; at most 5 in a cluster).
pub const JETSTREAM_REPLICAS: u8 = 1;
/// Largest replica count NATS accepts.
pub const JETSTREAM_MAX_REPLICAS: u8 = 5;

/// `database.path`: the SQLite file (the name Rosey v0.5 used, so it is adopted in place).
pub const DATABASE_PATH: &str = "bot_data.db";
/// `database.run_as_service`: `rosey run` also starts the database service in-process.
pub const DATABASE_RUN_AS_SERVICE: bool = true;
/// `database.retention.recent_chat_hours` (SPEC §7).
pub const RETENTION_RECENT_CHAT_HOURS: u64 = 150;
/// `database.retention.user_count_history_days` (SPEC §7).
pub const RETENTION_USER_COUNT_HISTORY_DAYS: u64 = 30;
/// `database.retention.sent_outbound_days` (SPEC §7).
pub const RETENTION_SENT_OUTBOUND_DAYS: u64 = 7;

/// `platforms[].type` of a CyTube server (the default).
pub const PLATFORM_TYPE: &str = "cytube";
/// `platforms[].type` of an IRC network.
pub const PLATFORM_TYPE_IRC: &str = "irc";
/// `platforms[].type` of a Matrix room.
pub const PLATFORM_TYPE_MATRIX: &str = "matrix";
/// `platforms[].name` given by `rosey config migrate` to the one v1 channel.
pub const PLATFORM_NAME_MIGRATED: &str = "primary";
/// `platforms[].enabled`.
pub const PLATFORM_ENABLED: bool = true;
/// `platforms[].response_timeout`, seconds.
pub const PLATFORM_RESPONSE_TIMEOUT_SECS: f64 = 1.0;
/// `platforms[].restart_delay`, seconds.
pub const PLATFORM_RESTART_DELAY_SECS: f64 = 5.0;

/// `shell.enabled`: the PM command shell.
pub const SHELL_ENABLED: bool = true;
/// `shell.min_rank`: the lowest CyTube rank whose PMs are commands (2 = moderator).
pub const SHELL_MIN_RANK: f64 = 2.0;

/// `logging.level`.
pub const LOG_LEVEL: &str = "info";
/// `logging.format`.
pub const LOG_FORMAT: &str = "text";

/// What [`crate::Config::default_channel`] answers when no platform is enabled.
pub const DEFAULT_CHANNEL: &str = "default";

/// `logging.file.max_bytes`: 100 MiB.
pub const LOG_FILE_MAX_BYTES: u64 = 100 * 1024 * 1024;
/// `logging.file.keep`: a week of daily files.
pub const LOG_FILE_KEEP: usize = 7;
