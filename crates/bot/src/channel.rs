//! One channel's bot: owns the CyTube connection's event stream and the channel state,
//! publishes what happens (SPEC §4.3), serves `rosey.commands.<channel>.*` requests, runs
//! the periodic user-count and status tasks, and hands moderators' PMs to the shell.
//!
//! Each CyTube event is handled exactly once, here, in arrival order. Work that waits on
//! the bus for long (shell commands querying the database, the outbound pump) runs in its
//! own task so the event loop never stalls behind it.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use rosey_bus::{Bus, Message, Subscription};
use rosey_cytube::{ChannelState, CytubeEvent, CytubeHandle, EventStream, ServerEvent};
use rosey_model::{
    payload::{MediaPlayed, MessageLog, StatusData, UserJoined, UserLeft},
    subjects,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::{
    config::{BotConfig, ChannelSpec},
    logs::LogFile,
    normalize::{event_time, normalize, playlist_summary},
    publisher::{Publisher, now},
    shell::{self, Live, ServerEvents, ShellContext},
    states::{ChannelStates, RunState},
};

/// The shortest gap between two status updates sent because the channel changed (a burst
/// of playlist edits gives one update a second, not one per edit).
const STATUS_MIN_GAP: Duration = Duration::from_secs(1);

/// Live facts the channel state does not hold (for `status`, `current`, `voteskip`).
pub(crate) fn update_live(live: &mut Live, event: &CytubeEvent, ts: f64) {
    match event {
        CytubeEvent::Connected { server } => {
            live.server = Some(server.clone());
            live.connected_since = Some(ts);
            live.voteskip = None;
        }
        CytubeEvent::Disconnected { .. } | CytubeEvent::Kicked { .. } => {
            live.connected_since = None;
        }
        CytubeEvent::Server(ServerEvent::ChangeMedia(c)) => {
            live.paused = c.paused;
            live.position = c.current_time;
            live.voteskip = None;
        }
        CytubeEvent::Server(ServerEvent::MediaUpdate {
            current_time,
            paused,
        }) => {
            live.paused = *paused;
            live.position = *current_time;
        }
        CytubeEvent::Server(ServerEvent::Voteskip { count, need }) => {
            live.voteskip = Some((*count, *need));
        }
        _ => {}
    }
}

pub(crate) struct ChannelBot {
    spec: ChannelSpec,
    cfg: Arc<BotConfig>,
    bus: Bus,
    handle: CytubeHandle,
    publisher: Publisher,
    state: ChannelState,
    live: Live,
    /// Every event, for shell commands waiting for the server's answer.
    events: ServerEvents,
    chat_log: Option<LogFile>,
    media_log: Option<LogFile>,
    states: ChannelStates,
    /// Chat commands for plugins, when routing is on.
    commands: Option<crate::commands::ChannelCommands>,
    /// When the last status update went out, and when the next one is due because the
    /// channel changed (none pending: `None`).
    last_status: Option<Instant>,
    status_due: Option<Instant>,
}

impl ChannelBot {
    pub(crate) fn new(
        spec: ChannelSpec,
        cfg: Arc<BotConfig>,
        bus: Bus,
        handle: CytubeHandle,
        publisher: Publisher,
        states: ChannelStates,
    ) -> Self {
        let chat_log = LogFile::open_or_warn(cfg.chat_log_file.as_deref());
        let media_log = LogFile::open_or_warn(cfg.media_log_file.as_deref());
        ChannelBot {
            spec,
            cfg,
            bus,
            handle,
            publisher,
            state: ChannelState::new(),
            live: Live {
                started_at: now(),
                ..Live::default()
            },
            events: ServerEvents::default(),
            chat_log,
            media_log,
            states,
            commands: None,
            last_status: None,
            status_due: None,
        }
    }

    pub(crate) fn with_commands(mut self, c: Option<crate::commands::ChannelCommands>) -> Self {
        self.commands = c;
        self
    }

    /// Runs until `stop` is cancelled or the client stops for good (then it cancels `stop`,
    /// which ends this channel's other tasks).
    pub(crate) async fn run(mut self, mut events: EventStream, stop: CancellationToken) {
        let channel = self.spec.channel.clone();
        let mut commands = self.subscribe_commands().await;
        let (mut user_count, mut status) = self.cfg.intervals.periodic();
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                event = events.recv() => match event {
                    Some(event) => {
                        let stopped = matches!(event, CytubeEvent::Stopped { .. });
                        self.track_state(&event, stop.is_cancelled());
                        self.on_event(event).await;
                        if stopped {
                            break;
                        }
                    }
                    None => {
                        self.track_state(&CytubeEvent::Stopped { reason: "the CyTube client ended".into() }, false);
                        break;
                    }
                },
                Some(msg) = next_command(&mut commands) => self.on_command(msg).await,
                _ = user_count.tick() => self.publish_user_count().await,
                _ = status.tick() => self.publish_status().await,
                _ = tokio::time::sleep_until(self.status_due.unwrap_or_else(Instant::now)), if self.status_due.is_some() => {
                    self.publish_status().await
                }
            }
        }
        self.states.set_shutdown(&channel);
        stop.cancel();
        tracing::info!(%channel, "Channel bot stopping.");
        // A last status so the dashboard shows the bot as disconnected.
        self.live.connected_since = None;
        self.state.joined = false;
        self.publish_status().await;
        self.handle.shutdown().await;
    }

    /// Follows the client's lifecycle into the shared run state; a stop for good that was not
    /// asked for is logged at ERROR (the bot is no longer in that channel).
    fn track_state(&self, event: &CytubeEvent, shutting_down: bool) {
        let channel = &self.spec.channel;
        let state = match event {
            CytubeEvent::Joined { .. } => RunState::Joined,
            CytubeEvent::Disconnected { .. } | CytubeEvent::Reconnecting { .. } => {
                RunState::Reconnecting
            }
            CytubeEvent::Stopped { reason } => {
                if !shutting_down {
                    tracing::error!(%channel, %reason, "Channel stopped for good; the bot is no longer in it.");
                }
                RunState::Stopped {
                    reason: reason.clone(),
                }
            }
            _ => return,
        };
        self.states.set(channel, state);
    }

    async fn subscribe_commands(&self) -> Option<Subscription> {
        crate::platform::subscribe_commands(&self.bus, &self.spec.channel).await
    }

    fn chat_count(&self) -> i64 {
        self.state.users.len() as i64
    }

    fn connected_count(&self) -> i64 {
        self.state
            .usercount
            .map(|n| n as i64)
            .unwrap_or(self.chat_count())
    }

    async fn on_event(&mut self, event: CytubeEvent) {
        let ts = event_time(&event, now());
        // Whether an addUser is a new arrival must be judged before the state applies it.
        let new_user = match &event {
            CytubeEvent::Server(ServerEvent::AddUser(u)) => self.state.user(&u.name).is_none(),
            _ => false,
        };
        self.state.apply(&event);
        update_live(&mut self.live, &event, ts);
        self.events.publish(&event);
        let m = self.publisher.metrics();
        m.on_event(&event);
        if changes_upcoming(&event) {
            let next = crate::status::upcoming(&self.state);
            *m.upcoming.lock().unwrap_or_else(|e| e.into_inner()) = next;
        }
        if changes_users(&event) {
            *m.users.lock().unwrap_or_else(|e| e.into_inner()) = crate::status::users(&self.state);
        }
        m.users_chat.store(self.chat_count(), Relaxed);
        m.users_connected.store(self.connected_count(), Relaxed);
        if let Some(mut body) = normalize(&event) {
            if let rosey_model::EventBody::PlaylistChange { data, .. } = &mut body {
                // Each change carries the list as it now is, so a follower needs no replay.
                if let (Some(data), serde_json::Value::Object(summary)) =
                    (data.as_object_mut(), playlist_summary(&self.state))
                {
                    data.extend(summary);
                }
            }
            self.publisher.event(body, ts).await;
        }
        if matches!(event, CytubeEvent::Joined { .. }) {
            // Show the fresh state at once instead of up to one status interval later.
            self.publish_status().await;
        } else if changes_status(&event) {
            self.status_changed();
        }
        let CytubeEvent::Server(ev) = event else {
            return;
        };
        let p = &self.publisher;
        match ev {
            ServerEvent::Userlist(users) => {
                // Everyone already present counts from now (the original skipped them).
                for u in &users {
                    p.db(subjects::USER_JOINED, user_joined(u), ts).await;
                }
                self.publish_high_water(ts).await;
            }
            ServerEvent::AddUser(u) if new_user => {
                p.db(subjects::USER_JOINED, user_joined(&u), ts).await;
                self.publish_high_water(ts).await;
            }
            ServerEvent::UserLeave { name } => {
                let left = UserLeft {
                    username: name,
                    channel: None,
                    ts: None,
                    id: None,
                };
                p.db(subjects::USER_LEFT, left, ts).await;
            }
            ServerEvent::Usercount(_) => self.publish_high_water(ts).await,
            // `[server]`, `[voteskip]`: CyTube's notices, not people (user names cannot
            // contain brackets); they get a normalized event but are not counted as chat.
            // The bot's own lines (the server's echo) are stored like anyone's, marked as
            // the bot's: the history shows the answers to commands. The server's replay on
            // join (history) is published too, flagged, never run as commands: the database
            // service stores the lines it does not have yet (said while the bot was away).
            ServerEvent::ChatMsg(m) if !is_notice(&m.username) => {
                if !m.history {
                    if let Some(log) = &mut self.chat_log {
                        log.line(ts, &format!("<{}> {}", m.username, m.text));
                    }
                    if let Some(c) = self.commands.as_ref().filter(|_| !m.from_self) {
                        let line = self.command_line(&m.username, &m.text, ts);
                        let (state, started) = (&self.state, self.live.started_at);
                        c.on_chat(line, || crate::commands::cytube::context(state, started));
                    }
                }
                let line = MessageLog {
                    username: m.username,
                    message: m.text,
                    bot: m.from_self,
                    server_time: (m.time > 0).then_some(m.time),
                    replayed: m.history,
                    channel: None,
                    ts: None,
                    id: None,
                };
                p.db(subjects::MESSAGE_LOG, line, ts).await;
            }
            ServerEvent::ChangeMedia(c) => {
                let queued_by = self
                    .state
                    .current_uid
                    .and_then(|uid| self.state.playlist.iter().find(|i| i.uid == uid))
                    .map(|i| i.queueby.clone())
                    .filter(|q| !q.is_empty());
                if let Some(log) = &mut self.media_log {
                    log.line(
                        ts,
                        &format!(
                            "{} ({}:{}, {})",
                            c.media.title, c.media.media_type, c.media.id, c.media.duration
                        ),
                    );
                }
                let played = MediaPlayed {
                    media_type: c.media.media_type,
                    media_id: c.media.id,
                    title: c.media.title,
                    duration: c.media.seconds.max(0.0) as i64,
                    queued_by,
                    channel: None,
                    ts: None,
                    id: None,
                };
                p.db(subjects::MEDIA_PLAYED, played, ts).await;
            }
            ServerEvent::Pm(m) if !m.from_self => {
                if let Some(c) = &self.commands {
                    use crate::commands::Outcome;
                    let line = self.command_line(&m.username, &m.text, ts);
                    let (state, started) = (&self.state, self.live.started_at);
                    let outcome =
                        c.on_pm(line, || crate::commands::cytube::context(state, started));
                    if !matches!(
                        outcome,
                        Outcome::NotACommand | Outcome::Unknown | Outcome::NotEnabled
                    ) {
                        return;
                    }
                }
                tokio::spawn(shell::handle_pm(self.shell_context(), m.username, m.text));
            }
            _ => {}
        }
    }

    async fn publish_high_water(&self, ts: f64) {
        let connected = self.state.usercount.map(|n| n as i64);
        self.publisher
            .high_water(self.chat_count(), connected, ts)
            .await;
    }

    async fn publish_user_count(&self) {
        if !self.state.joined {
            return;
        }
        let (chat, connected) = (self.chat_count(), self.connected_count());
        self.publisher.user_count(chat, connected, now()).await;
    }

    /// The channel changed in a way the status shows: an update goes out now, or
    /// [`STATUS_MIN_GAP`] after the last one.
    fn status_changed(&mut self) {
        if self.status_due.is_some() {
            return;
        }
        let gap = STATUS_MIN_GAP.min(self.cfg.intervals.status);
        let now = Instant::now();
        self.status_due = Some(self.last_status.map_or(now, |at| (at + gap).max(now)));
    }

    async fn publish_status(&mut self) {
        self.last_status = Some(Instant::now());
        self.status_due = None;
        let s = &self.state;
        let media = s.current_media.as_ref().map(|c| &c.media);
        let data = StatusData {
            bot_name: s.own_name.clone(),
            bot_rank: Some(s.own_rank),
            bot_afk: Some(s.own_user().map(|u| u.meta.afk).unwrap_or(false)),
            channel_name: Some(self.spec.channel.clone()),
            current_chat_users: Some(self.chat_count()),
            current_connected_users: Some(self.connected_count()),
            playlist_items: Some(s.playlist.len() as i64),
            // Nothing playing is an empty title (the store then clears its row's media;
            // a missing field would keep the old one).
            current_media_title: Some(media.map(|m| m.title.clone()).unwrap_or_default()),
            current_media_duration: Some(media.map_or(0, |m| m.seconds.max(0.0) as i64)),
            bot_start_time: Some(self.live.started_at as i64),
            bot_connected: Some(s.joined),
        };
        self.publisher.status(data, now()).await;
    }

    /// A line for the plugin router, with the sender's rank from our own user list.
    fn command_line<'a>(
        &self,
        user: &'a str,
        text: &'a str,
        ts: f64,
    ) -> crate::commands::ChatLine<'a> {
        let rank = self.state.user(user).map_or(0.0, |u| u.rank);
        crate::commands::ChatLine {
            user,
            rank,
            text,
            ts,
        }
    }

    /// What a shell command runs with: the channel as it is now.
    fn shell_context(&self) -> ShellContext {
        ShellContext {
            settings: self.cfg.shell.clone(),
            timeout: self.cfg.intervals.shell_db_timeout,
            state: self.state.clone(),
            live: self.live.clone(),
            events: self.events.clone(),
            handle: self.handle.clone(),
            publisher: self.publisher.clone(),
            states: self.states.clone(),
        }
    }

    /// `rosey.commands.<channel>.chat {message}` / `.pm {to, message}` → `{success, error?}`;
    /// `.add` / `.skip` wait for the server's answer in their own task (see
    /// [`shell::remote`]).
    async fn on_command(&self, msg: Message) {
        let action = msg.subject.rsplit('.').next().unwrap_or_default();
        if shell::remote::is_remote_action(action) {
            let ctx = self.shell_context();
            tokio::spawn(shell::remote::answer(ctx, self.bus.clone(), msg));
            return;
        }
        crate::platform::answer_command(&self.bus, &self.handle, msg).await;
    }
}

/// A CyTube server notice pseudo-user (`[server]`, `[voteskip]`).
pub(crate) fn is_notice(username: &str) -> bool {
    username.starts_with('[') && username.ends_with(']')
}

fn user_joined(u: &rosey_cytube::User) -> UserJoined {
    UserJoined {
        username: u.name.clone(),
        rank: Some(u.rank),
        user_data: None,
        channel: None,
        ts: None,
        id: None,
    }
}

pub(crate) async fn next_command(sub: &mut Option<Subscription>) -> Option<Message> {
    match sub {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

/// Whether `event` changes what the status shows (users, playlist, media, our rank).
fn changes_status(event: &CytubeEvent) -> bool {
    changes_upcoming(event)
        || matches!(
            event,
            CytubeEvent::Disconnected { .. }
                | CytubeEvent::Server(
                    ServerEvent::ChangeMedia(_)
                        | ServerEvent::AddUser(_)
                        | ServerEvent::UserLeave { .. }
                        | ServerEvent::Userlist(_)
                        | ServerEvent::Rank(_)
                        | ServerEvent::SetAfk { .. }
                )
        )
}

/// Whether `event` can change which items play next.
fn changes_upcoming(event: &CytubeEvent) -> bool {
    matches!(
        event,
        CytubeEvent::Connected { .. }
            | CytubeEvent::Server(
                ServerEvent::Playlist(_)
                    | ServerEvent::Queue { .. }
                    | ServerEvent::Delete { .. }
                    | ServerEvent::MoveVideo { .. }
                    | ServerEvent::SetCurrent(_)
            )
    )
}

/// Whether `event` can change who is in the channel or their rank or AFK flag.
fn changes_users(event: &CytubeEvent) -> bool {
    matches!(
        event,
        CytubeEvent::Connected { .. }
            | CytubeEvent::Disconnected { .. }
            | CytubeEvent::Server(
                ServerEvent::Userlist(_)
                    | ServerEvent::AddUser(_)
                    | ServerEvent::UserLeave { .. }
                    | ServerEvent::SetUserRank { .. }
                    | ServerEvent::SetAfk { .. }
            )
    )
}
