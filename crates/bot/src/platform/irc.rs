//! IRC as a platform: [`Platform`] on [`IrcHandle`], and one IRC channel's runner. The
//! runner owns the client's event stream and publishes what happens exactly as the CyTube
//! runner does — normalized events on `rosey.events.<channel>.*` and `rosey.db.*` events
//! (joins, leaves, chat lines, user counts, high-water marks, status) — serves
//! `rosey.commands.<channel>.*`, runs the outbound pump, and hands PMs to the IRC shell.
//!
//! Ranks: channel operators (`@`, and `&`/`~` where the server has them) get
//! [`IrcChannelSpec::op_rank`] (2 by default, the shell's moderator rank); voiced and
//! half-operators 1; everyone else 0.

use std::sync::Arc;

use rosey_bus::Bus;
use rosey_irc::{IrcConfig, IrcEvent, IrcEvents, IrcHandle, Member, SendError};
use rosey_model::{
    EventBody, UserData,
    payload::{MessageLog, StatusData, UserJoined, UserLeft},
    subjects,
};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::{ActionError, FailKind, Platform, irc_shell};
use crate::{
    commands::{ChannelCommands, ChatLine, Outcome},
    config::BotConfig,
    logs::LogFile,
    publisher::{Publisher, now},
    states::{ChannelStates, RunState},
};
use rosey_model::payload::ModerateCommand;

/// The default rank of a channel operator.
pub const DEFAULT_OP_RANK: f64 = 2.0;

/// One IRC channel the bot serves.
#[derive(Debug, Clone)]
pub struct IrcChannelSpec {
    /// The bot's name for the channel (the `channel` of every payload), e.g.
    /// `irc:libera/#rosey`.
    pub channel: String,
    /// The platform entry's name (for logs).
    pub name: String,
    /// How to connect.
    pub client: IrcConfig,
    /// The rank of a channel operator.
    pub op_rank: f64,
}

impl IrcChannelSpec {
    /// `irc:<platform name>/<IRC channel>`.
    pub fn channel_name(platform: &str, irc_channel: &str) -> String {
        format!("irc:{platform}/{irc_channel}")
    }

    /// The spec of a `"type": "irc"` platform entry. TLS is on unless `tls` is false; the
    /// port defaults to 6697 (TLS) or 6667; `user` with a password logs in with SASL PLAIN
    /// (or, with `sasl: false`, sends it as the server password).
    pub fn from_platform(p: &rosey_config::PlatformConfig) -> Self {
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
        IrcChannelSpec {
            channel: Self::channel_name(&p.name, &p.channel.name),
            name: p.name.clone(),
            client,
            op_rank: p.op_rank.unwrap_or(DEFAULT_OP_RANK),
        }
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

impl From<SendError> for ActionError {
    fn from(e: SendError) -> Self {
        let kind = match e {
            SendError::Closed | SendError::NotJoined | SendError::Disconnected => FailKind::Gone,
            SendError::Empty | SendError::Invalid(_) => FailKind::Permanent,
            SendError::QueueFull(_) => FailKind::Busy,
        };
        ActionError::failed(e.to_string(), kind)
    }
}

impl Platform for IrcHandle {
    fn kind(&self) -> &'static str {
        "irc"
    }

    fn is_joined(&self) -> bool {
        IrcHandle::is_joined(self)
    }

    fn say(&self, text: &str) -> Result<(), ActionError> {
        Ok(IrcHandle::say(self, text)?)
    }

    async fn say_confirmed(&self, text: &str) -> Result<(), ActionError> {
        Ok(IrcHandle::say_confirmed(self, text).await?)
    }

    fn pm(&self, to: &str, text: &str) -> Result<(), ActionError> {
        Ok(IrcHandle::pm(self, to, text)?)
    }

    async fn kick(&self, user: &str, reason: &str) -> Result<(), ActionError> {
        Ok(self.kick_confirmed(user, reason).await?)
    }

    /// Kick, ban and unban (`+b`/`-b nick!*@*`), and mute/unmute as the quiet list
    /// (`+q`/`-q nick!*@*`) where the server has one.
    async fn moderate(&self, cmd: &ModerateCommand) -> Result<String, ActionError> {
        let user = cmd.user.trim();
        let mask = format!("{user}!*@*");
        let reason = cmd.reason.as_deref().unwrap_or("");
        match cmd.action.as_str() {
            "kick" => {
                if self.member(user).is_none() {
                    return Err(ActionError::failed(
                        format!("{user} is not in the channel"),
                        FailKind::Permanent,
                    ));
                }
                self.kick_confirmed(user, reason).await?;
                Ok(format!("Kick sent for {user}"))
            }
            "ban" => {
                self.list_mode_confirmed("+b", &mask).await?;
                Ok(format!("Ban sent for {mask}"))
            }
            "unban" => {
                self.list_mode_confirmed("-b", &mask).await?;
                Ok(format!("Unban sent for {mask}"))
            }
            "mute" | "unmute" if self.has_quiet_mode() => {
                let change = if cmd.action == "mute" { "+q" } else { "-q" };
                self.list_mode_confirmed(change, &mask).await?;
                Ok(format!("{change} sent for {mask}"))
            }
            other => Err(ActionError::unsupported(other)),
        }
    }
}

fn user_data(member: &Member, op_rank: f64) -> UserData {
    let rank = rank(member, op_rank);
    UserData {
        username: member.nick.clone(),
        rank,
        is_afk: false,
        is_moderator: rank >= 2.0,
        meta: json!({"prefixes": member.prefixes}),
    }
}

fn tags_json(tags: &[(String, Option<String>)]) -> Value {
    let map: Map<String, Value> = tags
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.clone().map(Value::String).unwrap_or(Value::Bool(true)),
            )
        })
        .collect();
    Value::Object(map)
}

/// The normalized form of an IRC event (SPEC §4.2); a nick change is a leave and a join.
pub fn normalize(event: &IrcEvent, own_nick: &str, op_rank: f64) -> Vec<EventBody> {
    let connection = |state: &str, detail: String| EventBody::Connection {
        state: state.into(),
        detail,
    };
    match event {
        IrcEvent::Connected { server } => vec![connection("connected", server.clone())],
        IrcEvent::Joined { channel, members } => vec![
            connection("joined", channel.clone()),
            EventBody::UserList {
                users: members.iter().map(|m| user_data(m, op_rank)).collect(),
                count: members.len(),
            },
        ],
        IrcEvent::Disconnected { reason } => vec![connection("disconnected", reason.clone())],
        IrcEvent::Reconnecting { attempt, delay } => vec![connection(
            "reconnecting",
            format!("attempt {attempt} in {delay:?}"),
        )],
        IrcEvent::Stopped { reason } => vec![connection("stopped", reason.clone())],
        IrcEvent::UserJoined { member } => vec![EventBody::UserJoin {
            user: member.nick.clone(),
            user_data: user_data(member, op_rank),
        }],
        IrcEvent::UserLeft { nick, .. } => vec![EventBody::UserLeave { user: nick.clone() }],
        IrcEvent::NickChanged {
            old,
            new,
            own: false,
        } => vec![
            EventBody::UserLeave { user: old.clone() },
            EventBody::UserJoin {
                user: new.clone(),
                user_data: user_data(
                    &Member {
                        nick: new.clone(),
                        prefixes: String::new(),
                    },
                    op_rank,
                ),
            },
        ],
        IrcEvent::MemberModes { nick, prefixes } => vec![EventBody::RankChange {
            user: nick.clone(),
            rank: rank(
                &Member {
                    nick: nick.clone(),
                    prefixes: prefixes.clone(),
                },
                op_rank,
            ),
        }],
        IrcEvent::Message {
            nick,
            text,
            action,
            time,
            tags,
        } => vec![EventBody::Message {
            user: nick.clone(),
            content: text.clone(),
            history: false,
            platform_data: json!({"action": action, "time": time, "tags": tags_json(tags)}),
        }],
        IrcEvent::Private {
            nick,
            text,
            action,
            time,
        } => vec![EventBody::Pm {
            user: nick.clone(),
            recipient: own_nick.to_string(),
            content: text.clone(),
            platform_data: json!({"action": action, "time": time}),
        }],
        IrcEvent::Kicked { by, reason } => vec![EventBody::Kick {
            reason: format!("kicked by {by}: {reason}"),
        }],
        IrcEvent::JoinFailed { reason } => vec![EventBody::Error {
            source: "join".into(),
            message: reason.clone(),
        }],
        _ => Vec::new(),
    }
}

/// Facts about the connection, for `status`/`info` and the status update.
#[derive(Debug, Clone, Default)]
pub struct IrcLive {
    pub started_at: f64,
    pub connected_since: Option<f64>,
    pub server: Option<String>,
    pub topic: Option<String>,
}

/// An IRC channel as the metrics and the status see it: its name, its client and its
/// publisher (the database breaker's state).
#[derive(Clone)]
pub(crate) struct IrcView {
    pub channel: String,
    pub handle: IrcHandle,
    pub publisher: Publisher,
}

impl IrcView {
    pub(crate) fn channel_name(&self) -> &str {
        &self.channel
    }

    pub(crate) fn is_joined(&self) -> bool {
        self.handle.is_joined()
    }
}

/// Connects the channel's IRC client and spawns its runner and outbound pump on `tasks`
/// (`commands`: the channel's chat command router on that client, when plugins are on);
/// returns what the metrics need of it.
// The runner's parts, each from a different owner in `Bot::start`; a struct would only
// repeat them.
#[allow(clippy::too_many_arguments)]
pub(crate) fn start(
    tasks: &mut tokio::task::JoinSet<()>,
    spec: IrcChannelSpec,
    cfg: Arc<BotConfig>,
    bus: Bus,
    publisher: Publisher,
    states: ChannelStates,
    stop: CancellationToken,
    commands: impl FnOnce(&IrcHandle) -> Option<ChannelCommands>,
) -> IrcView {
    tracing::info!(channel = %spec.channel, platform = %spec.name, server = %spec.client.server, "Starting IRC channel bot.");
    let (handle, events) = rosey_irc::connect(spec.client.clone());
    tasks.spawn(crate::pump::run(
        handle.clone(),
        publisher.clone(),
        cfg.intervals.clone(),
        stop.clone(),
    ));
    let view = IrcView {
        channel: spec.channel.clone(),
        handle: handle.clone(),
        publisher: publisher.clone(),
    };
    let commands = commands(&handle);
    let mut bot = IrcChannelBot::new(spec, cfg, bus, handle, publisher, states);
    bot.commands = commands;
    tasks.spawn(bot.run(events, stop));
    view
}

pub(crate) struct IrcChannelBot {
    spec: IrcChannelSpec,
    cfg: Arc<BotConfig>,
    bus: Bus,
    handle: IrcHandle,
    publisher: Publisher,
    states: ChannelStates,
    live: IrcLive,
    chat_log: Option<LogFile>,
    /// Chat commands for plugins, when routing is on.
    commands: Option<ChannelCommands>,
}

impl IrcChannelBot {
    pub(crate) fn new(
        spec: IrcChannelSpec,
        cfg: Arc<BotConfig>,
        bus: Bus,
        handle: IrcHandle,
        publisher: Publisher,
        states: ChannelStates,
    ) -> Self {
        let chat_log = LogFile::open_or_warn(cfg.chat_log_file.as_deref());
        IrcChannelBot {
            spec,
            cfg,
            bus,
            handle,
            publisher,
            states,
            live: IrcLive {
                started_at: now(),
                ..IrcLive::default()
            },
            chat_log,
            commands: None,
        }
    }

    /// Runs until `stop` is cancelled or the client stops for good.
    pub(crate) async fn run(mut self, mut events: IrcEvents, stop: CancellationToken) {
        let channel = self.spec.channel.clone();
        let mut commands = super::subscribe_commands(&self.bus, &channel).await;
        let (mut user_count, mut status) = self.cfg.intervals.periodic();
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                event = events.recv() => match event {
                    Some(event) => {
                        let stopped = matches!(event, IrcEvent::Stopped { .. });
                        self.on_event(event).await;
                        if stopped {
                            break;
                        }
                    }
                    None => break,
                },
                Some(msg) = crate::channel::next_command(&mut commands) => self.on_command(msg).await,
                _ = user_count.tick() => self.publish_user_count().await,
                _ = status.tick() => self.publish_status().await,
            }
        }
        self.states.set_shutdown(&channel);
        stop.cancel();
        tracing::info!(%channel, "IRC channel bot stopping.");
        self.live.connected_since = None;
        self.handle.shutdown().await;
        self.publish_status().await;
    }

    /// `chat`/`pm` at once; `moderate` (and the playlist actions IRC does not have) audited
    /// in their own task, answered when the line is written.
    async fn on_command(&self, msg: rosey_bus::Message) {
        use crate::shell::{commands::fail, remote};
        let action = msg.subject.rsplit('.').next().unwrap_or_default();
        if !remote::is_remote_action(action) {
            return super::answer_command(&self.bus, &self.handle, msg).await;
        }
        let (bus, handle, publisher) = (
            self.bus.clone(),
            self.handle.clone(),
            self.publisher.clone(),
        );
        let verb = action.to_string();
        tokio::spawn(async move {
            let own = handle.nick();
            remote::answer_with(&publisher, &bus, &msg, &own, |req| async move {
                let result = match &req.what {
                    remote::Remote::Moderate(m) => handle.moderate(m).await,
                    _ => Err(ActionError::unsupported(&verb)),
                };
                result.map(|m| vec![m]).map_err(|e| fail(e.to_string()))
            })
            .await
        });
    }

    fn track_state(&self, event: &IrcEvent) {
        let state = match event {
            IrcEvent::Joined { .. } => RunState::Joined,
            // Out of the channel until the client is back in (it rejoins by itself).
            IrcEvent::Disconnected { .. }
            | IrcEvent::Reconnecting { .. }
            | IrcEvent::Kicked { .. }
            | IrcEvent::JoinFailed { .. } => RunState::Reconnecting,
            IrcEvent::Stopped { reason } => RunState::Stopped {
                reason: reason.clone(),
            },
            _ => return,
        };
        self.states.set(&self.spec.channel, state);
    }

    async fn joined(&self, nick: &str, rank: f64, ts: f64) {
        let row = UserJoined {
            username: nick.to_string(),
            rank: Some(rank),
            user_data: None,
            channel: None,
            ts: None,
            id: None,
        };
        self.publisher.db(subjects::USER_JOINED, row, ts).await;
    }

    async fn left(&self, nick: &str, ts: f64) {
        let row = UserLeft {
            username: nick.to_string(),
            channel: None,
            ts: None,
            id: None,
        };
        self.publisher.db(subjects::USER_LEFT, row, ts).await;
    }

    async fn on_event(&mut self, event: IrcEvent) {
        let ts = match &event {
            IrcEvent::Message { time: Some(t), .. } | IrcEvent::Private { time: Some(t), .. } => *t,
            _ => now(),
        };
        self.track_state(&event);
        for body in normalize(&event, &self.handle.nick(), self.spec.op_rank) {
            self.publisher.event(body, ts).await;
        }
        let op_rank = self.spec.op_rank;
        match event {
            IrcEvent::Connected { server } => {
                self.live.server = Some(server);
                self.live.connected_since = Some(ts);
            }
            IrcEvent::Disconnected { .. } => self.live.connected_since = None,
            IrcEvent::Topic { topic } => self.live.topic = Some(topic),
            IrcEvent::Joined { members, .. } => {
                for m in &members {
                    self.joined(&m.nick, rank(m, op_rank), ts).await;
                }
                self.publish_high_water(ts).await;
            }
            IrcEvent::UserJoined { member } => {
                self.joined(&member.nick, rank(&member, op_rank), ts).await;
                self.publish_high_water(ts).await;
            }
            IrcEvent::UserLeft { nick, .. } => self.left(&nick, ts).await,
            IrcEvent::NickChanged {
                old,
                new,
                own: false,
            } => {
                self.left(&old, ts).await;
                let rank = self.handle.member(&new).map(|m| rank(&m, op_rank));
                self.joined(&new, rank.unwrap_or(0.0), ts).await;
            }
            IrcEvent::Message {
                nick, text, action, ..
            } => {
                if !action && let Some(c) = &self.commands {
                    let line = self.chat_line(&nick, &text, ts);
                    let (handle, started) = (&self.handle, self.live.started_at);
                    c.on_chat(line, || crate::commands::irc::context(handle, started));
                }
                let text = if action { format!("/me {text}") } else { text };
                if let Some(log) = &mut self.chat_log {
                    log.line(ts, &format!("<{nick}> {text}"));
                }
                let line = MessageLog {
                    bot: false,
                    username: nick,
                    message: text,
                    channel: None,
                    ts: None,
                    id: None,
                };
                self.publisher.db(subjects::MESSAGE_LOG, line, ts).await;
            }
            IrcEvent::Private { nick, text, .. } => {
                if let Some(c) = &self.commands {
                    let line = self.chat_line(&nick, &text, ts);
                    let (handle, started) = (&self.handle, self.live.started_at);
                    let outcome = c.on_pm(line, || crate::commands::irc::context(handle, started));
                    // A plugin command (answered or refused by PM): not for the shell.
                    if !matches!(
                        outcome,
                        Outcome::NotACommand | Outcome::Unknown | Outcome::NotEnabled
                    ) {
                        return;
                    }
                }
                let ctx = irc_shell::IrcShellContext {
                    settings: self.cfg.shell.clone(),
                    timeout: self.cfg.intervals.shell_db_timeout,
                    op_rank,
                    handle: self.handle.clone(),
                    publisher: self.publisher.clone(),
                    states: self.states.clone(),
                    live: self.live.clone(),
                };
                tokio::spawn(irc_shell::handle_pm(ctx, nick, text));
            }
            _ => {}
        }
    }

    /// A line for the command router, with the sender's rank from the channel's member
    /// list (0 when not in the channel).
    fn chat_line<'a>(&self, nick: &'a str, text: &'a str, ts: f64) -> ChatLine<'a> {
        let rank = self
            .handle
            .member(nick)
            .map_or(0.0, |m| rank(&m, self.spec.op_rank));
        ChatLine {
            user: nick,
            rank,
            text,
            ts,
        }
    }

    fn chat_count(&self) -> i64 {
        self.handle.members().len() as i64
    }

    async fn publish_high_water(&self, ts: f64) {
        // IRC has no separate "connected" count: everyone connected is in the channel.
        let n = self.chat_count();
        self.publisher.high_water(n, Some(n), ts).await;
    }

    async fn publish_user_count(&self) {
        if !self.handle.is_joined() {
            return;
        }
        let n = self.chat_count();
        self.publisher.user_count(n, n, now()).await;
    }

    async fn publish_status(&self) {
        let nick = self.handle.nick();
        let own_rank = self
            .handle
            .member(&nick)
            .map(|m| rank(&m, self.spec.op_rank))
            .unwrap_or(0.0);
        let data = StatusData {
            bot_name: Some(nick),
            bot_rank: Some(own_rank),
            bot_afk: Some(false),
            channel_name: Some(self.spec.channel.clone()),
            current_chat_users: Some(self.chat_count()),
            current_connected_users: Some(self.chat_count()),
            playlist_items: None,
            current_media_title: None,
            current_media_duration: None,
            bot_start_time: Some(self.live.started_at as i64),
            bot_connected: Some(self.handle.is_joined()),
        };
        self.publisher.status(data, now()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let bot = BotConfig::from_config(&cfg);
        assert_eq!(bot.channels.len(), 1);
        let names: Vec<_> = bot.irc.iter().map(|c| c.channel.as_str()).collect();
        assert_eq!(names, vec!["irc:libera/#rosey", "irc:local/#dev"]);
        let libera = &bot.irc[0];
        assert_eq!((libera.client.port, libera.client.tls), (6697, true));
        assert_eq!(libera.client.key.as_deref(), Some("chankey"));
        assert_eq!(
            libera.client.sasl.as_ref().map(|s| s.password.as_str()),
            Some("saslpw")
        );
        assert_eq!(libera.op_rank, 3.0);
        let local = &bot.irc[1];
        assert_eq!((local.client.port, local.client.tls), (6667, false));
        assert!(local.client.sasl.is_none());
        assert_eq!(
            local.client.server_password,
            Some(rosey_irc::Password("serverpw".into()))
        );
        assert_eq!(local.op_rank, DEFAULT_OP_RANK);
        assert!(!format!("{:?}", bot.irc).contains("pw"));
    }

    #[test]
    fn ranks_follow_channel_prefixes() {
        assert_eq!(rank(&member("a", "@+"), 2.0), 2.0);
        assert_eq!(rank(&member("a", "~"), 3.0), 3.0);
        assert_eq!(rank(&member("a", "+"), 2.0), 1.0);
        assert_eq!(rank(&member("a", ""), 2.0), 0.0);
    }

    #[test]
    fn normalized_events() {
        let msg = IrcEvent::Message {
            nick: "ann".into(),
            text: "waves".into(),
            action: true,
            time: Some(12.5),
            tags: vec![("msgid".into(), Some("x1".into()))],
        };
        match &normalize(&msg, "Rosey", 2.0)[..] {
            [
                EventBody::Message {
                    user,
                    content,
                    platform_data,
                    ..
                },
            ] => {
                assert_eq!((user.as_str(), content.as_str()), ("ann", "waves"));
                assert_eq!(platform_data["action"], true);
                assert_eq!(platform_data["tags"]["msgid"], "x1");
            }
            other => panic!("{other:?}"),
        }
        let nick = IrcEvent::NickChanged {
            old: "a".into(),
            new: "b".into(),
            own: false,
        };
        assert_eq!(normalize(&nick, "Rosey", 2.0).len(), 2);
        let pm = IrcEvent::Private {
            nick: "op".into(),
            text: "stats".into(),
            action: false,
            time: None,
        };
        assert!(matches!(
            &normalize(&pm, "Rosey", 2.0)[..],
            [EventBody::Pm { recipient, .. }] if recipient == "Rosey"
        ));
    }
}
