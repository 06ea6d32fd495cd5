//! Playlist, playback, voteskip and leader: `queue` (no network lookups — titles and
//! durations are invented from the id), `delete`, `moveMedia`, `clearPlaylist`, `jumpTo`, `playNext`,
//! `voteskip`, `assignLeader`, `togglePlaylistLock`, `requestPlaylist`, `playerReady`.
//! Playback moves on skip, jump, delete and voteskip; with a playback speed
//! (`DevServerConfig::playback_speed`) it also moves on when an item has played to its end
//! ([`advance`], as CyTube's own timer does when there is no leader), `speed` times faster
//! than real time. Without one it never advances on its own (what most tests want).

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::flood::{QUEUE_LIMIT_MOD, QUEUE_LIMIT_USER};
use crate::session;
use crate::state::{ConnId, Outbox, World, now_ms, num};
use crate::text;

/// Media types accepted by `queue`.
pub const ACCEPTED_TYPES: &[&str] = &["yt", "vi", "dm", "sc", "rt", "hl", "fi", "cm", "li", "tw"];
/// Live types (no duration, start unpaused at 0).
const LIVE_TYPES: &[&str] = &["li", "tw", "rt", "cu", "hl"];
/// CyTube's `playlist.max-items`.
const MAX_ITEMS: usize = 4000;

/// One playlist entry.
#[derive(Debug, Clone)]
pub struct Item {
    /// Unique id within the channel.
    pub uid: u64,
    /// Media id.
    pub id: String,
    /// Media type code.
    pub kind: String,
    /// Title (at most 100 characters).
    pub title: String,
    /// Length in seconds (0 for live).
    pub seconds: u64,
    /// Removed after it plays.
    pub temp: bool,
    /// Who queued it.
    pub queueby: String,
}

impl Item {
    fn media(&self) -> Value {
        json!({
            "id": self.id,
            "title": self.title,
            "seconds": self.seconds,
            "duration": text::format_duration(self.seconds),
            "type": self.kind,
            "meta": {},
        })
    }

    /// The `{media, uid, temp, queueby}` wire object.
    pub fn to_json(&self) -> Value {
        json!({ "media": self.media(), "uid": self.uid, "temp": self.temp, "queueby": self.queueby })
    }

    fn is_live(&self) -> bool {
        LIVE_TYPES.contains(&self.kind.as_str())
    }
}

/// A channel's playlist and what is playing.
#[derive(Debug, Default)]
pub struct Playlist {
    /// Items in order.
    pub items: Vec<Item>,
    /// uid of the current item.
    pub current: Option<u64>,
    /// When the current item started playing.
    pub started: Option<Instant>,
    next_uid: u64,
}

impl Playlist {
    fn index(&self, uid: u64) -> Option<usize> {
        self.items.iter().position(|i| i.uid == uid)
    }

    /// The current item.
    pub fn current_item(&self) -> Option<&Item> {
        self.current
            .and_then(|u| self.index(u))
            .map(|i| &self.items[i])
    }

    fn meta(&self) -> Value {
        let raw: u64 = self.items.iter().map(|i| i.seconds).sum();
        json!({ "count": self.items.len(), "rawTime": raw, "time": text::format_duration(raw) })
    }
}

fn change_media_payload(item: &Item, has_leader: bool) -> Value {
    let mut m = item.media();
    let (time, paused) = if item.is_live() || has_leader {
        (0.0, false)
    } else {
        (-3.0, true) // CyTube's lead-in for non-live items without a leader
    };
    m["currentTime"] = num(time);
    m["paused"] = json!(paused);
    m
}

/// Sends `setPlaylistMeta`, `playlist` and (if playing) `setCurrent`, then `setCurrent` +
/// `changeMedia` to one socket (the join burst, step 7).
pub fn send_playlist(w: &World, out: &mut Outbox, channel: &str, to: ConnId) {
    let ch = &w.channels[channel];
    let pl = &ch.playlist;
    out.emit(to, "setPlaylistMeta", pl.meta());
    if ch.can("seeplaylist", w.rank(to)) {
        let items: Vec<Value> = pl.items.iter().map(Item::to_json).collect();
        out.emit(to, "playlist", Value::Array(items));
    }
    if let Some(item) = pl.current_item() {
        out.emit(to, "setCurrent", json!(item.uid));
        out.emit(to, "setCurrent", json!(item.uid));
        out.emit(
            to,
            "changeMedia",
            change_media_payload(item, ch.leader.is_some()),
        );
    }
}

/// Starts playing `uid` (or stops when `None`): broadcasts `setCurrent` + `changeMedia`,
/// deletes a temp item that was playing, and clears voteskips.
fn play(w: &mut World, out: &mut Outbox, channel: &str, uid: Option<u64>) {
    let ch = w.channel_mut(channel);
    let old = ch.playlist.current;
    ch.playlist.current = uid;
    ch.playlist.started = uid.map(|_| Instant::now());
    ch.voteskips.clear();
    let mut deleted = None;
    if let Some(old) = old
        && Some(old) != uid
        && let Some(i) = ch.playlist.index(old)
        && ch.playlist.items[i].temp
    {
        ch.playlist.items.remove(i);
        deleted = Some(old);
    }
    let has_leader = ch.leader.is_some();
    let item = ch.playlist.current_item().cloned();
    if let Some(d) = deleted {
        w.broadcast(out, channel, "delete", json!({ "uid": d }));
        let meta = w.channels[channel].playlist.meta();
        w.broadcast(out, channel, "setPlaylistMeta", meta);
    }
    if let Some(item) = item {
        w.broadcast(out, channel, "setCurrent", json!(item.uid));
        w.broadcast(
            out,
            channel,
            "changeMedia",
            change_media_payload(&item, has_leader),
        );
        // CyTube's voteskip module resets on every media change and says so.
        send_voteskip_reset(w, out, channel);
    }
}

/// `voteskip {count: 0, need: 0}` to those who may see vote-skips: no vote is open (what
/// CyTube sends when a vote passes and when the media changes).
fn send_voteskip_reset(w: &World, out: &mut Outbox, channel: &str) {
    let view = w.channels[channel].perm("viewvoteskip");
    w.broadcast_min_rank(
        out,
        channel,
        view,
        "voteskip",
        json!({ "count": 0, "need": 0 }),
    );
}

/// Moves to the item after the current one (wrapping to the first), as `playNext` does.
fn play_next(w: &mut World, out: &mut Outbox, channel: &str) {
    let pl = &w.channels[channel].playlist;
    if pl.items.is_empty() {
        return;
    }
    let next = match pl.current.and_then(|u| pl.index(u)) {
        Some(i) => pl.items[(i + 1) % pl.items.len()].uid,
        None => pl.items[0].uid,
    };
    play(w, out, channel, Some(next));
}

/// Moves every channel whose current item has played to its end on to the next item, as
/// CyTube's playback timer does: `speed` seconds of media per real second. Live items (no
/// duration) never end. A temporary item that ends with nothing after it is deleted and
/// nothing plays; a lone permanent item plays again.
pub fn advance(w: &mut World, out: &mut Outbox, speed: f64) {
    let ended = ended(w, speed);
    for (channel, uid, last_temp) in ended {
        if last_temp {
            let ch = w.channel_mut(&channel);
            ch.playlist.items.retain(|i| i.uid != uid);
            ch.playlist.current = None;
            ch.playlist.started = None;
            ch.voteskips.clear();
            let meta = ch.playlist.meta();
            w.broadcast(out, &channel, "delete", json!({ "uid": uid }));
            w.broadcast(out, &channel, "setPlaylistMeta", meta);
        } else {
            play_next(w, out, &channel);
        }
    }
}

/// Is any channel's current item at its end (see [`advance`])?
pub fn any_ended(w: &World, speed: f64) -> bool {
    !ended(w, speed).is_empty()
}

/// (channel, uid, a lone temporary item) of every current item at its end.
fn ended(w: &World, speed: f64) -> Vec<(String, u64, bool)> {
    let now = Instant::now();
    w.channels
        .iter()
        .filter_map(|(name, ch)| {
            let item = ch.playlist.current_item()?;
            let started = ch.playlist.started?;
            let played = now.saturating_duration_since(started).as_secs_f64() * speed;
            (!item.is_live() && item.seconds > 0 && played >= item.seconds as f64).then(|| {
                let alone = ch.playlist.items.len() == 1;
                (name.clone(), item.uid, alone && item.temp)
            })
        })
        .collect()
}

fn member_channel(w: &World, id: ConnId) -> Option<String> {
    w.conns.get(&id).and_then(|c| c.channel.clone())
}

/// `queueFail {msg, link, id}`: a refusal after the media was looked at.
fn queue_fail(out: &mut Outbox, id: ConnId, msg: &str, kind: &str, media_id: &str) {
    let link = format!("{kind}:{media_id}");
    out.emit(
        id,
        "queueFail",
        json!({ "msg": msg, "link": link, "id": media_id }),
    );
}

/// `queueFail {msg, link}`: a refusal before the media is looked at (permissions, flood);
/// CyTube sends no `id` then, and `link: null` for the flood limit.
fn queue_refused(out: &mut Outbox, id: ConnId, msg: &str, link: Option<String>) {
    out.emit(id, "queueFail", json!({ "msg": msg, "link": link }));
}

/// `queue {id, type, pos, title?, duration?, temp?}`.
pub fn queue(w: &mut World, out: &mut Outbox, id: ConnId, data: &Value) {
    let Some(channel) = member_channel(w, id) else {
        return;
    };
    let (Some(media_id), Some(kind), Some(pos)) = (
        data.get("id").and_then(Value::as_str),
        data.get("type").and_then(Value::as_str),
        data.get("pos").and_then(Value::as_str),
    ) else {
        out.error(
            id,
            "Unexpected error for message queue: id, type and pos must be strings",
        );
        return;
    };
    let rank = w.rank(id);
    let ch = &w.channels[&channel];
    if !ch.can("playlistadd", rank) || !matches!(pos, "next" | "end") {
        return; // silently ignored, as in CyTube
    }
    if pos == "next" && !ch.can("playlistnext", rank) {
        return;
    }
    let link = Some(format!("{kind}:{media_id}"));
    if LIVE_TYPES.contains(&kind) && !ch.can("playlistaddlive", rank) {
        return queue_refused(out, id, "You don't have permission to add live media", link);
    }
    if matches!(kind, "fi" | "cm") && !ch.can("playlistaddrawfile", rank) {
        return queue_refused(
            out,
            id,
            "You don't have permission to add raw video files",
            link,
        );
    }
    if !ACCEPTED_TYPES.contains(&kind) {
        return queue_fail(
            out,
            id,
            &format!("Unknown media type '{kind}'"),
            kind,
            media_id,
        );
    }
    if media_id.is_empty() || (kind == "hl" && !media_id.starts_with("https")) {
        return queue_fail(out, id, "Invalid media link", kind, media_id);
    }
    if !ch.opts.allow_dupes
        && ch
            .playlist
            .items
            .iter()
            .any(|i| i.id == media_id && i.kind == kind)
    {
        return queue_fail(
            out,
            id,
            "This item is already on the playlist",
            kind,
            media_id,
        );
    }
    if ch.playlist.items.len() >= MAX_ITEMS {
        return queue_fail(out, id, "Playlist limit reached (4000)", kind, media_id);
    }
    let can_nontemp = ch.can("addnontemp", rank);
    let params = if rank >= 2.0 {
        QUEUE_LIMIT_MOD
    } else {
        QUEUE_LIMIT_USER
    };
    if let Some(c) = w.conns.get_mut(&id)
        && c.queue_limiter.throttle(&params, Instant::now())
    {
        return queue_refused(out, id, "You are adding videos too quickly", None);
    }
    let live = LIVE_TYPES.contains(&kind);
    let seconds = if live {
        data.get("duration")
            .and_then(Value::as_f64)
            .map(|d| d.max(0.0) as u64)
            .unwrap_or(0)
    } else {
        invented_seconds(media_id)
    };
    let title = match data.get("title").and_then(Value::as_str) {
        Some(t) if matches!(kind, "fi" | "cm") && !t.is_empty() => t.to_owned(),
        _ => invented_title(kind, media_id),
    };
    let temp = !can_nontemp || data.get("temp").and_then(Value::as_bool).unwrap_or(false);
    let queueby = w.name(id).unwrap_or_default().to_owned();
    let ch = w.channel_mut(&channel);
    ch.playlist.next_uid += 1;
    let item = Item {
        uid: ch.playlist.next_uid,
        id: media_id.to_owned(),
        kind: kind.to_owned(),
        title: text::truncate_utf16(&title, 100),
        seconds,
        temp,
        queueby,
    };
    let pl = &mut ch.playlist;
    let at = match (pos, pl.current.and_then(|u| pl.index(u))) {
        ("next", Some(i)) => i + 1,
        ("next", None) => 0,
        _ => pl.items.len(),
    };
    let after = if at == 0 {
        json!("prepend")
    } else {
        json!(pl.items[at - 1].uid)
    };
    pl.items.insert(at, item.clone());
    let meta = pl.meta();
    let start = pl.current.is_none();
    w.broadcast(
        out,
        &channel,
        "queue",
        json!({ "item": item.to_json(), "after": after }),
    );
    w.broadcast(out, &channel, "setPlaylistMeta", meta);
    if start {
        play(w, out, &channel, Some(item.uid));
    }
}

/// A stable, made-up length between 1 and 10 minutes, so the same id always has the same
/// duration.
pub fn invented_seconds(id: &str) -> u64 {
    let h = id
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    60 + h % 540
}

fn invented_title(kind: &str, id: &str) -> String {
    let site = match kind {
        "yt" => "YouTube",
        "vi" => "Vimeo",
        "dm" => "Dailymotion",
        "sc" => "SoundCloud",
        "rt" => "RTMP stream",
        "hl" => "HLS stream",
        "fi" => "Raw file",
        "cm" => "Custom manifest",
        "li" => "Livestream",
        "tw" => "Twitch",
        _ => "Media",
    };
    format!("{site} {id}")
}

/// `delete <uid>`.
pub fn delete(w: &mut World, out: &mut Outbox, id: ConnId, data: &Value) {
    let Some(channel) = member_channel(w, id) else {
        return;
    };
    let Some(uid) = data.as_u64() else { return };
    if !w.channels[&channel].can("playlistdelete", w.rank(id)) {
        return;
    }
    let ch = w.channel_mut(&channel);
    let Some(i) = ch.playlist.index(uid) else {
        return;
    };
    let was_current = ch.playlist.current == Some(uid);
    ch.playlist.items.remove(i);
    let next = if was_current {
        let pl = &ch.playlist;
        pl.items
            .get(i)
            .or_else(|| pl.items.first())
            .map(|it| it.uid)
    } else {
        ch.playlist.current
    };
    if was_current {
        ch.playlist.current = None;
        ch.playlist.started = None;
    }
    let meta = ch.playlist.meta();
    w.broadcast(out, &channel, "delete", json!({ "uid": uid }));
    w.broadcast(out, &channel, "setPlaylistMeta", meta);
    if was_current {
        play(w, out, &channel, next);
    }
}

/// `clearPlaylist`: as CyTube, nothing is current any more, everyone who may see the
/// playlist gets `playlist []`, and everyone `setPlaylistMeta` (no `setCurrent` or
/// `changeMedia` follows).
pub fn clear(w: &mut World, out: &mut Outbox, id: ConnId) {
    let Some(channel) = member_channel(w, id) else {
        return;
    };
    if !w.channels[&channel].can("playlistclear", w.rank(id)) {
        return;
    }
    let ch = w.channel_mut(&channel);
    ch.playlist.items.clear();
    ch.playlist.current = None;
    ch.playlist.started = None;
    ch.voteskips.clear();
    let meta = ch.playlist.meta();
    for m in w.members(&channel) {
        if w.channels[&channel].can("seeplaylist", w.rank(m)) {
            out.emit(m, "playlist", json!([]));
        }
    }
    w.broadcast(out, &channel, "setPlaylistMeta", meta);
}

/// `moveMedia {from, after}` with `after` a uid, `"prepend"` or `"append"`.
pub fn move_media(w: &mut World, out: &mut Outbox, id: ConnId, data: &Value) {
    let Some(channel) = member_channel(w, id) else {
        return;
    };
    let Some(from) = data.get("from").and_then(Value::as_u64) else {
        out.error(
            id,
            "Unexpected error for message moveMedia: from must be a number",
        );
        return;
    };
    let after = data.get("after").cloned().unwrap_or(Value::Null);
    if !w.channels[&channel].can("playlistmove", w.rank(id)) {
        return;
    }
    let pl = &mut w.channel_mut(&channel).playlist;
    let Some(fi) = pl.index(from) else { return };
    if after.as_u64() == Some(from) {
        return;
    }
    let item = pl.items.remove(fi);
    let at = match (&after, after.as_u64()) {
        (_, Some(a)) => match pl.index(a) {
            Some(ai) => ai + 1,
            None => {
                pl.items.insert(fi, item);
                return;
            }
        },
        (Value::String(s), _) if s == "prepend" => 0,
        (Value::String(s), _) if s == "append" => pl.items.len(),
        _ => {
            pl.items.insert(fi, item);
            return;
        }
    };
    pl.items.insert(at, item);
    w.broadcast(
        out,
        &channel,
        "moveVideo",
        json!({ "from": from, "after": after }),
    );
}

/// `jumpTo <uid>`.
pub fn jump_to(w: &mut World, out: &mut Outbox, id: ConnId, data: &Value) {
    let Some(channel) = member_channel(w, id) else {
        return;
    };
    let Some(uid) = data.as_u64() else { return };
    if !w.channels[&channel].can("playlistjump", w.rank(id)) {
        return;
    }
    if w.channels[&channel].playlist.index(uid).is_some() {
        play(w, out, &channel, Some(uid));
    }
}

/// `playNext`.
pub fn play_next_event(w: &mut World, out: &mut Outbox, id: ConnId) {
    let Some(channel) = member_channel(w, id) else {
        return;
    };
    if w.channels[&channel].can("playlistjump", w.rank(id)) {
        play_next(w, out, &channel);
    }
}

/// `playerReady`: re-sends the current media to the asker.
pub fn player_ready(w: &World, out: &mut Outbox, id: ConnId) {
    let Some(channel) = member_channel(w, id) else {
        return;
    };
    let ch = &w.channels[&channel];
    if let Some(item) = ch.playlist.current_item() {
        out.emit(id, "setCurrent", json!(item.uid));
        out.emit(
            id,
            "changeMedia",
            change_media_payload(item, ch.leader.is_some()),
        );
    }
}

/// `requestPlaylist`: re-sends the playlist to the asker.
pub fn request_playlist(w: &World, out: &mut Outbox, id: ConnId) {
    let Some(channel) = member_channel(w, id) else {
        return;
    };
    let ch = &w.channels[&channel];
    let items: Vec<Value> = ch.playlist.items.iter().map(Item::to_json).collect();
    out.emit(id, "playlist", Value::Array(items));
}

/// `togglePlaylistLock`.
pub fn toggle_lock(w: &mut World, out: &mut Outbox, id: ConnId) {
    let Some(channel) = member_channel(w, id) else {
        return;
    };
    if !w.channels[&channel].can("playlistlock", w.rank(id)) {
        return;
    }
    let ch = w.channel_mut(&channel);
    ch.locked = !ch.locked;
    let locked = ch.locked;
    w.broadcast(out, &channel, "setPlaylistLocked", json!(locked));
}

/// `voteskip`, as CyTube's voteskip module: one vote per IP (local test clients look like
/// distinct IPs with `X-Forwarded-For`); a repeated vote changes nothing; the voter is no
/// longer AFK.
pub fn voteskip(w: &mut World, out: &mut Outbox, id: ConnId) {
    let Some(channel) = member_channel(w, id) else {
        return;
    };
    let ch = &w.channels[&channel];
    if !ch.opts.allow_voteskip || !ch.can("voteskip", w.rank(id)) {
        return;
    }
    let (ip, afk) = match w.conns.get(&id) {
        Some(c) => (c.ip.clone(), c.afk),
        None => return,
    };
    if !w.channel_mut(&channel).voteskips.insert(ip) {
        return;
    }
    if afk {
        // Coming back recounts (`set_afk` ends with `check_voteskip`).
        session::set_afk(w, out, id, false);
    } else {
        check_voteskip(w, out, &channel);
    }
}

/// Recounts the votes, as CyTube's `update`: when they reach what is needed — ceil(eligible
/// × ratio), at least 1, where eligible = users − those without the `voteskip` permission −
/// AFK users with it — the `[voteskip]` notice goes to everyone, the votes are reset
/// (`voteskip {0, 0}` to viewers) and playback moves on; otherwise `voteskip {count, need}`
/// goes to users with `viewvoteskip`.
pub fn check_voteskip(w: &mut World, out: &mut Outbox, channel: &str) {
    let Some(ch) = w.channels.get(channel) else {
        return;
    };
    if !ch.opts.allow_voteskip || ch.voteskips.is_empty() || ch.playlist.items.is_empty() {
        return;
    }
    let members = ch.members.clone();
    let no_perm = members
        .iter()
        .filter(|m| !ch.can("voteskip", w.rank(**m)))
        .count();
    let afk = members
        .iter()
        .filter(|m| ch.can("voteskip", w.rank(**m)) && w.conns.get(m).is_some_and(|c| c.afk))
        .count();
    let eligible = members.len().saturating_sub(afk + no_perm);
    let ratio = ch.opts.voteskip_ratio;
    let need = ((eligible as f64 * ratio).ceil() as usize).max(1);
    let count = ch.voteskips.len();
    if count < need {
        let view = ch.perm("viewvoteskip");
        w.broadcast_min_rank(
            out,
            channel,
            view,
            "voteskip",
            json!({ "count": count, "need": need }),
        );
        return;
    }
    let text = format!(
        "Voteskip passed: {count}/{eligible} skipped; eligible voters: {eligible} = total \
         ({}) - AFK ({afk}) - no permission ({no_perm}); ratio = {ratio}",
        members.len(),
    );
    let msg = json!({
        "username": "[voteskip]",
        "msg": text,
        "meta": { "addClass": "server-whisper", "addClassToNameAndTimestamp": true },
        "time": now_ms(),
    });
    w.broadcast(out, channel, "chatMsg", msg);
    w.channel_mut(channel).voteskips.clear();
    send_voteskip_reset(w, out, channel);
    play_next(w, out, channel);
}

/// `mediaUpdate {id, currentTime, paused?}` from the leader: relayed to the channel as
/// `mediaUpdate {currentTime, paused}` (how a leader pauses or seeks for everyone). From
/// anyone else, or with a bad payload, it is ignored, as in CyTube.
pub fn media_update(w: &mut World, out: &mut Outbox, id: ConnId, data: &Value) {
    let Some(channel) = member_channel(w, id) else {
        return;
    };
    let is_leader = w.channels[&channel].leader.as_deref().is_some()
        && w.channels[&channel].leader.as_deref() == w.name(id);
    let Some(time) = data.get("currentTime").and_then(Value::as_f64) else {
        return;
    };
    if !is_leader || w.channels[&channel].playlist.current.is_none() || !time.is_finite() {
        return;
    }
    let paused = data.get("paused").and_then(Value::as_bool).unwrap_or(false);
    w.broadcast(
        out,
        &channel,
        "mediaUpdate",
        json!({ "currentTime": time, "paused": paused }),
    );
}

/// `assignLeader {name}` (`""` removes the leader). Without `leaderctl` the sender is kicked.
pub fn assign_leader(w: &mut World, out: &mut Outbox, id: ConnId, data: &Value) {
    let Some(channel) = member_channel(w, id) else {
        return;
    };
    let Some(name) = data.get("name").and_then(Value::as_str) else {
        out.error(
            id,
            "Unexpected error for message assignLeader: name must be a string",
        );
        return;
    };
    if !w.channels[&channel].can("leaderctl", w.rank(id)) {
        session::kick(
            w,
            out,
            id,
            "Attempted assignLeader without sufficient permission",
        );
        return;
    }
    let target = if name.is_empty() {
        None
    } else {
        match w.find_member(&channel, name) {
            Some(t) => Some(t),
            None => {
                out.error(
                    id,
                    format!("Unable to assign leader: could not find user {name}"),
                );
                return;
            }
        }
    };
    // Drop the old leader's temporary rank.
    if let Some(old) = w.channels[&channel].leader.clone()
        && let Some(old_id) = w.find_member(&channel, &old)
        && w.conns[&old_id].leader_bump
    {
        if let Some(c) = w.conns.get_mut(&old_id) {
            c.leader_bump = false;
        }
        announce_rank(w, out, &channel, old_id);
    }
    let leader_name = target.and_then(|t| w.name(t)).map(str::to_owned);
    w.channel_mut(&channel).leader = leader_name.clone();
    if let Some(t) = target
        && w.rank(t) < 1.5
    {
        if let Some(c) = w.conns.get_mut(&t) {
            c.leader_bump = true;
        }
        announce_rank(w, out, &channel, t);
    }
    w.broadcast(
        out,
        &channel,
        "setLeader",
        json!(leader_name.unwrap_or_default()),
    );
}

fn announce_rank(w: &World, out: &mut Outbox, channel: &str, id: ConnId) {
    let rank = num(w.rank(id));
    let name = w.name(id).unwrap_or_default().to_owned();
    out.emit(id, "rank", rank.clone());
    w.broadcast(
        out,
        channel,
        "setUserRank",
        json!({ "name": name, "rank": rank }),
    );
}
