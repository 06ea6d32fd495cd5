//! [`IrcConfig`]: where to connect, who to be, which channel to join, and the client's
//! timing (pacing, keep-alive, reconnects, nick regain).

use std::{path::PathBuf, time::Duration};

use rosey_net::Backoff;

use crate::pace::Pacing;

/// SASL PLAIN credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Sasl {
    pub account: String,
    pub password: String,
}

impl std::fmt::Debug for Sasl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sasl")
            .field("account", &self.account)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A password whose `Debug` never shows it (configs are logged with `?`).
#[derive(Clone, PartialEq, Eq)]
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// How the client connects and behaves.
#[derive(Debug, Clone)]
pub struct IrcConfig {
    /// Host name or address of the server.
    pub server: String,
    pub port: u16,
    /// TLS (the server's certificate is checked against the web PKI roots and `tls_ca`).
    pub tls: bool,
    /// Extra trust anchors (PEM), e.g. a private network's CA or a test certificate.
    pub tls_ca: Option<PathBuf>,
    /// The wanted nick; if taken, the client picks another and keeps trying to regain it.
    pub nick: String,
    /// The user name (ident) and real name sent with `USER`.
    pub username: String,
    pub realname: String,
    /// The channel to join, e.g. `#rosey`, and its key, if it has one.
    pub channel: String,
    pub key: Option<String>,
    /// SASL PLAIN login, when the server offers SASL.
    pub sasl: Option<Sasl>,
    /// The server password (`PASS`), for servers that need one.
    pub server_password: Option<Password>,
    /// Reconnect delays (forever, with backoff).
    pub backoff: Backoff,
    /// Flood pacing of what the bot says.
    pub pacing: Pacing,
    /// After this long without a line from the server, the client sends a `PING`…
    pub ping_interval: Duration,
    /// …and drops the connection as dead if nothing comes within this long after it.
    pub ping_timeout: Duration,
    /// How long TCP connect, TLS handshake and registration may take.
    pub connect_timeout: Duration,
    /// How often to try to get the wanted nick back while using another.
    pub regain_interval: Duration,
    /// Commands waiting to go out before new ones are refused.
    pub queue_capacity: usize,
}

impl IrcConfig {
    /// A plain-text connection with every default.
    pub fn new(server: &str, port: u16, nick: &str, channel: &str) -> Self {
        IrcConfig {
            server: server.to_string(),
            port,
            tls: false,
            tls_ca: None,
            nick: nick.to_string(),
            username: "rosey".into(),
            realname: "Rosey bot".into(),
            channel: channel.to_string(),
            key: None,
            sasl: None,
            server_password: None,
            backoff: Backoff::default(),
            pacing: Pacing::default(),
            ping_interval: Duration::from_secs(90),
            ping_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(30),
            regain_interval: Duration::from_secs(60),
            queue_capacity: 200,
        }
    }

    /// Checks what the client cannot work without.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.server.trim().is_empty() {
            return Err(ConfigError::Missing("server"));
        }
        if self.port == 0 {
            return Err(ConfigError::Missing("port"));
        }
        if !valid_nick(&self.nick) {
            return Err(ConfigError::Nick(self.nick.clone()));
        }
        if !self.channel.starts_with(['#', '&', '+', '!'])
            || self.channel.len() < 2
            || self.channel.contains([' ', ',', '\x07'])
        {
            return Err(ConfigError::Channel(self.channel.clone()));
        }
        Ok(())
    }
}

/// A nick the servers accept: a letter or one of `[]\`_^{|}` first, then those, digits and
/// `-`, at most 30 characters.
pub fn valid_nick(nick: &str) -> bool {
    let special = |c: char| "[]\\`_^{|}".contains(c);
    let mut chars = nick.chars();
    nick.len() <= 30
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || special(c))
        && chars.all(|c| c.is_ascii_alphanumeric() || special(c) || c == '-')
}

/// A configuration the client cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("`{0}` is missing")]
    Missing(&'static str),
    #[error("`{0}` is not a valid IRC nick")]
    Nick(String),
    #[error("`{0}` is not an IRC channel name (it starts with #, &, + or !)")]
    Channel(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(
            IrcConfig::new("irc.test", 6667, "Rosey", "#rosey")
                .validate()
                .is_ok()
        );
        assert_eq!(
            IrcConfig::new("irc.test", 6667, "9lives", "#rosey").validate(),
            Err(ConfigError::Nick("9lives".into()))
        );
        assert_eq!(
            IrcConfig::new("irc.test", 6667, "Rosey", "rosey").validate(),
            Err(ConfigError::Channel("rosey".into()))
        );
        assert_eq!(
            IrcConfig::new("", 6667, "Rosey", "#rosey").validate(),
            Err(ConfigError::Missing("server"))
        );
        assert!(valid_nick("[Rosey]_2"));
    }
}
