//! Matrix as a platform: the channel's [`Spec`] from a `"type": "matrix"` entry (one room,
//! by alias or id), and [`connect`]: the Matrix client (`rosey-matrix`), a task that turns
//! its reports into [`Update`](crate::platform::Update)s, and the [`Platform`] on its handle.
//!
//! - The bot's lines are `m.notice` (bots do not answer notices); `m.notice` lines from
//!   others are stored but never taken as commands.
//! - Direct-message rooms are the PM shell: a direct message is a PM, the reply a notice
//!   in that room. Ranks come from the power levels of the channel's room ([`RankMap`]:
//!   power ≥ 50 → `op_rank`, 2 by default).
//! - Kick, ban and redact where the bot has the power (a refusal arrives later as the
//!   client's `ActionFailed`, logged and published as an error event); no unban, mute,
//!   playlist or polls ("not supported on this platform").
//! - An end-to-end encrypted room is refused with one clear log line (the client's) and a
//!   status entry (`refused`).
//!
//! # Layout
//! - here: [`Spec`], [`connect`], the [`Platform`] implementation and the live view.
//! - `events.rs`: Matrix reports → updates (normalized events, happenings).

mod events;

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use rosey_matrix::{Auth, MatrixConfig, MatrixHandle, RankMap, SendError};

use crate::platform::{
    Action, ActionError, Asker, ClientStats, Connection, FailKind, Outcome, Platform, UserView,
    View, fail, ok, unsupported,
};

/// The default rank of a room moderator (power ≥ 50).
pub const DEFAULT_OP_RANK: f64 = 2.0;

/// How to reach one Matrix room.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The client's configuration; `None` with why when it cannot log in (no password nor
    /// access token): the channel then stops at once with that reason.
    pub client: Result<MatrixConfig, String>,
    /// The room as configured (alias or id).
    pub room: String,
}

impl Spec {
    /// `matrix:<platform name>/<room>`, the bot's name for the channel.
    pub fn channel_name(platform: &str, room: &str) -> String {
        format!("matrix:{platform}/{room}")
    }

    /// The spec of a `"type": "matrix"` platform entry: `homeserver`, `user` (the user id,
    /// with its password from the file or `ROSEY_<NAME>_PASSWORD`), or else an access token
    /// in `ROSEY_<NAME>_ACCESS_TOKEN`; `channel` the room; `op_rank` the rank of power ≥
    /// 50; `state_file` where the sync position is kept (default: `state_dir`
    /// `/matrix-<name>.json`).
    pub fn from_platform(
        p: &rosey_config::PlatformConfig,
        state_dir: Option<&std::path::Path>,
    ) -> Spec {
        let room = p.channel.name.clone();
        let user_id = p.user.as_ref().map(|u| u.name.clone()).unwrap_or_default();
        let token_var = rosey_config::env::platform_token_var(&p.name);
        let auth = match (
            std::env::var(&token_var).ok().filter(|t| !t.is_empty()),
            p.user.as_ref().and_then(|u| u.password.as_ref()),
        ) {
            (Some(token), _) => Ok(Auth::AccessToken(token)),
            (None, Some(pw)) => Ok(Auth::Password(pw.expose().to_string())),
            (None, None) => Err(format!(
                "no Matrix login for {}: set a password (in the file or {}) or an access token in {token_var}",
                p.name,
                p.password_env_var()
            )),
        };
        let client = auth.map(|auth| {
            let homeserver = p.homeserver.clone().unwrap_or_default();
            let mut c = MatrixConfig::new(homeserver, user_id, auth, vec![room.clone()]);
            c.ranks = RankMap::op_rank(p.op_rank.unwrap_or(DEFAULT_OP_RANK));
            c.state_file = p.state_file.clone().or_else(|| {
                state_dir.map(|d| d.join(format!("matrix-{}.json", file_safe(&p.name))))
            });
            if !p.restart_delay.is_zero() {
                c.backoff.base = p.restart_delay.min(c.backoff.cap);
            }
            c
        });
        Spec { client, room }
    }

    /// Where the room is, for logs and lease keys.
    pub fn place(&self) -> String {
        let server = self.client.as_ref().map_or("", |c| c.homeserver.as_str());
        format!("{server}/{}", self.room)
    }
}

fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Facts about the connection the client's handle does not keep.
#[derive(Debug, Clone, Default)]
pub(crate) struct Live {
    /// The room's id once joined.
    pub room: Option<String>,
    pub connected_since: Option<f64>,
    pub refused: Option<String>,
}

/// Connects the room's Matrix client.
pub fn connect(spec: &Spec) -> Connection {
    let (tx, updates) = tokio::sync::mpsc::unbounded_channel();
    let live = Arc::new(Mutex::new(Live::default()));
    let started = spec.client.clone().and_then(|cfg| {
        rosey_matrix::connect(cfg.clone())
            .map_err(|e| e.to_string())
            .map(|c| (c, cfg))
    });
    let (handle, homeserver) = match started {
        Ok(((handle, events), cfg)) => {
            tokio::spawn(events::run(events, spec.room.clone(), live.clone(), tx));
            (Some(handle), cfg.homeserver)
        }
        Err(reason) => {
            tracing::error!(room = %spec.room, %reason, "The Matrix channel cannot start.");
            events::stopped(&tx, reason);
            (None, String::new())
        }
    };
    let platform = Matrix {
        handle,
        homeserver,
        live,
    };
    Connection {
        platform: Arc::new(platform),
        updates,
    }
}

/// A Matrix room's connection.
struct Matrix {
    /// `None` when the client could not start (bad configuration).
    handle: Option<MatrixHandle>,
    homeserver: String,
    live: Arc<Mutex<Live>>,
}

fn action_error(e: SendError) -> ActionError {
    let kind = match e {
        SendError::Closed => FailKind::Gone,
        SendError::Full => FailKind::Busy,
        SendError::BadId(_) | SendError::Encrypted(_) => FailKind::Permanent,
    };
    ActionError::failed(e.to_string(), kind)
}

impl Matrix {
    fn live(&self) -> Live {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The client and the room's id, while joined.
    fn room(&self) -> Result<(&MatrixHandle, String), ActionError> {
        let gone = |what: &str| ActionError::failed(what, FailKind::Gone);
        let handle = self
            .handle
            .as_ref()
            .ok_or_else(|| gone("the Matrix client has stopped"))?;
        let live = self.live();
        if let Some(why) = live.refused {
            return Err(ActionError::failed(why, FailKind::Permanent));
        }
        let room = live
            .room
            .ok_or_else(|| gone("not joined to the room (yet)"))?;
        Ok((handle, room))
    }

    /// The direct room shared with `user`.
    fn direct_room(&self, user: &str) -> Result<(&MatrixHandle, String), ActionError> {
        let handle = self
            .handle
            .as_ref()
            .ok_or_else(|| ActionError::failed("the Matrix client has stopped", FailKind::Gone))?;
        handle
            .rooms()
            .into_iter()
            .find(|r| r.direct && r.members.iter().any(|m| m.user_id == user))
            .map(|r| (handle, r.room))
            .ok_or_else(|| {
                ActionError::failed(
                    format!("no direct room with {user} (they must invite the bot first)"),
                    FailKind::Permanent,
                )
            })
    }

    async fn moderate(&self, action: Action) -> Outcome {
        let (handle, room) = self.room().map_err(crate::platform::Failure::from)?;
        let queued = |r: Result<(), SendError>| r.map_err(|e| fail(format!("Failed: {e}")));
        match action {
            Action::Kick { user, reason } => {
                queued(handle.kick(&room, &user, reason.as_deref()))?;
                ok(format!("Kick sent for {user}"))
            }
            Action::Ban { user, reason } => {
                queued(handle.ban(&room, &user, reason.as_deref()))?;
                ok(format!("Ban sent for {user}"))
            }
            Action::Redact { event_id, reason } => {
                queued(handle.redact(&room, &event_id, reason.as_deref()))?;
                ok(format!("Redaction sent for {event_id}"))
            }
            Action::Say(text) => {
                queued(handle.notice(&room, &text))?;
                ok(format!("Sent: {text}"))
            }
            Action::Pm { to, text } => {
                let (handle, direct) = self.direct_room(&to)?;
                queued(handle.notice(&direct, &text))?;
                ok(format!("PM sent to {to}: {text}"))
            }
            other => Err(unsupported(other.name())),
        }
    }
}

impl Platform for Matrix {
    fn kind(&self) -> &'static str {
        "matrix"
    }

    fn is_joined(&self) -> bool {
        self.room().is_ok()
    }

    fn view(&self) -> View {
        let live = self.live();
        let own = self.handle.as_ref().and_then(|h| h.user_id());
        let info = self.handle.as_ref().and_then(|h| {
            let room = live.room.as_deref()?;
            h.rooms().into_iter().find(|r| r.room == room)
        });
        let users: Vec<UserView> = info
            .map(|r| {
                r.members
                    .into_iter()
                    .map(|m| UserView {
                        name: m.user_id,
                        rank: m.rank,
                        ..UserView::default()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let own_rank = own
            .as_deref()
            .and_then(|me| users.iter().find(|u| u.name == me))
            .map_or(0.0, |u| u.rank);
        View {
            own_name: own,
            own_rank,
            joined: live.room.is_some() && live.refused.is_none(),
            server: Some(self.homeserver.clone()),
            connected_since: live.connected_since,
            connected_users: Some(users.len() as u64),
            users,
            refused: live.refused,
            ..View::default()
        }
    }

    fn rank_of(&self, user: &str) -> f64 {
        match (&self.handle, self.live().room) {
            (Some(h), Some(room)) => h.member(&room, user).map_or(0.0, |m| m.rank),
            _ => 0.0,
        }
    }

    fn stats(&self) -> ClientStats {
        let Some(h) = &self.handle else {
            return ClientStats::default();
        };
        let s = h.stats();
        ClientStats {
            queued: h.queued(),
            chat_sent: s.sent,
            throttle_waits: s.rate_limited,
            ..ClientStats::default()
        }
    }

    /// The bot's lines are notices.
    fn say(&self, text: &str) -> Result<(), ActionError> {
        let (handle, room) = self.room()?;
        handle.notice(&room, text).map_err(action_error)
    }

    /// Queued in order (rate limits waited out without losing it); the client confirms no
    /// single write, so this resolves once queued.
    fn say_confirmed<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<(), ActionError>> {
        Box::pin(std::future::ready(self.say(text)))
    }

    fn pm(&self, to: &str, text: &str) -> Result<(), ActionError> {
        let (handle, room) = self.direct_room(to)?;
        handle.notice(&room, text).map_err(action_error)
    }

    /// One notice with every line.
    fn reply(&self, to: &str, lines: &[String]) -> Result<(), ActionError> {
        self.pm(to, &lines.join("\n"))
    }

    fn act<'a>(&'a self, _asker: &'a Asker, action: Action) -> BoxFuture<'a, Outcome> {
        Box::pin(self.moderate(action))
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(h) = &self.handle {
                h.stop();
                h.stopped().await;
            }
        })
    }
}
