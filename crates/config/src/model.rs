//! The typed v2 configuration: what the rest of Rosey reads.
//!
//! These structs are only ever built from a value that [`crate::validate()`] has accepted, so
//! deserialisation here does no checking of its own beyond shapes; every rule and every
//! error message lives in the validator. Defaults come from [`crate::defaults`].
//! Secrets are held in [`Secret`], whose `Debug` never shows the value, so a config can be
//! logged with `?config` safely; `Serialize` does write them (the file must round-trip), so
//! use [`Config::to_redacted_value`] for anything shown to a human.

use std::{fmt, path::PathBuf, time::Duration};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::defaults as d;

/// A configuration value that must never be shown: a password or a token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for handing to the code that needs it (a login, a NATS connect).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The `version` key. Accepts `"2.0"`, `"2"`, `2` and `2.0` (the validator has already
/// rejected anything else); always written back as `"2.0"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Version;

impl Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(d::VERSION)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(de)?;
        if crate::source::is_v2_version(&v) {
            Ok(Version)
        } else {
            Err(serde::de::Error::custom(format!("unsupported version {v}")))
        }
    }
}

/// The whole v2 configuration (SPEC §6.1).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Config {
    /// Always v2 once loaded.
    pub version: Version,
    /// The bus. Missing section = the embedded in-process bus.
    pub nats: NatsConfig,
    /// Storage and the in-process database service.
    pub database: DatabaseConfig,
    /// The CyTube channels to join. May be empty (a database-service-only deployment).
    pub platforms: Vec<PlatformConfig>,
    /// The PM command shell.
    pub shell: ShellConfig,
    /// Log level, format and the chat/media log files.
    pub logging: LoggingConfig,
    /// A Rosey v0.5 `plugins` section (`enabled`, `directory`, `auto_reload`), kept as
    /// written; not used (Rosey's plugins are separate processes on the bus).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<crate::plugins::PluginsSection>")]
    pub plugins: Option<Map<String, Value>>,
    /// The v1 / v0.5 `llm` object, carried over verbatim for a future LLM feature; unused today.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm: Option<Map<String, Value>>,
    /// v1 keys that have no v2 meaning, kept by `rosey config migrate` so nothing is lost.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub legacy: Map<String, Value>,
    /// `/metrics`, `/healthz`, `/readyz` (off unless `listen` is set).
    #[serde(skip_serializing_if = "MetricsConfig::is_default")]
    pub metrics: MetricsConfig,
    /// The web dashboard (`rosey web`; also `rosey run` when `listen` is set).
    #[serde(skip_serializing_if = "WebConfig::is_default")]
    pub web: WebConfig,
    /// Several bot processes sharing the channels through leases (off unless configured).
    #[serde(skip_serializing_if = "ClusterConfig::is_default")]
    pub cluster: ClusterConfig,
    /// The automated moderator's rule sets (`crate::moderation`; off unless enabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moderation: Option<Map<String, Value>>,
}

/// `web`: the dashboard and HTTP API listener.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct WebConfig {
    /// Address to serve on, e.g. `127.0.0.1:8080`; none = off (for `rosey run`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<std::net::SocketAddr>,
    /// Mark the session cookie `Secure` (set it when a TLS proxy serves the dashboard).
    pub secure_cookies: bool,
    /// Proxies (addresses or networks like `10.0.0.0/8`) whose `X-Forwarded-For` names the
    /// client; anyone else's is ignored.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<String>,
    /// Seconds a request's header may take to arrive (none: the dashboard's default, 10).
    #[schemars(with = "Option<f64>")]
    #[serde(with = "opt_secs", skip_serializing_if = "Option::is_none")]
    pub header_timeout: Option<std::time::Duration>,
    /// Seconds a connection may read and write nothing (none: 120).
    #[schemars(with = "Option<f64>")]
    #[serde(with = "opt_secs", skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<std::time::Duration>,
    /// Open connections in total (none: 512).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
    /// Open connections from one address (none: 64).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections_per_client: Option<usize>,
    /// Open event streams in total (none: 256).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_streams: Option<usize>,
    /// Open event streams of one client (none: 16).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_streams_per_client: Option<usize>,
}

impl WebConfig {
    fn is_default(&self) -> bool {
        *self == WebConfig::default()
    }
}

/// `cluster`: several `rosey bot` processes with the same configuration share the channels,
/// each channel held by one process at a time through a lease in a JetStream key-value
/// bucket; a dead process's channels are taken over once its leases expire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ClusterConfig {
    /// Share the channels through leases (needs NATS with JetStream).
    pub leases: bool,
    /// Longest time a dead process's channels stay without a bot.
    #[schemars(with = "f64")]
    #[serde(with = "secs")]
    pub lease_time: Duration,
    /// The key-value bucket holding the leases.
    pub bucket: String,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            leases: false,
            lease_time: Duration::from_secs(15),
            bucket: "rosey_leases".to_owned(),
        }
    }
}

impl ClusterConfig {
    fn is_default(&self) -> bool {
        *self == ClusterConfig::default()
    }
}

/// `metrics`: the Prometheus and health listener of long-running processes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct MetricsConfig {
    /// Address to serve on, e.g. `127.0.0.1:9464`; none = off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<std::net::SocketAddr>,
    /// When a bot is ready: every enabled channel joined, or at least one.
    pub ready_when: ReadyWhen,
}

impl MetricsConfig {
    fn is_default(&self) -> bool {
        *self == MetricsConfig::default()
    }
}

/// `metrics.ready_when`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadyWhen {
    #[default]
    AllChannels,
    AnyChannel,
}

/// `nats`: how to reach the bus (SPEC §2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct NatsConfig {
    /// One server, several, or the embedded bus.
    pub url: NatsUrl,
    /// How long one connection attempt may take.
    #[schemars(with = "f64")]
    #[serde(with = "secs")]
    pub connection_timeout: Duration,
    /// `-1` = forever; see [`NatsConfig::max_reconnects`].
    pub max_reconnect_attempts: i64,
    /// Pause between reconnection attempts.
    #[schemars(with = "f64")]
    #[serde(with = "secs")]
    pub reconnect_delay: Duration,
    /// User name for user/password authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Password for user/password authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// Token authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
    /// A `.creds` file (JWT + nkey seed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<PathBuf>,
    /// A file holding an nkey seed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nkey: Option<PathBuf>,
    /// Where this process's request replies come back; `None` = its role's own prefix
    /// (`_INBOX_bot`, `_INBOX_db`, …), which `deploy/nats/accounts.conf` grants that role only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbox_prefix: Option<String>,
    /// TLS settings; `None` = plain unless the URL says `tls://`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// Durable mode: database events go through a JetStream stream (SPEC §3.4).
    pub jetstream: bool,
    /// The stream and consumer used when `jetstream` is true.
    pub jetstream_options: JetStreamOptions,
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            url: NatsUrl::Embedded,
            connection_timeout: Duration::from_secs_f64(d::NATS_CONNECTION_TIMEOUT_SECS),
            max_reconnect_attempts: d::NATS_MAX_RECONNECT_ATTEMPTS,
            reconnect_delay: Duration::from_secs_f64(d::NATS_RECONNECT_DELAY_SECS),
            user: None,
            password: None,
            token: None,
            credentials: None,
            nkey: None,
            inbox_prefix: None,
            tls: None,
            jetstream: d::NATS_JETSTREAM,
            jetstream_options: JetStreamOptions::default(),
        }
    }
}

impl NatsConfig {
    /// True when Rosey should use the in-process bus instead of a NATS server.
    pub fn is_embedded(&self) -> bool {
        matches!(self.url, NatsUrl::Embedded)
    }

    /// The server URLs to try; empty for the embedded bus.
    pub fn server_urls(&self) -> &[String] {
        match &self.url {
            NatsUrl::Embedded => &[],
            NatsUrl::Servers(urls) => urls,
        }
    }

    /// `max_reconnect_attempts` in the shape async-nats wants: `None` = forever.
    pub fn max_reconnects(&self) -> Option<usize> {
        usize::try_from(self.max_reconnect_attempts).ok()
    }
}

/// `nats.url`: `"embedded"`, one URL, or a list of URLs (a cluster). `Debug` hides any
/// password in the URLs' user info.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "NatsUrlRepr", into = "NatsUrlRepr")]
pub enum NatsUrl {
    /// The in-process bus: one process, no NATS server.
    Embedded,
    /// NATS servers, tried in order.
    Servers(Vec<String>),
}

impl fmt::Debug for NatsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NatsUrl::Embedded => f.write_str("Embedded"),
            NatsUrl::Servers(urls) => f
                .debug_tuple("Servers")
                .field(
                    &urls
                        .iter()
                        .map(|u| crate::redact::redact_url(u))
                        .collect::<Vec<_>>(),
                )
                .finish(),
        }
    }
}

impl NatsUrl {
    /// Parses the form used on the command line and in `NATS_URL`: `"embedded"`, or one or
    /// more URLs separated by commas (the NATS tools' convention).
    pub fn parse_list(s: &str) -> Self {
        if s.trim() == d::NATS_URL_EMBEDDED {
            return NatsUrl::Embedded;
        }
        NatsUrl::Servers(
            s.split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum NatsUrlRepr {
    One(String),
    Many(Vec<String>),
}

impl From<NatsUrlRepr> for NatsUrl {
    fn from(r: NatsUrlRepr) -> Self {
        match r {
            NatsUrlRepr::One(s) if s == d::NATS_URL_EMBEDDED => NatsUrl::Embedded,
            NatsUrlRepr::One(s) => NatsUrl::Servers(vec![s]),
            NatsUrlRepr::Many(v) => NatsUrl::Servers(v),
        }
    }
}

impl From<NatsUrl> for NatsUrlRepr {
    fn from(u: NatsUrl) -> Self {
        match u {
            NatsUrl::Embedded => NatsUrlRepr::One(d::NATS_URL_EMBEDDED.to_owned()),
            NatsUrl::Servers(mut v) if v.len() == 1 => NatsUrlRepr::One(v.remove(0)),
            NatsUrl::Servers(v) => NatsUrlRepr::Many(v),
        }
    }
}

/// `nats.tls`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct TlsConfig {
    /// CA certificate(s) to trust, PEM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    /// Client certificate, PEM (needs `key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// Client private key, PEM (needs `cert`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// Refuse to connect without TLS.
    pub required: bool,
}

/// `nats.jetstream_options`: the durable stream for `rosey.db.*` events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct JetStreamOptions {
    /// Stream name.
    pub stream: String,
    /// Durable consumer name shared by the database services.
    pub consumer: String,
    /// Oldest event kept; zero = no age limit.
    #[schemars(with = "f64")]
    #[serde(with = "secs")]
    pub max_age: Duration,
    /// Stream size limit in bytes; `-1` = unlimited.
    pub max_bytes: i64,
    /// Window for de-duplicating re-published events by message id.
    #[schemars(with = "f64")]
    #[serde(with = "secs")]
    pub duplicate_window: Duration,
    /// File or memory storage.
    pub storage: StorageKind,
    /// Replica count (1 for a single server).
    pub replicas: u8,
}

impl Default for JetStreamOptions {
    fn default() -> Self {
        Self {
            stream: d::JETSTREAM_STREAM.to_owned(),
            consumer: d::JETSTREAM_CONSUMER.to_owned(),
            max_age: Duration::from_secs_f64(d::JETSTREAM_MAX_AGE_SECS),
            max_bytes: d::JETSTREAM_MAX_BYTES,
            duplicate_window: Duration::from_secs_f64(d::JETSTREAM_DUPLICATE_WINDOW_SECS),
            storage: StorageKind::File,
            replicas: d::JETSTREAM_REPLICAS,
        }
    }
}

/// `nats.jetstream_options.storage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// Survives a server restart.
    #[default]
    File,
    /// Faster, lost on restart.
    Memory,
}

/// `database`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DatabaseConfig {
    /// The SQLite file (used when `url` is not set).
    pub path: PathBuf,
    /// A PostgreSQL URL (`postgres://user@host:port/db`); when set it is used instead of
    /// `path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Whether `rosey run` also runs the database service in-process.
    pub run_as_service: bool,
    /// How long the periodic maintenance task keeps rows (SPEC §7).
    pub retention: RetentionConfig,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from(d::DATABASE_PATH),
            url: None,
            run_as_service: d::DATABASE_RUN_AS_SERVICE,
            retention: RetentionConfig::default(),
        }
    }
}

/// `database.retention`. Zero means "keep forever".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct RetentionConfig {
    /// `recent_chat` rows older than this many hours are trimmed.
    pub recent_chat_hours: u64,
    /// `user_count_history` rows older than this many days are trimmed.
    pub user_count_history_days: u64,
    /// Sent `outbound_messages` older than this many days are trimmed.
    pub sent_outbound_days: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            recent_chat_hours: d::RETENTION_RECENT_CHAT_HOURS,
            user_count_history_days: d::RETENTION_USER_COUNT_HISTORY_DAYS,
            sent_outbound_days: d::RETENTION_SENT_OUTBOUND_DAYS,
        }
    }
}

impl RetentionConfig {
    /// `recent_chat_hours` as a duration; `None` = keep forever.
    pub fn recent_chat(&self) -> Option<Duration> {
        nonzero(self.recent_chat_hours, 3600)
    }
    /// `user_count_history_days` as a duration; `None` = keep forever.
    pub fn user_count_history(&self) -> Option<Duration> {
        nonzero(self.user_count_history_days, 86_400)
    }
    /// `sent_outbound_days` as a duration; `None` = keep forever.
    pub fn sent_outbound(&self) -> Option<Duration> {
        nonzero(self.sent_outbound_days, 86_400)
    }
}

fn nonzero(n: u64, unit_secs: u64) -> Option<Duration> {
    (n > 0).then(|| Duration::from_secs(n.saturating_mul(unit_secs)))
}

/// `platforms[].type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlatformKind {
    /// A CyTube server.
    #[default]
    Cytube,
    /// An IRC network (`server`, `port`, `tls`, `nick`; `channel` is the IRC channel).
    Irc,
    /// A Matrix homeserver (`homeserver`; `user` is the user id; `channel` is the room, by
    /// alias or id).
    Matrix,
}

/// One entry of `platforms`: a CyTube channel to join.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlatformConfig {
    /// Always CyTube today.
    #[serde(rename = "type", default)]
    pub kind: PlatformKind,
    /// Unique name; also picks the `ROSEY_<NAME>_PASSWORD` variable.
    pub name: String,
    /// Disabled platforms are kept in the file but not joined.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// The server, e.g. `https://cytu.be` (CyTube; empty for IRC).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain: String,
    /// The channel and its optional password.
    pub channel: Channel,
    /// The account to log in with; `None` = anonymous (read-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<Login>,
    /// How long to wait for the server to answer a request.
    #[schemars(with = "f64")]
    #[serde(with = "secs", default = "default_response_timeout")]
    pub response_timeout: Duration,
    /// Pause before reconnecting after the connection drops.
    #[schemars(with = "f64")]
    #[serde(with = "secs", default = "default_restart_delay")]
    pub restart_delay: Duration,
    /// v1 `proxy` (`"host:port"`), carried over by migration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// v1 `retry`: connection attempts before giving up (`-1` = forever), carried over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<i64>,
    /// v1 `retry_delay`: pause between those attempts, carried over.
    #[schemars(with = "Option<f64>")]
    #[serde(with = "opt_secs", default, skip_serializing_if = "Option::is_none")]
    pub retry_delay: Option<Duration>,
    /// IRC: the server's host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// IRC: the port (default 6697 with TLS, 6667 without).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// IRC: connect with TLS (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<bool>,
    /// IRC: extra trusted CA certificates (PEM) for TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<PathBuf>,
    /// IRC: the bot's nick.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nick: Option<String>,
    /// IRC: log in to `user` with SASL PLAIN (default true when `user` has a password);
    /// false sends the password as the server password (`PASS`) instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl: Option<bool>,
    /// IRC: the shell rank of a channel operator; Matrix: of power level 50 or more
    /// (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_rank: Option<f64>,
    /// Matrix: the homeserver's client-server API URL (`https://matrix.example.org`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homeserver: Option<String>,
    /// Matrix: where the sync position is kept across restarts (default: next to the
    /// database, `matrix-<name>.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_file: Option<PathBuf>,
}

fn default_enabled() -> bool {
    d::PLATFORM_ENABLED
}
fn default_response_timeout() -> Duration {
    Duration::from_secs_f64(d::PLATFORM_RESPONSE_TIMEOUT_SECS)
}
fn default_restart_delay() -> Duration {
    Duration::from_secs_f64(d::PLATFORM_RESTART_DELAY_SECS)
}

impl PlatformConfig {
    /// The environment variable that may hold this platform's user password:
    /// `ROSEY_<NAME>_PASSWORD`, NAME upper-cased with every non-alphanumeric made `_`.
    pub fn password_env_var(&self) -> String {
        crate::env::platform_password_var(&self.name)
    }

    /// The domain without a trailing slash, ready for joining paths onto.
    pub fn base_url(&self) -> &str {
        self.domain.trim_end_matches('/')
    }
}

/// `platforms[].channel`: `"name"` or `["name", "password"]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "NameAndSecret", into = "NameAndSecret")]
pub struct Channel {
    /// The channel name.
    pub name: String,
    /// The channel password, for password-protected channels.
    pub password: Option<Secret>,
}

/// `platforms[].user`: `["name", "password"]` (registered) or `["name"]` (guest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "NameAndSecret", into = "NameAndSecret")]
pub struct Login {
    /// The account or guest name.
    pub name: String,
    /// The account password; `None` = log in as a guest with `name`.
    pub password: Option<Secret>,
}

/// The file shapes behind [`Channel`] and [`Login`].
#[derive(Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum NameAndSecret {
    Name(String),
    List(Vec<String>),
}

fn split_name_and_secret(r: NameAndSecret) -> Result<(String, Option<Secret>), String> {
    match r {
        NameAndSecret::Name(n) => Ok((n, None)),
        NameAndSecret::List(v) => {
            let mut it = v.into_iter();
            match (it.next(), it.next(), it.next()) {
                (Some(n), pw, None) => Ok((n, pw.map(Secret))),
                _ => Err("expected [name] or [name, password]".to_owned()),
            }
        }
    }
}

impl TryFrom<NameAndSecret> for Channel {
    type Error = String;
    fn try_from(r: NameAndSecret) -> Result<Self, String> {
        let (name, password) = split_name_and_secret(r)?;
        Ok(Channel { name, password })
    }
}

impl From<Channel> for NameAndSecret {
    fn from(c: Channel) -> Self {
        match c.password {
            None => NameAndSecret::Name(c.name),
            Some(pw) => NameAndSecret::List(vec![c.name, pw.0]),
        }
    }
}

impl TryFrom<NameAndSecret> for Login {
    type Error = String;
    fn try_from(r: NameAndSecret) -> Result<Self, String> {
        let (name, password) = split_name_and_secret(r)?;
        Ok(Login { name, password })
    }
}

impl From<Login> for NameAndSecret {
    fn from(l: Login) -> Self {
        let mut v = vec![l.name];
        v.extend(l.password.map(|p| p.0));
        NameAndSecret::List(v)
    }
}

/// `shell`: the PM command shell (SPEC §5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ShellConfig {
    /// Whether moderators' PMs are treated as commands.
    pub enabled: bool,
    /// Lowest rank allowed to use it.
    pub min_rank: f64,
    /// Rosey v0.5's telnet-shell address, kept as written; not used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Rosey v0.5's telnet-shell port, kept as written; not used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

impl Default for ShellConfig {
    fn default() -> Self {
        Self {
            enabled: d::SHELL_ENABLED,
            min_rank: d::SHELL_MIN_RANK,
            host: None,
            port: None,
        }
    }
}

/// `logging`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct LoggingConfig {
    /// Default level (`RUST_LOG` / `--log-level` still win, at the binary's edge).
    pub level: LogLevel,
    /// Human-readable lines or JSON objects.
    pub format: LogFormat,
    /// Where to append chat lines, if anywhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_log_file: Option<PathBuf>,
    /// Where to append media changes, if anywhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_log_file: Option<PathBuf>,
    /// Write the process's log to a rotated file instead of stderr.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<LogFileConfig>,
}

/// `logging.file`: the log file and its rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LogFileConfig {
    /// The file written to; rotated files sit beside it with a suffix.
    pub path: PathBuf,
    /// When a new file is started.
    #[serde(default)]
    pub rotate: LogRotate,
    /// With `rotate: size`, the size in bytes past which a new file is started.
    #[serde(default = "default_log_max_bytes")]
    pub max_bytes: u64,
    /// Rotated files kept beside the current one; older ones are deleted.
    #[serde(default = "default_log_keep")]
    pub keep: usize,
}

fn default_log_max_bytes() -> u64 {
    d::LOG_FILE_MAX_BYTES
}
fn default_log_keep() -> usize {
    d::LOG_FILE_KEEP
}

/// `logging.file.rotate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogRotate {
    /// A new file each day (suffix: the date and time it was rotated).
    #[default]
    Daily,
    /// A new file once the current one passes `max_bytes` (suffix: `.1` newest … `.keep`).
    Size,
    /// Never: one growing file (for an outside rotator such as logrotate).
    Never,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            level: LogLevel::Info,
            format: LogFormat::Text,
            chat_log_file: None,
            media_log_file: None,
            file: None,
        }
    }
}

/// `logging.level`. Also accepts the Python names v1 files use (`WARNING`, `CRITICAL`),
/// in any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum LogLevel {
    /// Everything.
    Trace,
    /// Diagnostics.
    Debug,
    /// Lifecycle events an operator cares about.
    Info,
    /// Recovered problems.
    Warn,
    /// Problems that need a human.
    Error,
}

impl LogLevel {
    /// Every spelling accepted in a file, for error messages.
    pub const ACCEPTED: &'static [&'static str] = &[
        "trace", "debug", "info", "warn", "warning", "error", "critical",
    ];

    /// Parses a level name, case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "trace" => Self::Trace,
            "debug" => Self::Debug,
            "info" => Self::Info,
            "warn" | "warning" => Self::Warn,
            "error" | "critical" | "fatal" => Self::Error,
            _ => return None,
        })
    }

    /// The name `tracing` filters understand.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

impl TryFrom<String> for LogLevel {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s).ok_or_else(|| format!("unknown log level {s:?}"))
    }
}

impl From<LogLevel> for &'static str {
    fn from(l: LogLevel) -> Self {
        l.as_str()
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `logging.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// JSON Schemas of the types whose file shape is not their Rust shape (serde's
/// `from`/`try_from`/`into` and hand-written impls, which `schemars` 0.8 cannot see through).
mod file_shapes {
    use schemars::{JsonSchema, r#gen::SchemaGenerator, schema::Schema};
    use serde_json::json;

    use super::{Channel, LogLevel, Login, NatsUrl, Version};

    /// A schema written as JSON (these are constant, so the conversion cannot fail).
    fn schema(value: serde_json::Value) -> Schema {
        serde_json::from_value(value).unwrap_or(Schema::Bool(true))
    }

    macro_rules! file_shape {
        ($ty:ty, $name:literal, $schema:expr) => {
            impl JsonSchema for $ty {
                fn schema_name() -> String {
                    $name.to_owned()
                }
                fn json_schema(_: &mut SchemaGenerator) -> Schema {
                    schema($schema)
                }
            }
        };
    }

    file_shape!(
        Version,
        "Version",
        json!({
            "description": "The configuration format: 2 (written \"2.0\", \"2\", 2 or 2.0).",
            "anyOf": [{"type": "string", "enum": ["2.0", "2"]}, {"type": "number", "enum": [2]}]
        })
    );
    file_shape!(
        NatsUrl,
        "NatsUrl",
        json!({
            "description": "\"embedded\" (the in-process bus), a NATS URL, or a list of URLs (a cluster).",
            "anyOf": [
                {"type": "string", "minLength": 1},
                {"type": "array", "items": {"type": "string"}, "minItems": 1}
            ]
        })
    );
    file_shape!(
        Channel,
        "Channel",
        json!({
            "description": "The channel name, or [name, password].",
            "anyOf": [
                {"type": "string", "minLength": 1},
                {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2}
            ]
        })
    );
    file_shape!(
        Login,
        "Login",
        json!({
            "description": "[name, password] (an account) or [name] (a guest).",
            "type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2
        })
    );

    impl JsonSchema for LogLevel {
        fn schema_name() -> String {
            "LogLevel".to_owned()
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            // Any case is accepted. JSON Schema patterns are ECMA-262 regular expressions,
            // which have no inline case flag, so each letter is a class of both cases.
            let any_case = |name: &str| -> String {
                name.chars()
                    .map(|c| format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase()))
                    .collect()
            };
            let names: Vec<String> = LogLevel::ACCEPTED.iter().map(|n| any_case(n)).collect();
            let pattern = format!("^\\s*({})\\s*$", names.join("|"));
            schema(json!({"type": "string", "pattern": pattern, "examples": LogLevel::ACCEPTED}))
        }
    }
}

/// Durations are written as seconds (integer or fractional).
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        // Whole seconds print as integers so `--print` shows `5`, not `5.0`.
        if d.subsec_nanos() == 0 {
            s.serialize_u64(d.as_secs())
        } else {
            s.serialize_f64(d.as_secs_f64())
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(de)?;
        Duration::try_from_secs_f64(secs).map_err(D::Error::custom)
    }
}

/// [`secs`] for an optional duration (`null` or absent = `None`).
mod opt_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::secs::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
        Option::<f64>::deserialize(de)?
            .map(|secs| Duration::try_from_secs_f64(secs).map_err(D::Error::custom))
            .transpose()
    }
}

impl Config {
    /// The platforms to join, in file order.
    pub fn enabled_platforms(&self) -> impl Iterator<Item = &PlatformConfig> {
        self.platforms.iter().filter(|p| p.enabled)
    }

    /// Keys this configuration holds that Rosey keeps but does not use — Rosey v0.5
    /// leftovers (`shell.host`, `shell.port`, `plugins.*`), `llm`, `legacy.*` and the v1
    /// platform keys `proxy`/`retry`/`retry_delay` — as paths, in file-section order. For one
    /// "not used by Rosey" report at start-up and in `rosey config check`.
    pub fn unused_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        for (i, p) in self.platforms.iter().enumerate() {
            let set = [
                ("proxy", p.proxy.is_some()),
                ("retry", p.retry.is_some()),
                ("retry_delay", p.retry_delay.is_some()),
            ];
            keys.extend(
                set.iter()
                    .filter(|(_, present)| *present)
                    .map(|(k, _)| format!("platforms[{i}].{k}")),
            );
        }
        if self.shell.host.is_some() {
            keys.push("shell.host".into());
        }
        if self.shell.port.is_some() {
            keys.push("shell.port".into());
        }
        let section = |name: &str, map: Option<&Map<String, Value>>| -> Vec<String> {
            map.into_iter()
                .flat_map(|m| m.keys())
                .map(|k| format!("{name}.{k}"))
                .collect()
        };
        keys.extend(
            section("plugins", self.plugins.as_ref())
                .into_iter()
                .filter(|k| {
                    crate::plugins::V05_KEYS
                        .iter()
                        .any(|v| k == &format!("plugins.{v}"))
                }),
        );
        if self.llm.is_some() {
            keys.push("llm".into());
        }
        keys.extend(section("legacy", Some(&self.legacy)));
        keys
    }

    /// The platform with this name, enabled or not.
    pub fn platform(&self, name: &str) -> Option<&PlatformConfig> {
        self.platforms.iter().find(|p| p.name == name)
    }

    /// The channel name used where one channel must be assumed (the database's default
    /// channel, `rosey say` without `--channel`): the first enabled platform's channel,
    /// else [`d::DEFAULT_CHANNEL`].
    pub fn default_channel(&self) -> &str {
        self.enabled_platforms()
            .next()
            .map_or(d::DEFAULT_CHANNEL, |p| p.channel.name.as_str())
    }

    /// The configuration as a JSON value, secrets included (this is what round-trips).
    pub fn to_value(&self) -> Value {
        // Serialising these plain structs into a `Value` cannot fail: every map key is a
        // string and every float is finite (durations and validated ranks).
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The effective configuration with every secret replaced, for `--print` and logs.
    pub fn to_redacted_value(&self) -> Value {
        let mut v = self.to_value();
        crate::redact::redact(&mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nats_url_from_a_flag_or_variable() {
        assert_eq!(NatsUrl::parse_list(" embedded "), NatsUrl::Embedded);
        assert_eq!(
            NatsUrl::parse_list("nats://a:1, nats://b:2"),
            NatsUrl::Servers(vec!["nats://a:1".into(), "nats://b:2".into()])
        );
    }

    #[test]
    fn reconnect_attempts_in_async_nats_terms() {
        let mut n = NatsConfig::default();
        assert_eq!(n.max_reconnects(), None);
        n.max_reconnect_attempts = 3;
        assert_eq!(n.max_reconnects(), Some(3));
    }

    #[test]
    fn log_levels_accept_python_names_in_any_case() {
        assert_eq!(LogLevel::parse("WARNING"), Some(LogLevel::Warn));
        assert_eq!(LogLevel::parse("Critical"), Some(LogLevel::Error));
        assert_eq!(LogLevel::parse("debug"), Some(LogLevel::Debug));
        assert_eq!(LogLevel::parse("loud"), None);
        for name in LogLevel::ACCEPTED {
            assert!(LogLevel::parse(name).is_some(), "{name}");
        }
    }

    #[test]
    fn secrets_and_url_passwords_stay_out_of_debug() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.expose(), "hunter2");
        let url = NatsUrl::Servers(vec!["nats://u:hunter2@h:1".into()]);
        assert!(!format!("{url:?}").contains("hunter2"));
    }

    #[test]
    fn retention_zero_means_forever() {
        let r = RetentionConfig {
            recent_chat_hours: 0,
            ..RetentionConfig::default()
        };
        assert_eq!(r.recent_chat(), None);
        assert_eq!(r.sent_outbound(), Some(Duration::from_secs(7 * 86_400)));
    }
}
