//! Session lifecycle: connect, `joinChannel` (with channel passwords), `login` (guest and
//! registered), the join burst of protocol §2.3, and leaving. Pure state transitions that
//! write to an [`Outbox`].

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::moderation;
use crate::state::{ConnId, Outbox, World, num};
use crate::text;
use crate::{playlist, poll};

const INVALID_CHANNEL: &str = "Invalid channel name.  Channel names may consist of 1-30 \
                               characters a-z, A-Z, 0-9, -, and _";
const INVALID_GUEST: &str = "Invalid username.  Usernames must be 1-20 characters long and \
                             consist only of characters a-z, A-Z, 0-9, -, or _.";

/// `joinChannel {name, pw?}`.
pub fn join_channel(w: &mut World, out: &mut Outbox, id: ConnId, data: &Value) {
    let Some(name) = data.get("name").and_then(Value::as_str) else {
        return; // not an object or name not a string: silently ignored
    };
    let Some(conn) = w.conns.get_mut(&id) else {
        return;
    };
    if conn.join_requested {
        return; // `once` handler
    }
    conn.join_requested = true;
    if !text::valid_channel_name(name) {
        out.error(id, INVALID_CHANNEL);
        kick(w, out, id, "Invalid channel name");
        return;
    }
    let channel = name.to_ascii_lowercase();
    // CyTube's pre-join checks run in module order: the ban first, then the password.
    if moderation::is_banned_from(w, &channel, id) {
        kick(w, out, id, moderation::BANNED_AT_JOIN);
        return;
    }
    let password = w.channel_mut(&channel).password.clone();
    if let Some(pw) = password {
        let given = data.get("pw").and_then(Value::as_str);
        if given != Some(pw.as_str()) {
            if w.rank(id) >= 2.0 {
                out.emit0(id, "cancelNeedPassword");
            } else {
                if let Some(c) = w.conns.get_mut(&id) {
                    c.pending_password = Some(channel);
                }
                let supplied = given.is_some_and(|g| !g.is_empty());
                out.emit(id, "needPassword", json!(supplied));
                return;
            }
        }
    }
    accept_user(w, out, id, &channel);
}

/// `channelPassword "<pw>"`.
pub fn channel_password(w: &mut World, out: &mut Outbox, id: ConnId, data: &Value) {
    let Some(pw) = data.as_str() else { return };
    let Some(channel) = w.conns.get(&id).and_then(|c| c.pending_password.clone()) else {
        return;
    };
    let ok = w.channels.get(&channel).and_then(|c| c.password.as_deref()) == Some(pw);
    if !ok {
        out.emit(id, "needPassword", json!(true));
        return;
    }
    if let Some(c) = w.conns.get_mut(&id) {
        c.pending_password = None;
    }
    out.emit0(id, "cancelNeedPassword");
    accept_user(w, out, id, &channel);
}

/// Puts `id` into `channel` and sends the join burst in CyTube's order (§2.3).
fn accept_user(w: &mut World, out: &mut Outbox, id: ConnId, channel: &str) {
    if let Some(c) = w.conns.get_mut(&id) {
        c.channel = Some(channel.to_owned());
    }
    w.channel_mut(channel).members.push(id);
    let ch = &w.channels[channel];
    out.emit(id, "setPermissions", ch.perms_json());
    out.emit(id, "setPlaylistLocked", json!(ch.locked));
    out.emit(id, "emoteList", json!([]));
    for line in &ch.history {
        out.emit(id, "chatMsg", line.clone());
    }
    out.emit(id, "drinkCount", json!(0));
    out.emit(
        id,
        "channelCSSJS",
        json!({"css": "", "cssHash": "", "js": "", "jsHash": ""}),
    );
    out.emit(id, "setMotd", json!(""));
    out.emit(id, "channelOpts", ch.opts_json());
    playlist::send_playlist(w, out, channel, id);
    poll::send_poll(w, out, channel, id);
    out.emit(id, "userlist", w.userlist(channel, id));
    if let Some(leader) = &w.channels[channel].leader {
        out.emit(id, "setLeader", json!(leader));
    }
    w.send_usercount(out, channel);
    if w.name(id).is_some() {
        logged_in_in_channel(w, out, id, channel, false);
    }
}

/// `login {name, pw?}`.
pub fn login(w: &mut World, out: &mut Outbox, id: ConnId, data: &Value) {
    if !data.is_object() {
        out.error(id, "Invalid login frame");
        return;
    }
    let Some(name) = data.get("name").and_then(Value::as_str) else {
        return;
    };
    let Some(conn) = w.conns.get(&id) else { return };
    if conn.name.is_some() {
        return; // already logged in: no renaming
    }
    let pw = data.get("pw").and_then(Value::as_str).unwrap_or("");
    if pw.is_empty() {
        guest_login(w, out, id, name);
    } else {
        registered_login(w, out, id, name, pw);
    }
}

fn login_fail(out: &mut Outbox, id: ConnId, error: &str) {
    out.emit(id, "login", json!({ "success": false, "error": error }));
}

fn guest_login(w: &mut World, out: &mut Outbox, id: ConnId, name: &str) {
    let now = Instant::now();
    let ip = w.conns[&id].ip.clone();
    let delay = w.cfg.guest_login_delay;
    if !delay.is_zero()
        && let Some(last) = w.last_guest_login.get(&ip)
        && now.saturating_duration_since(*last) < delay
    {
        let msg = format!(
            "Guest logins are restricted to one per IP address per {} seconds.",
            delay.as_secs()
        );
        return login_fail(out, id, &msg);
    }
    if !text::valid_user_name(name) {
        return login_fail(out, id, INVALID_GUEST);
    }
    if text::is_reserved_name(name) {
        return login_fail(out, id, "That username is reserved.");
    }
    let key = text::name_dedupe_key(name);
    if w.cfg
        .accounts
        .iter()
        .any(|a| text::name_dedupe_key(&a.name) == key)
    {
        return login_fail(out, id, "That username is registered.");
    }
    // Checked only when the socket is already in the channel (CyTube quirk, protocol §2.4).
    if let Some(channel) = w.conns[&id].channel.clone()
        && w.find_member(&channel, name).is_some()
    {
        return login_fail(out, id, "That name is already in use on this channel.");
    }
    if !delay.is_zero() {
        // Only logins within the delay matter: forget older ones, so the map holds at most
        // the IPs of the last `delay` (it is not needed at all without a delay).
        w.last_guest_login
            .retain(|_, last| now.saturating_duration_since(*last) < delay);
        w.last_guest_login.insert(ip, now);
    }
    if let Some(c) = w.conns.get_mut(&id) {
        c.name = Some(name.to_owned());
        c.registered = false;
        c.global_rank = 0.0;
    }
    out.emit(id, "rank", json!(0));
    out.emit(
        id,
        "login",
        json!({ "success": true, "name": name, "guest": true }),
    );
    after_login(w, out, id);
}

fn registered_login(w: &mut World, out: &mut Outbox, id: ConnId, name: &str, pw: &str) {
    if !text::valid_user_name(name) {
        return login_fail(out, id, &format!("Invalid username \"{name}\""));
    }
    let Some(account) = w.cfg.account(name).cloned() else {
        return login_fail(out, id, "User does not exist");
    };
    // CyTube truncates the password to 100 characters before checking it.
    let pw = text::truncate_utf16(pw, 100);
    if pw != text::truncate_utf16(&account.password, 100) {
        return login_fail(out, id, "Invalid username/password combination");
    }
    if let Some(c) = w.conns.get_mut(&id) {
        c.name = Some(account.name.clone());
        c.registered = true;
        c.global_rank = account.rank;
    }
    out.emit(id, "rank", num(account.rank));
    out.emit(
        id,
        "login",
        json!({ "success": true, "name": account.name }),
    );
    after_login(w, out, id);
}

fn after_login(w: &mut World, out: &mut Outbox, id: ConnId) {
    w.record_alias(id);
    if let Some(channel) = w.conns[&id].channel.clone() {
        logged_in_in_channel(w, out, id, &channel, true);
        return;
    }
    // Waiting for a channel password: CyTube lets a rank ≥ 2 account in once it has logged
    // in, and takes back the `needPassword` it sent at join (`src/channel/accesscontrol.js`).
    let pending = w.conns[&id].pending_password.clone();
    if let Some(channel) = pending
        && let Some(name) = w.name(id).map(str::to_owned)
        && moderation::rank_for_name(w, &channel, &name) >= 2.0
    {
        if let Some(c) = w.conns.get_mut(&id) {
            c.pending_password = None;
        }
        out.emit0(id, "cancelNeedPassword");
        accept_user(w, out, id, &channel);
    }
}

/// What happens once a socket is both in a channel and logged in: duplicate-login kicks,
/// `addUser`, the moderator notice, and for accounts the channel rank (`rank` + `setUserRank`).
fn logged_in_in_channel(
    w: &mut World,
    out: &mut Outbox,
    id: ConnId,
    channel: &str,
    self_gets_add: bool,
) {
    let Some(name) = w.name(id).map(str::to_owned) else {
        return;
    };
    if w.channels[channel].moderation.is_banned(&name) {
        kick(w, out, id, moderation::BANNED_AT_JOIN);
        w.mod_notice(
            out,
            channel,
            2.0,
            &format!("{name} was kicked (name is banned)"),
        );
        return;
    }
    for other in w.members(channel) {
        if other != id && w.name(other).is_some_and(|n| n.eq_ignore_ascii_case(&name)) {
            kick(w, out, other, "Duplicate login");
        }
    }
    for viewer in w.members(channel) {
        if viewer != id || self_gets_add {
            out.emit(viewer, "addUser", w.user_object(id, viewer));
        }
    }
    let aliases = w.aliases_of(id).join(",");
    w.mod_notice(
        out,
        channel,
        2.0,
        &format!("{name} joined (aliases: {aliases})"),
    );
    if w.conns[&id].registered {
        let rank = num(w.rank(id));
        out.emit(id, "rank", rank.clone());
        w.broadcast(
            out,
            channel,
            "setUserRank",
            json!({ "name": name, "rank": rank }),
        );
    }
}

/// The socket went away (client close, kick, ping timeout, server shutdown).
pub fn on_disconnect(w: &mut World, out: &mut Outbox, id: ConnId) {
    part(w, out, id);
    w.conns.remove(&id);
}

/// `kick {reason}` + disconnect. The user leaves the channel at once (CyTube's disconnect
/// runs synchronously), so others get `userLeave` before anything that follows.
pub fn kick(w: &mut World, out: &mut Outbox, id: ConnId, reason: &str) {
    out.kick(id, reason);
    part(w, out, id);
}

/// Removes `id` from its channel: `userLeave` (if logged in), leader and voteskip clean-up,
/// `usercount`.
fn part(w: &mut World, out: &mut Outbox, id: ConnId) {
    let Some(conn) = w.conns.get_mut(&id) else {
        return;
    };
    let Some(channel) = conn.channel.take() else {
        return;
    };
    let name = conn.name.clone();
    let ip = conn.ip.clone();
    let Some(ch) = w.channels.get_mut(&channel) else {
        return;
    };
    ch.members.retain(|m| *m != id);
    // As CyTube: the vote of the leaver's IP goes with them.
    let had_vote = ch.voteskips.remove(&ip);
    let was_leader = name.as_deref().is_some_and(|n| {
        ch.leader
            .as_deref()
            .is_some_and(|l| l.eq_ignore_ascii_case(n))
    });
    if was_leader {
        ch.leader = None;
        w.broadcast(out, &channel, "setLeader", json!(""));
    }
    if let Some(name) = &name {
        w.broadcast(out, &channel, "userLeave", json!({ "name": name }));
    }
    w.send_usercount(out, &channel);
    poll::unvote(w, out, &channel, id);
    if had_vote || name.is_some() {
        playlist::check_voteskip(w, out, &channel);
    }
}

/// Toggles or sets AFK and broadcasts `setAFK` + `setUserMeta`; going AFK clears the
/// user's voteskip vote (`clearVoteskipVote`).
pub fn set_afk(w: &mut World, out: &mut Outbox, id: ConnId, afk: bool) {
    let Some(conn) = w.conns.get_mut(&id) else {
        return;
    };
    if conn.afk == afk {
        return;
    }
    conn.afk = afk;
    let ip = conn.ip.clone();
    let (Some(name), Some(channel)) = (conn.name.clone(), conn.channel.clone()) else {
        return;
    };
    w.broadcast(out, &channel, "setAFK", json!({ "name": name, "afk": afk }));
    moderation::send_user_meta(w, out, id, -1.0);
    if afk
        && let Some(ch) = w.channels.get_mut(&channel)
        && ch.voteskips.remove(&ip)
    {
        out.emit0(id, "clearVoteskipVote");
    }
    playlist::check_voteskip(w, out, &channel);
}

/// Changes a user's rank override (the handle's `set_rank`) and announces it.
pub fn set_rank(w: &mut World, out: &mut Outbox, channel: &str, name: &str, rank: f64) {
    let channel = channel.to_ascii_lowercase();
    w.channel_mut(&channel)
        .rank_overrides
        .insert(name.to_ascii_lowercase(), rank);
    if let Some(id) = w.find_member(&channel, name) {
        let rank = num(w.rank(id));
        let display = w.name(id).unwrap_or(name).to_owned();
        out.emit(id, "rank", rank.clone());
        w.broadcast(
            out,
            &channel,
            "setUserRank",
            json!({ "name": display, "rank": rank }),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::config::DevServerConfig;
    use crate::state::Out;

    fn events_for(out: &Outbox, to: ConnId) -> Vec<&'static str> {
        out.ops
            .iter()
            .filter_map(|op| match op {
                Out::Emit { to: t, event, .. } if *t == to => Some(*event),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn duplicate_login_leaves_before_the_new_session_is_announced() {
        let cfg = DevServerConfig::default().with_account("bot", "pw", 1.0);
        let mut w = World::new(Arc::new(cfg));
        let mut out = Outbox::default();
        let watcher = w.add_conn("10.0.0.1".into());
        join_channel(&mut w, &mut out, watcher, &json!({"name": "c"}));
        login(&mut w, &mut out, watcher, &json!({"name": "watcher"}));
        let old = w.add_conn("10.0.0.2".into());
        login(&mut w, &mut out, old, &json!({"name": "bot", "pw": "pw"}));
        join_channel(&mut w, &mut out, old, &json!({"name": "c"}));

        let mut out = Outbox::default();
        let new = w.add_conn("10.0.0.3".into());
        login(&mut w, &mut out, new, &json!({"name": "BOT", "pw": "pw"}));
        join_channel(&mut w, &mut out, new, &json!({"name": "c"}));
        assert!(out.ops.contains(&Out::Disconnect(old)));
        let seen = events_for(&out, watcher);
        let leave = seen.iter().position(|e| *e == "userLeave").unwrap();
        let add = seen.iter().position(|e| *e == "addUser").unwrap();
        assert!(leave < add, "{seen:?}");
        assert!(!events_for(&out, old).contains(&"addUser"));
        assert_eq!(out.kicks, 1);
        assert_eq!(w.user_infos("c").len(), 2);
    }

    #[test]
    fn guest_login_delay_is_per_ip_when_enabled() {
        let cfg = DevServerConfig {
            guest_login_delay: Duration::from_secs(60),
            ..DevServerConfig::default()
        };
        let mut w = World::new(Arc::new(cfg));
        let mut out = Outbox::default();
        let a = w.add_conn("10.0.0.1".into());
        login(&mut w, &mut out, a, &json!({"name": "one"}));
        let b = w.add_conn("10.0.0.1".into());
        let c = w.add_conn("10.0.0.2".into());
        let mut out = Outbox::default();
        login(&mut w, &mut out, b, &json!({"name": "two"}));
        login(&mut w, &mut out, c, &json!({"name": "three"}));
        let replies: Vec<&Value> = out
            .ops
            .iter()
            .filter_map(|op| match op {
                Out::Emit {
                    event: "login",
                    arg: Some(v),
                    ..
                } => Some(v),
                _ => None,
            })
            .collect();
        assert_eq!(
            replies[0]["error"],
            json!("Guest logins are restricted to one per IP address per 60 seconds.")
        );
        assert_eq!(replies[1]["success"], json!(true));
    }
}
