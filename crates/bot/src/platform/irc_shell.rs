//! The PM shell on IRC (SPEC §5 where IRC has the thing): channel operators — members whose
//! rank ([`super::irc::rank`]) is at least `shell.min_rank` — PM the bot a command. The
//! statistics commands share the CyTube shell's queries and wording; playlist, poll, AFK
//! and CyTube moderation commands answer "not supported on this platform". PMs from anyone
//! else get no reply at all. Every accepted command is audited (`pending`, then `success` or
//! `error`) like the CyTube shell's.

use std::time::Duration;

use rosey_irc::IrcHandle;

use super::{Platform, irc::IrcLive, irc::rank};
use crate::{
    config::ShellSettings,
    publisher::{Publisher, now},
    shell::{
        self, CommandLine,
        commands::{self, Failure, fail},
        format::duration,
    },
    states::ChannelStates,
};

/// What an IRC shell command runs with (taken when the PM arrived).
#[derive(Clone)]
pub struct IrcShellContext {
    pub settings: ShellSettings,
    pub timeout: Duration,
    pub op_rank: f64,
    pub handle: IrcHandle,
    pub publisher: Publisher,
    pub states: ChannelStates,
    pub live: IrcLive,
}

/// The help text on IRC.
pub const HELP: &[&str] = &[
    "=== Rosey commands (IRC) ===",
    "Info: help, info, status, stats, users, user <name>",
    "Chat: say <msg>, pm <user> <msg>",
    "Moderation: kick <user> [reason]",
];

/// The CyTube shell's commands that IRC has no counterpart for.
const CYTUBE_ONLY: &[&str] = &[
    "afk", "clear", "playlist", "current", "add", "remove", "delete", "move", "jump", "next",
    "skip", "pause", "play", "voteskip", "poll", "endpoll", "mute", "smute", "unmute", "ban",
    "unban", "banlist",
];

/// May `sender` use the shell? In the channel with rank ≥ `min_rank`, and not us.
pub fn authorized(ctx: &IrcShellContext, sender: &str) -> bool {
    ctx.settings.enabled
        && !ctx.handle.nick().eq_ignore_ascii_case(sender)
        && ctx
            .handle
            .member(sender)
            .is_some_and(|m| rank(&m, ctx.op_rank) >= ctx.settings.min_rank)
}

/// Handles one PM: checks the sender, audits, runs the command and replies by PM.
pub async fn handle_pm(ctx: IrcShellContext, sender: String, text: String) {
    if !authorized(&ctx, &sender) {
        tracing::debug!(%sender, "PM from a user without shell rights ignored.");
        return;
    }
    let Some(line) = shell::parse(&text) else {
        return;
    };
    let replies = |lines: Vec<String>| {
        for reply in lines {
            if let Err(e) = ctx.handle.pm(&sender, &reply) {
                tracing::warn!(%sender, error = %e, "Could not send a shell reply.");
                break;
            }
        }
    };
    let asker = shell::Asker {
        rank: ctx
            .handle
            .member(&sender)
            .map_or(0.0, |m| rank(&m, ctx.op_rank)),
        name: sender.clone(),
    };
    shell::run_audited(
        &ctx.publisher,
        &sender,
        &line,
        run(&ctx, &asker, &line),
        replies,
    )
    .await;
}

type Outcome = Result<Vec<String>, Failure>;

/// Runs one command for `asker`.
pub async fn run(ctx: &IrcShellContext, asker: &shell::Asker, line: &CommandLine) -> Outcome {
    let args = line.args.as_str();
    match line.command.as_str() {
        "help" => Ok(HELP.iter().map(|s| s.to_string()).collect()),
        "info" | "status" => Ok(status(ctx)),
        "stats" => commands::channel_stats(&ctx.publisher, ctx.timeout).await,
        "users" => Ok(users(ctx)),
        "user" => user(ctx, args).await,
        "say" => say(ctx, args).await,
        "pm" => pm(ctx, args).await,
        "kick" => kick(ctx, asker, args).await,
        other if CYTUBE_ONLY.contains(&other) => {
            Err(fail(format!("{other}: not supported on this platform")))
        }
        other => Err(Failure {
            reply: vec![
                format!("Unknown command: {other}"),
                "Type 'help' for available commands".to_string(),
            ],
            error: format!("unknown command: {other}"),
        }),
    }
}

fn status(ctx: &IrcShellContext) -> Vec<String> {
    let t = now();
    let yes_no = |b: bool| if b { "Yes" } else { "No" };
    let mut lines = vec![
        format!("Bot: {}", ctx.handle.nick()),
        format!("Channel: {}", ctx.publisher.channel()),
        format!("Uptime: {}", duration((t - ctx.live.started_at) as i64)),
        format!("Connected: {}", yes_no(ctx.handle.is_joined())),
        format!("Server: {}", ctx.live.server.as_deref().unwrap_or("-")),
        format!(
            "Conn time: {}",
            ctx.live
                .connected_since
                .map(|c| duration((t - c) as i64))
                .unwrap_or_else(|| "-".into())
        ),
        format!("Users: {} in the channel", ctx.handle.members().len()),
    ];
    if let Some(topic) = &ctx.live.topic {
        lines.push(format!("Topic: {topic}"));
    }
    let all = ctx.states.snapshot();
    if all.len() > 1 {
        lines.push("Channels:".into());
        lines.extend(all.iter().map(|(ch, st)| format!("  {ch}: {st}")));
    }
    lines
}

fn users(ctx: &IrcShellContext) -> Vec<String> {
    let mut list = ctx.handle.members();
    list.sort_by(|a, b| {
        rank(b, ctx.op_rank)
            .total_cmp(&rank(a, ctx.op_rank))
            .then_with(|| a.nick.to_lowercase().cmp(&b.nick.to_lowercase()))
    });
    let mut lines = vec![format!("Users in channel ({}):", list.len())];
    lines.extend(
        list.iter()
            .map(|m| format!("[{}] {}{}", rank(m, ctx.op_rank), m.prefixes, m.nick)),
    );
    lines
}

async fn user(ctx: &IrcShellContext, args: &str) -> Outcome {
    let name = commands::user_arg(args)?;
    let mut lines = match ctx.handle.member(name) {
        Some(m) => vec![
            format!("User: {}", m.nick),
            format!("Rank: {}", rank(&m, ctx.op_rank)),
        ],
        None => vec![format!("User: {name} (not in the channel)")],
    };
    lines.extend(commands::user_stats(&ctx.publisher, ctx.timeout, name).await);
    Ok(lines)
}

async fn say(ctx: &IrcShellContext, args: &str) -> Outcome {
    if args.is_empty() {
        return Err(fail("Usage: say <message>"));
    }
    ctx.handle
        .say_confirmed(args)
        .await
        .map_err(|e| fail(format!("Failed: {e}")))?;
    Ok(vec![format!("Sent: {args}")])
}

async fn pm(ctx: &IrcShellContext, args: &str) -> Outcome {
    let (to, msg) = commands::pm_args(args)?;
    ctx.handle
        .pm_confirmed(to, msg)
        .await
        .map_err(|e| fail(format!("Failed: {e}")))?;
    Ok(vec![format!("PM sent to {to}: {msg}")])
}

/// Kicks a member ranked below the asker (the bot does not lend its rank against peers).
async fn kick(ctx: &IrcShellContext, asker: &shell::Asker, args: &str) -> Outcome {
    let mut parts = args.splitn(2, char::is_whitespace);
    let name = parts
        .next()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| fail("Usage: kick <user> [reason]"))?;
    let reason = parts.next().unwrap_or("").trim();
    let Some(member) = ctx.handle.member(name) else {
        return Err(fail(format!("{name} is not in the channel")));
    };
    let target = rank(&member, ctx.op_rank);
    if target >= asker.rank {
        return Err(fail(format!(
            "Refused: {name} has rank {target}, as high as yours ({}) or higher; I do not kick \
             anyone you could not kick yourself.",
            asker.rank
        )));
    }
    Platform::kick(&ctx.handle, name, reason)
        .await
        .map_err(|e| fail(format!("Failed: {e}")))?;
    Ok(vec![format!("Kick sent for {name}")])
}
