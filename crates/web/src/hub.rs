//! The live state of every channel the dashboard shows, and its fan-out to browsers.
//!
//! One task reads `rosey.events.>` (the bot's normalized events) and folds each event of a
//! shown channel into that channel's [`Live`] state: the user list (ranks, AFK), the
//! connection state, the media playing, the connected count and the newest chat lines. A
//! ticker refreshes what only the database service and the bots know (peaks, top chatters,
//! totals, the status row, each bot's view of its channel). Every change becomes a
//! [`Frame`] on the channel's broadcast: `chat` (one line) or `state` (everything but the
//! chat), pre-serialized once for all browsers.
//!
//! A chat line the server replayed to a (re)joining bot (`history`) is shown only when the
//! page does not have it: said while no bot was in the channel.
//!
//! A browser gets a `snapshot` first, taken under the same lock that orders the frames, so
//! it misses nothing and sees nothing twice. The broadcast buffer is bounded: a browser that
//! falls more than [`BUFFER`] frames behind gets a fresh snapshot instead of the frames it
//! missed (see `sse`), so a slow client never makes the process grow.
//!
//! A dashboard that starts after the bot joined has not seen the `user_list` event: it
//! takes the users and their ranks from the bot's status (the micro-service discovery
//! answer, refreshed on the ticker, until a `user_list` event arrives), or failing that from
//! the users the database has an open session for (ranks unknown), and the media title and
//! playlist count of the status row.
//!
//! Playlist changes (`playlist_change`: the whole list, queue, delete, move, clear) are folded
//! in as they come: the count of items, and nothing playing once the playlist is empty; they
//! also wake the ticker, so "Up next" (from the bot's status) follows at once. Between the
//! events and the status row, the newer one wins.
//!
//! The bot's presence ages out: every answer of its status service, every status row and
//! every event of the channel is a sign of life; after [`WebConfig::bot_gone_after`]
//! without one, the channel's bot is `gone` (users, media and counts cleared) until it is
//! heard from again.
//!
//! The playlist, status-row, bot-status and presence rules live in `follow` (a submodule).
//! The automated moderator's decisions are followed too (`rosey.db.moderation.action`), in
//! a feed of their own ([`moderation`]) that only logged-in moderators see.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use rosey_bus::Bus;
use rosey_model::web::{CurrentStatusReply, UserSummary};
use rosey_model::{EventBody, NormalizedEvent, UserData, payload::ChatRow, subjects};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::db::ask;
use crate::{WebConfig, WebError};

mod follow;
pub mod moderation;
pub use follow::Overview;

/// Now, in Unix seconds.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// CyTube's name of a rank (its rank table: 0 guest … 255 site admin; in-between values
/// take the rank below them).
pub fn rank_name(rank: Option<f64>) -> &'static str {
    let Some(r) = rank else {
        return "unknown";
    };
    match r {
        r if r >= 255.0 => "site admin",
        r if r >= 5.0 => "founder",
        r if r >= 4.0 => "owner",
        r if r >= 3.0 => "channel admin",
        r if r >= 2.0 => "moderator",
        r if r >= 1.5 => "leader",
        r if r >= 1.0 => "registered",
        r if r >= 0.0 => "guest",
        _ => "anonymous",
    }
}

/// Chat lines kept per channel for a new browser.
pub const CHAT_LINES: usize = 50;
/// Frames buffered per channel for browsers that are behind.
pub const BUFFER: usize = 1024;
/// Chat frames kept per channel for browsers that reconnect (`Last-Event-ID`).
pub const REPLAY: usize = 1024;
/// How long the bots' status discovery waits for answers.
const DISCOVERY_WAIT: Duration = Duration::from_millis(300);

/// One message to every browser of a channel.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The SSE event name: `snapshot`, `state` or `chat`.
    pub event: &'static str,
    /// The JSON data, serialized once.
    pub data: Arc<str>,
    /// The channel's chat sequence number this frame brings a browser up to: a `chat`
    /// frame's own number, the newest one for `state` and `snapshot` (see [`EventId`]).
    pub seq: u64,
    /// The frame as SSE text, rendered by the first viewer that sends it and shared by
    /// every other (see `sse`).
    pub wire: Arc<std::sync::OnceLock<bytes::Bytes>>,
}

impl Frame {
    fn new(event: &'static str, data: String, seq: u64) -> Frame {
        Frame {
            event,
            data: data.into(),
            seq,
            wire: Arc::default(),
        }
    }
}

/// The SSE event id, `<epoch>-<seq>`: the hub's epoch (a new one each time the process
/// starts) and the channel's chat sequence number. A browser's `EventSource` sends the last
/// one back as `Last-Event-ID` when it reconnects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventId {
    pub epoch: u64,
    pub seq: u64,
}

impl EventId {
    pub fn parse(s: &str) -> Option<EventId> {
        let (epoch, seq) = s.trim().split_once('-')?;
        Some(EventId {
            epoch: u64::from_str_radix(epoch, 16).ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:x}-{}", self.epoch, self.seq)
    }
}

/// A user in the live list.
#[derive(Clone, Debug, Serialize)]
pub struct LiveUser {
    pub name: String,
    /// `null` when not known (no bot status and no user event since the dashboard started).
    pub rank: Option<f64>,
    /// CyTube's name of the rank ([`rank_name`]).
    pub rank_name: &'static str,
    pub afk: bool,
}

impl LiveUser {
    pub fn new(name: &str, rank: Option<f64>, afk: bool) -> LiveUser {
        LiveUser {
            name: name.to_string(),
            rank,
            rank_name: rank_name(rank),
            afk,
        }
    }
}

/// The media playing.
#[derive(Clone, Debug, Serialize)]
pub struct Media {
    pub title: String,
    pub duration: i64,
    /// When it started, epoch seconds (`null` when only the status row told us).
    pub started: Option<f64>,
}

/// One chat line as the page shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ChatLine {
    pub timestamp: f64,
    pub username: String,
    pub message: String,
}

/// What the page shows of one channel.
#[derive(Debug, Default, Serialize)]
pub struct Live {
    pub channel: String,
    pub connection: String,
    pub connection_detail: String,
    pub users: Vec<LiveUser>,
    pub connected: Option<i64>,
    pub media: Option<Media>,
    /// Items on the playlist (`null`: not known).
    pub playlist_items: Option<i64>,
    /// True once no bot has given a sign of life for `bot_gone_after`.
    pub bot_gone: bool,
    #[serde(skip)]
    pub chat: VecDeque<ChatLine>,
    /// The `channel_stats` reply (peaks, top chatters, totals).
    pub stats: Value,
    /// The `current_status` row.
    pub status: Value,
    /// What the bot that runs this channel says (state, queue, "Up next"), if any answers;
    /// `{state: "gone"}` once it is gone.
    pub bot: Value,
    /// The newest sign of life of the bot (Unix seconds).
    #[serde(skip)]
    pub bot_seen: Option<f64>,
    /// The user list came from a `user_list` event (not from the bot's status).
    #[serde(skip)]
    pub users_from_events: bool,
    /// When the playlist count and the media were last set (event or status row time).
    #[serde(skip)]
    pub playlist_at: f64,
    #[serde(skip)]
    pub media_at: f64,
    /// The number of the newest chat frame sent.
    #[serde(skip)]
    pub seq: u64,
    /// The newest chat frames sent (at most [`REPLAY`]), for browsers that reconnect.
    #[serde(skip)]
    pub sent: VecDeque<Frame>,
}

impl Live {
    fn state_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn snapshot_json(&self) -> String {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        v["chat"] = json!(self.chat);
        v.to_string()
    }

    fn sort_users(&mut self) {
        self.users.sort_by(|a, b| {
            b.rank
                .unwrap_or(0.0)
                .total_cmp(&a.rank.unwrap_or(0.0))
                .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
        });
    }

    fn upsert(&mut self, u: &UserData) {
        self.users
            .retain(|x| !x.name.eq_ignore_ascii_case(&u.username));
        self.users
            .push(LiveUser::new(&u.username, Some(u.rank), u.is_afk));
        self.sort_users();
    }

    fn user_mut(&mut self, name: &str) -> Option<&mut LiveUser> {
        self.users
            .iter_mut()
            .find(|u| u.name.eq_ignore_ascii_case(name))
    }

    /// Whether a line the server replayed to a (re)joining bot is one the page has (or
    /// older than all it keeps): the replay shows only lines said while no bot was there.
    /// Compared by whole second, user and text (lines from the database have whole
    /// seconds).
    fn has_line(&self, ts: f64, user: &str, content: &str) -> bool {
        let older = self.chat.len() == CHAT_LINES
            && self
                .chat
                .front()
                .is_some_and(|f| ts.floor() < f.timestamp.floor());
        older
            || self.chat.iter().any(|l| {
                l.timestamp.floor() == ts.floor() && l.username == user && l.message == content
            })
    }

    fn push_chat(&mut self, line: ChatLine) {
        if self.chat.len() == CHAT_LINES {
            self.chat.pop_front();
        }
        self.chat.push_back(line);
    }

    /// Folds one event in; returns the frame kind to send, if it changed anything shown.
    fn apply(&mut self, ts: f64, body: &EventBody) -> Option<Frame> {
        self.bot_seen = Some(self.bot_seen.map_or(ts, |s| s.max(ts)));
        match body {
            EventBody::Message {
                user,
                content,
                history,
                ..
            } => {
                if is_private_notice(user, content)
                    || (*history && self.has_line(ts, user, content))
                {
                    return None;
                }
                let line = ChatLine {
                    timestamp: ts,
                    username: user.clone(),
                    message: content.clone(),
                };
                let data = serde_json::to_string(&line).unwrap_or_default();
                self.push_chat(line);
                self.seq += 1;
                let frame = Frame::new("chat", data, self.seq);
                if self.sent.len() == REPLAY {
                    self.sent.pop_front();
                }
                self.sent.push_back(frame.clone());
                return Some(frame);
            }
            EventBody::UserJoin { user_data, .. } => self.upsert(user_data),
            EventBody::UserLeave { user } => {
                self.users.retain(|x| !x.name.eq_ignore_ascii_case(user));
            }
            EventBody::UserList { users, .. } => {
                self.users = users
                    .iter()
                    .map(|u| LiveUser::new(&u.username, Some(u.rank), u.is_afk))
                    .collect();
                self.users_from_events = true;
                self.sort_users();
            }
            EventBody::UserCount { count } => self.connected = Some(*count),
            EventBody::MediaChange {
                title, duration, ..
            } => {
                self.media = Some(Media {
                    title: title.clone(),
                    duration: *duration,
                    started: Some(ts),
                });
                self.media_at = ts;
            }
            EventBody::PlaylistChange { action, data } => self.playlist_change(ts, action, data),
            EventBody::RankChange { user, rank } => {
                let rank = Some(*rank);
                let u = self.user_mut(user)?;
                u.rank = rank;
                u.rank_name = rank_name(rank);
                self.sort_users();
            }
            EventBody::Afk { user, afk } => {
                let afk = *afk;
                self.user_mut(user)?.afk = afk;
            }
            EventBody::Connection { state, detail } => {
                self.connection = state.clone();
                self.connection_detail = detail.clone();
            }
            _ => return None,
        }
        Some(self.state_frame())
    }

    fn state_frame(&self) -> Frame {
        Frame::new("state", self.state_json(), self.seq)
    }

    fn snapshot_frame(&self) -> Frame {
        Frame::new("snapshot", self.snapshot_json(), self.seq)
    }

    /// What a browser that saw up to chat frame `seq` missed: the chat frames after it and
    /// the current state; `None` when they are no longer all kept (or `seq` is not ours).
    fn missed_since(&self, seq: u64) -> Option<Vec<Frame>> {
        if seq > self.seq {
            return None;
        }
        let oldest = self.sent.front().map_or(self.seq + 1, |f| f.seq);
        if seq + 1 < oldest {
            return None;
        }
        let mut frames: Vec<Frame> = self.sent.iter().filter(|f| f.seq > seq).cloned().collect();
        frames.push(self.state_frame());
        Some(frames)
    }
}

/// One channel: its state and its broadcast.
pub struct ChannelHub {
    live: Mutex<Live>,
    tx: broadcast::Sender<Frame>,
    /// This hub's epoch in its event ids: ids of an earlier process (or hub) never match.
    epoch: u64,
}

impl ChannelHub {
    /// A channel nobody has told anything about yet.
    pub fn new(channel: &str) -> ChannelHub {
        let live = Live {
            channel: channel.to_string(),
            connection: "unknown".into(),
            ..Default::default()
        };
        ChannelHub {
            live: Mutex::new(live),
            tx: broadcast::channel(BUFFER).0,
            epoch: rand::random::<u64>() >> 1,
        }
    }

    /// The SSE id of `frame`.
    pub fn event_id(&self, frame: &Frame) -> EventId {
        EventId {
            epoch: self.epoch,
            seq: frame.seq,
        }
    }

    /// For a browser that reconnects with `last` (its `Last-Event-ID`): what it missed and
    /// a receiver of every frame after that, or — when `last` is absent, of another epoch
    /// (the process restarted) or older than the frames kept — a snapshot instead, which the
    /// page takes as "reload the chat".
    pub fn resume(&self, last: Option<&str>) -> (Vec<Frame>, broadcast::Receiver<Frame>) {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let rx = self.tx.subscribe();
        let missed = last
            .and_then(EventId::parse)
            .filter(|id| id.epoch == self.epoch)
            .and_then(|id| live.missed_since(id.seq));
        (missed.unwrap_or_else(|| vec![live.snapshot_frame()]), rx)
    }

    /// The next frame for a browser; `None` when the hub is gone. A browser more than
    /// [`BUFFER`] frames behind gets a fresh snapshot (and `rx` starts again after it)
    /// instead of what it missed.
    pub async fn next(&self, rx: &mut broadcast::Receiver<Frame>) -> Option<Frame> {
        match rx.recv().await {
            Ok(frame) => Some(frame),
            Err(broadcast::error::RecvError::Lagged(_)) => {
                let (snapshot, fresh) = self.subscribe();
                *rx = fresh;
                Some(snapshot)
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    /// The next frame if one is waiting, without waiting (a browser that is behind: as
    /// [`next`](Self::next)); `None` when none is.
    pub fn try_next(&self, rx: &mut broadcast::Receiver<Frame>) -> Option<Frame> {
        match rx.try_recv() {
            Ok(frame) => Some(frame),
            Err(broadcast::error::TryRecvError::Lagged(_)) => {
                let (snapshot, fresh) = self.subscribe();
                *rx = fresh;
                Some(snapshot)
            }
            Err(_) => None,
        }
    }

    /// The current snapshot and a receiver of every frame after it.
    pub fn subscribe(&self) -> (Frame, broadcast::Receiver<Frame>) {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let rx = self.tx.subscribe();
        (live.snapshot_frame(), rx)
    }

    /// Runs `f` on the state and sends the frame it returns, under the lock (so frames
    /// are in the order of the changes).
    fn update(&self, f: impl FnOnce(&mut Live) -> Option<Frame>) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(frame) = f(&mut live) {
            // No receiver is not an error: nobody is watching.
            let _ = self.tx.send(frame);
        }
    }

    /// The number of browsers watching.
    pub fn watchers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// The state as JSON (without the chat): what `/api/live` answers.
    pub fn state_value(&self) -> Value {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        serde_json::to_value(&*live).unwrap_or_default()
    }

    /// What `/api/current` takes from the live state.
    pub fn overview(&self) -> Overview {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        Overview {
            bot_state: if live.bot_gone {
                "gone".into()
            } else {
                live.bot_state()
            },
            bot_gone: live.bot_gone,
            playlist_items: live.playlist_items,
            media: (live.media_at > 0.0).then(|| live.media.clone()),
        }
    }
}

/// A server whisper that only moderators get (CyTube: `[server]` "<name> joined (aliases:
/// …)"): not chat, never shown on the public page.
fn is_private_notice(user: &str, content: &str) -> bool {
    user == "[server]" && content.contains(" joined (aliases: ")
}

/// Every shown channel's hub.
#[derive(Clone)]
pub struct Hub {
    channels: Arc<HashMap<String, Arc<ChannelHub>>>,
    /// Wakes the refresher early (a playlist or media change: "Up next" follows at once).
    poke: Arc<tokio::sync::Notify>,
    /// How long without a sign of life before a channel's bot is gone.
    gone_after: Duration,
    /// The automated moderator's recent decisions per channel.
    moderation: Arc<moderation::Feeds>,
}

impl Hub {
    /// Subscribes to the events, loads the current state, and starts the task that keeps
    /// it up to date.
    pub async fn start(bus: Bus, cfg: &WebConfig) -> Result<(Hub, JoinHandle<()>), WebError> {
        let events = bus
            .subscribe(&format!("{}.>", subjects::EVENTS_PREFIX))
            .await?;
        let decisions = bus.subscribe(subjects::MODERATION_ACTION).await?;
        let channels: HashMap<String, Arc<ChannelHub>> = cfg
            .channels
            .iter()
            .map(|c| (c.clone(), Arc::new(ChannelHub::new(c))))
            .collect();
        let hub = Hub {
            channels: Arc::new(channels),
            poke: Arc::default(),
            gone_after: cfg.bot_gone_after,
            moderation: Arc::new(moderation::Feeds::new(&cfg.channels)),
        };
        for name in &cfg.channels {
            hub.bootstrap(&bus, name).await;
            hub.refresh(&bus, name).await;
        }
        hub.moderation.load(&bus).await;
        let task = tokio::spawn(hub.clone().run(bus, events, decisions, cfg.refresh));
        Ok((hub, task))
    }

    /// One channel's hub.
    pub fn channel(&self, name: &str) -> Option<&Arc<ChannelHub>> {
        self.channels.get(name)
    }

    /// One channel's moderation feed.
    pub fn moderation(&self, name: &str) -> Option<&moderation::Feed> {
        self.moderation.channel(name)
    }

    /// Folds events in as they come and refreshes on a timer, concurrently: a slow answer
    /// of the database service never holds up the live events.
    async fn run(
        self,
        bus: Bus,
        mut events: rosey_bus::Subscription,
        mut decisions: rosey_bus::Subscription,
        refresh: Duration,
    ) {
        let live = async {
            while let Some(m) = events.next().await {
                self.on_event(&m.payload);
            }
        };
        let moderation = async {
            while let Some(m) = decisions.next().await {
                self.moderation.on_decision(&m.payload, now());
            }
        };
        let refresher = async {
            let mut tick = tokio::time::interval(refresh.max(Duration::from_millis(100)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = self.poke.notified() => {}
                }
                for name in self.channels.keys() {
                    self.refresh(&bus, name).await;
                }
            }
        };
        tokio::select! {
            _ = live => {}
            _ = moderation => {}
            _ = refresher => {}
        }
    }

    fn on_event(&self, payload: &[u8]) {
        let ev: NormalizedEvent = match rosey_model::decode(payload) {
            Ok(ev) => ev,
            Err(e) => {
                tracing::debug!(error = %e, "Ignoring an unreadable event.");
                return;
            }
        };
        if let Some(ch) = self.channels.get(&ev.channel) {
            ch.update(|live| live.apply(ev.ts, &ev.body));
            if matches!(
                ev.body,
                EventBody::PlaylistChange { .. } | EventBody::MediaChange { .. }
            ) {
                self.poke.notify_one();
            }
        }
    }

    /// What the database knows of a channel the dashboard has not seen events of yet.
    async fn bootstrap(&self, bus: &Bus, name: &str) {
        let Some(ch) = self.channels.get(name) else {
            return;
        };
        let chat: Vec<ChatRow> = ask(
            bus,
            subjects::RECENT_CHAT_GET,
            &json!({"channel": name, "limit": CHAT_LINES}),
        )
        .await
        .unwrap_or_default();
        let present: Vec<UserSummary> = ask(
            bus,
            subjects::QUERY_USER_SEARCH,
            &json!({"channel": name, "prefix": "", "limit": 1000}),
        )
        .await
        .unwrap_or_default();
        let status: Option<CurrentStatusReply> = ask(
            bus,
            subjects::QUERY_CURRENT_STATUS,
            &json!({"channel": name}),
        )
        .await
        .ok();
        ch.update(|live| {
            for row in chat {
                live.push_chat(ChatLine {
                    timestamp: row.timestamp as f64,
                    username: row.username,
                    message: row.message,
                });
            }
            if live.users.is_empty() {
                live.users = present
                    .into_iter()
                    .filter(|u| u.present)
                    .map(|u| LiveUser::new(&u.username, None, false))
                    .collect();
                live.sort_users();
            }
            if let Some(s) = status.filter(|s| s.found).map(|s| s.status) {
                live.adopt_row(&s);
            }
            None
        });
    }

    /// Statistics, status row and bot status; a `state` frame when any of them changed.
    async fn refresh(&self, bus: &Bus, name: &str) {
        let Some(ch) = self.channels.get(name) else {
            return;
        };
        let body = json!({"channel": name});
        let stats: Option<Value> = ask(bus, subjects::QUERY_CHANNEL_STATS, &body).await.ok();
        let status: Option<CurrentStatusReply> =
            ask(bus, subjects::QUERY_CURRENT_STATUS, &body).await.ok();
        let bot = bot_status(bus, name).await;
        let gone_after = self.gone_after;
        ch.update(|live| {
            let before = live.state_json();
            let now = now();
            if let Some(s) = stats {
                live.stats = s;
            }
            let row = status.filter(|s| s.found).map(|s| s.status);
            let row_at = row.as_ref().and_then(|r| r.last_updated).map(|t| t as f64);
            for seen in [bot.as_ref().map(|_| now), row_at].into_iter().flatten() {
                live.bot_seen = Some(live.bot_seen.map_or(seen, |t| t.max(seen)));
            }
            live.age(now, gone_after);
            if let Some(b) = bot {
                live.adopt_bot(b);
            }
            if let Some(row) = row {
                live.adopt_row(&row);
                live.status = serde_json::to_value(&row).unwrap_or_default();
            }
            (live.state_json() != before).then(|| live.state_frame())
        });
    }
}

/// What the bots that run `channel` say about it (NATS only: bots answer on the
/// micro-service discovery subjects; the embedded bus has none).
async fn bot_status(bus: &Bus, channel: &str) -> Option<Value> {
    let client = bus.nats_client()?;
    let inbox = client.new_inbox();
    let mut sub = client.subscribe(inbox.clone()).await.ok()?;
    client
        .publish_with_reply("$SRV.STATS.rosey-bot", inbox, "".into())
        .await
        .ok()?;
    let deadline = tokio::time::Instant::now() + DISCOVERY_WAIT;
    while let Ok(Some(m)) = tokio::time::timeout_at(deadline, sub.next()).await {
        let Ok(v) = serde_json::from_slice::<Value>(&m.payload) else {
            continue;
        };
        for ep in v["endpoints"].as_array().into_iter().flatten() {
            for c in ep["data"]["channels"].as_array().into_iter().flatten() {
                if c["channel"] == channel {
                    return Some(c.clone());
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A user of `rank` (the follow tests share it).
    pub(super) fn user(name: &str, rank: f64) -> UserData {
        UserData {
            username: name.into(),
            rank,
            is_afk: false,
            is_moderator: rank >= 2.0,
            meta: Value::Null,
        }
    }

    #[test]
    fn events_fold_into_the_live_state() {
        let mut live = Live::default();
        let f = live.apply(
            1.0,
            &EventBody::UserList {
                users: vec![user("bob", 1.0), user("Mia", 2.0)],
                count: 2,
            },
        );
        assert_eq!(f.unwrap().event, "state");
        assert_eq!(live.users[0].name, "Mia", "highest rank first");
        live.apply(
            2.0,
            &EventBody::UserJoin {
                user: "carl".into(),
                user_data: user("carl", 0.0),
            },
        );
        live.apply(
            3.0,
            &EventBody::Afk {
                user: "BOB".into(),
                afk: true,
            },
        );
        assert!(live.users.iter().find(|u| u.name == "bob").unwrap().afk);
        live.apply(4.0, &EventBody::UserLeave { user: "mia".into() });
        assert_eq!(live.users.len(), 2);
        let f = live
            .apply(
                5.0,
                &EventBody::Message {
                    user: "bob".into(),
                    content: "<b>hi</b>".into(),
                    history: false,
                    platform_data: Value::Null,
                },
            )
            .unwrap();
        assert_eq!(f.event, "chat");
        assert!(
            f.data.contains("<b>hi</b>"),
            "JSON, not HTML: the page sets it as text"
        );
        // The server's replay to a joining bot: a line shown already is not shown again;
        // one said while no bot was there is.
        let replayed = |user: &str, content: &str| EventBody::Message {
            user: user.into(),
            content: content.into(),
            history: true,
            platform_data: Value::Null,
        };
        assert!(live.apply(5.4, &replayed("bob", "<b>hi</b>")).is_none());
        assert_eq!(live.chat.len(), 1);
        assert_eq!(
            live.apply(6.0, &replayed("x", "old")).unwrap().event,
            "chat"
        );
        assert!(live.apply(6.0, &replayed("x", "old")).is_none());
        assert_eq!(live.chat.len(), 2);
    }

    fn line(n: usize) -> EventBody {
        EventBody::Message {
            user: "u".into(),
            content: n.to_string(),
            history: false,
            platform_data: Value::Null,
        }
    }

    #[test]
    fn resuming_is_bounded_by_the_frames_kept() {
        let hub = ChannelHub::new("c");
        for n in 0..REPLAY + 10 {
            hub.update(|live| live.apply(n as f64, &line(n)));
        }
        let id = |seq: u64| {
            EventId {
                epoch: hub.epoch,
                seq,
            }
            .to_string()
        };
        let newest = (REPLAY + 10) as u64;
        // The kept ones: the newest REPLAY chat frames, then the state.
        let (frames, _) = hub.resume(Some(&id(newest - REPLAY as u64)));
        assert_eq!(frames.len(), REPLAY + 1);
        assert_eq!(frames[0].seq, newest - REPLAY as u64 + 1);
        assert_eq!(frames[REPLAY].event, "state");
        // One further back is no longer kept: a snapshot.
        let (frames, _) = hub.resume(Some(&id(newest - REPLAY as u64 - 1)));
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].event, "snapshot");
        assert_eq!(frames[0].seq, newest);
        assert_eq!(
            hub.live.lock().unwrap().sent.len(),
            REPLAY,
            "the buffer is capped"
        );
        // Ids round-trip.
        let e = EventId {
            epoch: 0xabc,
            seq: 42,
        };
        assert_eq!(EventId::parse(&e.to_string()), Some(e));
        assert_eq!(EventId::parse("abc"), None);
    }

    #[tokio::test]
    async fn a_browser_that_falls_behind_skips_ahead_to_a_snapshot() {
        let hub = ChannelHub::new("c");
        let (first, mut slow) = hub.subscribe();
        assert_eq!(first.event, "snapshot");
        let (_, mut keeping_up) = hub.subscribe();
        for n in 0..BUFFER + 10 {
            hub.update(|live| live.apply(n as f64, &line(n)));
            if n == 0 {
                assert_eq!(hub.next(&mut keeping_up).await.unwrap().event, "chat");
            }
        }
        // The slow one missed frames: it gets the state as it is now, then what follows.
        let skipped = hub.next(&mut slow).await.unwrap();
        assert_eq!(skipped.event, "snapshot");
        let snap: Value = serde_json::from_str(&skipped.data).unwrap();
        let chat = snap["chat"].as_array().unwrap();
        assert_eq!(chat.len(), CHAT_LINES);
        assert_eq!(chat[CHAT_LINES - 1]["message"], (BUFFER + 9).to_string());
        hub.update(|live| live.apply(0.0, &line(99_999)));
        let after = hub.next(&mut slow).await.unwrap();
        assert_eq!(after.event, "chat");
        assert!(after.data.contains("99999"));
    }

    #[test]
    fn alias_whispers_are_not_chat() {
        let mut live = Live::default();
        let whisper = EventBody::Message {
            user: "[server]".into(),
            content: "carol joined (aliases: carol,carol2)".into(),
            history: false,
            platform_data: Value::Null,
        };
        assert!(live.apply(1.0, &whisper).is_none());
        assert!(live.chat.is_empty());
    }

    #[test]
    fn ranks_are_named_as_cytube_names_them() {
        let names: Vec<&str> = [0.0, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 255.0, 256.0, -1.0]
            .into_iter()
            .map(|r| rank_name(Some(r)))
            .collect();
        assert_eq!(
            names,
            [
                "guest",
                "registered",
                "leader",
                "moderator",
                "channel admin",
                "owner",
                "founder",
                "site admin",
                "site admin",
                "anonymous"
            ]
        );
        assert_eq!(rank_name(None), "unknown");
    }

    #[test]
    fn chat_is_bounded() {
        let mut live = Live::default();
        for i in 0..CHAT_LINES + 10 {
            live.push_chat(ChatLine {
                timestamp: i as f64,
                username: "u".into(),
                message: i.to_string(),
            });
        }
        assert_eq!(live.chat.len(), CHAT_LINES);
        assert_eq!(live.chat[0].message, "10");
    }
}
