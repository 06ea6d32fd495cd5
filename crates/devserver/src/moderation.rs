//! Mutes and bans, as a registered CyTube channel does them (`src/channel/chat.js`,
//! `src/channel/kickban.js`): `/mute`, `/smute`, `/unmute` (`/unsmute`), `/ban`,
//! `/ipban` (`/banip`), `requestBanlist` and `unban`, with CyTube's refusal texts. Mutes
//! and bans are kept for the channel's lifetime, so they survive leaving and rejoining: a
//! banned name or IP is kicked at join with [`BANNED_AT_JOIN`] (`session.rs`). An IP ban
//! covers the IPs the name logged in from (the world's aliases; local clients look
//! distinct through `X-Forwarded-For`); the `range`/`wrange` forms ban the exact IPs.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::session;
use crate::state::{ConnId, Outbox, World};
use crate::text;

/// CyTube cuts ban reasons to 255 characters.
const MAX_REASON: usize = 255;
/// The kick reason for a banned name or IP at join (or at login after joining).
pub const BANNED_AT_JOIN: &str = "You are banned from this channel.";
/// The kick reason for a user banned while in the channel.
pub const BANNED_NOW: &str = "You're banned!";

/// How a user is muted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mute {
    /// `/mute`: the user's chat is refused with `noflood`; everyone sees `muted`.
    Muted,
    /// `/smute`: the user's chat reaches only moderators and other shadow-muted users; only
    /// moderators see it (`smuted`), and the user believes it was posted.
    Shadow,
}

/// One ban: a name ban (`/ban`, ip `"*"`) or an IP ban (`/ipban`).
#[derive(Debug, Clone, PartialEq)]
pub struct Ban {
    /// Id used by `unban`.
    pub id: u64,
    /// The banned IP, or `"*"` for a name ban.
    pub ip: String,
    /// Lowercase name.
    pub name: String,
    /// Reason (at most 255 characters).
    pub reason: String,
    /// Who banned.
    pub bannedby: String,
}

impl Ban {
    /// The `banlist` entry (a name ban has ip `"*"`; IPs are cloaked).
    pub fn to_json(&self) -> Value {
        let ip = if self.ip == "*" {
            self.ip.clone()
        } else {
            cloak_ip(&self.ip)
        };
        json!({
            "id": self.id,
            "ip": ip,
            "name": self.name,
            "reason": self.reason,
            "bannedby": self.bannedby,
        })
    }
}

/// A channel's mutes and bans.
#[derive(Debug, Default)]
pub struct Moderation {
    /// Lowercase name → how the user is muted.
    pub muted: HashMap<String, Mute>,
    /// Name bans, oldest first.
    pub bans: Vec<Ban>,
    next_ban_id: u64,
}

impl Moderation {
    /// How `name` is muted, if at all.
    pub fn mute_of(&self, name: &str) -> Option<Mute> {
        self.muted.get(&name.to_ascii_lowercase()).copied()
    }

    /// Whether `name` is banned (by a name ban).
    pub fn is_banned(&self, name: &str) -> bool {
        self.bans
            .iter()
            .any(|b| b.ip == "*" && b.name.eq_ignore_ascii_case(name))
    }

    /// Whether `ip` is banned.
    pub fn is_ip_banned(&self, ip: &str) -> bool {
        self.bans.iter().any(|b| b.ip != "*" && b.ip == ip)
    }

    fn add(&mut self, ip: &str, name: &str, reason: &str, bannedby: &str) {
        self.next_ban_id += 1;
        self.bans.push(Ban {
            id: self.next_ban_id,
            ip: ip.to_owned(),
            name: name.to_ascii_lowercase(),
            reason: text::truncate_utf16(reason, MAX_REASON),
            bannedby: bannedby.to_owned(),
        });
    }
}

/// Whether `id` may not join `channel`: its IP is banned, or its name once logged in.
pub fn is_banned_from(w: &World, channel: &str, id: ConnId) -> bool {
    let (Some(c), Some(ch)) = (w.conns.get(&id), w.channels.get(channel)) else {
        return false;
    };
    ch.moderation.is_ip_banned(&c.ip)
        || c.name
            .as_deref()
            .is_some_and(|n| ch.moderation.is_banned(n))
}

/// Bans `name` (and with `by_ip` every IP it logged in from) in `channel` and kicks the
/// banned users present, with moderator notices as CyTube sends them. No permission
/// checks: the callers (`/ban`, `/ipban`, the server handle) do those.
pub fn add_ban(
    w: &mut World,
    out: &mut Outbox,
    channel: &str,
    name: &str,
    by_ip: bool,
    reason: &str,
    actor: &str,
) {
    let name = name.to_ascii_lowercase();
    let ban_perm = w.channel_mut(channel).perm("ban");
    let ips = if by_ip { w.ips_of(&name) } else { Vec::new() };
    for ip in &ips {
        if w.channels[channel].moderation.is_ip_banned(ip) {
            continue;
        }
        w.channel_mut(channel)
            .moderation
            .add(ip, &name, reason, actor);
        let notice = format!("{actor} banned {} ({name})", cloak_ip(ip));
        w.mod_notice(out, channel, ban_perm, &notice);
    }
    if !w.channels[channel].moderation.is_banned(&name) {
        w.channel_mut(channel)
            .moderation
            .add("*", &name, reason, actor);
        w.mod_notice(
            out,
            channel,
            ban_perm,
            &format!("{actor} namebanned {name}"),
        );
    }
    let targets: Vec<ConnId> = w
        .members(channel)
        .into_iter()
        .filter(|m| {
            let c = &w.conns[m];
            c.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(&name))
                || ips.contains(&c.ip)
        })
        .collect();
    for t in targets {
        session::kick(w, out, t, BANNED_NOW);
    }
}

/// The `meta` of `id`'s user object as `viewer` sees it: moderators see shadow mutes
/// (`smuted`), aliases and a cloaked IP; others see `muted` only for plain mutes.
pub fn user_meta(w: &World, id: ConnId, viewer: ConnId) -> Value {
    let Some(c) = w.conns.get(&id) else {
        return json!({});
    };
    let name = c.name.clone().unwrap_or_default();
    let mute = c
        .channel
        .as_ref()
        .and_then(|ch| w.channels.get(ch))
        .and_then(|ch| ch.moderation.mute_of(&name));
    let mod_view = w.rank(viewer) >= 2.0;
    let muted = match mute {
        Some(Mute::Muted) => true,
        Some(Mute::Shadow) => mod_view,
        None => false,
    };
    let mut meta = json!({ "afk": c.afk, "muted": muted });
    if mod_view {
        meta["smuted"] = json!(mute == Some(Mute::Shadow));
        meta["aliases"] = json!(w.aliases_of(id));
        meta["ip"] = json!(cloak_ip(&c.ip));
    }
    meta
}

/// CyTube shows moderators a cloaked IP; this keeps the first two parts of an IPv4 address.
pub fn cloak_ip(ip: &str) -> String {
    let parts: Vec<&str> = ip.split('.').collect();
    if parts.len() == 4 {
        format!("{}.{}.x.x", parts[0], parts[1])
    } else {
        "x.x.x.x".to_owned()
    }
}

/// `setUserMeta {name, meta}` about `id` to every member of its channel with rank ≥
/// `min_rank`, each with the meta it may see.
pub fn send_user_meta(w: &World, out: &mut Outbox, id: ConnId, min_rank: f64) {
    let Some(c) = w.conns.get(&id) else { return };
    let (Some(name), Some(channel)) = (c.name.clone(), c.channel.clone()) else {
        return;
    };
    for viewer in w.members(&channel) {
        if w.rank(viewer) >= min_rank {
            let meta = user_meta(w, id, viewer);
            out.emit(viewer, "setUserMeta", json!({ "name": name, "meta": meta }));
        }
    }
}

/// `/mute name`, `/smute name` (`mute` = `Some(kind)`) and `/unmute name` (`None`).
/// `verb` is the command as typed, for the error texts.
pub fn mute_command(
    w: &mut World,
    out: &mut Outbox,
    id: ConnId,
    args: &str,
    verb: &str,
    mute: Option<Mute>,
) {
    let Some(channel) = w.conns.get(&id).and_then(|c| c.channel.clone()) else {
        return;
    };
    let rank = w.rank(id);
    let mute_perm = w.channels[&channel].perm("mute");
    if !w.channels[&channel].can("mute", rank) {
        return; // silently, as CyTube
    }
    let Some(name) = args.split(' ').next().filter(|n| !n.is_empty()) else {
        out.error(id, format!("/{verb} requires a target name"));
        return;
    };
    let lower = name.to_ascii_lowercase();
    let actor = w.name(id).unwrap_or_default().to_owned();
    let target = w.find_member(&channel, &lower);
    let Some(kind) = mute else {
        let ch = w.channel_mut(&channel);
        if ch.moderation.muted.remove(&lower).is_none() {
            out.error(id, format!("{lower} is not muted."));
            return;
        }
        // CyTube announces an unmute only when the user is present.
        if let Some(t) = target {
            let display = w.name(t).unwrap_or(name).to_owned();
            send_user_meta(w, out, t, -1.0);
            w.mod_notice(
                out,
                &channel,
                mute_perm,
                &format!("{actor} unmuted {display}"),
            );
        }
        return;
    };
    let Some(t) = target else {
        out.error(
            id,
            format!("/{verb} target {lower} not present in channel."),
        );
        return;
    };
    let display = w.name(t).unwrap_or(name).to_owned();
    if w.rank(t) >= rank || w.conns[&t].global_rank > w.conns[&id].global_rank {
        out.error(
            id,
            format!("/{verb} failed - {display} has equal or higher rank than you."),
        );
        return;
    }
    w.channel_mut(&channel).moderation.muted.insert(lower, kind);
    let (min_rank, word) = match kind {
        Mute::Muted => (-1.0, "muted"),
        Mute::Shadow => (mute_perm, "shadowmuted"),
    };
    send_user_meta(w, out, t, min_rank);
    w.mod_notice(
        out,
        &channel,
        mute_perm,
        &format!("{actor} {word} {display}"),
    );
}

/// The rank a name would have in `channel`: a member's effective rank, else the account's
/// (global and channel rank), else 0.
pub(crate) fn rank_for_name(w: &World, channel: &str, name: &str) -> f64 {
    if let Some(t) = w.find_member(channel, name) {
        return w.rank(t);
    }
    if let Some(r) = w
        .channels
        .get(channel)
        .and_then(|c| c.rank_overrides.get(&name.to_ascii_lowercase()))
    {
        return *r;
    }
    match w.cfg.account(name) {
        Some(a) => a.rank.max(w.cfg.channel_rank(&a.name).unwrap_or(0.0)),
        None => 0.0,
    }
}

/// `/ban name [reason]` (a name ban) and, with `by_ip`, `/ipban name [range|wrange]
/// [reason]` (the name and its IPs). Refusals come as `errorMsg` with CyTube's texts.
pub fn ban_command(w: &mut World, out: &mut Outbox, id: ConnId, args: &str, by_ip: bool) {
    let Some(channel) = w.conns.get(&id).and_then(|c| c.channel.clone()) else {
        return;
    };
    let mut words = args.split(' ').peekable();
    let Some(name) = words.next().filter(|n| !n.trim().is_empty()) else {
        out.error(id, "No ban target specified.");
        return;
    };
    let name = name.to_ascii_lowercase();
    if by_ip
        && words
            .peek()
            .is_some_and(|w| *w == "range" || *w == "wrange")
    {
        words.next();
    }
    let reason = words.collect::<Vec<_>>().join(" ");
    let rank = w.rank(id);
    if !w.channels[&channel].can("ban", rank) {
        out.error(id, "You do not have ban permissions on this channel");
        return;
    }
    let actor = w.name(id).unwrap_or_default().to_owned();
    if name == actor.to_ascii_lowercase() {
        out.emit(id, "costanza", json!({ "msg": "You can't ban yourself" }));
        out.error(id, "You cannot ban yourself");
        return;
    }
    if rank_for_name(w, &channel, &name) >= rank {
        out.error(id, format!("You don't have permission to ban {name}"));
        return;
    }
    if !by_ip && w.channels[&channel].moderation.is_banned(&name) {
        out.error(id, format!("{name} is already banned"));
        return;
    }
    add_ban(w, out, &channel, &name, by_ip, &reason, &actor);
}

/// `requestBanlist`: the bans, to a user with the `ban` permission (others: silence).
pub fn request_banlist(w: &World, out: &mut Outbox, id: ConnId) {
    let Some(channel) = w.conns.get(&id).and_then(|c| c.channel.clone()) else {
        return;
    };
    let ch = &w.channels[&channel];
    if !ch.can("ban", w.rank(id)) {
        return;
    }
    let list: Vec<Value> = ch.moderation.bans.iter().map(Ban::to_json).collect();
    out.emit(id, "banlist", Value::Array(list));
}

/// `unban {id, name}`: lifts the ban; everyone with the `ban` permission gets
/// `banlistRemove` (the echo of the request) and a notice. As in CyTube, an id that is not
/// banned is not an error.
pub fn unban(w: &mut World, out: &mut Outbox, id: ConnId, data: &Value) {
    let Some(channel) = w.conns.get(&id).and_then(|c| c.channel.clone()) else {
        return;
    };
    let (Some(ban_id), Some(name)) = (
        data.get("id").and_then(Value::as_u64),
        data.get("name").and_then(Value::as_str),
    ) else {
        out.error(
            id,
            "Unexpected error for message unban: id must be a number and name a string",
        );
        return;
    };
    let ban_perm = w.channels[&channel].perm("ban");
    if !w.channels[&channel].can("ban", w.rank(id)) {
        return;
    }
    w.channel_mut(&channel)
        .moderation
        .bans
        .retain(|b| b.id != ban_id);
    let echo = json!({ "id": ban_id, "name": name });
    for m in w.members(&channel) {
        if w.channels[&channel].can("ban", w.rank(m)) {
            out.emit(m, "banlistRemove", echo.clone());
        }
    }
    let actor = w.name(id).unwrap_or_default().to_owned();
    w.mod_notice(out, &channel, ban_perm, &format!("{actor} unbanned {name}"));
}
