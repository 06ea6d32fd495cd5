//! Client configuration: where to connect, who to be, and the timing knobs.
//!
//! Validation is separate from construction ([`ClientConfig::validate`]); `connect` validates
//! too and reports a bad config as a `Stopped` event rather than panicking.

use std::time::Duration;

use crate::discovery;
use crate::split::MAX_MESSAGE_UNITS;
use crate::throttle::ThrottleParams;
use rosey_net::Backoff;

/// How long one connection attempt (discovery, websocket, handshake) may take.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long to wait before retrying a guest login that the server refused for a reason that
/// passes with time (one guest login per IP per 60 s; the name still held by our own ghost
/// socket until its ping timeout).
pub const DEFAULT_LOGIN_RETRY: Duration = Duration::from_secs(65);
/// Most commands waiting in the outbound queue before new ones are refused.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1000;

/// Who the client logs in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// Watch only: no login (cannot chat or PM).
    Anonymous,
    Guest(String),
    Registered {
        name: String,
        password: String,
    },
}

impl Login {
    pub fn name(&self) -> Option<&str> {
        match self {
            Login::Anonymous => None,
            Login::Guest(name) | Login::Registered { name, .. } => Some(name),
        }
    }
}

/// What to do when the server kicks us with "Duplicate login" (another session logged in with
/// our name, usually a second instance of the bot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DuplicateLoginPolicy {
    /// Stop the client (emit `Stopped`): two instances must not fight over the name.
    #[default]
    Stop,
    /// Wait the backoff cap, then reconnect (the other instance may be gone by then).
    BackOffToCap,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// `http(s)://host[:port]` of the CyTube web server (where `/socketconfig` is served).
    pub domain: String,
    pub channel: String,
    pub channel_password: Option<String>,
    pub login: Login,
    pub backoff: Backoff,
    /// Pacing for chat and PMs when the channel sets nothing stricter.
    pub throttle: ThrottleParams,
    /// Longer text is split into several messages (UTF-16 code units, as the server counts).
    pub max_message_len: usize,
    pub connect_timeout: Duration,
    pub login_retry: Duration,
    pub on_duplicate_login: DuplicateLoginPolicy,
    pub queue_capacity: usize,
}

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid channel name {0:?}: CyTube allows 1-30 of a-z, A-Z, 0-9, _ and -")]
    Channel(String),
    #[error("invalid domain {0:?}: expected http(s)://host[:port]")]
    Domain(String),
    #[error("invalid user name {0:?}: CyTube allows 1-20 of a-z, A-Z, 0-9, _ and -")]
    UserName(String),
    #[error("backoff base {base:?} must be positive and not above the cap {cap:?}")]
    Backoff { base: Duration, cap: Duration },
    #[error("max_message_len must be at least 1")]
    MessageLen,
}

impl ClientConfig {
    /// A config with the defaults from SPEC §4.1.
    pub fn new(domain: impl Into<String>, channel: impl Into<String>, login: Login) -> Self {
        ClientConfig {
            domain: domain.into(),
            channel: channel.into(),
            channel_password: None,
            login,
            backoff: Backoff::default(),
            throttle: ThrottleParams::default(),
            max_message_len: MAX_MESSAGE_UNITS,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            login_retry: DEFAULT_LOGIN_RETRY,
            on_duplicate_login: DuplicateLoginPolicy::default(),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if !discovery::is_valid_channel_name(&self.channel) {
            return Err(ConfigError::Channel(self.channel.clone()));
        }
        if discovery::socketconfig_url(&self.domain, &self.channel).is_err() {
            return Err(ConfigError::Domain(self.domain.clone()));
        }
        if let Some(name) = self.login.name() {
            let ok = (1..=20).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !ok {
                return Err(ConfigError::UserName(name.to_owned()));
            }
        }
        if self.backoff.base.is_zero() || self.backoff.base > self.backoff.cap {
            return Err(ConfigError::Backoff {
                base: self.backoff.base,
                cap: self.backoff.cap,
            });
        }
        if self.max_message_len == 0 {
            return Err(ConfigError::MessageLen);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        let ok = ClientConfig::new("http://127.0.0.1:8080", "chan", Login::Guest("bot".into()));
        assert_eq!(ok.validate(), Ok(()));
        let mut c = ok.clone();
        c.channel = "no spaces".into();
        assert!(matches!(c.validate(), Err(ConfigError::Channel(_))));
        let mut c = ok.clone();
        c.domain = "127.0.0.1".into();
        assert!(matches!(c.validate(), Err(ConfigError::Domain(_))));
        let mut c = ok.clone();
        c.login = Login::Guest("x".repeat(21));
        assert!(matches!(c.validate(), Err(ConfigError::UserName(_))));
        let mut c = ok;
        c.backoff = Backoff::new(Duration::from_secs(2), Duration::from_secs(1));
        assert!(matches!(c.validate(), Err(ConfigError::Backoff { .. })));
    }
}
