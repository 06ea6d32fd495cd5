//! Actions asked over the bus: `rosey.commands.<channel>.add {url, temp?, by?}`, `.skip
//! {by?}` (the dashboard's page actions), `.moderate {action, user, reason?, seconds?,
//! event_id?, by?}` and `.remove {uid, by?}` (the moderator and media services). Each is
//! audited like a PM command, with `by` (or `bus`) as the sender, and answered
//! `{success, message?, error?}`: `message` holds the server's answer, `error` its refusal
//! or why nothing happened.
//!
//! Each becomes a platform [`Action`], answered by the platform in the server's words (or
//! "<action>: not supported on this platform"). The requester is a trusted service: it acts
//! with no rank limit of its own (the server still refuses what the bot may not do), but
//! never on the bot itself.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use rosey_bus::{Bus, Message};
use rosey_model::{
    decode, encode,
    payload::{CommandReply, ModerateCommand, PlaylistCommand, RemoveCommand},
    subjects,
};

use std::sync::Arc;

use super::{CommandLine, run_audited};
use crate::platform::{Action, Asker, Platform};
use crate::publisher::Publisher;

/// Is `action` (the last subject token) one of the actions answered here?
pub fn is_remote_action(action: &str) -> bool {
    matches!(
        action,
        subjects::COMMAND_ADD
            | subjects::COMMAND_SKIP
            | subjects::COMMAND_MODERATE
            | subjects::COMMAND_REMOVE
    )
}

/// A decoded request: the action, the line its audit rows show, and who asked.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub action: Action,
    pub line: CommandLine,
    pub sender: String,
}

/// Decodes the request of `subject_action`; `own` is the bot's own name (never a target).
pub fn request(subject_action: &str, payload: &[u8], own: &str) -> Result<Request, String> {
    let sender = |by: Option<String>| by.unwrap_or_else(|| "bus".into());
    match subject_action {
        subjects::COMMAND_ADD | subjects::COMMAND_SKIP => {
            let req = decode::<PlaylistCommand>(payload).map_err(|e| e.to_string())?;
            let line = playlist_line(subject_action, &req)?;
            let action = match subject_action {
                subjects::COMMAND_ADD => Action::Add {
                    url: req.url.as_deref().unwrap_or_default().trim().to_string(),
                    temp: req.temp != Some(false),
                },
                _ => Action::Skip,
            };
            Ok(Request {
                action,
                line,
                sender: sender(req.by),
            })
        }
        subjects::COMMAND_MODERATE => {
            let req = decode::<ModerateCommand>(payload).map_err(|e| e.to_string())?;
            if !ModerateCommand::ACTIONS.contains(&req.action.as_str()) {
                return Err(format!(
                    "unknown moderation action `{}` (expected one of {})",
                    req.action,
                    ModerateCommand::ACTIONS.join(", ")
                ));
            }
            let user = req.user.trim().to_string();
            if user.is_empty() && req.action != "redact" {
                return Err("field `user`: a user name is needed".into());
            }
            if !own.is_empty() && user.eq_ignore_ascii_case(own) {
                return Err(format!("{}: I do not act on myself", req.action));
            }
            let reason = req
                .reason
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_string);
            let mut args = user.clone();
            if let Some(r) = &reason {
                args = format!("{args} {r}");
            }
            let action = match req.action.as_str() {
                "kick" => Action::Kick { user, reason },
                "mute" => Action::Mute { user },
                "smute" => Action::Smute { user },
                "unmute" => Action::Unmute { user },
                "ban" => Action::Ban { user, reason },
                "unban" => Action::Unban { user },
                _ => Action::Redact {
                    event_id: req.event_id.clone().unwrap_or_default(),
                    reason,
                },
            };
            Ok(Request {
                action,
                line: CommandLine {
                    command: req.action.clone(),
                    args,
                },
                sender: sender(req.by),
            })
        }
        subjects::COMMAND_REMOVE => {
            let req = decode::<RemoveCommand>(payload).map_err(|e| e.to_string())?;
            Ok(Request {
                action: Action::RemoveUid(req.uid),
                line: CommandLine {
                    command: "remove".into(),
                    args: format!("uid {}", req.uid),
                },
                sender: sender(req.by),
            })
        }
        other => Err(format!("unknown command `{other}`")),
    }
}

/// The shell command line an `add` or `skip` request stands for.
fn playlist_line(action: &str, req: &PlaylistCommand) -> Result<CommandLine, String> {
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
        _ => Ok(CommandLine {
            command: "next".into(),
            args: String::new(),
        }),
    }
}

/// Decodes `msg`, has `platform` do it between its audit rows, and answers it. Long (it
/// waits for the server): spawn it.
pub async fn answer(platform: Arc<dyn Platform>, publisher: Publisher, bus: Bus, msg: Message) {
    let subject_action = msg.subject.rsplit('.').next().unwrap_or_default();
    let own = platform.view().own_name.unwrap_or_default();
    let reply = match request(subject_action, &msg.payload, &own) {
        Err(error) => CommandReply {
            success: false,
            error: Some(error),
            message: None,
        },
        Ok(req) => {
            let asker = Asker::trusted(&req.sender);
            let succeeded = AtomicBool::new(false);
            let mut lines = Vec::new();
            let run = async {
                let outcome = platform.act(&asker, req.action).await;
                succeeded.store(outcome.is_ok(), Relaxed);
                outcome
            };
            run_audited(&publisher, &req.sender, &req.line, run, |l| lines = l).await;
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
        playlist_line(subjects::COMMAND_ADD, &req)
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
        let skip = request(subjects::COMMAND_SKIP, b"{}", "Rosey").unwrap();
        assert_eq!(skip.line.command, "next");
        assert_eq!(skip.sender, "bus");
        assert!(is_remote_action("add") && is_remote_action("moderate"));
        assert!(is_remote_action("remove") && !is_remote_action("chat"));
    }

    #[test]
    fn moderation_requests() {
        let kick = request(
            subjects::COMMAND_MODERATE,
            br#"{"action":"kick","user":"spammer","reason":"links","by":"automod"}"#,
            "Rosey",
        )
        .unwrap();
        assert_eq!(
            (kick.line.command.as_str(), kick.line.args.as_str()),
            ("kick", "spammer links")
        );
        assert_eq!(kick.sender, "automod");
        let unknown = request(
            subjects::COMMAND_MODERATE,
            br#"{"action":"explode","user":"x"}"#,
            "Rosey",
        )
        .unwrap_err();
        assert!(
            unknown.contains("unknown moderation action `explode`"),
            "{unknown}"
        );
        let me = request(
            subjects::COMMAND_MODERATE,
            br#"{"action":"ban","user":"rosey"}"#,
            "Rosey",
        )
        .unwrap_err();
        assert_eq!(me, "ban: I do not act on myself");
        let remove = request(subjects::COMMAND_REMOVE, br#"{"uid":7}"#, "Rosey").unwrap();
        assert_eq!(remove.action, Action::RemoveUid(7));
    }
}
