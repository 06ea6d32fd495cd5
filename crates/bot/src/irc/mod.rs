//! IRC as a platform: the channel's [`Spec`] from a `"type": "irc"` entry, and [`connect`]:
//! the IRC client, a task that turns its events into [`Update`](crate::platform::Update)s,
//! and the [`Platform`] on its handle — say, pm, kick, ban/unban (`+b`/`-b nick!*@*`),
//! mute/unmute as the quiet list where the server has one; IRC has no playlist, polls or AFK
//! ("not supported on this platform").
//!
//! Ranks: channel operators (`@`, and `&`/`~` where the server has them) get
//! [`Spec::op_rank`] (2 by default, the shell's moderator rank); voiced and half-operators 1;
//! everyone else 0.
//!
//! # Layout
//! - here: [`Spec`], [`connect`], the [`Platform`] implementation and the live view.
//! - `events.rs`: IRC events → updates (normalized events, happenings).

mod events;

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use rosey_irc::{IrcConfig, IrcHandle, Member, SendError};

use crate::platform::{
    Action, ActionError, Asker, ClientStats, Connection, FailKind, Outcome, Platform, UserView,
    View, fail, ok, unsupported,
};

pub use events::normalize;

/// The default rank of a channel operator.
pub const DEFAULT_OP_RANK: f64 = 2.0;

/// How to reach one IRC channel.
#[derive(Debug, Clone)]
pub struct Spec {
    pub client: IrcConfig,
    /// The rank of a channel operator.
    pub op_rank: f64,
}

impl Spec {
    /// `irc:<platform name>/<IRC channel>`, the bot's name for the channel.
    pub fn channel_name(platform: &str, irc_channel: &str) -> String {
        format!("irc:{platform}/{irc_channel}")
    }

    /// The spec of a `"type": "irc"` platform entry. TLS is on unless `tls` is false; the
    /// port defaults to 6697 (TLS) or 6667; `user` with a password logs in with SASL PLAIN
    /// (or, with `sasl: false`, sends it as the server password).
    pub fn from_platform(p: &rosey_config::PlatformConfig) -> Spec {
        let tls = p.tls.unwrap_or(true);
        let port = p.port.unwrap_or(if tls { 6697 } else { 6667 });
        let nick = p.nick.as_deref().unwrap_or("Rosey");
        let server = p.server.as_deref().unwrap_or_default();
        let mut client = IrcConfig::new(server, port, nick, &p.channel.name);
        client.tls = tls;
        client.tls_ca = p.tls_ca.clone();
        client.key = p.channel.password.as_ref().map(|k| k.expose().to_string());
        if let Some(user) = &p.user
            && let Some(pw) = &user.password
        {
            if p.sasl.unwrap_or(true) {
                client.sasl = Some(rosey_irc::Sasl {
                    account: user.name.clone(),
                    password: pw.expose().to_string(),
                });
            } else {
                client.server_password = Some(rosey_irc::Password(pw.expose().to_string()));
            }
        }
        if !p.restart_delay.is_zero() {
            client.backoff.base = p.restart_delay.min(client.backoff.cap);
        }
        Spec {
            client,
            op_rank: p.op_rank.unwrap_or(DEFAULT_OP_RANK),
        }
    }

    /// Where the channel is, for logs and lease keys.
    pub fn place(&self) -> String {
        format!(
            "irc://{}:{}/{}",
            self.client.server, self.client.port, self.client.channel
        )
    }
}

/// A member's shell rank.
pub fn rank(member: &Member, op_rank: f64) -> f64 {
    if member.is_op() {
        op_rank
    } else if member.is_voiced() {
        1.0
    } else {
        0.0
    }
}

/// Facts about the connection the client's handle does not keep.
#[derive(Debug, Clone, Default)]
pub(crate) struct Live {
    pub connected_since: Option<f64>,
    pub server: Option<String>,
    pub topic: Option<String>,
}

/// Connects the channel's IRC client.
pub fn connect(spec: &Spec) -> Connection {
    let (handle, events) = rosey_irc::connect(spec.client.clone());
    let live = Arc::new(Mutex::new(Live::default()));
    let (tx, updates) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(events::run(
        events,
        handle.clone(),
        spec.op_rank,
        live.clone(),
        tx,
    ));
    let platform = Irc {
        handle,
        op_rank: spec.op_rank,
        live,
    };
    Connection {
        platform: Arc::new(platform),
        updates,
    }
}

/// An IRC channel's connection.
struct Irc {
    handle: IrcHandle,
    op_rank: f64,
    live: Arc<Mutex<Live>>,
}

fn action_error(e: SendError) -> ActionError {
    let kind = match e {
        SendError::Closed | SendError::NotJoined | SendError::Disconnected => FailKind::Gone,
        SendError::Empty | SendError::Invalid(_) => FailKind::Permanent,
        SendError::QueueFull(_) => FailKind::Busy,
    };
    ActionError::failed(e.to_string(), kind)
}

impl Irc {
    /// Kick, ban and unban (`+b`/`-b nick!*@*`), and mute/unmute as the quiet list
    /// (`+q`/`-q nick!*@*`) where the server has one.
    async fn moderate(&self, action: Action) -> Outcome {
        let sent = |r: Result<(), SendError>| r.map_err(|e| fail(format!("Failed: {e}")));
        let mask = |user: &str| format!("{user}!*@*");
        match action {
            Action::Kick { user, reason } => {
                if self.handle.member(&user).is_none() {
                    return Err(fail(format!("{user} is not in the channel")));
                }
                let reason = reason.unwrap_or_default();
                sent(self.handle.kick_confirmed(&user, &reason).await)?;
                ok(format!("Kick sent for {user}"))
            }
            Action::Ban { user, .. } => {
                sent(self.handle.list_mode_confirmed("+b", &mask(&user)).await)?;
                ok(format!("Ban sent for {}", mask(&user)))
            }
            Action::Unban { user } => {
                sent(self.handle.list_mode_confirmed("-b", &mask(&user)).await)?;
                ok(format!("Unban sent for {}", mask(&user)))
            }
            Action::Mute { user } if self.handle.has_quiet_mode() => {
                sent(self.handle.list_mode_confirmed("+q", &mask(&user)).await)?;
                ok(format!("+q sent for {}", mask(&user)))
            }
            Action::Unmute { user } if self.handle.has_quiet_mode() => {
                sent(self.handle.list_mode_confirmed("-q", &mask(&user)).await)?;
                ok(format!("-q sent for {}", mask(&user)))
            }
            other => Err(unsupported(other.name())),
        }
    }
}

impl Platform for Irc {
    fn kind(&self) -> &'static str {
        "irc"
    }

    fn is_joined(&self) -> bool {
        self.handle.is_joined()
    }

    fn view(&self) -> View {
        let nick = self.handle.nick();
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let users: Vec<UserView> = self
            .handle
            .members()
            .iter()
            .map(|m| UserView {
                name: m.nick.clone(),
                rank: rank(m, self.op_rank),
                prefix: m.prefixes.clone(),
                ..UserView::default()
            })
            .collect();
        View {
            own_rank: self
                .handle
                .member(&nick)
                .map_or(0.0, |m| rank(&m, self.op_rank)),
            own_name: Some(nick),
            joined: self.handle.is_joined(),
            server: live.server,
            connected_since: live.connected_since,
            topic: live.topic,
            // IRC has no guests: everyone connected is in the channel.
            connected_users: Some(users.len() as u64),
            users,
            ..View::default()
        }
    }

    fn rank_of(&self, user: &str) -> f64 {
        self.handle
            .member(user)
            .map_or(0.0, |m| rank(&m, self.op_rank))
    }

    fn counts(&self) -> (i64, Option<i64>) {
        let n = self.handle.members().len() as i64;
        (n, Some(n))
    }

    fn stats(&self) -> ClientStats {
        let s = self.handle.stats();
        ClientStats {
            queued: s.queued,
            chat_sent: s.lines_sent,
            throttle_waits: s.paced_waits,
            ..ClientStats::default()
        }
    }

    fn say(&self, text: &str) -> Result<(), ActionError> {
        self.handle.say(text).map_err(action_error)
    }

    fn say_confirmed<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<(), ActionError>> {
        Box::pin(async move { self.handle.say_confirmed(text).await.map_err(action_error) })
    }

    fn pm(&self, to: &str, text: &str) -> Result<(), ActionError> {
        self.handle.pm(to, text).map_err(action_error)
    }

    fn act<'a>(&'a self, _asker: &'a Asker, action: Action) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            match action {
                Action::Say(text) => {
                    self.handle
                        .say_confirmed(&text)
                        .await
                        .map_err(|e| fail(format!("Failed: {e}")))?;
                    ok(format!("Sent: {text}"))
                }
                Action::Pm { to, text } => {
                    self.handle
                        .pm_confirmed(&to, &text)
                        .await
                        .map_err(|e| fail(format!("Failed: {e}")))?;
                    ok(format!("PM sent to {to}: {text}"))
                }
                other => self.moderate(other).await,
            }
        })
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.handle.shutdown())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn member(nick: &str, prefixes: &str) -> Member {
        Member {
            nick: nick.into(),
            prefixes: prefixes.into(),
        }
    }

    #[test]
    fn irc_entries_of_a_config_become_irc_channels() {
        let cfg = rosey_config::Config::from_value(json!({
            "version": "2.0",
            "platforms": [
                {"type": "cytube", "name": "tube", "domain": "https://cytu.be", "channel": "c"},
                {"type": "irc", "name": "libera", "server": "irc.libera.chat", "nick": "RoseyBot",
                 "channel": ["#rosey", "chankey"], "user": ["rosey", "saslpw"], "op_rank": 3},
                {"type": "irc", "name": "local", "server": "127.0.0.1", "port": 6667, "tls": false,
                 "nick": "Rb", "channel": "#dev", "user": ["Rb", "serverpw"], "sasl": false}
            ]
        }))
        .unwrap();
        let bot = crate::BotConfig::from_config(&cfg);
        assert_eq!(bot.channels.len(), 3);
        let irc: Vec<(&str, &Spec)> = bot
            .channels
            .iter()
            .filter_map(|c| match &c.platform {
                crate::platforms::PlatformSpec::Irc(s) => Some((c.channel.as_str(), s)),
                _ => None,
            })
            .collect();
        let names: Vec<_> = irc.iter().map(|(c, _)| *c).collect();
        assert_eq!(names, vec!["irc:libera/#rosey", "irc:local/#dev"]);
        let libera = irc[0].1;
        assert_eq!((libera.client.port, libera.client.tls), (6697, true));
        assert_eq!(libera.client.key.as_deref(), Some("chankey"));
        assert_eq!(
            libera.client.sasl.as_ref().map(|s| s.password.as_str()),
            Some("saslpw")
        );
        assert_eq!(libera.op_rank, 3.0);
        let local = irc[1].1;
        assert_eq!((local.client.port, local.client.tls), (6667, false));
        assert!(local.client.sasl.is_none());
        assert_eq!(
            local.client.server_password,
            Some(rosey_irc::Password("serverpw".into()))
        );
        assert_eq!(local.op_rank, DEFAULT_OP_RANK);
        assert!(!format!("{:?}", bot.channels).contains("pw"));
    }

    #[test]
    fn ranks_follow_channel_prefixes() {
        assert_eq!(rank(&member("a", "@+"), 2.0), 2.0);
        assert_eq!(rank(&member("a", "~"), 3.0), 3.0);
        assert_eq!(rank(&member("a", "+"), 2.0), 1.0);
        assert_eq!(rank(&member("a", ""), 2.0), 0.0);
    }
}
