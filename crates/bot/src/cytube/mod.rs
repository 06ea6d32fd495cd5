//! CyTube as a platform: the channel's [`Spec`] from a `"type": "cytube"` entry, and
//! [`connect`]: the CyTube client, a task that keeps the channel state and turns each event
//! into an [`Update`](crate::platform::Update), and the [`Platform`] on the handle (every
//! shell and bus action, answered in the server's words).
//!
//! # Layout
//! - here: [`Spec`], [`connect`], the [`Platform`] implementation and the live view.
//! - [`normalize`]: CyTube events → normalized events (SPEC §4.2).
//! - `events.rs`: the task that keeps the state mirror and yields the updates.
//! - `answer.rs`: waiting for the server's answer to a command (issue 11).
//! - `actions.rs`: what each action sends and how the server's answer reads.
//! - `media_url.rs`: URL → CyTube media type and id, for `add`.

mod actions;
mod answer;
mod events;
mod media_url;
pub mod normalize;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use rosey_cytube::{ChannelState, CytubeHandle, Login, SendError};

use crate::platform::{
    Action, ActionError, Asker, ClientStats, Connection, FailKind, MediaView, Outcome, Platform,
    PlaylistView, UPCOMING, Upcoming, UserView, View,
};

pub use answer::ServerEvents;
/// How to connect (for [`crate::ChannelSpec::cytube`]).
pub use rosey_cytube::ClientConfig;

/// How to reach one CyTube channel.
#[derive(Debug, Clone)]
pub struct Spec {
    pub client: ClientConfig,
}

impl Spec {
    /// The spec of a `"type": "cytube"` platform entry: its login, channel password, and
    /// `restart_delay` as the first reconnect delay (SPEC §4.1: 5 s, doubling up to the cap).
    pub fn from_platform(p: &rosey_config::PlatformConfig) -> Spec {
        let login = match &p.user {
            Some(u) => match &u.password {
                Some(pw) => Login::Registered {
                    name: u.name.clone(),
                    password: pw.expose().to_string(),
                },
                None => Login::Guest(u.name.clone()),
            },
            None => Login::Anonymous,
        };
        let mut client = ClientConfig::new(p.base_url(), &p.channel.name, login);
        client.channel_password = p.channel.password.as_ref().map(|s| s.expose().to_string());
        if !p.restart_delay.is_zero() {
            client.backoff.base = p.restart_delay.min(client.backoff.cap);
        }
        Spec { client }
    }

    /// Where the channel is, for logs and lease keys: the server's URL and channel.
    pub fn place(&self) -> String {
        format!("{}/{}", self.client.domain, self.client.channel)
    }
}

/// Facts about the connection the channel state does not hold.
#[derive(Debug, Clone, Default)]
pub(crate) struct Live {
    pub connected_since: Option<f64>,
    pub server: Option<String>,
    pub paused: bool,
    pub position: f64,
    pub voteskip: Option<(u64, u64)>,
}

/// The channel as the events task keeps it.
#[derive(Debug, Default)]
pub(crate) struct Mirror {
    pub state: ChannelState,
    pub live: Live,
}

/// Connects the channel's CyTube client. `timeout`: how long an action waits for the
/// server's answer.
pub fn connect(spec: &Spec, timeout: Duration) -> Connection {
    let (handle, events) = rosey_cytube::connect(spec.client.clone());
    let mirror = Arc::new(Mutex::new(Mirror {
        state: ChannelState::new(),
        live: Live::default(),
    }));
    let server_events = ServerEvents::default();
    let (tx, updates) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(events::run(
        events,
        mirror.clone(),
        server_events.clone(),
        tx,
    ));
    let platform = Cytube {
        handle,
        mirror,
        events: server_events,
        timeout,
    };
    Connection {
        platform: Arc::new(platform),
        updates,
    }
}

/// A CyTube channel's connection.
pub(crate) struct Cytube {
    handle: CytubeHandle,
    mirror: Arc<Mutex<Mirror>>,
    events: ServerEvents,
    timeout: Duration,
}

impl Cytube {
    fn mirror(&self) -> std::sync::MutexGuard<'_, Mirror> {
        self.mirror.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn action_error(e: SendError) -> ActionError {
    let kind = match e {
        SendError::Closed | SendError::NotJoined | SendError::Disconnected => FailKind::Gone,
        SendError::Empty | SendError::Invalid(_) => FailKind::Permanent,
        SendError::QueueFull(_) => FailKind::Busy,
    };
    ActionError::failed(e.to_string(), kind)
}

/// The items after the current one (from the start when nothing is current), at most
/// [`UPCOMING`].
pub(crate) fn upcoming(state: &ChannelState) -> Vec<Upcoming> {
    let start = state
        .current_uid
        .and_then(|uid| state.position_of(uid))
        .unwrap_or(0);
    state
        .playlist
        .iter()
        .skip(start)
        .take(UPCOMING)
        .map(|i| Upcoming {
            title: i.media.title.clone(),
            duration: i.media.duration.clone(),
            queued_by: i.queueby.clone(),
        })
        .collect()
}

/// Who queued the item playing now.
pub(crate) fn queued_by(state: &ChannelState) -> Option<String> {
    state
        .current_uid
        .and_then(|uid| state.playlist.iter().find(|i| i.uid == uid))
        .map(|i| i.queueby.clone())
        .filter(|q| !q.is_empty())
}

fn view(m: &Mirror) -> View {
    let s = &m.state;
    View {
        own_name: s.own_name.clone(),
        own_rank: s.own_rank,
        own_afk: Some(s.own_user().map(|u| u.meta.afk).unwrap_or(false)),
        joined: s.joined,
        server: m.live.server.clone(),
        connected_since: m.live.connected_since,
        topic: None,
        users: s
            .users
            .iter()
            .map(|u| UserView {
                name: u.name.clone(),
                rank: u.rank,
                afk: Some(u.meta.afk),
                muted: Some(u.meta.muted),
                prefix: String::new(),
                aliases: u.meta.aliases.clone(),
            })
            .collect(),
        connected_users: s.usercount,
        leader: s.leader.clone(),
        paused: Some(m.live.paused),
        media: s.current_media.as_ref().map(|c| MediaView {
            title: c.media.title.clone(),
            media_type: c.media.media_type.clone(),
            id: c.media.id.clone(),
            seconds: c.media.seconds.max(0.0) as u64,
            duration: c.media.duration.clone(),
            queued_by: queued_by(s),
        }),
        playlist: Some(PlaylistView {
            items: s.playlist.len(),
            seconds: s
                .playlist
                .iter()
                .map(|i| i.media.seconds.max(0.0) as u64)
                .sum(),
            upcoming: upcoming(s),
        }),
        refused: None,
    }
}

impl Platform for Cytube {
    fn kind(&self) -> &'static str {
        "cytube"
    }

    fn is_joined(&self) -> bool {
        self.handle.is_joined()
    }

    fn view(&self) -> View {
        view(&self.mirror())
    }

    fn rank_of(&self, user: &str) -> f64 {
        self.mirror().state.user(user).map_or(0.0, |u| u.rank)
    }

    fn counts(&self) -> (i64, Option<i64>) {
        let m = self.mirror();
        (
            m.state.users.len() as i64,
            m.state.usercount.map(|n| n as i64),
        )
    }

    fn stats(&self) -> ClientStats {
        let s = self.handle.stats();
        ClientStats {
            queued: s.queued,
            chat_sent: s.chat_sent,
            pm_sent: s.pm_sent,
            throttle_waits: s.throttle_waits,
            throttle_burst: s.throttle_burst,
            throttle_interval: s.throttle_interval,
            cooldowns: s.cooldowns,
        }
    }

    fn say(&self, text: &str) -> Result<(), ActionError> {
        self.handle.chat(text).map_err(action_error)
    }

    fn say_confirmed<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<(), ActionError>> {
        Box::pin(async move { self.handle.chat_confirmed(text).await.map_err(action_error) })
    }

    fn pm(&self, to: &str, text: &str) -> Result<(), ActionError> {
        self.handle.pm(to, text).map_err(action_error)
    }

    /// CyTube PMs are single-line: the lines are joined into as few messages as fit.
    fn reply(&self, to: &str, lines: &[String]) -> Result<(), ActionError> {
        use crate::format::{MAX_MESSAGE_CHARS, chunk_lines};
        for chunk in chunk_lines(lines, MAX_MESSAGE_CHARS) {
            self.pm(to, &chunk)?;
        }
        Ok(())
    }

    fn poll(&self, title: &str, options: Vec<String>) -> Result<(), ActionError> {
        self.handle
            .new_poll(title, options, false)
            .map_err(action_error)
    }

    fn act<'a>(&'a self, asker: &'a Asker, action: Action) -> BoxFuture<'a, Outcome> {
        // A snapshot of the channel as it is when the action starts.
        let ctx = {
            let m = self.mirror();
            actions::Ctx {
                handle: self.handle.clone(),
                events: self.events.clone(),
                state: m.state.clone(),
                live: m.live.clone(),
                timeout: self.timeout,
            }
        };
        Box::pin(async move { actions::run(&ctx, asker, action).await })
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.handle.shutdown())
    }
}
