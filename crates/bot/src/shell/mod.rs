//! The PM command shell (SPEC §5): moderators (rank ≥ `shell.min_rank`, listed in the
//! channel's user list) send the bot a PM; the first word is the command.
//!
//! - [`format`]: durations, timestamps, reply splitting.
//! - [`media_url`]: URL → CyTube media type and id, for `add`.
//! - [`stats_text`]: the text of `stats` and `user` (shared with `rosey stats`).
//! - [`answer`]: sending a command and waiting for the server's answer to it.
//! - [`commands`]: what each command does and answers.
//! - [`remote`]: `add` and `skip` asked over the bus (the dashboard), answered with the
//!   server's outcome.
//!
//! Every accepted command is audited twice on `rosey.db.action.pm_command`: `pending`
//! before it runs, then `success` or `error`. PMs from anyone else get no reply at all.
//! A command the server confirms or refuses replies with the server's answer (see
//! [`answer`]); a refusal is audited as `error` with the server's text.

pub mod answer;
pub mod commands;
pub mod format;
pub mod media_url;
pub mod remote;
pub mod stats_text;

use std::time::Duration;

use rosey_cytube::{ChannelState, CytubeHandle};
use rosey_model::{payload::PmCommand, subjects};

use crate::{
    config::ShellSettings,
    publisher::{Publisher, now},
};

pub use answer::ServerEvents;

/// Facts about the connection the channel state does not hold.
#[derive(Debug, Clone, Default)]
pub struct Live {
    pub started_at: f64,
    pub connected_since: Option<f64>,
    pub server: Option<String>,
    pub paused: bool,
    pub position: f64,
    pub voteskip: Option<(u64, u64)>,
}

/// What a shell command runs with: a snapshot of the channel taken when the PM arrived.
#[derive(Clone)]
pub struct ShellContext {
    pub settings: ShellSettings,
    /// The shell timeout (the platform's `response_timeout`): how long a command waits for
    /// the database service, and for the server's answer.
    pub timeout: Duration,
    pub state: ChannelState,
    pub live: Live,
    /// The channel's events from now on (commands wait for the server's answer in them).
    pub events: ServerEvents,
    pub handle: CytubeHandle,
    pub publisher: Publisher,
    /// Every channel's run state in this process (for `status`).
    pub states: crate::states::ChannelStates,
}

/// Who asked for a shell command, with the rank they have in the channel: the bot, often
/// ranked above them, acts on nobody they could not act on themselves.
#[derive(Debug, Clone, PartialEq)]
pub struct Asker {
    pub name: String,
    pub rank: f64,
}

impl Asker {
    /// `name` with the rank the channel's user list gives it (0 when not listed).
    pub fn in_channel(state: &ChannelState, name: &str) -> Asker {
        Asker {
            name: name.to_string(),
            rank: state.user(name).map_or(0.0, |u| u.rank),
        }
    }
}

/// A parsed command line: lower-cased command word (without a leading `!`) and the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    pub command: String,
    pub args: String,
}

/// Splits a PM into command and arguments; `None` for an empty message.
pub fn parse(text: &str) -> Option<CommandLine> {
    let text = text.trim();
    let text = text.strip_prefix('!').unwrap_or(text).trim_start();
    let mut parts = text.splitn(2, char::is_whitespace);
    let command = parts.next().filter(|c| !c.is_empty())?.to_lowercase();
    let args = parts.next().unwrap_or("").trim().to_string();
    Some(CommandLine { command, args })
}

/// May `sender` use the shell? Listed in the user list with rank ≥ `min_rank`, and not us.
pub fn authorized(ctx: &ShellContext, sender: &str) -> bool {
    if !ctx.settings.enabled {
        return false;
    }
    if ctx
        .state
        .own_name
        .as_deref()
        .is_some_and(|me| me.eq_ignore_ascii_case(sender))
    {
        return false;
    }
    ctx.state
        .user(sender)
        .is_some_and(|u| u.rank >= ctx.settings.min_rank)
}

/// Handles one PM: checks the sender, audits, runs the command and replies by PM.
pub async fn handle_pm(ctx: ShellContext, sender: String, text: String) {
    if !authorized(&ctx, &sender) {
        tracing::debug!(%sender, "PM from a user without shell rights ignored.");
        return;
    }
    let Some(line) = parse(&text) else { return };
    let asker = Asker::in_channel(&ctx.state, &sender);
    let replies = |lines: Vec<String>| {
        for chunk in format::chunk_lines(&lines, format::MAX_MESSAGE_CHARS) {
            if let Err(e) = ctx.handle.pm(&sender, &chunk) {
                tracing::warn!(%sender, error = %e, "Could not send a shell reply.");
                break;
            }
        }
    };
    run_audited(
        &ctx.publisher,
        &sender,
        &line,
        commands::run(&ctx, &asker, &line),
        replies,
    )
    .await;
}

/// Runs an accepted command between its two audit rows (`pending`, then `success` or
/// `error`), counts it, and hands the reply lines to `reply` before the final audit.
pub(crate) async fn run_audited(
    publisher: &Publisher,
    sender: &str,
    line: &CommandLine,
    run: impl std::future::Future<Output = Result<Vec<String>, commands::Failure>>,
    reply: impl FnOnce(Vec<String>),
) {
    audit(publisher, sender, line, "pending", None).await;
    let (lines, error) = match run.await {
        Ok(lines) => (lines, None),
        Err(failure) => (failure.reply, Some(failure.error)),
    };
    let result = if error.is_some() { "error" } else { "success" };
    publisher.metrics().shell(&line.command, error.is_none());
    reply(lines);
    audit(publisher, sender, line, result, error).await;
}

async fn audit(
    publisher: &Publisher,
    sender: &str,
    line: &CommandLine,
    result: &str,
    error: Option<String>,
) {
    let row = PmCommand {
        username: sender.to_string(),
        command: line.command.clone(),
        args: line.args.clone(),
        result: result.to_string(),
        error,
        channel: None,
        ts: None,
        id: None,
    };
    publisher.db(subjects::ACTION_PM_COMMAND, row, now()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing() {
        assert_eq!(
            parse("  !Kick bob  being rude "),
            Some(CommandLine {
                command: "kick".into(),
                args: "bob  being rude".into()
            })
        );
        assert_eq!(parse("HELP").unwrap().command, "help");
        assert_eq!(parse("! users").unwrap().command, "users");
        assert_eq!(parse("   "), None);
        assert_eq!(parse("!"), None);
    }
}
