//! The client's main task ([`run`]): logs in, starts the sender task, then syncs forever —
//! from the saved position when there is one (full state, so the rooms are known again, and
//! nothing before the position replayed) — hands each sync's events to the application,
//! accepts the invites it should, joins the configured rooms after the first sync, and saves
//! the position once the events are out. An unreachable homeserver is retried with backoff
//! from the same position (no event lost, none twice); a refused login stops the client
//! with one clear error, never a loop.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ruma::api::client::filter::{FilterDefinition, RoomEventFilter};
use ruma::api::client::sync::sync_events;
use ruma::api::client::{account, alias, membership, session};
use ruma::{OwnedRoomOrAliasId, UInt};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::api::{Api, ApiError};
use crate::config::{Auth, MatrixConfig, Validated};
use crate::event::MatrixEvent;
use crate::handle::{Queued, Shared};
use crate::outbox::Outbox;
use crate::position::{self, Saved};
use crate::sync::{self, Ctx, Invite, Mode};

/// How many timeline events one sync may carry per room (Synapse's default, 10, would cut a
/// burst short and leave a gap).
const TIMELINE_LIMIT: u32 = 500;

pub(crate) struct Connection {
    pub cfg: MatrixConfig,
    pub v: Validated,
    pub api: Arc<Api>,
    pub shared: Arc<Shared>,
    pub events: mpsc::UnboundedSender<MatrixEvent>,
    pub stop: CancellationToken,
    pub stopped: watch::Sender<bool>,
}

/// Why the client stops.
enum Stop {
    Told,
    Fatal(String),
}

impl Connection {
    pub async fn run(self, rx: mpsc::UnboundedReceiver<Queued>) {
        let result = self.main(rx).await;
        let error = match result {
            Stop::Told => None,
            Stop::Fatal(e) => {
                tracing::error!(error = %e, "matrix client stopped");
                Some(e)
            }
        };
        self.stop.cancel();
        let _ = self.events.send(MatrixEvent::Stopped { error });
        let _ = self.stopped.send(true);
    }

    fn emit(&self, e: MatrixEvent) {
        let _ = self.events.send(e);
    }

    /// Sleeps `d` unless told to stop first (then `false`).
    async fn pause(&self, d: Duration) -> bool {
        tokio::select! {
            _ = self.stop.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }

    async fn main(&self, rx: mpsc::UnboundedReceiver<Queued>) -> Stop {
        let state_file = self.cfg.state_file.clone();
        let mut saved = match state_file.as_deref().map(position::load) {
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                warn!(error = %e, "state file unusable; starting without a saved position");
                Saved::default()
            }
            None => Saved::default(),
        };
        if saved.next_batch.is_none() {
            saved.next_batch = self.cfg.since.clone();
        }
        if let Err(stop) = self.login().await {
            return stop;
        }
        tokio::spawn(
            Outbox {
                api: self.api.clone(),
                shared: self.shared.clone(),
                events: self.events.clone(),
                stop: self.stop.clone(),
                backoff: self.cfg.backoff,
                default_retry_after: self.cfg.default_retry_after,
            }
            .run(rx),
        );
        let wanted = self.resolve_configured().await;
        let mut direct: BTreeSet<String> = saved.direct_rooms.iter().cloned().collect();
        let mut invites_seen = BTreeSet::new();
        let mut since = saved.next_batch.clone();
        let mut mode = if since.is_some() {
            Mode::Resume
        } else {
            Mode::Initial
        };
        let mut joined_configured = false;
        let mut attempt = 0u32;
        let mut disconnected = false;
        let own = self.v.user_id.to_string();
        loop {
            if self.stop.is_cancelled() {
                return Stop::Told;
            }
            let mut req = sync_events::v3::Request::new();
            req.since = since.clone();
            req.full_state = mode == Mode::Resume;
            req.timeout = Some(if mode == Mode::Live {
                self.cfg.sync_timeout
            } else {
                Duration::ZERO
            });
            req.filter = Some(filter(mode));
            let call = self
                .api
                .call_with_timeout(req, self.cfg.sync_timeout + self.cfg.request_timeout);
            let result = tokio::select! {
                _ = self.stop.cancelled() => return Stop::Told,
                r = call => r,
            };
            let resp = match result {
                Ok(r) => r,
                Err(ApiError::UnknownToken(e)) => {
                    warn!(error = %e, "access token no longer valid; logging in again");
                    if matches!(self.cfg.auth, Auth::AccessToken(_)) {
                        return Stop::Fatal(format!("access token rejected: {e}"));
                    }
                    if let Err(stop) = self.login().await {
                        return stop;
                    }
                    continue;
                }
                Err(e) if e.errcode() == Some("M_UNKNOWN_POS") => {
                    warn!(error = %e, "the server forgot our sync position; starting afresh");
                    since = None;
                    mode = Mode::Initial;
                    continue;
                }
                Err(e) => {
                    if !disconnected && e.is_transient() {
                        disconnected = true;
                        warn!(error = %e, "homeserver unreachable; retrying");
                        self.emit(MatrixEvent::Disconnected {
                            error: e.to_string(),
                        });
                    } else if !e.is_transient() {
                        warn!(error = %e, "sync failed; retrying");
                    }
                    let wait = match &e {
                        ApiError::RateLimited {
                            retry_after: Some(d),
                        } => *d,
                        _ => self.cfg.backoff.delay(attempt + 1, &mut rand::rng()),
                    };
                    attempt += 1;
                    if !self.pause(wait).await {
                        return Stop::Told;
                    }
                    continue;
                }
            };
            attempt = 0;
            if disconnected {
                disconnected = false;
                info!("homeserver reachable again; resuming from the saved position");
                self.emit(MatrixEvent::Reconnected);
            }
            let batch = {
                let mut rooms = self.shared.rooms.lock().expect("rooms lock");
                let mut ctx = Ctx {
                    own: &own,
                    ranks: &self.shared.ranks,
                    rooms: &mut rooms,
                    direct: &mut direct,
                    invites_seen: &mut invites_seen,
                };
                sync::process(&resp, mode, &mut ctx, |i| self.accept(i, &wanted))
            };
            self.shared
                .stats
                .syncs
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.shared
                .stats
                .gaps
                .fetch_add(batch.gaps as u64, std::sync::atomic::Ordering::Relaxed);
            for e in batch.events {
                self.emit(e);
            }
            since = Some(resp.next_batch.clone());
            *self.shared.position.lock().expect("position lock") = since.clone();
            if let Some(path) = &state_file {
                self.save(path, &since, &direct);
            }
            for invite in batch.accept {
                self.join(&invite.room).await;
            }
            mode = Mode::Live;
            if !joined_configured {
                joined_configured = true;
                let waiting = self.join_configured().await;
                self.emit(MatrixEvent::Ready { waiting });
            }
        }
    }

    fn save(&self, path: &Path, since: &Option<String>, direct: &BTreeSet<String>) {
        let s = Saved {
            next_batch: since.clone(),
            direct_rooms: direct.iter().cloned().collect(),
        };
        if let Err(e) = position::save(path, &s) {
            warn!(error = %e, "cannot save the sync position");
        }
    }

    fn accept(&self, invite: &Invite, wanted: &BTreeSet<String>) -> bool {
        wanted.contains(&invite.room)
            || invite.alias.as_ref().is_some_and(|a| wanted.contains(a))
            || (invite.direct && self.cfg.accept_direct_invites)
    }

    /// The configured rooms by id and alias, with each alias's room id when it resolves.
    async fn resolve_configured(&self) -> BTreeSet<String> {
        let mut wanted: BTreeSet<String> = self.v.rooms.iter().map(|r| r.to_string()).collect();
        for a in self.v.aliases() {
            match self
                .api
                .call(alias::get_alias::v3::Request::new(a.clone()))
                .await
            {
                Ok(r) => {
                    wanted.insert(r.room_id.to_string());
                }
                Err(e) => warn!(alias = %a, error = %e, "room alias does not resolve (yet)"),
            }
        }
        wanted
    }

    /// Joins every configured room we are not in yet. A room we may not join (invite-only)
    /// is logged; its invite will be accepted when it comes.
    async fn join_configured(&self) -> Vec<String> {
        let rooms: Vec<OwnedRoomOrAliasId> = self.v.rooms.clone();
        let mut waiting = Vec::new();
        for r in rooms {
            let in_it = {
                let known = self.shared.rooms.lock().expect("rooms lock");
                known.contains_key(r.as_str())
                    || known
                        .values()
                        .any(|v| v.alias.as_deref() == Some(r.as_str()))
            };
            if !in_it && !self.join(r.as_str()).await {
                waiting.push(r.to_string());
            }
        }
        waiting
    }

    /// Joins a room (waiting out rate limits a few times); failures are logged. Did it?
    async fn join(&self, room: &str) -> bool {
        let Ok(target) = OwnedRoomOrAliasId::try_from(room) else {
            return false;
        };
        for attempt in 0..5u32 {
            let req = membership::join_room_by_id_or_alias::v3::Request::new(target.clone());
            match self.api.call(req).await {
                Ok(_) => {
                    info!(room = %room, "joined");
                    return true;
                }
                Err(ApiError::RateLimited { retry_after }) => {
                    let d = retry_after.unwrap_or(self.cfg.default_retry_after);
                    if !self.pause(d).await {
                        return false;
                    }
                }
                Err(e) if e.is_transient() => {
                    let wait = self.cfg.backoff.delay(attempt + 1, &mut rand::rng());
                    if !self.pause(wait).await {
                        return false;
                    }
                }
                Err(e) => {
                    warn!(room = %room, error = %e,
                        "cannot join the room; an invite to it will be accepted");
                    return false;
                }
            }
        }
        warn!(room = %room, "cannot join the room: homeserver unreachable");
        false
    }

    /// Logs in (password) or checks the token (`whoami`), retrying while the homeserver is
    /// unreachable. A refused login is fatal.
    async fn login(&self) -> Result<(), Stop> {
        let mut attempt = 0u32;
        loop {
            let result = match &self.cfg.auth {
                Auth::Password(pw) => self.password_login(pw).await,
                Auth::AccessToken(t) => self.token_login(t).await,
            };
            match result {
                Ok((user_id, device_id)) => {
                    info!(user = %user_id, device = %device_id, "logged in");
                    *self.shared.user_id.lock().expect("user lock") = Some(user_id.clone());
                    self.emit(MatrixEvent::LoggedIn { user_id, device_id });
                    return Ok(());
                }
                Err(e) if e.is_transient() => {
                    let wait = match &e {
                        ApiError::RateLimited {
                            retry_after: Some(d),
                        } => *d,
                        _ => self.cfg.backoff.delay(attempt + 1, &mut rand::rng()),
                    };
                    attempt += 1;
                    warn!(error = %e, "cannot log in yet; retrying");
                    if !self.pause(wait).await {
                        return Err(Stop::Told);
                    }
                }
                Err(e) => return Err(Stop::Fatal(format!("login refused: {e}"))),
            }
        }
    }

    async fn password_login(&self, pw: &str) -> Result<(String, String), ApiError> {
        use session::login::v3::{LoginInfo, Password, Request};
        let ident = ruma::api::client::uiaa::UserIdentifier::Matrix(
            ruma::api::client::uiaa::MatrixUserIdentifier::new(self.v.user_id.to_string()),
        );
        let mut req = Request::new(LoginInfo::Password(Password::new(ident, pw.to_string())));
        req.initial_device_display_name = Some(self.cfg.device_name.clone());
        self.api.set_token(None);
        let resp = self.api.call(req).await?;
        if resp.user_id != self.v.user_id {
            return Err(ApiError::Protocol(format!(
                "logged in as {} instead of {}",
                resp.user_id, self.v.user_id
            )));
        }
        self.api.set_token(Some(resp.access_token));
        Ok((resp.user_id.to_string(), resp.device_id.to_string()))
    }

    async fn token_login(&self, token: &str) -> Result<(String, String), ApiError> {
        self.api.set_token(Some(token.to_string()));
        let resp = self
            .api
            .call(account::whoami::v3::Request::new())
            .await
            .map_err(|e| match e {
                ApiError::UnknownToken(m) => ApiError::Server {
                    status: 401,
                    errcode: "M_UNKNOWN_TOKEN".into(),
                    message: m,
                },
                e => e,
            })?;
        if resp.user_id != self.v.user_id {
            return Err(ApiError::Protocol(format!(
                "the access token belongs to {}, not {}",
                resp.user_id, self.v.user_id
            )));
        }
        let device = resp.device_id.map(|d| d.to_string()).unwrap_or_default();
        Ok((resp.user_id.to_string(), device))
    }
}

/// The sync filter: a long timeline per room for live syncs (no gaps in a burst), a short
/// one for the first sync (its timeline is history anyway).
fn filter(mode: Mode) -> sync_events::v3::Filter {
    let mut def = FilterDefinition::default();
    let mut timeline = RoomEventFilter::default();
    let limit = if mode == Mode::Initial {
        1
    } else {
        TIMELINE_LIMIT
    };
    timeline.limit = Some(UInt::from(limit));
    def.room.timeline = timeline;
    sync_events::v3::Filter::FilterDefinition(def)
}
