//! What the bot needs to know, independent of the configuration file format: one
//! [`ChannelSpec`] per enabled platform entry (one list, whatever the platform), the shell settings and the task intervals.
//! [`BotConfig::from_config`] builds it from a v2 [`rosey_config::Config`].

use std::{path::PathBuf, time::Duration};

use rosey_bus::durable::StreamSettings;

/// The stream settings of the `nats.jetstream_options` section.
pub fn stream_settings(o: &rosey_config::JetStreamOptions) -> StreamSettings {
    StreamSettings {
        name: o.stream.clone(),
        max_age: o.max_age,
        max_bytes: o.max_bytes,
        duplicate_window: o.duplicate_window,
        memory: o.storage == rosey_config::StorageKind::Memory,
        replicas: o.replicas as usize,
    }
}

/// SPEC §4.3: user counts every 300 s.
pub const USER_COUNT_INTERVAL: Duration = Duration::from_secs(300);
/// SPEC §4.3: status every 10 s.
pub const STATUS_INTERVAL: Duration = Duration::from_secs(10);
/// How often the outbound pump polls on its own (SPEC §4.3 said every 2 s). A message queued
/// through `outbound.enqueue` wakes it at once (`rosey.commands.<channel>.pump`, published by
/// the database service), so polling only finds retries that came due and rows queued by
/// other means; at 2 s, 1,000 idle channels made 500 requests/s.
pub const PUMP_INTERVAL: Duration = Duration::from_secs(30);
/// SPEC §4.3: the pump's request timeout.
pub const PUMP_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// SPEC §5: the shell's database queries time out after 1 s.
pub const SHELL_DB_TIMEOUT: Duration = Duration::from_secs(1);
pub use crate::publisher::PUBLISH_TIMEOUT;

/// Intervals of the background tasks (shortened in tests).
#[derive(Debug, Clone)]
pub struct Intervals {
    pub user_count: Duration,
    pub status: Duration,
    pub pump: Duration,
    pub pump_request_timeout: Duration,
    pub shell_db_timeout: Duration,
}

impl Intervals {
    /// The user-count and status timers of a channel runner (first tick one period from
    /// now; a late tick is not made up for).
    pub(crate) fn periodic(&self) -> (tokio::time::Interval, tokio::time::Interval) {
        let every = |period: Duration| {
            let mut t = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        };
        (every(self.user_count), every(self.status))
    }
}

impl Default for Intervals {
    fn default() -> Self {
        Intervals {
            user_count: USER_COUNT_INTERVAL,
            status: STATUS_INTERVAL,
            pump: PUMP_INTERVAL,
            pump_request_timeout: PUMP_REQUEST_TIMEOUT,
            shell_db_timeout: SHELL_DB_TIMEOUT,
        }
    }
}

pub use crate::platforms::{ChannelSpec, PlatformSpec};

/// The PM shell's settings.
#[derive(Debug, Clone)]
pub struct ShellSettings {
    pub enabled: bool,
    pub min_rank: f64,
}

impl Default for ShellSettings {
    fn default() -> Self {
        ShellSettings {
            enabled: true,
            min_rank: 2.0,
        }
    }
}

/// Everything the bot runs with.
#[derive(Debug, Clone)]
pub struct BotConfig {
    pub channels: Vec<ChannelSpec>,
    pub shell: ShellSettings,
    pub intervals: Intervals,
    pub chat_log_file: Option<PathBuf>,
    pub media_log_file: Option<PathBuf>,
    /// Durable mode: publish database events to this JetStream stream and wait for acks.
    pub durable: Option<StreamSettings>,
    /// The circuit breaker on database queries.
    pub breaker: crate::breaker::BreakerSettings,
    /// Chat commands routed to plugins (needs NATS); `None` = off.
    pub plugins: Option<rosey_config::plugins::PluginsConfig>,
}

impl BotConfig {
    /// A config for the given channels with every default.
    pub fn new(channels: Vec<ChannelSpec>) -> Self {
        BotConfig {
            channels,
            shell: ShellSettings::default(),
            intervals: Intervals::default(),
            chat_log_file: None,
            media_log_file: None,
            durable: None,
            breaker: Default::default(),
            plugins: None,
        }
    }

    /// Builds the bot's view of a v2 configuration: every enabled platform entry.
    pub fn from_config(cfg: &rosey_config::Config) -> Self {
        let channels = cfg
            .enabled_platforms()
            .map(|p| crate::platforms::channel_spec(cfg, p))
            .collect();
        BotConfig {
            channels,
            shell: ShellSettings {
                enabled: cfg.shell.enabled,
                min_rank: cfg.shell.min_rank,
            },
            intervals: Intervals {
                // `response_timeout` bounds how long the bot waits for the database service.
                shell_db_timeout: cfg
                    .enabled_platforms()
                    .next()
                    .map(|p| p.response_timeout)
                    .filter(|t| !t.is_zero())
                    .unwrap_or(SHELL_DB_TIMEOUT),
                ..Intervals::default()
            },
            chat_log_file: cfg.logging.chat_log_file.clone(),
            media_log_file: cfg.logging.media_log_file.clone(),
            durable: cfg
                .nats
                .jetstream
                .then(|| stream_settings(&cfg.nats.jetstream_options)),
            breaker: Default::default(),
            plugins: Some(cfg.plugins_config()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn from_config_takes_every_enabled_platform() {
        let cfg = rosey_config::Config::from_value(json!({
            "version": "2.0",
            "nats": {"url": "nats://127.0.0.1:4222", "jetstream": true},
            "platforms": [
                {"type": "cytube", "name": "one", "enabled": true, "domain": "https://cytu.be",
                 "channel": ["First", "chanpw"], "user": ["Bot", "botpw"], "restart_delay": 7,
                 "response_timeout": 2},
                {"type": "cytube", "name": "off", "enabled": false, "domain": "https://cytu.be",
                 "channel": "Skipped"},
                {"type": "cytube", "name": "two", "enabled": true, "domain": "http://127.0.0.1:8880",
                 "channel": "Second", "user": ["Guesty"]}
            ],
            "shell": {"enabled": true, "min_rank": 3},
            "logging": {"chat_log_file": "chat.log"}
        }))
        .unwrap();
        let bot = BotConfig::from_config(&cfg);
        let names: Vec<_> = bot.channels.iter().map(|c| c.channel.as_str()).collect();
        assert_eq!(names, vec!["First", "Second"]);
        let client = |i: usize| match &bot.channels[i].platform {
            PlatformSpec::Cytube(s) => s.client.clone(),
            other => panic!("{other:?}"),
        };
        let first = client(0);
        assert_eq!(first.channel_password.as_deref(), Some("chanpw"));
        let login = format!("{:?}", first.login);
        assert!(
            login.starts_with("Registered") && login.contains("\"Bot\""),
            "{login}"
        );
        assert_eq!(first.backoff.base, Duration::from_secs(7));
        assert_eq!(format!("{:?}", client(1).login), "Guest(\"Guesty\")");
        assert_eq!(bot.shell.min_rank, 3.0);
        assert_eq!(bot.intervals.shell_db_timeout, Duration::from_secs(2));
        assert_eq!(
            bot.chat_log_file.as_deref(),
            Some(std::path::Path::new("chat.log"))
        );
        assert_eq!(
            bot.durable.as_ref().map(|d| d.name.as_str()),
            Some("ROSEY_DB")
        );
    }
}
