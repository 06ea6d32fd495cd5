//! What each action sends on CyTube and how the server's answer reads (SPEC §5; the
//! original's wording where sensible). An action whose effect the server confirms or
//! refuses waits for that answer through [`answer::ask`] and replies with the outcome (the
//! server's text for a refusal).
//!
//! The bot usually outranks the moderators who use it, so it never lends them its rank: the
//! shell refuses moderation of users ranked as high as the asker (from the live view), and
//! `say` sends channel commands other than `/me` and `/sp` only for askers ranked at least
//! the bot. Everything else `say` sends is plain text.

use rosey_cytube::{
    ChannelCommand, Command, Position, QueuePosition, QueueRequest, ServerEvent,
    starts_like_command,
};
use serde_json::json;

pub(crate) use super::answer::Ctx;
use super::answer::{ask, no_answer, refused, unanswered};
use super::media_url;
use crate::format::duration;
use crate::platform::{Action, Asker, Failure, Outcome, fail, ok, unsupported};

fn yes_no(b: bool) -> &'static str {
    if b { "Yes" } else { "No" }
}

/// Channel commands any shell user may send with `say`: they only change how text shows.
pub const SAY_COMMANDS: &[&str] = &["me", "sp"];

/// Runs one action for `asker`.
pub(crate) async fn run(ctx: &Ctx, asker: &Asker, action: Action) -> Outcome {
    match action {
        Action::Say(text) => say(ctx, asker, &text).await,
        Action::Pm { to, text } => pm(ctx, &to, &text).await,
        Action::Afk(want) => afk(ctx, want).await,
        Action::Clear => clear(ctx).await,
        Action::Playlist { limit } => playlist(ctx, limit),
        Action::Current => current(ctx),
        Action::Add { url, temp } => add(ctx, &url, temp).await,
        Action::Remove { position: pos } => remove(ctx, pos).await,
        Action::RemoveUid(uid) => remove_uid(ctx, uid).await,
        Action::Move { from, to } => move_item(ctx, from, to).await,
        Action::Jump { position: pos } => jump(ctx, pos).await,
        Action::Skip => next(ctx).await,
        Action::Pause => playback(ctx, true).await,
        Action::Play => playback(ctx, false).await,
        Action::Kick { user, reason } => kick(ctx, &user, reason.as_deref()).await,
        Action::Voteskip => voteskip(ctx).await,
        Action::Poll { title, options } => poll(ctx, &title, options).await,
        Action::EndPoll => end_poll(ctx).await,
        Action::Mute { user } => mute(ctx, &user, Mute::Plain).await,
        Action::Smute { user } => mute(ctx, &user, Mute::Shadow).await,
        Action::Unmute { user } => mute(ctx, &user, Mute::Lift).await,
        Action::Ban { user, reason } => ban(ctx, &user, reason.as_deref()).await,
        Action::Unban { user } => unban(ctx, &user).await,
        Action::Banlist => banlist(ctx).await,
        Action::Redact { .. } => Err(unsupported("redact")),
    }
}

/// Our own name, for matching the server's echo of what we did.
fn me(ctx: &Ctx) -> &str {
    ctx.state.own_name.as_deref().unwrap_or_default()
}

fn on_off(b: bool) -> &'static str {
    if b { "On" } else { "Off" }
}

async fn afk(ctx: &Ctx, want: Option<bool>) -> Outcome {
    let current = ctx.state.own_user().map(|u| u.meta.afk).unwrap_or(false);
    let want = want.unwrap_or(!current);
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
async fn say(ctx: &Ctx, asker: &Asker, args: &str) -> Outcome {
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

async fn pm(ctx: &Ctx, to: &str, msg: &str) -> Outcome {
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

async fn clear(ctx: &Ctx) -> Outcome {
    ask(
        ctx,
        ctx.handle.command_confirmed(ChannelCommand::clear()),
        |ev| matches!(ev, ServerEvent::ClearChat { .. }).then(|| ok("Chat cleared")),
        unanswered(ctx, "the chat was not cleared", Some("chatclear")),
    )
    .await
}

fn playlist(ctx: &Ctx, limit: usize) -> Outcome {
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

fn current(ctx: &Ctx) -> Outcome {
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

async fn add(ctx: &Ctx, url: &str, temp: bool) -> Outcome {
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

/// Checks a 1-based playlist position against the playlist.
fn position(ctx: &Ctx, pos: usize) -> Result<usize, Failure> {
    let n = ctx.state.playlist.len();
    if n == 0 {
        return Err(fail("The playlist is empty"));
    }
    if pos < 1 || pos > n {
        return Err(fail(format!("Position must be between 1 and {n}")));
    }
    Ok(pos)
}

fn uid_at(ctx: &Ctx, pos: usize) -> Result<u64, Failure> {
    ctx.state
        .uid_at(pos)
        .ok_or_else(|| fail(format!("No item at position {pos}")))
}

async fn remove(ctx: &Ctx, pos: usize) -> Outcome {
    let pos = position(ctx, pos)?;
    let uid = uid_at(ctx, pos)?;
    remove_uid(ctx, uid).await
}

/// Removes the playlist item `uid` and waits for the server's `delete` of it.
pub(crate) async fn remove_uid(ctx: &Ctx, uid: u64) -> Outcome {
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

async fn move_item(ctx: &Ctx, from: usize, to: usize) -> Outcome {
    let from = position(ctx, from)?;
    let to = position(ctx, to)?;
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

async fn jump(ctx: &Ctx, pos: usize) -> Outcome {
    let pos = position(ctx, pos)?;
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

async fn next(ctx: &Ctx) -> Outcome {
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
async fn playback(ctx: &Ctx, pause: bool) -> Outcome {
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

/// `/<verb> name[ rest]` (the shell has refused what the asker may not ask for).
fn moderation(verb: &str, name: &str, rest: Option<&str>) -> Result<Command, Failure> {
    Command::moderation(verb, name, rest).map_err(|e| fail(format!("Failed: {e}")))
}

async fn kick(ctx: &Ctx, name: &str, reason: Option<&str>) -> Outcome {
    let cmd = moderation("kick", name, reason)?;
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

async fn voteskip(ctx: &Ctx) -> Outcome {
    // The server answers a counted vote with the new `voteskip {count, need}` (to ranks that
    // may see it), or — when the vote passes — with its `[voteskip]` notice to everyone (and
    // a reset `{0, 0}`, which is no answer); without the permission, or for a repeated vote
    // (one per IP), nothing comes.
    ask(
        ctx,
        ctx.handle.send_confirmed(Command::Voteskip),
        |ev| match ev {
            ServerEvent::Voteskip { count, need } if *need > 0 => {
                Some(ok(format!("Voteskip: {count}/{need}")))
            }
            ServerEvent::ChatMsg(m) if m.is_voteskip_notice() => {
                Some(ok(match m.voteskip_passed() {
                    Some(p) => format!(
                        "Voteskip: {}/{} passed, playback moved on",
                        p.count,
                        p.need()
                    ),
                    None => "Voteskip: passed, playback moved on".to_string(),
                }))
            }
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
async fn poll(ctx: &Ctx, title: &str, options: Vec<String>) -> Outcome {
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

async fn end_poll(ctx: &Ctx) -> Outcome {
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

async fn mute(ctx: &Ctx, name: &str, kind: Mute) -> Outcome {
    let (verb, done) = match kind {
        Mute::Plain => ("mute", "Muted"),
        Mute::Shadow => ("smute", "Shadow-muted"),
        Mute::Lift => ("unmute", "Unmuted"),
    };
    let cmd = moderation(verb, name, None)?;
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

async fn ban(ctx: &Ctx, name: &str, reason: Option<&str>) -> Outcome {
    let cmd = moderation("ban", name, reason)?;
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
async fn fetch_banlist(ctx: &Ctx) -> Result<Vec<rosey_cytube::BanEntry>, Failure> {
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

async fn banlist(ctx: &Ctx) -> Outcome {
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

async fn unban(ctx: &Ctx, name: &str) -> Outcome {
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
