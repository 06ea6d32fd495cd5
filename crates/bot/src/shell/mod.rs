//! The PM command shell (SPEC §5), on every platform: moderators (rank ≥ `shell.min_rank`
//! in the channel's live view) send the bot a PM (a direct room on Matrix); the first word
//! is the command. One command table serves every platform: what the shell answers itself
//! (help, info, status, stats, users, user) comes from the live view and the database
//! service; everything else is a platform [`Action`](crate::platform::Action), and a command
//! the platform cannot do answers "<cmd>: not supported on this platform".
//!
//! # Layout
//! - [`commands`]: the command table: parsing arguments, the view's answers, the actions.
//! - [`remote`]: `add`, `skip`, `moderate` and `remove` asked over the bus, answered with
//!   the server's outcome.
//! - [`automod`]: `automod`, the automated moderator's state for the channel (asked on
//!   `rosey.moderation.state`; not listed by `help`).
//! - [`stats_text`]: the text of `stats` and `user` (shared with `rosey stats`).
//! - [`format`]: durations, timestamps, reply splitting (re-exported from `crate::format`).
//!
//! Every accepted command is audited twice on `rosey.db.action.pm_command`: `pending`
//! before it runs, then `success` or `error`. PMs from anyone else get no reply at all.

pub mod automod;
pub mod commands;
pub mod remote;
pub mod stats_text;

pub use crate::format;

use std::sync::Arc;
use std::time::Duration;

use rosey_model::{payload::PmCommand, subjects};

use crate::{
    config::ShellSettings,
    platform::{Asker, Failure, Platform, View},
    publisher::{Publisher, now},
};

/// What a shell command runs with: the channel's connection and its view when the PM
/// arrived.
#[derive(Clone)]
pub struct ShellContext {
    pub settings: ShellSettings,
    /// The shell timeout (the platform's `response_timeout`): how long a command waits for
    /// the database service.
    pub timeout: Duration,
    pub platform: Arc<dyn Platform>,
    pub view: View,
    /// When the channel's bot started (epoch seconds).
    pub started_at: f64,
    pub publisher: Publisher,
    /// Every channel's run state in this process (for `status`).
    pub states: crate::states::ChannelStates,
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

/// May `sender` use the shell? In the channel with rank ≥ `min_rank`, and not us.
pub fn authorized(ctx: &ShellContext, sender: &str) -> bool {
    if !ctx.settings.enabled {
        return false;
    }
    if ctx
        .view
        .own_name
        .as_deref()
        .is_some_and(|me| me.eq_ignore_ascii_case(sender))
    {
        return false;
    }
    ctx.view
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
    let asker = Asker {
        rank: ctx.view.user(&sender).map_or(0.0, |u| u.rank),
        name: sender.clone(),
    };
    let replies = |lines: Vec<String>| {
        if let Err(e) = ctx.platform.reply(&sender, &lines) {
            tracing::warn!(%sender, error = %e, "Could not send a shell reply.");
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
    run: impl std::future::Future<Output = Result<Vec<String>, Failure>>,
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
