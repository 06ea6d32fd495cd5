//! Chat: the `chatMsg` pipeline of protocol §4.1 (truncation, control characters, flood
//! limit with `cooldown`, commands, broadcast + history), chat commands (`/me`, `/sp`,
//! `/say`, `/afk`, `/clear`, `/kick`; `/mute`, `/smute`, `/unmute`, `/ban`, `/ipban` are in
//! `moderation.rs`, `/poll` and `/hpoll` in `poll.rs`), what a mute does to chat, and `pm`.

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::flood::{FloodParams, MIN_ANTIFLOOD};
use crate::moderation::{self, Mute};
use crate::poll;
use crate::session;
use crate::state::{ChatRecord, ConnId, Outbox, PmRecord, World, now_ms, num};
use crate::text;

/// CyTube chat commands that exist but which this server does not implement: they are
/// swallowed (never broadcast), as CyTube swallows commands the sender may not use.
const SWALLOWED_COMMANDS: &[&str] = &["a", "d", "kickanons", "rank", "clean", "cleantitle"];

/// `chatMsg {msg, meta?}` from a client.
pub fn chat_msg(w: &mut World, out: &mut Outbox, id: ConnId, data: &Value) {
    let Some(msg) = data.get("msg").and_then(Value::as_str) else {
        out.error(
            id,
            "Unexpected error for message chatMsg: msg must be a string",
        );
        return;
    };
    if data.get("meta").is_some_and(|m| !m.is_object()) {
        out.error(
            id,
            "Unexpected error for message chatMsg: meta must be an object",
        );
        return;
    }
    let modflair = data
        .get("meta")
        .and_then(|m| m.get("modflair"))
        .and_then(Value::as_f64);
    process(w, out, id, msg, json!({}), modflair);
}

/// The pipeline; `/me` and friends re-enter it with their own meta (two limiter hits).
fn process(
    w: &mut World,
    out: &mut Outbox,
    id: ConnId,
    msg: &str,
    mut meta: Value,
    modflair: Option<f64>,
) {
    let Some(channel) = w.conns.get(&id).and_then(|c| c.channel.clone()) else {
        return; // channel handlers exist only after the join
    };
    let rank = w.rank(id);
    if !w.channels[&channel].can("chat", rank) {
        return;
    }
    let max = w.cfg.max_chat_len;
    let mut raw = text::truncate_utf16(msg, max);
    if !w.channels[&channel].opts.allow_ascii_control {
        raw = text::strip_control(&raw);
    }
    if raw.trim().is_empty() {
        return;
    }
    let Some(name) = w.name(id).map(str::to_owned) else {
        return;
    };
    if let Some(f) = modflair
        && rank >= 2.0
        && f == rank
    {
        meta["modflair"] = num(rank);
    }
    if !raw.contains("/afk") && w.conns[&id].afk {
        session::set_afk(w, out, id, false);
    }
    let params = flood_params(w, &channel, rank);
    let now = Instant::now();
    let Some(conn) = w.conns.get_mut(&id) else {
        return;
    };
    if conn.chat_limiter.throttle(&params, now) {
        out.emit(id, "cooldown", num(params.cooldown_ms()));
        return;
    }
    if raw.starts_with('>') {
        meta["addClass"] = json!("greentext");
    }
    if raw.starts_with('/') && run_command(w, out, id, &raw, rank) {
        return;
    }
    let time = now_ms();
    let link_regex = w.channels[&channel].opts.enable_link_regex;
    let mut payload = json!({
        "username": name,
        "msg": text::format_message(&raw, link_regex),
        "meta": meta,
        "time": time,
    });
    match w.channels[&channel].moderation.mute_of(&name) {
        Some(Mute::Muted) => {
            let refusal = json!({"action": "chat", "msg": "You have been muted on this channel."});
            out.emit(id, "noflood", refusal);
            return;
        }
        Some(Mute::Shadow) => {
            // Other shadow-muted users get it as is, moderators marked `shadow`; the sender
            // (shadow-muted itself) believes it was posted. Not kept in history.
            for m in w.members(&channel) {
                let shadowed = w.name(m).is_some_and(|n| {
                    w.channels[&channel].moderation.mute_of(n) == Some(Mute::Shadow)
                });
                if shadowed {
                    out.emit(m, "chatMsg", payload.clone());
                }
            }
            payload["meta"]["shadow"] = json!(true);
            w.broadcast_min_rank(out, &channel, 2.0, "chatMsg", payload);
            return;
        }
        None => {}
    }
    w.broadcast(out, &channel, "chatMsg", payload.clone());
    let keep = w.cfg.history_len;
    let ch = w.channel_mut(&channel);
    ch.history.push_back(payload);
    while ch.history.len() > keep {
        ch.history.pop_front();
    }
    ch.chat_log.push(ChatRecord {
        username: name,
        msg: raw,
        time,
    });
}

/// The fixed 20/10 limit, or the channel's params for rank < 2 when `chat_antiflood` is on.
fn flood_params(w: &World, channel: &str, rank: f64) -> FloodParams {
    let opts = &w.channels[channel].opts;
    if opts.chat_antiflood && rank < 2.0 {
        opts.antiflood_params
    } else {
        MIN_ANTIFLOOD
    }
}

/// Runs a known command; returns `false` for unknown ones (posted as normal text).
fn run_command(w: &mut World, out: &mut Outbox, id: ConnId, raw: &str, rank: f64) -> bool {
    let (cmd, rest) = match raw[1..].split_once(' ') {
        Some((c, r)) => (c, r),
        None => (&raw[1..], ""),
    };
    let channel = w.conns[&id].channel.clone().unwrap_or_default();
    match cmd {
        "me" => process(
            w,
            out,
            id,
            rest,
            json!({"addClass": "action", "action": true}),
            None,
        ),
        "sp" => process(w, out, id, rest, json!({"addClass": "spoiler"}), None),
        "say" | "shout" | "rcv" => {
            if rank >= 1.5 {
                let meta = json!({
                    "addClass": "shout",
                    "addClassToNameAndTimestamp": true,
                    "forceShowName": true,
                });
                process(w, out, id, rest, meta, None);
            }
        }
        "afk" => {
            let afk = w.conns.get(&id).is_some_and(|c| c.afk);
            session::set_afk(w, out, id, !afk);
        }
        "clear" => {
            if w.channels[&channel].can("chatclear", rank) {
                let name = w.name(id).unwrap_or_default().to_owned();
                w.channel_mut(&channel).history.clear();
                w.broadcast(out, &channel, "clearchat", json!({ "clearedBy": name }));
                w.mod_notice(out, &channel, -1.0, &format!("{name} cleared chat."));
            }
        }
        "kick" => kick_command(w, out, id, rest, rank, &channel),
        "mute" => moderation::mute_command(w, out, id, rest, cmd, Some(Mute::Muted)),
        "smute" => moderation::mute_command(w, out, id, rest, cmd, Some(Mute::Shadow)),
        "unmute" | "unsmute" => moderation::mute_command(w, out, id, rest, cmd, None),
        "ban" => moderation::ban_command(w, out, id, rest, false),
        "ipban" | "banip" => moderation::ban_command(w, out, id, rest, true),
        "poll" => poll::poll_command(w, out, id, rest, false),
        "hpoll" => poll::poll_command(w, out, id, rest, true),
        c if SWALLOWED_COMMANDS.contains(&c) => {}
        _ => return false,
    }
    true
}

/// `/kick name [reason…]`.
fn kick_command(w: &mut World, out: &mut Outbox, id: ConnId, args: &str, rank: f64, channel: &str) {
    if !w.channels[channel].can("kick", rank) {
        return;
    }
    let mut parts = args.split_whitespace();
    let Some(target_name) = parts.next() else {
        out.error(
            id,
            "No kick target specified.  If you're trying to kick anonymous users, use /kickanons",
        );
        return;
    };
    let reason = parts.collect::<Vec<_>>().join(" ");
    let Some(target) = w.find_member(channel, target_name) else {
        return; // unknown target: silently ignored
    };
    let actor_global = w.conns[&id].global_rank;
    let target_global = w.conns[&target].global_rank;
    let display = w.name(target).unwrap_or(target_name).to_owned();
    if w.rank(target) >= rank || target_global > actor_global {
        out.error(id, format!("You do not have permission to kick {display}"));
        return;
    }
    let actor = w.name(id).unwrap_or_default().to_owned();
    let kick_perm = w.channels[channel].perm("kick");
    w.mod_notice(
        out,
        channel,
        kick_perm,
        &format!("{actor} kicked {display} ({reason})"),
    );
    session::kick(w, out, target, &reason);
}

/// `pm {to, msg, meta?}`.
pub fn pm(w: &mut World, out: &mut Outbox, id: ConnId, data: &Value) {
    let (Some(to), Some(msg)) = (
        data.get("to").and_then(Value::as_str),
        data.get("msg").and_then(Value::as_str),
    ) else {
        out.error(
            id,
            "Unexpected error for message pm: to and msg must be strings",
        );
        return;
    };
    let Some(channel) = w.conns.get(&id).and_then(|c| c.channel.clone()) else {
        return;
    };
    let Some(from) = w.name(id).map(str::to_owned) else {
        out.error(id, "You must be signed in to send PMs");
        return;
    };
    if to.eq_ignore_ascii_case(&from) {
        out.error(id, "You can't PM yourself!");
        return;
    }
    if !text::valid_user_name(to) {
        out.error(id, format!("PM failed: {to} isn't a valid username."));
        return;
    }
    let now = Instant::now();
    if let Some(c) = w.conns.get_mut(&id)
        && c.chat_limiter.throttle(&MIN_ANTIFLOOD, now)
    {
        out.emit(id, "cooldown", num(MIN_ANTIFLOOD.cooldown_ms()));
        return;
    }
    let mut raw = text::truncate_utf16(msg, w.cfg.max_chat_len);
    if !w.channels[&channel].opts.allow_ascii_control {
        raw = text::strip_control(&raw);
    }
    let Some(target) = w.find_member(&channel, to) else {
        out.error(
            id,
            format!("PM failed: {to} isn't connected to this channel."),
        );
        return;
    };
    if raw.trim().is_empty() {
        return;
    }
    let to_name = w.name(target).unwrap_or(to).to_owned();
    let time = now_ms();
    let link_regex = w.channels[&channel].opts.enable_link_regex;
    let payload = json!({
        "username": from,
        "msg": text::format_message(&raw, link_regex),
        "meta": {},
        "time": time,
        "to": to_name,
    });
    out.emit(target, "pm", payload.clone());
    out.emit(id, "pm", payload);
    w.pm_log.push(PmRecord {
        from,
        to: to_name,
        msg: raw,
        time,
    });
}
