//! Moderator actions asked over the bus: `rosey.commands.<channel>.add {url, temp?, by?}` and
//! `.skip {by?}` (the dashboard's page actions). Each runs the shell's own command (`add`,
//! `next`), so the reply is the server's answer found by [`super::answer`]; each is audited
//! like a PM command, with `by` (or `bus`) as the sender. The reply is
//! `{success, message?, error?}`: `message` holds the server's answer, `error` its refusal or
//! why nothing happened.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use rosey_bus::{Bus, Message};
use rosey_model::{
    decode, encode,
    payload::{CommandReply, PlaylistCommand},
    subjects,
};

use super::{Asker, CommandLine, ShellContext, commands, run_audited};

/// Is `action` (the last subject token) one of the actions answered here?
pub fn is_remote_action(action: &str) -> bool {
    matches!(action, subjects::COMMAND_ADD | subjects::COMMAND_SKIP)
}

/// The shell command line a bus request stands for.
fn command_line(action: &str, req: &PlaylistCommand) -> Result<CommandLine, String> {
    match action {
        subjects::COMMAND_ADD => {
            let url = req.url.as_deref().map(str::trim).unwrap_or_default();
            if url.is_empty() || url.contains(char::is_whitespace) {
                return Err("field `url`: one URL without spaces is needed".into());
            }
            let keep = if req.temp == Some(false) {
                "perm"
            } else {
                "temp"
            };
            Ok(CommandLine {
                command: "add".into(),
                args: format!("{url} {keep}"),
            })
        }
        subjects::COMMAND_SKIP => Ok(CommandLine {
            command: "next".into(),
            args: String::new(),
        }),
        other => Err(format!("unknown command `{other}`")),
    }
}

/// Runs the request's command and answers it. Long (it waits for the server): spawn it.
pub async fn answer(ctx: ShellContext, bus: Bus, msg: Message) {
    let action = msg.subject.rsplit('.').next().unwrap_or_default();
    let reply = match decode::<PlaylistCommand>(&msg.payload)
        .map_err(|e| e.to_string())
        .and_then(|req| Ok((command_line(action, &req)?, req.by)))
    {
        Err(error) => CommandReply {
            success: false,
            error: Some(error),
            message: None,
        },
        Ok((line, by)) => {
            let sender = by.unwrap_or_else(|| "bus".into());
            // A bus client has no rank in the channel: rank 0 (only `add` and `next` come
            // here, which need none).
            let asker = Asker {
                name: sender.clone(),
                rank: 0.0,
            };
            let succeeded = AtomicBool::new(false);
            let mut lines = Vec::new();
            let run = async {
                let outcome = commands::run(&ctx, &asker, &line).await;
                succeeded.store(outcome.is_ok(), Relaxed);
                outcome
            };
            run_audited(&ctx.publisher, &sender, &line, run, |l| lines = l).await;
            let text = lines.join("\n");
            if succeeded.load(Relaxed) {
                CommandReply {
                    success: true,
                    error: None,
                    message: Some(text),
                }
            } else {
                CommandReply {
                    success: false,
                    error: Some(text),
                    message: None,
                }
            }
        }
    };
    if let Err(e) = bus.respond(&msg, encode(&reply)).await {
        tracing::debug!(error = %e, "Could not answer a bot command.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(url: Option<&str>, temp: Option<bool>) -> Result<CommandLine, String> {
        let req = PlaylistCommand {
            url: url.map(Into::into),
            temp,
            by: None,
        };
        command_line(subjects::COMMAND_ADD, &req)
    }

    #[test]
    fn requests_become_the_shells_command_lines() {
        let line = add(Some(" https://youtu.be/abc "), None).unwrap();
        assert_eq!(
            (line.command.as_str(), line.args.as_str()),
            ("add", "https://youtu.be/abc temp")
        );
        assert_eq!(add(Some("yt:x"), Some(false)).unwrap().args, "yt:x perm");
        assert!(add(None, None).unwrap_err().contains("url"));
        assert!(add(Some("a b"), None).unwrap_err().contains("url"));
        let skip = command_line(subjects::COMMAND_SKIP, &PlaylistCommand::default()).unwrap();
        assert_eq!(skip.command, "next");
        assert!(is_remote_action("add") && is_remote_action("skip") && !is_remote_action("chat"));
    }
}
