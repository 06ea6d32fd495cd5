//! The server's in-memory world: connections, channels, permissions, and the [`Outbox`] that
//! event handlers fill. Handlers are plain functions `(&mut World, &mut Outbox, input)`; the
//! socket layer (`server.rs`) turns the outbox into socket.io frames. This keeps every CyTube
//! rule testable and means no handler ever touches a socket while it mutates state.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::config::DevServerConfig;
use crate::flood::{DEFAULT_CHANNEL_ANTIFLOOD, FloodParams, RateLimiter};
use crate::moderation::{self, Moderation, Mute};
use crate::playlist::Playlist;
use crate::poll::ActivePoll;

/// Identifies one socket.io connection (namespace socket) for the server's lifetime.
pub type ConnId = u64;

/// One chat line the server accepted and broadcast.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRecord {
    /// Sender's name.
    pub username: String,
    /// The raw text as accepted: after truncation and control-character stripping, before
    /// HTML escaping (for `/me x` this is `x`).
    pub msg: String,
    /// Server time in ms since the epoch, as sent in `chatMsg.time`.
    pub time: u64,
}

/// One private message the server delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct PmRecord {
    /// Sender's name.
    pub from: String,
    /// Recipient's name as the server knows it.
    pub to: String,
    /// Raw text as accepted (truncated, control characters stripped).
    pub msg: String,
    /// Server time in ms since the epoch.
    pub time: u64,
}

/// A logged-in user of a channel, as the observation API reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct UserInfo {
    /// Display name.
    pub name: String,
    /// Effective rank.
    pub rank: f64,
    /// AFK flag.
    pub afk: bool,
    /// Muted (`/mute`) or shadow-muted (`/smute`).
    pub muted: bool,
    /// Shadow-muted (`/smute`).
    pub shadow_muted: bool,
}

/// One frame to send, or a disconnect, in the order handlers produced them.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    /// `42["event", arg]`, or `42["event"]` when `arg` is `None`.
    Emit {
        /// Target connection.
        to: ConnId,
        /// Event name.
        event: &'static str,
        /// The single argument, if any.
        arg: Option<Value>,
    },
    /// Namespace DISCONNECT (`41`) for this connection, like CyTube's `socket.disconnect()`.
    Disconnect(ConnId),
}

/// What a handler wants sent, in order.
#[derive(Debug, Default)]
pub struct Outbox {
    /// The queued operations.
    pub ops: Vec<Out>,
    /// `cooldown` events queued (for the observation counters).
    pub cooldowns: u64,
    /// `kick` events queued.
    pub kicks: u64,
}

impl Outbox {
    /// Queues `42["event", arg]`.
    pub fn emit(&mut self, to: ConnId, event: &'static str, arg: Value) {
        if event == "cooldown" {
            self.cooldowns += 1;
        }
        self.ops.push(Out::Emit {
            to,
            event,
            arg: Some(arg),
        });
    }

    /// Queues a zero-argument event `42["event"]`.
    pub fn emit0(&mut self, to: ConnId, event: &'static str) {
        self.ops.push(Out::Emit {
            to,
            event,
            arg: None,
        });
    }

    /// Queues `errorMsg {msg}`.
    pub fn error(&mut self, to: ConnId, msg: impl Into<String>) {
        self.emit(to, "errorMsg", json!({ "msg": msg.into() }));
    }

    /// Queues `kick {reason}` followed by a namespace disconnect.
    pub fn kick(&mut self, to: ConnId, reason: &str) {
        self.kicks += 1;
        self.emit(to, "kick", json!({ "reason": reason }));
        self.ops.push(Out::Disconnect(to));
    }
}

/// One socket's session state.
#[derive(Debug)]
pub struct Conn {
    /// Connection id.
    pub id: ConnId,
    /// Client IP as seen by the server (used for the guest-login delay).
    pub ip: String,
    /// Name once logged in.
    pub name: Option<String>,
    /// Logged in with an account (not a guest).
    pub registered: bool,
    /// Global rank of the account (0 for guests).
    pub global_rank: f64,
    /// The channel joined (lowercase), once accepted.
    pub channel: Option<String>,
    /// `joinChannel` was consumed (it is a `once` handler in CyTube).
    pub join_requested: bool,
    /// Channel waiting for `channelPassword`.
    pub pending_password: Option<String>,
    /// AFK flag.
    pub afk: bool,
    /// Chat + PM limiter (shared, as in CyTube).
    pub chat_limiter: RateLimiter,
    /// Queue limiter.
    pub queue_limiter: RateLimiter,
    /// The leader bump to 1.5 is active.
    pub leader_bump: bool,
}

impl Conn {
    fn new(id: ConnId, ip: String) -> Self {
        Conn {
            id,
            ip,
            name: None,
            registered: false,
            global_rank: 0.0,
            channel: None,
            join_requested: false,
            pending_password: None,
            afk: false,
            chat_limiter: RateLimiter::default(),
            queue_limiter: RateLimiter::default(),
            leader_bump: false,
        }
    }
}

/// CyTube's default permission table for registered channels (`DEFAULT_PERMISSIONS`).
pub const DEFAULT_PERMISSIONS: &[(&str, f64)] = &[
    ("seeplaylist", -1.0),
    ("playlistadd", 1.5),
    ("playlistnext", 1.5),
    ("playlistmove", 1.5),
    ("playlistdelete", 2.0),
    ("playlistjump", 1.5),
    ("playlistaddlist", 1.5),
    ("oplaylistadd", -1.0),
    ("oplaylistnext", 1.5),
    ("oplaylistmove", 1.5),
    ("oplaylistdelete", 2.0),
    ("oplaylistjump", 1.5),
    ("oplaylistaddlist", 1.5),
    ("playlistaddcustom", 3.0),
    ("playlistaddrawfile", 2.0),
    ("playlistaddlive", 1.5),
    ("exceedmaxlength", 2.0),
    ("addnontemp", 2.0),
    ("settemp", 2.0),
    ("playlistshuffle", 2.0),
    ("playlistclear", 2.0),
    ("pollctl", 1.5),
    ("pollvote", -1.0),
    ("viewhiddenpoll", 1.5),
    ("voteskip", -1.0),
    ("viewvoteskip", 1.5),
    ("mute", 1.5),
    ("kick", 1.5),
    ("ban", 2.0),
    ("motdedit", 3.0),
    ("filteredit", 3.0),
    ("filterimport", 3.0),
    ("emoteedit", 3.0),
    ("emoteimport", 3.0),
    ("playlistlock", 2.0),
    ("leaderctl", 2.0),
    ("drink", 1.5),
    ("chat", 0.0),
    ("chatclear", 2.0),
    ("exceedmaxitems", 2.0),
    ("deletefromchannellib", 2.0),
    ("exceedmaxdurationperuser", 2.0),
];

/// Channel options sent as `channelOpts` (the subset the server acts on is typed).
#[derive(Debug, Clone)]
pub struct ChannelOpts {
    /// `allow_voteskip`.
    pub allow_voteskip: bool,
    /// `voteskip_ratio`.
    pub voteskip_ratio: f64,
    /// `chat_antiflood`.
    pub chat_antiflood: bool,
    /// `chat_antiflood_params`.
    pub antiflood_params: FloodParams,
    /// `enable_link_regex`.
    pub enable_link_regex: bool,
    /// `allow_dupes`.
    pub allow_dupes: bool,
    /// `allow_ascii_control`.
    pub allow_ascii_control: bool,
}

impl Default for ChannelOpts {
    fn default() -> Self {
        ChannelOpts {
            allow_voteskip: true,
            voteskip_ratio: 0.5,
            chat_antiflood: false,
            antiflood_params: DEFAULT_CHANNEL_ANTIFLOOD,
            enable_link_regex: true,
            allow_dupes: false,
            allow_ascii_control: false,
        }
    }
}

/// The last `capacity` records of a log, and how many were ever pushed (so a waiter can
/// count arrivals past the capacity).
#[derive(Debug, Clone)]
pub struct LogRing<T> {
    items: VecDeque<T>,
    capacity: usize,
    total: u64,
}

impl<T> LogRing<T> {
    /// An empty ring keeping at most `capacity` records.
    pub fn new(capacity: usize) -> Self {
        LogRing {
            items: VecDeque::new(),
            capacity,
            total: 0,
        }
    }

    /// Appends a record, forgetting the oldest beyond the capacity.
    pub fn push(&mut self, item: T) {
        self.total += 1;
        if self.capacity == 0 {
            return;
        }
        if self.items.len() == self.capacity {
            self.items.pop_front();
        }
        self.items.push_back(item);
    }

    /// Records ever pushed, including forgotten ones.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The retained records, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }

    /// How many records are retained.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// One channel (kept for the server's lifetime, like a registered channel, so history and
/// the playlist survive everyone leaving).
#[derive(Debug)]
pub struct Channel {
    /// Lowercase name.
    pub name: String,
    /// Every socket in the room, in join order (anonymous ones included).
    pub members: Vec<ConnId>,
    /// The last `history_len` chatMsg payloads, replayed on join.
    pub history: VecDeque<Value>,
    /// The last accepted chat lines (`log_capacity` of them).
    pub chat_log: LogRing<ChatRecord>,
    /// Options.
    pub opts: ChannelOpts,
    /// Channel password.
    pub password: Option<String>,
    /// Permission table.
    pub perms: Vec<(&'static str, f64)>,
    /// Playlist lock (true = only `playlistadd` may add).
    pub locked: bool,
    /// Playlist and playback.
    pub playlist: Playlist,
    /// Leader name.
    pub leader: Option<String>,
    /// The IPs that voted to skip the current item (CyTube counts one vote per IP).
    pub voteskips: HashSet<String>,
    /// Ranks set through `DevServer::set_rank` (lowercase name → rank).
    pub rank_overrides: HashMap<String, f64>,
    /// The open poll.
    pub poll: Option<ActivePoll>,
    /// Mutes and bans.
    pub moderation: Moderation,
}

impl Channel {
    fn new(name: &str, cfg: &DevServerConfig) -> Self {
        let mut opts = ChannelOpts::default();
        if let Some((burst, sustained)) = cfg.antiflood {
            opts.chat_antiflood = true;
            opts.antiflood_params = FloodParams::new(burst.min(20), sustained.min(10.0));
        }
        Channel {
            name: name.to_owned(),
            members: Vec::new(),
            history: VecDeque::new(),
            chat_log: LogRing::new(cfg.log_capacity),
            opts,
            password: cfg
                .channel_passwords
                .iter()
                .find(|(c, _)| c.eq_ignore_ascii_case(name))
                .map(|(_, p)| p.clone()),
            perms: DEFAULT_PERMISSIONS.to_vec(),
            locked: cfg.playlist_locked,
            playlist: Playlist::default(),
            leader: None,
            voteskips: HashSet::new(),
            rank_overrides: HashMap::new(),
            poll: None,
            moderation: Moderation::default(),
        }
    }

    /// The minimum rank of a permission node (`f64::INFINITY` when absent: nobody).
    pub fn perm(&self, node: &str) -> f64 {
        self.perms
            .iter()
            .find(|(n, _)| *n == node)
            .map(|(_, r)| *r)
            .unwrap_or(f64::INFINITY)
    }

    /// CyTube's check: for `playlist*` nodes on an unlocked playlist, `o<node>` is tried first.
    pub fn can(&self, node: &str, rank: f64) -> bool {
        if node.starts_with("playlist") && !self.locked && rank >= self.perm(&format!("o{node}")) {
            return true;
        }
        rank >= self.perm(node)
    }

    /// The `setPermissions` payload.
    pub fn perms_json(&self) -> Value {
        let map: serde_json::Map<String, Value> = self
            .perms
            .iter()
            .map(|(n, r)| ((*n).to_owned(), num(*r)))
            .collect();
        Value::Object(map)
    }

    /// The `channelOpts` payload (full CyTube shape; includes the password, as CyTube does).
    pub fn opts_json(&self) -> Value {
        let o = &self.opts;
        json!({
            "allow_voteskip": o.allow_voteskip,
            "voteskip_ratio": o.voteskip_ratio,
            "afk_timeout": 600,
            "pagetitle": self.name,
            "maxlength": 0,
            "externalcss": "",
            "externaljs": "",
            "chat_antiflood": o.chat_antiflood,
            "chat_antiflood_params": {
                "burst": o.antiflood_params.burst,
                "sustained": num(o.antiflood_params.sustained),
                "cooldown": num(o.antiflood_params.cooldown),
            },
            "show_public": false,
            "enable_link_regex": o.enable_link_regex,
            "password": match &self.password { Some(p) => json!(p), None => json!(false) },
            "allow_dupes": o.allow_dupes,
            "torbanned": false,
            "block_anonymous_users": false,
            "allow_ascii_control": o.allow_ascii_control,
            "playlist_max_per_user": 0,
            "new_user_chat_delay": 0,
            "new_user_chat_link_delay": 0,
            "playlist_max_duration_per_user": 0,
        })
    }
}

/// Names kept per IP in [`World::aliases`]. CyTube keeps its `aliases` table in the
/// database and purges old rows; the devserver keeps the newest few, so a crowd of fresh
/// guest names from one address (every local client is 127.0.0.1) cannot grow it.
pub const MAX_ALIASES_PER_IP: usize = 32;

/// Entries held by each collection of the server that grows with use: what a leak would
/// show in (a test checks each stays bounded under churn). Everything per connection is
/// removed on disconnect; the logs are rings; channels stay (as registered ones do).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Live connections.
    pub conns: usize,
    pub channels: usize,
    /// Sockets in channels, over all channels.
    pub members: usize,
    /// Inspection log records over all channels (each ring at most `log_capacity`).
    pub chat_log: usize,
    /// Replay lines over all channels (each at most `history_len`).
    pub history: usize,
    pub pm_log: usize,
    /// IPs with aliases, and the aliases over all of them.
    pub alias_ips: usize,
    pub aliases: usize,
    /// IPs whose last guest login is remembered (only within `guest_login_delay`).
    pub guest_logins: usize,
    /// Socket handles and early-event queues (`server.rs`), one per live connection.
    pub sockets: usize,
    pub early: usize,
}

/// All server state. Guarded by one mutex in `server.rs`.
#[derive(Debug)]
pub struct World {
    /// Shared configuration.
    pub cfg: Arc<DevServerConfig>,
    /// Live connections.
    pub conns: HashMap<ConnId, Conn>,
    /// Channels by lowercase name.
    pub channels: HashMap<String, Channel>,
    /// The last delivered PMs (`log_capacity` of them).
    pub pm_log: LogRing<PmRecord>,
    /// Last successful guest login per IP.
    pub last_guest_login: HashMap<String, Instant>,
    /// Names that logged in from each IP, oldest first (CyTube's `aliases` table): the
    /// moderators' join notice and `/ipban` use them.
    pub aliases: HashMap<String, Vec<String>>,
    next_id: ConnId,
}

impl World {
    /// An empty world.
    pub fn new(cfg: Arc<DevServerConfig>) -> Self {
        World {
            pm_log: LogRing::new(cfg.log_capacity),
            cfg,
            conns: HashMap::new(),
            channels: HashMap::new(),
            last_guest_login: HashMap::new(),
            aliases: HashMap::new(),
            next_id: 1,
        }
    }

    /// Registers a new connection and returns its id.
    pub fn add_conn(&mut self, ip: String) -> ConnId {
        let id = self.next_id;
        self.next_id += 1;
        self.conns.insert(id, Conn::new(id, ip));
        id
    }

    /// The channel, created on first use (as CyTube loads or creates it on join).
    pub fn channel_mut(&mut self, name: &str) -> &mut Channel {
        let cfg = self.cfg.clone();
        self.channels
            .entry(name.to_owned())
            .or_insert_with(|| Channel::new(name, &cfg))
    }

    /// Effective rank of a connection: -1 anonymous, 0 guest, max(global, channel) for
    /// accounts; `set_rank` overrides; a leader has at least 1.5.
    pub fn rank(&self, id: ConnId) -> f64 {
        let Some(c) = self.conns.get(&id) else {
            return -1.0;
        };
        let Some(name) = &c.name else {
            return -1.0;
        };
        let mut r = if c.registered {
            let chan = self.cfg.channel_rank(name).unwrap_or(0.0);
            c.global_rank.max(chan)
        } else {
            0.0
        };
        if let Some(ch) = c.channel.as_ref().and_then(|n| self.channels.get(n))
            && let Some(o) = ch.rank_overrides.get(&name.to_ascii_lowercase())
        {
            r = *o;
        }
        if c.leader_bump {
            r = r.max(1.5);
        }
        r
    }

    /// Remembers the logged-in name of `id` as an alias of its IP: the newest
    /// [`MAX_ALIASES_PER_IP`] first-seen names per IP are kept, oldest first.
    pub fn record_alias(&mut self, id: ConnId) {
        let Some(c) = self.conns.get(&id) else { return };
        let Some(name) = c.name.clone() else { return };
        let names = self.aliases.entry(c.ip.clone()).or_default();
        if !names.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
            names.push(name);
            if names.len() > MAX_ALIASES_PER_IP {
                names.remove(0);
            }
        }
    }

    /// How many entries each of the server's growing collections holds (see
    /// [`Footprint`]).
    pub fn footprint(&self) -> Footprint {
        Footprint {
            conns: self.conns.len(),
            channels: self.channels.len(),
            members: self.channels.values().map(|c| c.members.len()).sum(),
            chat_log: self.channels.values().map(|c| c.chat_log.len()).sum(),
            history: self.channels.values().map(|c| c.history.len()).sum(),
            pm_log: self.pm_log.len(),
            alias_ips: self.aliases.len(),
            aliases: self.aliases.values().map(Vec::len).sum(),
            guest_logins: self.last_guest_login.len(),
            sockets: 0,
            early: 0,
        }
    }

    /// The names seen from `id`'s IP (its own included once logged in).
    pub fn aliases_of(&self, id: ConnId) -> Vec<String> {
        self.conns
            .get(&id)
            .and_then(|c| self.aliases.get(&c.ip))
            .cloned()
            .unwrap_or_default()
    }

    /// The IPs `name` logged in from.
    pub fn ips_of(&self, name: &str) -> Vec<String> {
        let mut ips: Vec<String> = self
            .aliases
            .iter()
            .filter(|(_, names)| names.iter().any(|n| n.eq_ignore_ascii_case(name)))
            .map(|(ip, _)| ip.clone())
            .collect();
        ips.sort();
        ips
    }

    /// Display name of a connection, if logged in.
    pub fn name(&self, id: ConnId) -> Option<&str> {
        self.conns.get(&id).and_then(|c| c.name.as_deref())
    }

    /// The logged-in member of `channel` called `name` (case-insensitive).
    pub fn find_member(&self, channel: &str, name: &str) -> Option<ConnId> {
        let ch = self.channels.get(channel)?;
        ch.members
            .iter()
            .copied()
            .find(|id| self.name(*id).is_some_and(|n| n.eq_ignore_ascii_case(name)))
    }

    /// Members of `channel` (every socket).
    pub fn members(&self, channel: &str) -> Vec<ConnId> {
        self.channels
            .get(channel)
            .map(|c| c.members.clone())
            .unwrap_or_default()
    }

    /// Sends `event` to every socket in `channel`.
    pub fn broadcast(&self, out: &mut Outbox, channel: &str, event: &'static str, arg: Value) {
        for id in self.members(channel) {
            out.emit(id, event, arg.clone());
        }
    }

    /// Sends `event` to every socket in `channel` whose rank is at least `min_rank`.
    pub fn broadcast_min_rank(
        &self,
        out: &mut Outbox,
        channel: &str,
        min_rank: f64,
        event: &'static str,
        arg: Value,
    ) {
        for id in self.members(channel) {
            if self.rank(id) >= min_rank {
                out.emit(id, event, arg.clone());
            }
        }
    }

    /// The wire user object of `id` as seen by `viewer` (mods see aliases and a cloaked IP).
    pub fn user_object(&self, id: ConnId, viewer: ConnId) -> Value {
        let name = self.name(id).unwrap_or_default();
        json!({
            "name": name,
            "rank": num(self.rank(id)),
            "profile": { "image": "", "text": "" },
            "meta": moderation::user_meta(self, id, viewer),
        })
    }

    /// The `userlist` payload for `viewer`: logged-in members in join order.
    pub fn userlist(&self, channel: &str, viewer: ConnId) -> Value {
        let list: Vec<Value> = self
            .members(channel)
            .into_iter()
            .filter(|id| self.name(*id).is_some())
            .map(|id| self.user_object(id, viewer))
            .collect();
        Value::Array(list)
    }

    /// Logged-in users of `channel` for the observation API.
    pub fn user_infos(&self, channel: &str) -> Vec<UserInfo> {
        self.members(channel)
            .into_iter()
            .filter_map(|id| {
                let c = self.conns.get(&id)?;
                let name = c.name.clone()?;
                let mute = self.channels.get(channel)?.moderation.mute_of(&name);
                Some(UserInfo {
                    name,
                    rank: self.rank(id),
                    afk: c.afk,
                    muted: mute.is_some(),
                    shadow_muted: mute == Some(Mute::Shadow),
                })
            })
            .collect()
    }

    /// Broadcasts `usercount` (every socket, anonymous included). CyTube debounces this to
    /// one per 10 s; the devserver sends it at once so tests stay deterministic.
    pub fn send_usercount(&self, out: &mut Outbox, channel: &str) {
        let n = self.members(channel).len();
        self.broadcast(out, channel, "usercount", json!(n));
    }

    /// Sends a `[server]` notice (raw text, not stored) to members with rank >= `min_rank`.
    pub fn mod_notice(&self, out: &mut Outbox, channel: &str, min_rank: f64, text: &str) {
        let msg = server_notice(text);
        self.broadcast_min_rank(out, channel, min_rank, "chatMsg", msg);
    }
}

/// A `[server]` chatMsg payload.
pub fn server_notice(text: &str) -> Value {
    json!({
        "username": "[server]",
        "msg": text,
        "meta": { "addClass": "server-whisper", "addClassToNameAndTimestamp": true },
        "time": now_ms(),
    })
}

/// A number as JavaScript would send it: whole values without a fraction (`2`, not
/// `2.0`), so ranks, `cooldown 100` and options look exactly like CyTube's frames.
pub fn num(x: f64) -> Value {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 9.0e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

/// Milliseconds since the Unix epoch (the server clock CyTube puts in `time`).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
#[cfg(test)]
mod ring_tests {
    use super::LogRing;

    #[test]
    fn keeps_the_last_n_and_counts_all() {
        let mut r = LogRing::new(3);
        for i in 0..10 {
            r.push(i);
        }
        assert_eq!(r.iter().copied().collect::<Vec<_>>(), vec![7, 8, 9]);
        assert_eq!(r.total(), 10);
        let mut none = LogRing::new(0);
        none.push(1);
        assert!(none.is_empty());
        assert_eq!(none.total(), 1);
    }
}
