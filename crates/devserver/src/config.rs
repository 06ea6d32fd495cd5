//! Configuration of the development server: accounts, ranks, passwords and the socket.io
//! timing. Defaults are CyTube's values, as named constants. No I/O here.

use std::net::SocketAddr;
use std::time::Duration;

/// CyTube's (engine.io default) ping interval.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(25);
/// CyTube's ping timeout (`src/io/ioserver.js`).
pub const DEFAULT_PING_TIMEOUT: Duration = Duration::from_secs(120);
/// CyTube's `maxHttpBufferSize` (1 MiB).
pub const DEFAULT_MAX_PAYLOAD: u64 = 1024 * 1024;
/// How many chat lines are replayed to a joining socket.
pub const DEFAULT_HISTORY_LEN: usize = 15;
/// How many chat lines per channel and PMs overall the server keeps for inspection
/// (`DevServer::chat_log`/`pm_log`); older ones are forgotten so a long-running server stays
/// flat in memory. Tests that need more raise it.
pub const DEFAULT_LOG_CAPACITY: usize = 10_000;
/// The address `Default` listens on: loopback, any free port.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:0";

/// A registered account, as created by `--user NAME:PASSWORD:RANK`.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// Canonical account name (the `login` reply uses this spelling).
    pub name: String,
    /// Password, compared verbatim (CyTube truncates it to 100 characters first).
    pub password: String,
    /// Global rank (1 = ordinary registered user, 255 = site admin).
    pub rank: f64,
}

/// Everything `DevServer::start` needs.
#[derive(Debug, Clone)]
pub struct DevServerConfig {
    /// Where to listen (HTTP for `/socketconfig` and socket.io share the port).
    pub listen: SocketAddr,
    /// Registered accounts.
    pub accounts: Vec<Account>,
    /// Channel ranks by account name, applied in every channel (effective rank =
    /// max(global, channel)). Guests never get a channel rank, as in CyTube.
    pub channel_ranks: Vec<(String, f64)>,
    /// Chat lines replayed on join (CyTube: 15).
    pub history_len: usize,
    /// Chat lines per channel and PMs kept for inspection (a ring of the last N).
    pub log_capacity: usize,
    /// Engine.IO ping interval.
    pub ping_interval: Duration,
    /// Engine.IO ping timeout (CyTube: 120 s; tests use less so dead clients go quickly).
    pub ping_timeout: Duration,
    /// Maximum Engine.IO payload in bytes.
    pub max_payload: u64,
    /// Password-protected channels: (channel, password).
    pub channel_passwords: Vec<(String, String)>,
    /// Channel antiflood applied to every new channel: `Some((burst, sustained))` turns
    /// `chat_antiflood` on for rank < 2. `None` (CyTube's default) leaves it off.
    pub antiflood: Option<(u32, f64)>,
    /// Maximum chat/PM length in UTF-16 units (CyTube: 320).
    pub max_chat_len: usize,
    /// Delay between two guest logins from one IP. CyTube uses 60 s; the default here is
    /// zero because every local client shares 127.0.0.1 and tests reconnect guests often.
    pub guest_login_delay: Duration,
    /// Whether new channels start with a locked playlist (locked: only rank >= 1.5 adds).
    pub playlist_locked: bool,
    /// The URL advertised by `/socketconfig`; `None` means `http://<bound address>`.
    pub public_url: Option<String>,
    /// Items play to their end and the next one starts, this many times faster than real
    /// time (1.0 = as CyTube). `None` (the default): playback only moves on skip, jump,
    /// delete and voteskip, so tests decide every change.
    pub playback_speed: Option<f64>,
}

impl Default for DevServerConfig {
    fn default() -> Self {
        DevServerConfig {
            listen: DEFAULT_LISTEN.parse().expect("constant address parses"),
            accounts: Vec::new(),
            channel_ranks: Vec::new(),
            history_len: DEFAULT_HISTORY_LEN,
            log_capacity: DEFAULT_LOG_CAPACITY,
            ping_interval: DEFAULT_PING_INTERVAL,
            ping_timeout: DEFAULT_PING_TIMEOUT,
            max_payload: DEFAULT_MAX_PAYLOAD,
            channel_passwords: Vec::new(),
            antiflood: None,
            max_chat_len: crate::text::MAX_CHAT_LEN,
            guest_login_delay: Duration::ZERO,
            playlist_locked: false,
            public_url: None,
            playback_speed: None,
        }
    }
}

impl DevServerConfig {
    /// Adds an account (builder style).
    pub fn with_account(mut self, name: &str, password: &str, rank: f64) -> Self {
        self.accounts.push(Account {
            name: name.to_owned(),
            password: password.to_owned(),
            rank,
        });
        self
    }

    /// Adds a channel rank for `name` (builder style).
    pub fn with_channel_rank(mut self, name: &str, rank: f64) -> Self {
        self.channel_ranks.push((name.to_owned(), rank));
        self
    }

    /// Lets items play to their end at `speed` times real time (builder style).
    pub fn with_playback_speed(mut self, speed: f64) -> Self {
        self.playback_speed = Some(speed);
        self
    }

    /// Protects `channel` with `password` (builder style).
    pub fn with_channel_password(mut self, channel: &str, password: &str) -> Self {
        self.channel_passwords
            .push((channel.to_ascii_lowercase(), password.to_owned()));
        self
    }

    /// The account called `name` (case-insensitive), if any.
    pub fn account(&self, name: &str) -> Option<&Account> {
        self.accounts
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The configured channel rank for `name` (case-insensitive), if any.
    pub fn channel_rank(&self, name: &str) -> Option<f64> {
        self.channel_ranks
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, r)| *r)
    }
}
