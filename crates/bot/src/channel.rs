//! One channel's runner, the same for every platform: it takes the platform connection's
//! [`Update`]s in order and publishes what happens (SPEC §4.3) — the normalized events, and
//! the `rosey.db.*` events (joins, leaves, chat lines, media played, user counts, high-water
//! marks, status) — keeps the run state and the channel's instruments, serves
//! `rosey.commands.<channel>.*` (chat, pm, add, skip, moderate, remove), routes chat
//! commands to plugins and hands moderators' PMs to the shell.
//!
//! Work that waits on the bus or the server for long (shell commands, bus actions, the
//! outbound pump) runs in its own task so the loop never stalls behind it.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use rosey_bus::{Bus, Message, Subscription};
use rosey_model::{
    decode, encode,
    payload::{
        ChatCommand, CommandReply, MediaPlayed, MessageLog, PmCommandRequest, StatusData,
        UserJoined, UserLeft,
    },
    subjects,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::{
    commands::{ChannelCommands, ChatLine, Outcome},
    config::BotConfig,
    logs::LogFile,
    platform::{Happening, MediaView, Platform, Update, Updates},
    publisher::{Publisher, now},
    shell::{self, ShellContext},
    states::{ChannelStates, RunState},
};

/// The shortest gap between two status updates sent because the channel changed (a burst
/// of playlist edits gives one update a second, not one per edit).
const STATUS_MIN_GAP: Duration = Duration::from_secs(1);

pub(crate) struct ChannelBot {
    channel: String,
    cfg: Arc<BotConfig>,
    bus: Bus,
    platform: Arc<dyn Platform>,
    publisher: Publisher,
    states: ChannelStates,
    started_at: f64,
    chat_log: Option<LogFile>,
    media_log: Option<LogFile>,
    /// Chat commands for plugins, when routing is on.
    commands: Option<ChannelCommands>,
    /// When the last status update went out, and when the next one is due because the
    /// channel changed (none pending: `None`).
    last_status: Option<Instant>,
    status_due: Option<Instant>,
}

impl ChannelBot {
    pub(crate) fn new(
        channel: &str,
        cfg: Arc<BotConfig>,
        bus: Bus,
        platform: Arc<dyn Platform>,
        publisher: Publisher,
        states: ChannelStates,
    ) -> Self {
        let chat_log = LogFile::open_or_warn(cfg.chat_log_file.as_deref());
        let media_log = LogFile::open_or_warn(cfg.media_log_file.as_deref());
        ChannelBot {
            channel: channel.to_string(),
            cfg,
            bus,
            platform,
            publisher,
            states,
            started_at: now(),
            chat_log,
            media_log,
            commands: None,
            last_status: None,
            status_due: None,
        }
    }

    pub(crate) fn with_commands(mut self, commands: Option<ChannelCommands>) -> Self {
        self.commands = commands;
        self
    }

    /// Runs until `stop` is cancelled or the connection stops for good.
    pub(crate) async fn run(mut self, mut updates: Updates, stop: CancellationToken) {
        let channel = self.channel.clone();
        let mut commands = subscribe_commands(&self.bus, &channel).await;
        let (mut user_count, mut status) = self.cfg.intervals.periodic();
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                update = updates.recv() => match update {
                    Some(update) => {
                        let stopped = update
                            .happenings
                            .iter()
                            .any(|h| matches!(h, Happening::Stopped { .. }));
                        self.track_state(&update, stop.is_cancelled());
                        self.on_update(update).await;
                        if stopped {
                            break;
                        }
                    }
                    None => break,
                },
                Some(msg) = next_command(&mut commands) => self.on_command(msg).await,
                _ = user_count.tick() => self.publish_user_count().await,
                _ = status.tick() => self.publish_status(None).await,
                _ = tokio::time::sleep_until(self.status_due.unwrap_or_else(Instant::now)), if self.status_due.is_some() => {
                    self.publish_status(None).await
                }
            }
        }
        self.states.set_shutdown(&channel);
        stop.cancel();
        tracing::info!(%channel, "Channel bot stopping.");
        // A last status so the dashboard shows the bot as disconnected.
        self.publish_status(Some(false)).await;
        self.platform.shutdown().await;
    }

    /// Follows the connection's lifecycle into the shared run state; a stop for good that
    /// was not asked for is logged at ERROR (the bot is no longer in that channel).
    fn track_state(&self, update: &Update, shutting_down: bool) {
        let channel = &self.channel;
        for h in &update.happenings {
            let state = match h {
                Happening::Joined => RunState::Joined,
                Happening::Away => RunState::Reconnecting,
                Happening::Stopped { reason } => {
                    if !shutting_down {
                        tracing::error!(%channel, %reason, "Channel stopped for good; the bot is no longer in it.");
                    }
                    RunState::Stopped {
                        reason: reason.clone(),
                    }
                }
                _ => continue,
            };
            self.states.set(channel, state);
        }
    }

    async fn on_update(&mut self, update: Update) {
        let ts = update.ts;
        let m = self.publisher.metrics();
        m.on_event(update.kind, update.reconnect);
        if update.users_changed || update.playlist_changed {
            let view = self.platform.view();
            if update.playlist_changed {
                let next = view
                    .playlist
                    .as_ref()
                    .map(|p| p.upcoming.clone())
                    .unwrap_or_default();
                *m.upcoming.lock().unwrap_or_else(|e| e.into_inner()) = next;
            }
            if update.users_changed {
                *m.users.lock().unwrap_or_else(|e| e.into_inner()) = view.status_users();
            }
        }
        let (chat, connected) = self.platform.counts();
        m.users_chat.store(chat, Relaxed);
        m.users_connected.store(connected.unwrap_or(chat), Relaxed);
        for body in update.events {
            self.publisher.event(body, ts).await;
        }
        if update.happenings.contains(&Happening::Joined) {
            // Show the fresh state at once instead of up to one status interval later.
            self.publish_status(None).await;
        } else if update.status_changed {
            self.status_changed();
        }
        for happening in update.happenings {
            self.on_happening(happening, ts).await;
        }
    }

    async fn on_happening(&mut self, happening: Happening, ts: f64) {
        let p = &self.publisher;
        match happening {
            Happening::Present { users } => {
                for (name, rank) in users {
                    p.db(subjects::USER_JOINED, user_joined(name, rank), ts)
                        .await;
                }
                self.publish_high_water(ts).await;
            }
            Happening::UserJoined { name, rank } => {
                p.db(subjects::USER_JOINED, user_joined(name, rank), ts)
                    .await;
                self.publish_high_water(ts).await;
            }
            Happening::UserLeft { name } => {
                let left = UserLeft {
                    username: name,
                    channel: None,
                    ts: None,
                    id: None,
                };
                p.db(subjects::USER_LEFT, left, ts).await;
            }
            Happening::Counted => self.publish_high_water(ts).await,
            Happening::Chat {
                user,
                text,
                bot,
                command,
                server_time,
                replayed,
            } => {
                if !replayed && let Some(log) = &mut self.chat_log {
                    log.line(ts, &format!("<{user}> {text}"));
                }
                if command && let Some(c) = &self.commands {
                    let line = self.command_line(&user, &text, ts);
                    let (platform, started) = (&self.platform, self.started_at);
                    c.on_chat(line, || {
                        crate::commands::context::of(&platform.view(), started)
                    });
                }
                let line = MessageLog {
                    username: user,
                    message: text,
                    bot,
                    server_time,
                    replayed,
                    channel: None,
                    ts: None,
                    id: None,
                };
                self.publisher.db(subjects::MESSAGE_LOG, line, ts).await;
            }
            Happening::MediaChanged(media) => self.media_changed(media, ts).await,
            Happening::Pm { user, text } => {
                if let Some(c) = &self.commands {
                    let line = self.command_line(&user, &text, ts);
                    let (platform, started) = (&self.platform, self.started_at);
                    let outcome = c.on_pm(line, || {
                        crate::commands::context::of(&platform.view(), started)
                    });
                    // A plugin command (answered or refused by PM): not for the shell.
                    if !matches!(
                        outcome,
                        Outcome::NotACommand | Outcome::Unknown | Outcome::NotEnabled
                    ) {
                        return;
                    }
                }
                tokio::spawn(shell::handle_pm(self.shell_context(), user, text));
            }
            Happening::Connected
            | Happening::Joined
            | Happening::Away
            | Happening::Stopped { .. } => {}
        }
    }

    async fn media_changed(&mut self, media: MediaView, ts: f64) {
        if let Some(log) = &mut self.media_log {
            log.line(
                ts,
                &format!(
                    "{} ({}:{}, {})",
                    media.title, media.media_type, media.id, media.duration
                ),
            );
        }
        let played = MediaPlayed {
            media_type: media.media_type,
            media_id: media.id,
            title: media.title,
            duration: media.seconds as i64,
            queued_by: media.queued_by,
            channel: None,
            ts: None,
            id: None,
        };
        self.publisher.db(subjects::MEDIA_PLAYED, played, ts).await;
    }

    async fn publish_high_water(&self, ts: f64) {
        let (chat, connected) = self.platform.counts();
        self.publisher.high_water(chat, connected, ts).await;
    }

    async fn publish_user_count(&self) {
        if !self.platform.is_joined() {
            return;
        }
        let (chat, connected) = self.platform.counts();
        self.publisher
            .user_count(chat, connected.unwrap_or(chat), now())
            .await;
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

    /// Publishes the status (`connected`: what to say instead of the connection's own
    /// answer, e.g. `false` when stopping).
    async fn publish_status(&mut self, connected: Option<bool>) {
        self.last_status = Some(Instant::now());
        self.status_due = None;
        let v = self.platform.view();
        let has_media = v.playlist.is_some();
        let data = StatusData {
            bot_name: v.own_name.clone(),
            bot_rank: Some(v.own_rank),
            bot_afk: Some(v.own_afk.unwrap_or(false)),
            channel_name: Some(self.channel.clone()),
            current_chat_users: Some(v.chat_count()),
            current_connected_users: Some(v.connected_count()),
            playlist_items: v.playlist.as_ref().map(|p| p.items as i64),
            // Nothing playing is an empty title (the store then clears its row's media;
            // a missing field would keep the old one). No media on the platform: absent.
            current_media_title: has_media.then(|| {
                v.media
                    .as_ref()
                    .map(|m| m.title.clone())
                    .unwrap_or_default()
            }),
            current_media_duration: has_media
                .then(|| v.media.as_ref().map_or(0, |m| m.seconds as i64)),
            bot_start_time: Some(self.started_at as i64),
            bot_connected: Some(connected.unwrap_or(v.joined)),
        };
        self.publisher.status(data, now()).await;
    }

    /// A line for the plugin router, with the sender's rank from the live view.
    fn command_line<'a>(&self, user: &'a str, text: &'a str, ts: f64) -> ChatLine<'a> {
        ChatLine {
            user,
            rank: self.platform.rank_of(user),
            text,
            ts,
        }
    }

    /// What a shell command runs with: the channel as it is now.
    fn shell_context(&self) -> ShellContext {
        ShellContext {
            settings: self.cfg.shell.clone(),
            timeout: self.cfg.intervals.shell_db_timeout,
            platform: self.platform.clone(),
            view: self.platform.view(),
            started_at: self.started_at,
            publisher: self.publisher.clone(),
            states: self.states.clone(),
        }
    }

    /// `rosey.commands.<channel>.chat {message}` / `.pm {to, message}` → `{success,
    /// error?}` at once; `.add`, `.skip`, `.moderate`, `.remove` wait for the server's
    /// answer in their own task (see [`shell::remote`]).
    async fn on_command(&self, msg: Message) {
        let action = msg.subject.rsplit('.').next().unwrap_or_default();
        if shell::remote::is_remote_action(action) {
            tokio::spawn(shell::remote::answer(
                self.platform.clone(),
                self.publisher.clone(),
                self.bus.clone(),
                msg,
            ));
            return;
        }
        if action == subjects::COMMAND_PUMP {
            // For the outbound pump, which has its own subscription; nothing to answer.
            return;
        }
        let result = match action {
            subjects::COMMAND_CHAT => match decode::<ChatCommand>(&msg.payload) {
                Ok(c) => self.platform.say(&c.message).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            },
            subjects::COMMAND_PM => match decode::<PmCommandRequest>(&msg.payload) {
                Ok(c) => self
                    .platform
                    .pm(&c.to, &c.message)
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            },
            other => Err(format!(
                "unknown command `{other}` (expected chat, pm, add, skip, moderate or remove)"
            )),
        };
        let reply = CommandReply {
            success: result.is_ok(),
            error: result.err(),
            message: None,
        };
        if let Err(e) = self.bus.respond(&msg, encode(&reply)).await {
            tracing::debug!(error = %e, "Could not answer a bot command.");
        }
    }
}

fn user_joined(username: String, rank: f64) -> UserJoined {
    UserJoined {
        username,
        rank: Some(rank),
        user_data: None,
        channel: None,
        ts: None,
        id: None,
    }
}

/// Subscribes to `rosey.commands.<channel>.*`; `None` (logged) when the bus refuses.
async fn subscribe_commands(bus: &Bus, channel: &str) -> Option<Subscription> {
    subscribe_or_warn(
        bus,
        channel,
        &subjects::command_wildcard(channel),
        "Cannot subscribe to bot commands; bus commands are off.",
    )
    .await
}

/// Subscribes to `subject` for `channel`; `None`, logged with `what_then`, when the bus
/// refuses (the caller carries on without it).
pub(crate) async fn subscribe_or_warn(
    bus: &Bus,
    channel: &str,
    subject: &str,
    what_then: &'static str,
) -> Option<Subscription> {
    match bus.subscribe(subject).await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(%channel, error = %e, "{what_then}");
            None
        }
    }
}

async fn next_command(sub: &mut Option<Subscription>) -> Option<Message> {
    match sub {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}
