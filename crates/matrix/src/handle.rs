//! The application's side of the client: [`MatrixHandle`] (cloneable; queues actions and
//! reads the live view of the rooms) and [`MatrixEvents`] (everything the client reports,
//! in order). The handle never talks HTTP itself: actions go on a queue that the sender
//! task works through in order, retrying on rate limits, so none is lost.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use ruma::{
    OwnedEventId, OwnedRoomId, OwnedRoomOrAliasId, OwnedTransactionId, OwnedUserId, RoomId,
};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::event::{MatrixEvent, Member};
use crate::rank::RankMap;
use crate::sync::Rooms;

/// Something the bot asks the homeserver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `m.notice`: the bot's replies (other bots do not answer notices).
    Notice {
        room: OwnedRoomId,
        text: String,
    },
    Text {
        room: OwnedRoomId,
        text: String,
    },
    Emote {
        room: OwnedRoomId,
        text: String,
    },
    Kick {
        room: OwnedRoomId,
        user: OwnedUserId,
        reason: Option<String>,
    },
    Ban {
        room: OwnedRoomId,
        user: OwnedUserId,
        reason: Option<String>,
    },
    Redact {
        room: OwnedRoomId,
        event: OwnedEventId,
        reason: Option<String>,
    },
    Join(OwnedRoomOrAliasId),
    Leave(OwnedRoomId),
}

impl Action {
    /// A short name for logs and [`MatrixEvent::ActionFailed`].
    pub fn name(&self) -> String {
        match self {
            Action::Notice { room, .. } => format!("notice to {room}"),
            Action::Text { room, .. } => format!("message to {room}"),
            Action::Emote { room, .. } => format!("emote to {room}"),
            Action::Kick { room, user, .. } => format!("kick {user} from {room}"),
            Action::Ban { room, user, .. } => format!("ban {user} in {room}"),
            Action::Redact { room, event, .. } => format!("redact {event} in {room}"),
            Action::Join(r) => format!("join {r}"),
            Action::Leave(r) => format!("leave {r}"),
        }
    }
}

/// One queued action with its transaction id (kept across retries, so the homeserver
/// stores a retried message once).
#[derive(Debug)]
pub(crate) struct Queued {
    pub action: Action,
    pub txn: OwnedTransactionId,
}

/// Why an action was not queued.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    #[error("the client has stopped")]
    Closed,
    #[error("the send queue is full")]
    Full,
    #[error("{0:?} is not a valid Matrix id")]
    BadId(String),
    #[error("room {0} is end-to-end encrypted; the client does not send there")]
    Encrypted(String),
}

/// Counters for status and metrics.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub sent: AtomicU64,
    pub rate_limited: AtomicU64,
    pub failed: AtomicU64,
    pub syncs: AtomicU64,
    pub gaps: AtomicU64,
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Actions the homeserver accepted.
    pub sent: u64,
    /// `M_LIMIT_EXCEEDED` answers waited out (each one retried).
    pub rate_limited: u64,
    /// Actions given up (the server refused them for good).
    pub failed: u64,
    /// Syncs completed.
    pub syncs: u64,
    /// Timelines the server cut short.
    pub gaps: u64,
}

/// State the tasks share with the handle.
pub(crate) struct Shared {
    pub rooms: Mutex<Rooms>,
    pub user_id: Mutex<Option<String>>,
    pub position: Mutex<Option<String>>,
    pub queued: AtomicUsize,
    pub stats: Stats,
    pub ranks: RankMap,
}

impl Shared {
    pub fn new(ranks: RankMap) -> Shared {
        Shared {
            rooms: Mutex::new(Rooms::new()),
            user_id: Mutex::new(None),
            position: Mutex::new(None),
            queued: AtomicUsize::new(0),
            stats: Stats::default(),
            ranks,
        }
    }
}

/// One room as the bot sees it now.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomInfo {
    pub room: String,
    pub alias: Option<String>,
    pub direct: bool,
    pub encrypted: bool,
    pub members: Vec<Member>,
}

/// The client's handle (cheap to clone).
#[derive(Clone)]
pub struct MatrixHandle {
    pub(crate) tx: mpsc::UnboundedSender<Queued>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) stop: CancellationToken,
    pub(crate) stopped: watch::Receiver<bool>,
    pub(crate) capacity: usize,
    pub(crate) txn: Arc<(String, AtomicU64)>,
}

impl MatrixHandle {
    pub(crate) fn new(
        tx: mpsc::UnboundedSender<Queued>,
        shared: Arc<Shared>,
        stop: CancellationToken,
        stopped: watch::Receiver<bool>,
        capacity: usize,
    ) -> MatrixHandle {
        let start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        MatrixHandle {
            tx,
            shared,
            stop,
            stopped,
            capacity,
            txn: Arc::new((format!("rosey{start}"), AtomicU64::new(0))),
        }
    }

    /// Queues an action.
    pub fn act(&self, action: Action) -> Result<(), SendError> {
        if let Action::Notice { room, .. } | Action::Text { room, .. } | Action::Emote { room, .. } =
            &action
            && self.is_encrypted(room)
        {
            return Err(SendError::Encrypted(room.to_string()));
        }
        if self.shared.queued.load(Ordering::Acquire) >= self.capacity {
            return Err(SendError::Full);
        }
        let n = self.txn.1.fetch_add(1, Ordering::Relaxed);
        let txn = OwnedTransactionId::from(format!("{}.{n}", self.txn.0));
        self.shared.queued.fetch_add(1, Ordering::AcqRel);
        self.tx.send(Queued { action, txn }).map_err(|_| {
            self.shared.queued.fetch_sub(1, Ordering::AcqRel);
            SendError::Closed
        })
    }

    fn is_encrypted(&self, room: &RoomId) -> bool {
        self.shared
            .rooms
            .lock()
            .expect("rooms lock")
            .get(room.as_str())
            .is_some_and(|r| r.encrypted)
    }

    /// The bot's reply: an `m.notice`.
    pub fn notice(&self, room: &str, text: &str) -> Result<(), SendError> {
        self.act(Action::Notice {
            room: room_id(room)?,
            text: text.to_string(),
        })
    }

    /// An `m.text` message.
    pub fn text(&self, room: &str, text: &str) -> Result<(), SendError> {
        self.act(Action::Text {
            room: room_id(room)?,
            text: text.to_string(),
        })
    }

    /// An `m.emote` (`/me`).
    pub fn emote(&self, room: &str, text: &str) -> Result<(), SendError> {
        self.act(Action::Emote {
            room: room_id(room)?,
            text: text.to_string(),
        })
    }

    pub fn kick(&self, room: &str, user: &str, reason: Option<&str>) -> Result<(), SendError> {
        self.act(Action::Kick {
            room: room_id(room)?,
            user: user_id(user)?,
            reason: reason.map(str::to_string),
        })
    }

    pub fn ban(&self, room: &str, user: &str, reason: Option<&str>) -> Result<(), SendError> {
        self.act(Action::Ban {
            room: room_id(room)?,
            user: user_id(user)?,
            reason: reason.map(str::to_string),
        })
    }

    pub fn redact(
        &self,
        room: &str,
        event_id: &str,
        reason: Option<&str>,
    ) -> Result<(), SendError> {
        let event =
            OwnedEventId::try_from(event_id).map_err(|_| SendError::BadId(event_id.into()))?;
        self.act(Action::Redact {
            room: room_id(room)?,
            event,
            reason: reason.map(str::to_string),
        })
    }

    /// Joins a room by alias (`#room:server`) or id (`!id:server`).
    pub fn join(&self, room: &str) -> Result<(), SendError> {
        let r = OwnedRoomOrAliasId::try_from(room).map_err(|_| SendError::BadId(room.into()))?;
        self.act(Action::Join(r))
    }

    pub fn leave(&self, room: &str) -> Result<(), SendError> {
        self.act(Action::Leave(room_id(room)?))
    }

    /// Our user id once logged in.
    pub fn user_id(&self) -> Option<String> {
        self.shared.user_id.lock().expect("user lock").clone()
    }

    /// The rooms we are in, with their members.
    pub fn rooms(&self) -> Vec<RoomInfo> {
        let rooms = self.shared.rooms.lock().expect("rooms lock");
        let mut out: Vec<RoomInfo> = rooms
            .iter()
            .map(|(id, v)| RoomInfo {
                room: id.clone(),
                alias: v.alias.clone(),
                direct: v.direct,
                encrypted: v.encrypted,
                members: v.members(&self.shared.ranks),
            })
            .collect();
        out.sort_by(|a, b| a.room.cmp(&b.room));
        out
    }

    /// A member of a room (with power level and rank), if they are in it.
    pub fn member(&self, room: &str, user: &str) -> Option<Member> {
        let rooms = self.shared.rooms.lock().expect("rooms lock");
        let view = rooms.get(room)?;
        view.is_member(user)
            .then(|| view.member(user, &self.shared.ranks))
    }

    /// A user's rank in a room (the base rank when unknown).
    pub fn rank(&self, room: &str, user: &str) -> f64 {
        let rooms = self.shared.rooms.lock().expect("rooms lock");
        rooms.get(room).map_or(self.shared.ranks.base(), |v| {
            self.shared.ranks.rank(v.power(user))
        })
    }

    /// The sync position of the last events handed out.
    pub fn position(&self) -> Option<String> {
        self.shared.position.lock().expect("position lock").clone()
    }

    /// Actions waiting to be sent.
    pub fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Acquire)
    }

    pub fn stats(&self) -> ClientStats {
        let s = &self.shared.stats;
        ClientStats {
            sent: s.sent.load(Ordering::Relaxed),
            rate_limited: s.rate_limited.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            syncs: s.syncs.load(Ordering::Relaxed),
            gaps: s.gaps.load(Ordering::Relaxed),
        }
    }

    /// Tells the client to stop (queued actions not yet sent are dropped).
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Waits until the client's tasks have ended.
    pub async fn stopped(&self) {
        let mut rx = self.stopped.clone();
        let _ = rx.wait_for(|s| *s).await;
    }
}

fn room_id(room: &str) -> Result<OwnedRoomId, SendError> {
    OwnedRoomId::try_from(room).map_err(|_| SendError::BadId(room.into()))
}

fn user_id(user: &str) -> Result<OwnedUserId, SendError> {
    OwnedUserId::try_from(user).map_err(|_| SendError::BadId(user.into()))
}

/// The client's reports, in order.
pub struct MatrixEvents(pub(crate) mpsc::UnboundedReceiver<MatrixEvent>);

impl MatrixEvents {
    /// The next report; `None` once the client has stopped and everything was read.
    pub async fn recv(&mut self) -> Option<MatrixEvent> {
        self.0.recv().await
    }
}
