//! The shell's one command table (SPEC §5; the original's wording where sensible), for every
//! platform. `help`, `info`, `status`, `stats`, `users` and `user` are answered here from
//! the live view and the database service (queried over the bus with the shell timeout),
//! `automod` from the moderator service ([`super::automod`]; not listed by `help`);
//! every other command is parsed into a platform [`Action`] and answered by the platform —
//! in the server's words, or "<cmd>: not supported on this platform".
//!
//! The bot usually outranks the moderators who use it, so it never lends them its rank: a
//! moderation command on a user ranked as high as the asker or higher is refused here (as
//! the server would refuse it to the asker), and so is a ban of an absent user (whose rank
//! cannot be checked) for an asker ranked below the bot.

use std::time::Duration;

use rosey_model::{
    decode, encode,
    payload::{ChannelStatsReply, ErrorReply, UserStatsReply},
    subjects,
};
use serde_json::json;

use super::{CommandLine, ShellContext, stats_text};
use crate::format::duration;
use crate::platform::{Action, Asker, View};
use crate::publisher::{Publisher, now};

pub use crate::platform::{Failure, fail};

type Outcome = Result<Vec<String>, Failure>;

fn yes_no(b: bool) -> &'static str {
    if b { "Yes" } else { "No" }
}

/// The help text, grouped (what a platform lacks answers "not supported" when asked).
pub const HELP: &[&str] = &[
    "=== Rosey commands ===",
    "Info: help, info, status, stats, users, user <name>",
    "Chat: say <msg>, pm <user> <msg>, clear, afk [on|off]",
    "Playlist: playlist [n], current, add <url> [temp|perm], remove <pos>, move <from> <to>, jump <pos>, next (skip), pause, play, voteskip",
    "Polls: poll <title>, <option>, <option>..., endpoll",
    "Moderation: kick <user> [reason], mute <user>, smute <user>, unmute <user>, ban <user> [reason], unban <user>, banlist, redact <event id> [reason]",
];

/// Runs one command for `asker`.
pub async fn run(ctx: &ShellContext, asker: &Asker, line: &CommandLine) -> Outcome {
    let args = line.args.as_str();
    match line.command.as_str() {
        "help" => Ok(HELP.iter().map(|s| s.to_string()).collect()),
        "info" => Ok(info(ctx)),
        "status" => Ok(status(ctx)),
        "stats" => channel_stats(&ctx.publisher, ctx.timeout).await,
        "users" => Ok(users(&ctx.view)),
        "user" => user(ctx, args).await,
        // Not in `HELP` (issue 27: the standard help does not list it).
        "automod" => super::automod::answer(ctx, asker).await,
        other => match action(other, args)? {
            Some(action) => {
                refuse_lending(&ctx.view, asker, &action)?;
                ctx.platform.act(asker, action).await
            }
            None => Err(Failure {
                reply: vec![
                    format!("Unknown command: {other}"),
                    "Type 'help' for available commands".to_string(),
                ],
                error: format!("unknown command: {other}"),
            }),
        },
    }
}

/// The action a command stands for (`None`: no such command), or its usage.
pub fn action(command: &str, args: &str) -> Result<Option<Action>, Failure> {
    let mut words = args.split_whitespace();
    let position = |word: Option<&str>, usage: &str| -> Result<usize, Failure> {
        word.and_then(|w| w.parse().ok())
            .ok_or_else(|| fail(usage.to_string()))
    };
    let action = match command {
        "say" if args.is_empty() => return Err(fail("Usage: say <message>")),
        "say" => Action::Say(args.to_string()),
        "pm" => {
            let (to, text) = pm_args(args)?;
            Action::Pm {
                to: to.into(),
                text: text.into(),
            }
        }
        "afk" => Action::Afk(match args.trim().to_lowercase().as_str() {
            "" => None,
            "on" => Some(true),
            "off" => Some(false),
            _ => return Err(fail("Usage: afk [on|off]")),
        }),
        "clear" => Action::Clear,
        "playlist" => Action::Playlist {
            limit: match args.trim() {
                "" => 10,
                n => n
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| fail("Usage: playlist [n]"))?,
            },
        },
        "current" => Action::Current,
        "add" => {
            const USAGE: &str = "Usage: add <url> [temp|perm]";
            let url = words.next().ok_or_else(|| fail(USAGE))?;
            let temp = match words.next().map(str::to_lowercase).as_deref() {
                None | Some("temp") => true,
                Some("perm") => false,
                Some(_) => return Err(fail(USAGE)),
            };
            Action::Add {
                url: url.into(),
                temp,
            }
        }
        "remove" | "delete" => Action::Remove {
            position: position(words.next(), "Usage: remove <position>")?,
        },
        "move" => {
            const USAGE: &str = "Usage: move <from> <to>";
            Action::Move {
                from: position(words.next(), USAGE)?,
                to: position(words.next(), USAGE)?,
            }
        }
        "jump" => Action::Jump {
            position: position(words.next(), "Usage: jump <position>")?,
        },
        "next" | "skip" => Action::Skip,
        "pause" => Action::Pause,
        "play" => Action::Play,
        "voteskip" => Action::Voteskip,
        "poll" => {
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
            Action::Poll {
                title: title.into(),
                options,
            }
        }
        "endpoll" => Action::EndPoll,
        "kick" => {
            let (user, reason) = target(args, "Usage: kick <user> [reason]")?;
            Action::Kick { user, reason }
        }
        "ban" => {
            let (user, reason) = target(args, "Usage: ban <user> [reason]")?;
            Action::Ban { user, reason }
        }
        "mute" | "smute" | "unmute" | "unban" => {
            let (user, _) = target(args, &format!("Usage: {command} <user>"))?;
            match command {
                "mute" => Action::Mute { user },
                "smute" => Action::Smute { user },
                "unmute" => Action::Unmute { user },
                _ => Action::Unban { user },
            }
        }
        "redact" => {
            let (event_id, reason) = target(args, "Usage: redact <event id> [reason]")?;
            Action::Redact { event_id, reason }
        }
        "banlist" => Action::Banlist,
        _ => return Ok(None),
    };
    Ok(Some(action))
}

/// The target of a moderation command and the rest of the line.
fn target(args: &str, usage: &str) -> Result<(String, Option<String>), Failure> {
    let mut parts = args.splitn(2, char::is_whitespace);
    let name = parts
        .next()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| fail(usage.to_string()))?;
    let rest = parts.next().map(str::trim).filter(|r| !r.is_empty());
    Ok((name.to_string(), rest.map(str::to_string)))
}

/// Refuses a moderation action on a user ranked as high as the asker or higher, and — for a
/// ban, which reaches absent users too — on an absent user when the asker ranks below the bot.
fn refuse_lending(view: &View, asker: &Asker, action: &Action) -> Result<(), Failure> {
    let (verb, name) = match action {
        Action::Kick { user, .. } => ("kick", user),
        Action::Ban { user, .. } => ("ban", user),
        Action::Mute { user } => ("mute", user),
        Action::Smute { user } => ("smute", user),
        Action::Unmute { user } => ("unmute", user),
        _ => return Ok(()),
    };
    let own = view.own_rank;
    match view.user(name) {
        Some(u) if u.rank >= asker.rank => Err(fail(format!(
            "Refused: {} has rank {}, as high as yours ({}) or higher; I do not {verb} anyone \
             you could not {verb} yourself.",
            u.name, u.rank, asker.rank
        ))),
        None if verb == "ban" && asker.rank < own => Err(fail(format!(
            "Refused: {name} is not in the channel, so I cannot check their rank; a ban of an \
             absent user needs rank {own} or higher (yours is {}).",
            asker.rank
        ))),
        _ => Ok(()),
    }
}

/// `pm`'s arguments: the recipient and the message.
fn pm_args(args: &str) -> Result<(&str, &str), Failure> {
    args.split_once(char::is_whitespace)
        .map(|(t, m)| (t, m.trim()))
        .filter(|(_, m)| !m.is_empty())
        .ok_or_else(|| fail("Usage: pm <user> <message>"))
}

fn info(ctx: &ShellContext) -> Vec<String> {
    let v = &ctx.view;
    let mut lines = vec![
        format!(
            "Bot: {}",
            v.own_name.as_deref().unwrap_or("(not logged in)")
        ),
        format!("Rank: {}", v.own_rank),
    ];
    if let Some(afk) = v.own_afk {
        lines.push(format!("AFK: {}", yes_no(afk)));
    }
    lines.push(format!("Channel: {}", ctx.publisher.channel()));
    lines.push(format!(
        "Users: {} in chat, {} connected",
        v.chat_count(),
        v.connected_count()
    ));
    if let Some(p) = &v.playlist {
        lines.push(format!("Playlist: {} items", p.items));
        lines.push(format!("Duration: {}", duration(p.seconds as i64)));
    }
    if let Some(m) = &v.media {
        lines.push(format!("Now playing: {}", m.title));
    }
    if let Some(topic) = &v.topic {
        lines.push(format!("Topic: {topic}"));
    }
    lines
}

fn status(ctx: &ShellContext) -> Vec<String> {
    let v = &ctx.view;
    let t = now();
    let mut lines = vec![
        format!("Uptime: {}", duration((t - ctx.started_at) as i64)),
        format!("Connected: {}", yes_no(ctx.platform.is_joined())),
        format!("Server: {}", v.server.as_deref().unwrap_or("-")),
        format!(
            "Conn time: {}",
            v.connected_since
                .map(|c| duration((t - c) as i64))
                .unwrap_or_else(|| "-".into())
        ),
        format!("Channel: {}", ctx.publisher.channel()),
    ];
    if let Some(paused) = v.paused {
        lines.push(format!("Leader: {}", v.leader.as_deref().unwrap_or("none")));
        lines.push(format!(
            "Playback: {}",
            if paused { "Paused" } else { "Playing" }
        ));
    }
    if let Some(why) = &v.refused {
        lines.push(format!("Refused: {why}"));
    }
    // A process with several channels says how each one is doing (a channel that stopped
    // for good cannot answer for itself).
    let all = ctx.states.snapshot();
    if all.len() > 1 {
        lines.push("Channels:".into());
        lines.extend(all.iter().map(|(ch, st)| format!("  {ch}: {st}")));
    }
    lines
}

fn users(view: &View) -> Vec<String> {
    let mut list: Vec<_> = view.users.iter().collect();
    list.sort_by(|a, b| {
        b.rank
            .total_cmp(&a.rank)
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
    });
    let mut lines = vec![format!("Users in channel ({}):", list.len())];
    for u in list {
        let mut flags = Vec::new();
        if u.afk == Some(true) {
            flags.push("AFK");
        }
        if u.muted == Some(true) {
            flags.push("MUTED");
        }
        if view.leader.as_deref() == Some(u.name.as_str()) {
            flags.push("LEADER");
        }
        let flags = if flags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", flags.join(", "))
        };
        lines.push(format!("[{}] {}{}{}", u.rank, u.prefix, u.name, flags));
    }
    lines
}

async fn user(ctx: &ShellContext, args: &str) -> Outcome {
    let name = args
        .split_whitespace()
        .next()
        .ok_or_else(|| fail("Usage: user <name>"))?;
    let mut lines = Vec::new();
    match ctx.view.user(name) {
        Some(u) => {
            lines.push(format!("User: {}", u.name));
            lines.push(format!("Rank: {}", u.rank));
            if let Some(afk) = u.afk {
                lines.push(format!("AFK: {}", yes_no(afk)));
            }
            if let Some(muted) = u.muted {
                lines.push(format!("Muted: {}", yes_no(muted)));
            }
            if !u.aliases.is_empty() {
                lines.push(format!("Aliases: {}", u.aliases.join(", ")));
            }
            if ctx.view.leader.as_deref() == Some(u.name.as_str()) {
                lines.push("Leader: Yes".into());
            }
        }
        None => lines.push(format!("User: {name} (not in the channel)")),
    }
    lines.extend(user_stats(&ctx.publisher, ctx.timeout, name).await);
    Ok(lines)
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

/// The `stats` answer for the publisher's channel.
async fn channel_stats(publisher: &Publisher, timeout: Duration) -> Outcome {
    let body = json!({"channel": publisher.channel()});
    match query(publisher, timeout, subjects::QUERY_CHANNEL_STATS, body).await {
        Some(p) => match decode::<ChannelStatsReply>(&p) {
            Ok(r) => Ok(stats_text::channel_stats(&r)),
            Err(e) => Err(fail(format!("Stats unavailable (bad reply: {e})"))),
        },
        None => Err(fail(unavailable(publisher, stats_text::STATS_UNAVAILABLE))),
    }
}

/// The database part of the `user` answer.
async fn user_stats(publisher: &Publisher, timeout: Duration, name: &str) -> Vec<String> {
    let body = json!({"username": name, "channel": publisher.channel()});
    match query(publisher, timeout, subjects::QUERY_USER_STATS, body).await {
        Some(p) => match decode::<UserStatsReply>(&p) {
            Ok(r) => stats_text::user_stats(&r),
            Err(e) => vec![format!("Database statistics unavailable (bad reply: {e})")],
        },
        None => vec![unavailable(publisher, stats_text::USER_STATS_UNAVAILABLE)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_become_actions_or_usages() {
        assert_eq!(
            action("kick", "bob being rude").unwrap(),
            Some(Action::Kick {
                user: "bob".into(),
                reason: Some("being rude".into())
            })
        );
        assert_eq!(
            action("move", "1 x").unwrap_err().reply,
            vec!["Usage: move <from> <to>"]
        );
        assert_eq!(action("afk", "").unwrap(), Some(Action::Afk(None)));
        assert_eq!(action("frobnicate", "").unwrap(), None);
        assert_eq!(
            action("poll", "Best?, a").unwrap_err().error,
            "Usage: poll <title>, <option>, <option>..."
        );
    }

    #[test]
    fn help_does_not_list_automod() {
        assert!(HELP.iter().all(|l| !l.contains("automod")));
    }

    #[test]
    fn the_bot_does_not_lend_its_rank() {
        let view = View {
            own_rank: 3.0,
            users: vec![crate::platform::UserView {
                name: "boss".into(),
                rank: 3.0,
                ..Default::default()
            }],
            ..Default::default()
        };
        let asker = Asker {
            name: "mod".into(),
            rank: 2.0,
        };
        let kick = Action::Kick {
            user: "boss".into(),
            reason: None,
        };
        assert!(refuse_lending(&view, &asker, &kick).is_err());
        let ban_absent = Action::Ban {
            user: "ghost".into(),
            reason: None,
        };
        assert!(refuse_lending(&view, &asker, &ban_absent).is_err());
        assert!(refuse_lending(&view, &Asker::trusted("automod"), &ban_absent).is_ok());
    }
}
