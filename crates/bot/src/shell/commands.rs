//! What each shell command does and answers (SPEC §5; the original's wording where
//! sensible). Commands read the channel snapshot in the [`ShellContext`], send through the
//! CyTube handle, and query the database service over the bus with the shell timeout.
//! A command whose effect the server confirms or refuses waits for that answer through
//! [`answer::ask`] and replies with the outcome (the server's text for a refusal).
//!
//! The bot usually outranks the moderators who use it, so it never lends them its rank:
//! a moderation command on a user ranked as high as the asker or higher is refused (as
//! CyTube refuses it to the asker), and `say` sends channel commands other than `/me` and
//! `/sp` only for askers ranked at least the bot. Everything else `say` sends is plain text.

use rosey_cytube::{
    ChannelCommand, Command, Position, QueuePosition, QueueRequest, ServerEvent,
    starts_like_command,
};
use rosey_model::{
    decode, encode,
    payload::{ChannelStatsReply, ErrorReply, UserStatsReply},
    subjects,
};
use serde_json::json;

use super::answer::{ask, no_answer, refused, unanswered};
use super::{Asker, CommandLine, ShellContext, format::duration, media_url, stats_text};
use crate::publisher::{Publisher, now};
use std::time::Duration;

/// A command that failed: what to tell the user and what to audit.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub reply: Vec<String>,
    pub error: String,
}

type Outcome = Result<Vec<String>, Failure>;

pub(crate) fn fail(message: impl Into<String>) -> Failure {
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
    "Playlist: playlist [n], current, add <url> [temp|perm], remove <pos>, move <from> <to>, jump <pos>, next (skip), pause, play, voteskip",
    "Polls: poll <title>, <option>, <option>..., endpoll",
    "Moderation: kick <user> [reason], mute <user>, smute <user>, unmute <user>, ban <user> [reason], unban <user>, banlist",
];

/// Channel commands any shell user may send with `say`: they only change how text shows.
pub const SAY_COMMANDS: &[&str] = &["me", "sp"];

/// Runs one command for `asker`.
pub async fn run(ctx: &ShellContext, asker: &Asker, line: &CommandLine) -> Outcome {
    let args = line.args.as_str();
    match line.command.as_str() {
        "help" => Ok(HELP.iter().map(|s| s.to_string()).collect()),
        "info" => Ok(info(ctx)),
        "status" => Ok(status(ctx)),
        "stats" => stats(ctx).await,
        "users" => Ok(users(ctx)),
        "user" => user(ctx, args).await,
        "afk" => afk(ctx, args).await,
        "say" => say(ctx, asker, args).await,
        "pm" => pm(ctx, args).await,
        "clear" => clear(ctx).await,
        "playlist" => playlist(ctx, args),
        "current" => current(ctx),
        "add" => add(ctx, args).await,
        "remove" | "delete" => remove(ctx, args).await,
        "move" => move_item(ctx, args).await,
        "jump" => jump(ctx, args).await,
        "next" | "skip" => next(ctx).await,
        "pause" => playback(ctx, true).await,
        "play" => playback(ctx, false).await,
        "kick" => kick(ctx, asker, args).await,
        "voteskip" => voteskip(ctx).await,
        "poll" => poll(ctx, args).await,
        "endpoll" => end_poll(ctx).await,
        "mute" => mute(ctx, asker, args, Mute::Plain).await,
        "smute" => mute(ctx, asker, args, Mute::Shadow).await,
        "unmute" => mute(ctx, asker, args, Mute::Lift).await,
        "ban" => ban(ctx, asker, args).await,
        "unban" => unban(ctx, args).await,
        "banlist" => banlist(ctx).await,
        other => Err(Failure {
            reply: vec![
                format!("Unknown command: {other}"),
                "Type 'help' for available commands".to_string(),
            ],
            error: format!("unknown command: {other}"),
        }),
    }
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

/// Asks the database service for the publisher's channel; `None` when it does not answer
/// (or answers an error).
async fn query(
    publisher: &Publisher,
    timeout: Duration,
    subject: &str,
    body: serde_json::Value,
) -> Option<bytes::Bytes> {
    let bus = publisher.bus();
    let breaker = &publisher.metrics().breaker;
    match breaker.request(bus, subject, encode(&body), timeout).await {
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

/// What to say when the database did not answer: while the breaker is open, the first words
/// of `otherwise` and "database unavailable, retrying in Ns" (answered at once); else
/// `otherwise`.
fn unavailable(publisher: &Publisher, otherwise: &str) -> String {
    match publisher.metrics().breaker.open_for() {
        Some(left) => format!(
            "{}: database unavailable, retrying in {}s",
            otherwise.split(" (").next().unwrap_or(otherwise),
            left.as_secs_f64().ceil().max(1.0) as u64
        ),
        None => otherwise.to_string(),
    }
}

async fn stats(ctx: &ShellContext) -> Outcome {
    channel_stats(&ctx.publisher, ctx.timeout).await
}

/// The `stats` answer for the publisher's channel (any platform).
pub(crate) async fn channel_stats(publisher: &Publisher, timeout: Duration) -> Outcome {
    let body = json!({"channel": publisher.channel()});
    match query(publisher, timeout, subjects::QUERY_CHANNEL_STATS, body).await {
        Some(p) => match decode::<ChannelStatsReply>(&p) {
            Ok(r) => Ok(stats_text::channel_stats(&r)),
            Err(e) => Err(fail(format!("Stats unavailable (bad reply: {e})"))),
        },
        None => Err(fail(unavailable(publisher, stats_text::STATS_UNAVAILABLE))),
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

/// `user`'s argument: the name.
pub(crate) fn user_arg(args: &str) -> Result<&str, Failure> {
    args.split_whitespace()
        .next()
        .ok_or_else(|| fail("Usage: user <name>"))
}

async fn user(ctx: &ShellContext, args: &str) -> Outcome {
    let name = user_arg(args)?;
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
    lines.extend(user_stats(&ctx.publisher, ctx.timeout, name).await);
    Ok(lines)
}

/// The database part of the `user` answer (any platform).
pub(crate) async fn user_stats(
    publisher: &Publisher,
    timeout: Duration,
    name: &str,
) -> Vec<String> {
    let body = json!({"username": name, "channel": publisher.channel()});
    match query(publisher, timeout, subjects::QUERY_USER_STATS, body).await {
        Some(p) => match decode::<UserStatsReply>(&p) {
            Ok(r) => stats_text::user_stats(&r),
            Err(e) => vec![format!("Database statistics unavailable (bad reply: {e})")],
        },
        None => vec![unavailable(publisher, stats_text::USER_STATS_UNAVAILABLE)],
    }
}

/// Our own name, for matching the server's echo of what we did.
fn me(ctx: &ShellContext) -> &str {
    ctx.state.own_name.as_deref().unwrap_or_default()
}

fn on_off(b: bool) -> &'static str {
    if b { "On" } else { "Off" }
}

async fn afk(ctx: &ShellContext, args: &str) -> Outcome {
    let current = ctx.state.own_user().map(|u| u.meta.afk).unwrap_or(false);
    let want = match args.trim().to_lowercase().as_str() {
        "" => !current,
        "on" => true,
        "off" => false,
        _ => return Err(fail("Usage: afk [on|off]")),
    };
    if want == current {
        return ok(format!("AFK status: {} (unchanged)", on_off(want)));
    }
    // `/afk` toggles; the server answers with our new flag.
    let sent = ctx.handle.command_confirmed(ChannelCommand::afk());
    ask(
        ctx,
        sent,
        |ev| match ev {
            ServerEvent::SetAfk { name, afk } if name.eq_ignore_ascii_case(me(ctx)) => {
                Some(ok(format!("AFK status: {}", on_off(*afk))))
            }
            _ => None,
        },
        unanswered(ctx, "the AFK status did not change", None),
    )
    .await
}

/// `say <text>`: plain text, or a channel command the asker may send (see the module docs).
async fn say(ctx: &ShellContext, asker: &Asker, args: &str) -> Outcome {
    if args.is_empty() {
        return Err(fail("Usage: say <message>"));
    }
    let sent = if starts_like_command(args) {
        let cmd = ChannelCommand::from_line(args).map_err(|e| fail(format!("Failed: {e}")))?;
        let own = ctx.state.own_rank;
        if !SAY_COMMANDS.contains(&cmd.verb()) && asker.rank < own {
            return Err(fail(format!(
                "Refused: say /{} would run a channel command with my rank ({own}). Through me \
                 you may use /me and /sp; other commands need rank {own} or higher (yours is {}).",
                cmd.verb(),
                asker.rank
            )));
        }
        let echoed = Command::ChannelCommand(cmd.clone()).expects_echo();
        let sent = ctx.handle.command_confirmed(cmd);
        if !echoed {
            // A chat command such as `/clear`: the server gives no echo to wait for.
            sent.await.map_err(|e| fail(format!("Failed: {e}")))?;
            return ok(format!("Sent: {args}"));
        }
        futures::future::Either::Left(sent)
    } else {
        futures::future::Either::Right(ctx.handle.chat_confirmed(args))
    };
    // The server echoes a posted line to us; a muted bot gets `noflood` instead.
    ask(
        ctx,
        sent,
        |ev| match ev {
            ServerEvent::ChatMsg(m) if m.from_self || m.username.eq_ignore_ascii_case(me(ctx)) => {
                Some(ok(format!("Sent: {args}")))
            }
            _ => None,
        },
        unanswered(ctx, "the message did not appear in the chat", Some("chat")),
    )
    .await
}

/// `pm`'s arguments: the recipient and the message.
pub(crate) fn pm_args(args: &str) -> Result<(&str, &str), Failure> {
    args.split_once(char::is_whitespace)
        .map(|(t, m)| (t, m.trim()))
        .filter(|(_, m)| !m.is_empty())
        .ok_or_else(|| fail("Usage: pm <user> <message>"))
}

async fn pm(ctx: &ShellContext, args: &str) -> Outcome {
    let (to, msg) = pm_args(args)?;
    // The server delivers a PM to both sides; an absent recipient gets an `errorMsg`.
    ask(
        ctx,
        ctx.handle.pm_confirmed(to, msg),
        |ev| match ev {
            ServerEvent::Pm(p) if p.from_self && p.to.eq_ignore_ascii_case(to) => {
                Some(ok(format!("PM sent to {}: {msg}", p.to)))
            }
            _ => None,
        },
        unanswered(ctx, "the PM was not delivered", None),
    )
    .await
}

async fn clear(ctx: &ShellContext) -> Outcome {
    ask(
        ctx,
        ctx.handle.command_confirmed(ChannelCommand::clear()),
        |ev| matches!(ev, ServerEvent::ClearChat { .. }).then(|| ok("Chat cleared")),
        unanswered(ctx, "the chat was not cleared", Some("chatclear")),
    )
    .await
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

async fn add(ctx: &ShellContext, args: &str) -> Outcome {
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
    let (id, kind) = (media.id.clone(), media.media_type.clone());
    let mut request = QueueRequest::new(media.id, media.media_type, QueuePosition::End);
    request.temp = temp;
    // The server answers `queue` with the item (temporary or not, as *it* decided), or
    // `queueFail` (refusals before the lookup carry no id).
    ask(
        ctx,
        ctx.handle.send_confirmed(Command::Queue(request)),
        |ev| match ev {
            ServerEvent::Queue { item, .. }
                if item.media.id == id && item.media.media_type == kind =>
            {
                Some(ok(format!(
                    "Added: {url} ({}): {}",
                    if item.temp { "temporary" } else { "permanent" },
                    item.media.title
                )))
            }
            ServerEvent::QueueFail {
                msg, id: failed, ..
            } if failed.as_deref().is_none_or(|f| f == id) => Some(Err(refused(msg))),
            _ => None,
        },
        unanswered(ctx, "the item was not added", Some("playlistadd")),
    )
    .await
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

async fn remove(ctx: &ShellContext, args: &str) -> Outcome {
    let pos = position(
        ctx,
        args.split_whitespace().next(),
        "Usage: remove <position>",
    )?;
    let uid = uid_at(ctx, pos)?;
    remove_uid(ctx, uid).await
}

/// Removes the playlist item `uid` and waits for the server's `delete` of it.
pub(crate) async fn remove_uid(ctx: &ShellContext, uid: u64) -> Outcome {
    let Some(pos) = ctx.state.position_of(uid) else {
        return Err(fail(format!("No playlist item with uid {uid}")));
    };
    let title = ctx.state.playlist[pos - 1].media.title.clone();
    ask(
        ctx,
        ctx.handle.send_confirmed(Command::Delete { uid }),
        |ev| match ev {
            ServerEvent::Delete { uid: gone } if *gone == uid => {
                Some(ok(format!("Removed {pos}. {title}")))
            }
            _ => None,
        },
        unanswered(ctx, "the item was not removed", Some("playlistdelete")),
    )
    .await
}

async fn move_item(ctx: &ShellContext, args: &str) -> Outcome {
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
    ask(
        ctx,
        ctx.handle
            .send_confirmed(Command::MoveMedia { from: uid, after }),
        |ev| match ev {
            ServerEvent::MoveVideo { from: moved, .. } if *moved == uid => {
                Some(ok(format!("Moved item {from} to position {to}")))
            }
            _ => None,
        },
        unanswered(ctx, "the item was not moved", Some("playlistmove")),
    )
    .await
}

async fn jump(ctx: &ShellContext, args: &str) -> Outcome {
    let pos = position(
        ctx,
        args.split_whitespace().next(),
        "Usage: jump <position>",
    )?;
    let uid = uid_at(ctx, pos)?;
    let title = ctx.state.playlist[pos - 1].media.title.clone();
    ask(
        ctx,
        ctx.handle.send_confirmed(Command::JumpTo { uid }),
        |ev| match ev {
            ServerEvent::SetCurrent(now) if *now == uid => {
                Some(ok(format!("Jumped to {pos}. {title}")))
            }
            _ => None,
        },
        unanswered(ctx, "playback did not move", Some("playlistjump")),
    )
    .await
}

async fn next(ctx: &ShellContext) -> Outcome {
    if ctx.state.playlist.is_empty() {
        return Err(fail("The playlist is empty"));
    }
    ask(
        ctx,
        ctx.handle.send_confirmed(Command::PlayNext),
        |ev| match ev {
            ServerEvent::ChangeMedia(c) => {
                Some(ok(format!("Skipped to the next item: {}", c.media.title)))
            }
            _ => None,
        },
        unanswered(ctx, "playback did not move", Some("playlistjump")),
    )
    .await
}

/// `pause` / `play`: as leader, the bot sends the playback state; the server relays it to
/// the channel as `mediaUpdate`.
async fn playback(ctx: &ShellContext, pause: bool) -> Outcome {
    let word = if pause { "pause" } else { "play" };
    let me = me(ctx);
    if ctx.state.leader.as_deref() != Some(me) || me.is_empty() {
        return Err(fail(format!("I need to be leader to {word}")));
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
            "paused": pause,
        })],
    };
    ask(
        ctx,
        ctx.handle.send_confirmed(update),
        |ev| match ev {
            ServerEvent::MediaUpdate { paused, .. } if *paused == pause => {
                Some(ok(if pause { "Paused" } else { "Playing" }))
            }
            _ => None,
        },
        unanswered(ctx, "the playback state did not change", None),
    )
    .await
}

/// The target of a moderation command and the rest of the line.
fn target<'a>(args: &'a str, usage: &str) -> Result<(&'a str, Option<&'a str>), Failure> {
    let mut parts = args.splitn(2, char::is_whitespace);
    let name = parts
        .next()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| fail(usage.to_string()))?;
    Ok((name, parts.next().map(str::trim).filter(|r| !r.is_empty())))
}

/// `/<verb> name[ rest]` for `asker`, refused when `name` ranks as high as the asker or
/// higher (CyTube's own rule for the asker; the bot must not lend its rank), or — for a ban,
/// which reaches absent users too — when `name` is not here to check and the asker ranks
/// below the bot.
fn moderation(
    ctx: &ShellContext,
    asker: &Asker,
    verb: &str,
    name: &str,
    rest: Option<&str>,
) -> Result<Command, Failure> {
    let own = ctx.state.own_rank;
    match ctx.state.user(name) {
        Some(u) if u.rank >= asker.rank => {
            return Err(fail(format!(
                "Refused: {} has rank {}, as high as yours ({}) or higher; I do not {verb} \
                 anyone you could not {verb} yourself.",
                u.name, u.rank, asker.rank
            )));
        }
        None if verb == "ban" && asker.rank < own => {
            return Err(fail(format!(
                "Refused: {name} is not in the channel, so I cannot check their rank; a ban \
                 of an absent user needs rank {own} or higher (yours is {}).",
                asker.rank
            )));
        }
        _ => {}
    }
    Command::moderation(verb, name, rest).map_err(|e| fail(format!("Failed: {e}")))
}

async fn kick(ctx: &ShellContext, asker: &Asker, args: &str) -> Outcome {
    let (name, reason) = target(args, "Usage: kick <user> [reason]")?;
    let cmd = moderation(ctx, asker, "kick", name, reason)?;
    // The kicked user leaves; a refusal comes as `errorMsg`; a kick of a user who is not
    // there is ignored without a word.
    ask(
        ctx,
        ctx.handle.send_confirmed(cmd),
        |ev| match ev {
            ServerEvent::UserLeave { name: gone } if gone.eq_ignore_ascii_case(name) => {
                Some(ok(match reason {
                    Some(r) => format!("Kicked {gone}: {r}"),
                    None => format!("Kicked {gone}"),
                }))
            }
            _ => None,
        },
        || {
            Err(if ctx.state.user(name).is_none() {
                no_answer(ctx, &format!("{name} is not in the channel"), None)
            } else {
                no_answer(ctx, &format!("{name} was not kicked"), Some("kick"))
            })
        },
    )
    .await
}

async fn voteskip(ctx: &ShellContext) -> Outcome {
    // The server answers a counted vote with the new `voteskip {count, need}` (to ranks that
    // may see it); without that permission, or for a repeated vote, nothing comes.
    ask(
        ctx,
        ctx.handle.send_confirmed(Command::Voteskip),
        |ev| match ev {
            ServerEvent::Voteskip { count, need } => Some(ok(format!("Voteskip: {count}/{need}"))),
            _ => None,
        },
        || {
            ok(match ctx.live.voteskip {
                Some((count, need)) => format!("Voteskip: vote sent ({count}/{need} so far)"),
                None => "Voteskip: vote sent".to_string(),
            })
        },
    )
    .await
}

/// `poll <title>, <option>, <option>…` (commas separate, as in CyTube's `/poll`).
async fn poll(ctx: &ShellContext, args: &str) -> Outcome {
    const USAGE: &str = "Usage: poll <title>, <option>, <option>...";
    let mut parts = args.split(',').map(str::trim);
    let title = parts
        .next()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| fail(USAGE))?;
    let options: Vec<String> = parts.map(str::to_string).collect();
    if options.len() < 2 {
        return Err(fail(USAGE));
    }
    let cmd = Command::NewPoll {
        title: title.to_string(),
        options,
        obscured: false,
        timeout: None,
    };
    ask(
        ctx,
        ctx.handle.send_confirmed(cmd),
        |ev| match ev {
            ServerEvent::NewPoll(p) if p.initiator.eq_ignore_ascii_case(me(ctx)) => {
                let options: Vec<String> = p
                    .options
                    .iter()
                    .map(|o| rosey_cytube::to_plain_text(o))
                    .collect();
                Some(ok(format!(
                    "Poll opened: {} ({})",
                    p.plain_title(),
                    options.join(" / ")
                )))
            }
            _ => None,
        },
        unanswered(ctx, "no poll was opened", Some("pollctl")),
    )
    .await
}

fn poll_results(p: &rosey_cytube::Poll) -> Vec<String> {
    let mut lines = vec![format!("Poll closed: {}", p.plain_title())];
    for (i, option) in p.options.iter().enumerate() {
        let count = match p.counts.get(i) {
            Some(rosey_cytube::PollCount::Known(n)) => n.to_string(),
            Some(rosey_cytube::PollCount::Hidden(s)) => s.clone(),
            None => "?".to_string(),
        };
        lines.push(format!("{}: {count}", rosey_cytube::to_plain_text(option)));
    }
    lines
}

async fn end_poll(ctx: &ShellContext) -> Outcome {
    let Some(mut last) = ctx.state.poll.clone() else {
        return Err(fail("No poll is open"));
    };
    // A hidden poll is revealed by a last `updatePoll` just before `closePoll`.
    ask(
        ctx,
        ctx.handle.send_confirmed(Command::ClosePoll),
        |ev| match ev {
            ServerEvent::UpdatePoll(p) => {
                last = p.clone();
                None
            }
            ServerEvent::ClosePoll => Some(Ok(poll_results(&last))),
            _ => None,
        },
        unanswered(ctx, "the poll was not closed", Some("pollctl")),
    )
    .await
}

/// The three kinds of `mute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mute {
    Plain,
    Shadow,
    Lift,
}

async fn mute(ctx: &ShellContext, asker: &Asker, args: &str, kind: Mute) -> Outcome {
    let (verb, done) = match kind {
        Mute::Plain => ("mute", "Muted"),
        Mute::Shadow => ("smute", "Shadow-muted"),
        Mute::Lift => ("unmute", "Unmuted"),
    };
    let (name, _) = target(args, &format!("Usage: {verb} <user>"))?;
    let cmd = moderation(ctx, asker, verb, name, None)?;
    // The server announces the new flags with `setUserMeta`; refusals (absent user, equal
    // rank, not muted) come as `errorMsg`.
    ask(
        ctx,
        ctx.handle.send_confirmed(cmd),
        |ev| match ev {
            ServerEvent::SetUserMeta { name: who, meta } if who.eq_ignore_ascii_case(name) => {
                let applied = match kind {
                    Mute::Plain => meta.muted,
                    Mute::Shadow => meta.smuted,
                    Mute::Lift => !meta.muted && !meta.smuted,
                };
                applied.then(|| ok(format!("{done} {who}")))
            }
            _ => None,
        },
        unanswered(ctx, &format!("{name} was not {}d", verb), Some("mute")),
    )
    .await
}

async fn ban(ctx: &ShellContext, asker: &Asker, args: &str) -> Outcome {
    let (name, reason) = target(args, "Usage: ban <user> [reason]")?;
    let cmd = moderation(ctx, asker, "ban", name, reason)?;
    // A name ban is confirmed only by the notice to moderators; refusals are `errorMsg`s.
    let notice = format!("{} namebanned {}", me(ctx), name.to_lowercase());
    ask(
        ctx,
        ctx.handle.send_confirmed(cmd),
        |ev| match ev {
            ServerEvent::ChatMsg(m)
                if m.username == "[server]" && m.text.eq_ignore_ascii_case(&notice) =>
            {
                Some(ok(match reason {
                    Some(r) => format!("Banned {name}: {r}"),
                    None => format!("Banned {name}"),
                }))
            }
            _ => None,
        },
        unanswered(ctx, &format!("{name} was not banned"), Some("ban")),
    )
    .await
}

/// The channel's bans, from the server.
async fn fetch_banlist(ctx: &ShellContext) -> Result<Vec<rosey_cytube::BanEntry>, Failure> {
    ask(
        ctx,
        ctx.handle.send_confirmed(Command::RequestBanlist),
        |ev| match ev {
            ServerEvent::Banlist(list) => Some(Ok(list.clone())),
            _ => None,
        },
        unanswered(ctx, "no ban list", Some("ban")),
    )
    .await
}

async fn banlist(ctx: &ShellContext) -> Outcome {
    let bans = fetch_banlist(ctx).await?;
    let mut lines = vec![format!("Bans ({}):", bans.len())];
    for b in bans {
        let reason = if b.reason.is_empty() {
            String::new()
        } else {
            format!(": {}", b.reason)
        };
        lines.push(format!("{} (by {}){reason}", b.name, b.bannedby));
    }
    Ok(lines)
}

async fn unban(ctx: &ShellContext, args: &str) -> Outcome {
    let (name, _) = target(args, "Usage: unban <user>")?;
    // CyTube lifts bans by id: look the name up in the server's list first.
    let bans = fetch_banlist(ctx).await?;
    let Some(entry) = bans.into_iter().find(|b| b.name.eq_ignore_ascii_case(name)) else {
        return Err(fail(format!("{name} is not banned")));
    };
    let id = entry.id;
    let cmd = Command::Unban {
        id,
        name: entry.name.clone(),
    };
    ask(
        ctx,
        ctx.handle.send_confirmed(cmd),
        |ev| match ev {
            ServerEvent::BanlistRemove { id: lifted, .. } if *lifted == id => {
                Some(ok(format!("Unbanned {}", entry.name)))
            }
            _ => None,
        },
        unanswered(ctx, &format!("{name} is still banned"), Some("ban")),
    )
    .await
}
