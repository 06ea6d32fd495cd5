//! What each shell command does and answers (SPEC §5; the original's wording where
//! sensible). Commands read the channel snapshot in the [`ShellContext`], send through the
//! CyTube handle, and query the database service over the bus with a 1 s timeout.

use rosey_cytube::{Command, Position, QueuePosition, QueueRequest};
use rosey_model::{
    decode, encode,
    payload::{ChannelStatsReply, ErrorReply, UserStatsReply},
    subjects,
};
use serde_json::json;

use super::{CommandLine, ShellContext, format::duration, media_url, stats_text};
use crate::publisher::now;

/// A command that failed: what to tell the user and what to audit.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub reply: Vec<String>,
    pub error: String,
}

type Outcome = Result<Vec<String>, Failure>;

fn fail(message: impl Into<String>) -> Failure {
    let message = message.into();
    Failure {
        reply: vec![message.clone()],
        error: message,
    }
}

fn ok(line: impl Into<String>) -> Outcome {
    Ok(vec![line.into()])
}

fn yes_no(b: bool) -> &'static str {
    if b { "Yes" } else { "No" }
}

/// The help text, grouped.
pub const HELP: &[&str] = &[
    "=== Rosey commands ===",
    "Info: help, info, status, stats, users, user <name>",
    "Chat: say <msg>, pm <user> <msg>, clear, afk [on|off]",
    "Playlist: playlist [n], current, add <url> [temp|perm], remove <pos>, move <from> <to>, jump <pos>, next, pause, voteskip",
    "Moderation: kick <user> [reason]",
];

/// Runs one command.
pub async fn run(ctx: &ShellContext, line: &CommandLine) -> Outcome {
    let args = line.args.as_str();
    match line.command.as_str() {
        "help" => Ok(HELP.iter().map(|s| s.to_string()).collect()),
        "info" => Ok(info(ctx)),
        "status" => Ok(status(ctx)),
        "stats" => stats(ctx).await,
        "users" => Ok(users(ctx)),
        "user" => user(ctx, args).await,
        "afk" => afk(ctx, args),
        "say" => say(ctx, args),
        "pm" => pm(ctx, args),
        "clear" => send(ctx, Command::Chat("/clear".into()), "Chat cleared"),
        "playlist" => playlist(ctx, args),
        "current" => current(ctx),
        "add" => add(ctx, args),
        "remove" => remove(ctx, args),
        "move" => move_item(ctx, args),
        "jump" => jump(ctx, args),
        "next" => send(ctx, Command::PlayNext, "Skipped to the next item"),
        "pause" => pause(ctx),
        "kick" => kick(ctx, args),
        "voteskip" => voteskip(ctx).await,
        other => Err(Failure {
            reply: vec![
                format!("Unknown command: {other}"),
                "Type 'help' for available commands".to_string(),
            ],
            error: format!("unknown command: {other}"),
        }),
    }
}

fn send(ctx: &ShellContext, cmd: Command, done: &str) -> Outcome {
    ctx.handle
        .send(cmd)
        .map_err(|e| fail(format!("Failed: {e}")))?;
    ok(done)
}

fn playlist_seconds(ctx: &ShellContext) -> i64 {
    ctx.state
        .playlist
        .iter()
        .map(|i| i.media.seconds.max(0.0) as i64)
        .sum()
}

fn info(ctx: &ShellContext) -> Vec<String> {
    let s = &ctx.state;
    let afk = s.own_user().map(|u| u.meta.afk).unwrap_or(false);
    let connected = s.usercount.unwrap_or(s.users.len() as u64);
    let mut lines = vec![
        format!(
            "Bot: {}",
            s.own_name.as_deref().unwrap_or("(not logged in)")
        ),
        format!("Rank: {}", s.own_rank),
        format!("AFK: {}", yes_no(afk)),
        format!("Channel: {}", ctx.publisher.channel()),
        format!("Users: {} in chat, {} connected", s.users.len(), connected),
        format!("Playlist: {} items", s.playlist.len()),
        format!("Duration: {}", duration(playlist_seconds(ctx))),
    ];
    if let Some(c) = &s.current_media {
        lines.push(format!("Now playing: {}", c.media.title));
    }
    lines
}

fn status(ctx: &ShellContext) -> Vec<String> {
    let s = &ctx.state;
    let t = now();
    let mut lines = vec![
        format!("Uptime: {}", duration((t - ctx.live.started_at) as i64)),
        format!("Connected: {}", yes_no(s.joined)),
        format!("Server: {}", ctx.live.server.as_deref().unwrap_or("-")),
        format!(
            "Conn time: {}",
            ctx.live
                .connected_since
                .map(|c| duration((t - c) as i64))
                .unwrap_or_else(|| "-".into())
        ),
        format!("Channel: {}", ctx.publisher.channel()),
        format!("Leader: {}", s.leader.as_deref().unwrap_or("none")),
        format!(
            "Playback: {}",
            if ctx.live.paused { "Paused" } else { "Playing" }
        ),
    ];
    // A process with several channels says how each one is doing (a channel that stopped
    // for good cannot answer for itself).
    let all = ctx.states.snapshot();
    if all.len() > 1 {
        lines.push("Channels:".into());
        lines.extend(all.iter().map(|(ch, st)| format!("  {ch}: {st}")));
    }
    lines
}

/// Asks the database service; `None` when it does not answer (or answers an error).
async fn query(ctx: &ShellContext, subject: &str, body: serde_json::Value) -> Option<bytes::Bytes> {
    let bus = ctx.publisher.bus();
    match bus.request(subject, encode(&body), ctx.db_timeout).await {
        Ok(m) => {
            if let Ok(e) = decode::<ErrorReply>(&m.payload)
                && !e.success
            {
                tracing::warn!(subject, error = %e.error, "The database service answered an error.");
                return None;
            }
            Some(m.payload)
        }
        Err(e) => {
            tracing::debug!(subject, error = %e, "Database query failed.");
            None
        }
    }
}

async fn stats(ctx: &ShellContext) -> Outcome {
    let body = json!({"channel": ctx.publisher.channel()});
    match query(ctx, subjects::QUERY_CHANNEL_STATS, body).await {
        Some(p) => match decode::<ChannelStatsReply>(&p) {
            Ok(r) => Ok(stats_text::channel_stats(&r)),
            Err(e) => Err(fail(format!("Stats unavailable (bad reply: {e})"))),
        },
        None => Err(fail(stats_text::STATS_UNAVAILABLE)),
    }
}

fn users(ctx: &ShellContext) -> Vec<String> {
    let mut list: Vec<_> = ctx.state.users.iter().collect();
    list.sort_by(|a, b| {
        b.rank
            .partial_cmp(&a.rank)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
    });
    let mut lines = vec![format!("Users in channel ({}):", list.len())];
    for u in list {
        let mut flags = Vec::new();
        if u.meta.afk {
            flags.push("AFK");
        }
        if u.meta.muted {
            flags.push("MUTED");
        }
        if ctx.state.leader.as_deref() == Some(u.name.as_str()) {
            flags.push("LEADER");
        }
        let flags = if flags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", flags.join(", "))
        };
        lines.push(format!("[{}] {}{}", u.rank, u.name, flags));
    }
    lines
}

async fn user(ctx: &ShellContext, args: &str) -> Outcome {
    let name = args
        .split_whitespace()
        .next()
        .ok_or_else(|| fail("Usage: user <name>"))?;
    let mut lines = Vec::new();
    match ctx.state.user(name) {
        Some(u) => {
            lines.push(format!("User: {}", u.name));
            lines.push(format!("Rank: {}", u.rank));
            lines.push(format!("AFK: {}", yes_no(u.meta.afk)));
            lines.push(format!("Muted: {}", yes_no(u.meta.muted)));
            if !u.meta.aliases.is_empty() {
                lines.push(format!("Aliases: {}", u.meta.aliases.join(", ")));
            }
            if ctx.state.leader.as_deref() == Some(u.name.as_str()) {
                lines.push("Leader: Yes".into());
            }
        }
        None => lines.push(format!("User: {name} (not in the channel)")),
    }
    let body = json!({"username": name, "channel": ctx.publisher.channel()});
    match query(ctx, subjects::QUERY_USER_STATS, body).await {
        Some(p) => match decode::<UserStatsReply>(&p) {
            Ok(r) => lines.extend(stats_text::user_stats(&r)),
            Err(e) => lines.push(format!("Database statistics unavailable (bad reply: {e})")),
        },
        None => lines.push(stats_text::USER_STATS_UNAVAILABLE.to_string()),
    }
    Ok(lines)
}

fn afk(ctx: &ShellContext, args: &str) -> Outcome {
    let current = ctx.state.own_user().map(|u| u.meta.afk).unwrap_or(false);
    let want = match args.trim().to_lowercase().as_str() {
        "" => !current,
        "on" => true,
        "off" => false,
        _ => return Err(fail("Usage: afk [on|off]")),
    };
    ctx.handle
        .set_afk(want)
        .map_err(|e| fail(format!("Failed: {e}")))?;
    ok(format!("AFK status: {}", if want { "On" } else { "Off" }))
}

fn say(ctx: &ShellContext, args: &str) -> Outcome {
    if args.is_empty() {
        return Err(fail("Usage: say <message>"));
    }
    ctx.handle
        .chat(args)
        .map_err(|e| fail(format!("Failed: {e}")))?;
    ok(format!("Sent: {args}"))
}

fn pm(ctx: &ShellContext, args: &str) -> Outcome {
    let (to, msg) = args
        .split_once(char::is_whitespace)
        .map(|(t, m)| (t, m.trim()))
        .filter(|(_, m)| !m.is_empty())
        .ok_or_else(|| fail("Usage: pm <user> <message>"))?;
    ctx.handle
        .pm(to, msg)
        .map_err(|e| fail(format!("Failed: {e}")))?;
    ok(format!("PM sent to {to}: {msg}"))
}

fn playlist(ctx: &ShellContext, args: &str) -> Outcome {
    let limit = match args.trim() {
        "" => 10,
        n => n
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| fail("Usage: playlist [n]"))?,
    };
    let items = &ctx.state.playlist;
    let mut lines = vec![format!("Playlist ({} items):", items.len())];
    for (i, item) in items.iter().take(limit).enumerate() {
        let marker = if ctx.state.current_uid == Some(item.uid) {
            "► "
        } else {
            ""
        };
        lines.push(format!(
            "{marker}{}. {} [{}]",
            i + 1,
            item.media.title,
            item.media.duration
        ));
    }
    if items.len() > limit {
        lines.push(format!("… and {} more", items.len() - limit));
    }
    Ok(lines)
}

fn current(ctx: &ShellContext) -> Outcome {
    let Some(c) = &ctx.state.current_media else {
        return ok("Nothing is playing");
    };
    let m = &c.media;
    let item = ctx
        .state
        .current_uid
        .and_then(|uid| ctx.state.playlist.iter().find(|i| i.uid == uid));
    let mut lines = vec![
        format!("Title: {}", m.title),
        format!("Duration: {}", m.duration),
    ];
    if let Some(item) = item {
        lines.push(format!("Queued by: {}", item.queueby));
        lines.push(format!("Temporary: {}", yes_no(item.temp)));
    }
    lines.push(format!("URL: {}", media_link(&m.media_type, &m.id)));
    lines.push(format!(
        "State: {}",
        if ctx.live.paused { "Paused" } else { "Playing" }
    ));
    lines.push(format!(
        "Position: {}",
        duration(ctx.live.position.max(0.0) as i64)
    ));
    Ok(lines)
}

/// A human link for a media reference.
fn media_link(t: &str, id: &str) -> String {
    match t {
        "yt" => format!("https://youtu.be/{id}"),
        "vi" => format!("https://vimeo.com/{id}"),
        "dm" => format!("https://dailymotion.com/video/{id}"),
        "tw" => format!("https://twitch.tv/{id}"),
        _ => format!("{t}:{id}"),
    }
}

fn add(ctx: &ShellContext, args: &str) -> Outcome {
    let mut words = args.split_whitespace();
    let url = words
        .next()
        .ok_or_else(|| fail("Usage: add <url> [temp|perm]"))?;
    let temp = match words.next().map(str::to_lowercase).as_deref() {
        None | Some("temp") => true,
        Some("perm") => false,
        Some(_) => return Err(fail("Usage: add <url> [temp|perm]")),
    };
    let media =
        media_url::parse(url).ok_or_else(|| fail(format!("Unsupported media URL: {url}")))?;
    let mut request = QueueRequest::new(media.id, media.media_type, QueuePosition::End);
    request.temp = temp;
    ctx.handle
        .queue(request)
        .map_err(|e| fail(format!("Failed: {e}")))?;
    ok(format!(
        "Added: {url} ({})",
        if temp { "temporary" } else { "permanent" }
    ))
}

/// Parses a 1-based playlist position and checks its range.
fn position(ctx: &ShellContext, word: Option<&str>, usage: &str) -> Result<usize, Failure> {
    let n = ctx.state.playlist.len();
    let pos: usize = word
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| fail(usage.to_string()))?;
    if n == 0 {
        return Err(fail("The playlist is empty"));
    }
    if pos < 1 || pos > n {
        return Err(fail(format!("Position must be between 1 and {n}")));
    }
    Ok(pos)
}

fn uid_at(ctx: &ShellContext, pos: usize) -> Result<u64, Failure> {
    ctx.state
        .uid_at(pos)
        .ok_or_else(|| fail(format!("No item at position {pos}")))
}

fn remove(ctx: &ShellContext, args: &str) -> Outcome {
    let pos = position(
        ctx,
        args.split_whitespace().next(),
        "Usage: remove <position>",
    )?;
    let uid = uid_at(ctx, pos)?;
    let title = ctx.state.playlist[pos - 1].media.title.clone();
    ctx.handle
        .delete(uid)
        .map_err(|e| fail(format!("Failed: {e}")))?;
    ok(format!("Removed {pos}. {title}"))
}

fn move_item(ctx: &ShellContext, args: &str) -> Outcome {
    const USAGE: &str = "Usage: move <from> <to>";
    let mut w = args.split_whitespace();
    let from = position(ctx, w.next(), USAGE)?;
    let to = position(ctx, w.next(), USAGE)?;
    if from == to {
        return ok(format!("Item {from} is already at position {to}"));
    }
    let uid = uid_at(ctx, from)?;
    // CyTube places the item *after* a uid; moving to the front is "prepend" (the original
    // could not move to position 1).
    let after = if to == 1 {
        Position::Prepend
    } else {
        // Where the item ends up depends on whether it moves down or up the list.
        let anchor = if to > from { to } else { to - 1 };
        Position::After(uid_at(ctx, anchor)?)
    };
    ctx.handle
        .move_media(uid, after)
        .map_err(|e| fail(format!("Failed: {e}")))?;
    ok(format!("Moved item {from} to position {to}"))
}

fn jump(ctx: &ShellContext, args: &str) -> Outcome {
    let pos = position(
        ctx,
        args.split_whitespace().next(),
        "Usage: jump <position>",
    )?;
    let uid = uid_at(ctx, pos)?;
    ctx.handle
        .jump_to(uid)
        .map_err(|e| fail(format!("Failed: {e}")))?;
    ok(format!(
        "Jumped to {pos}. {}",
        ctx.state.playlist[pos - 1].media.title
    ))
}

fn pause(ctx: &ShellContext) -> Outcome {
    let me = ctx.state.own_name.as_deref().unwrap_or_default();
    if ctx.state.leader.as_deref() != Some(me) || me.is_empty() {
        return Err(fail("I need to be leader to pause"));
    }
    let Some(c) = &ctx.state.current_media else {
        return Err(fail("Nothing is playing"));
    };
    let update = Command::Raw {
        name: "mediaUpdate".into(),
        args: vec![json!({
            "id": c.media.id,
            "type": c.media.media_type,
            "currentTime": ctx.live.position,
            "paused": true,
        })],
    };
    send(ctx, update, "Paused")
}

fn kick(ctx: &ShellContext, args: &str) -> Outcome {
    let mut parts = args.splitn(2, char::is_whitespace);
    let name = parts
        .next()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| fail("Usage: kick <user> [reason]"))?;
    let reason = parts.next().map(str::trim).filter(|r| !r.is_empty());
    ctx.handle
        .kick(name, reason)
        .map_err(|e| fail(format!("Failed: {e}")))?;
    ok(match reason {
        Some(r) => format!("Kicked {name}: {r}"),
        None => format!("Kicked {name}"),
    })
}

async fn voteskip(ctx: &ShellContext) -> Outcome {
    let mut updates = ctx.voteskip.clone();
    updates.borrow_and_update();
    ctx.handle
        .voteskip()
        .map_err(|e| fail(format!("Failed: {e}")))?;
    // The server answers a counted vote with the new `voteskip {count, need}` (to ranks that
    // may see it); without that permission, or for a repeated vote, nothing comes.
    let counted = tokio::time::timeout(ctx.db_timeout, updates.changed()).await;
    let latest = *updates.borrow();
    ok(match (counted, latest) {
        (Ok(Ok(())), Some((count, need))) => format!("Voteskip: {count}/{need}"),
        (_, Some((count, need))) => format!("Voteskip: vote sent ({count}/{need} so far)"),
        (_, None) => "Voteskip: vote sent".to_string(),
    })
}
