//! The platform interface: what the bot needs from a chat network, whatever it is. A
//! platform connection yields events that the bot turns into the normalized events of SPEC
//! §4.2 and the `rosey.db.*` events (each platform's channel runner does that), and accepts
//! [`Platform`] actions — say, pm, kick — each of which a platform may answer with
//! [`ActionError::Unsupported`] ("not supported on this platform").
//!
//! # Layout
//! - here: [`Platform`], [`ActionError`], the CyTube implementation (on
//!   [`rosey_cytube::CytubeHandle`]) and the bus command answer every runner shares.
//! - [`irc`]: the IRC implementation and its channel runner (events → normalized and
//!   database events, the outbound pump, bus commands, the shell).
//! - [`irc_shell`]: the PM shell on IRC (the commands that exist there; "not supported on
//!   this platform" for the CyTube-only ones).

pub mod irc;
pub mod irc_shell;

use std::future::Future;

use rosey_bus::{Bus, Message, Subscription};
use rosey_model::{
    decode, encode,
    payload::{ChatCommand, CommandReply, ModerateCommand, PmCommandRequest},
    subjects,
};

/// How an action failed, for the caller's retry decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailKind {
    /// Not connected or not in the channel (try again later).
    Gone,
    /// The request itself is bad (empty text, bad argument): never retry.
    Permanent,
    /// Too much waiting to go out.
    Busy,
}

/// Why a platform did not do an action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("{0}: not supported on this platform")]
    Unsupported(&'static str),
    #[error("{message}")]
    Failed { message: String, kind: FailKind },
}

impl ActionError {
    pub(crate) fn failed(message: impl Into<String>, kind: FailKind) -> Self {
        ActionError::Failed {
            message: message.into(),
            kind,
        }
    }

    /// "<action>: not supported on this platform" for any action name.
    pub fn unsupported(action: &str) -> Self {
        const OTHERS: &[&str] = &["add", "skip", "remove", "poll", "moderate"];
        let name = ModerateCommand::ACTIONS
            .iter()
            .chain(OTHERS)
            .find(|a| **a == action)
            .copied()
            .unwrap_or("this action");
        ActionError::Unsupported(name)
    }

    /// Never worth retrying (a bad request, or an action the platform does not have).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            ActionError::Unsupported(_)
                | ActionError::Failed {
                    kind: FailKind::Permanent,
                    ..
                }
        )
    }

    /// The connection is not there: the rest of a batch can wait.
    pub fn is_gone(&self) -> bool {
        matches!(
            self,
            ActionError::Failed {
                kind: FailKind::Gone,
                ..
            }
        )
    }
}

/// The actions a platform connection accepts. Sends are queued and paced by the platform's
/// client; the `*_confirmed` forms resolve when the text was written to the network.
pub trait Platform: Clone + Send + Sync + 'static {
    /// `cytube`, `irc`.
    fn kind(&self) -> &'static str;
    /// In the channel now (sends are refused otherwise).
    fn is_joined(&self) -> bool;
    /// Says `text` in the channel.
    fn say(&self, text: &str) -> Result<(), ActionError>;
    fn say_confirmed(&self, text: &str) -> impl Future<Output = Result<(), ActionError>> + Send;
    /// A private message.
    fn pm(&self, to: &str, text: &str) -> Result<(), ActionError>;
    /// One moderation step asked over the bus (`moderate`); `Ok` holds what to report.
    fn moderate(
        &self,
        cmd: &ModerateCommand,
    ) -> impl Future<Output = Result<String, ActionError>> + Send {
        std::future::ready(Err(ActionError::unsupported(&cmd.action)))
    }
    /// Removes `user` from the channel.
    fn kick(
        &self,
        _user: &str,
        _reason: &str,
    ) -> impl Future<Output = Result<(), ActionError>> + Send {
        std::future::ready(Err(ActionError::Unsupported("kick")))
    }
}

impl From<rosey_cytube::SendError> for ActionError {
    fn from(e: rosey_cytube::SendError) -> Self {
        use rosey_cytube::SendError as E;
        let kind = match e {
            E::Closed | E::NotJoined | E::Disconnected => FailKind::Gone,
            E::Empty | E::Invalid(_) => FailKind::Permanent,
            E::QueueFull(_) => FailKind::Busy,
        };
        ActionError::failed(e.to_string(), kind)
    }
}

impl Platform for rosey_cytube::CytubeHandle {
    fn kind(&self) -> &'static str {
        "cytube"
    }

    fn is_joined(&self) -> bool {
        rosey_cytube::CytubeHandle::is_joined(self)
    }

    fn say(&self, text: &str) -> Result<(), ActionError> {
        Ok(self.chat(text)?)
    }

    async fn say_confirmed(&self, text: &str) -> Result<(), ActionError> {
        Ok(self.chat_confirmed(text).await?)
    }

    fn pm(&self, to: &str, text: &str) -> Result<(), ActionError> {
        Ok(rosey_cytube::CytubeHandle::pm(self, to, text)?)
    }

    async fn kick(&self, user: &str, reason: &str) -> Result<(), ActionError> {
        let cmd = rosey_cytube::Command::moderation("kick", user, Some(reason))?;
        Ok(self.send_confirmed(cmd).await?)
    }
}

/// Subscribes to `rosey.commands.<channel>.*`; `None` (logged) when the bus refuses.
pub(crate) async fn subscribe_commands(bus: &Bus, channel: &str) -> Option<Subscription> {
    subscribe_or_warn(
        bus,
        channel,
        &subjects::command_wildcard(channel),
        "Cannot subscribe to bot commands; bus commands are off.",
    )
    .await
}

/// Subscribes to `subject` for `channel`; `None`, logged with `what_then`, when the bus
/// refuses (the caller carries on without it).
pub(crate) async fn subscribe_or_warn(
    bus: &Bus,
    channel: &str,
    subject: &str,
    what_then: &'static str,
) -> Option<Subscription> {
    match bus.subscribe(subject).await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(%channel, error = %e, "{what_then}");
            None
        }
    }
}

/// Answers `rosey.commands.<channel>.chat {message}` / `.pm {to, message}` with
/// `{success, error?}`, through whichever platform serves the channel.
pub(crate) async fn answer_command<P: Platform>(bus: &Bus, platform: &P, msg: Message) {
    let action = msg.subject.rsplit('.').next().unwrap_or_default();
    if action == subjects::COMMAND_PUMP {
        // For the outbound pump, which has its own subscription; nothing to answer.
        return;
    }
    let result = match action {
        subjects::COMMAND_CHAT => match decode::<ChatCommand>(&msg.payload) {
            Ok(c) => platform.say(&c.message).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
        subjects::COMMAND_PM => match decode::<PmCommandRequest>(&msg.payload) {
            Ok(c) => platform.pm(&c.to, &c.message).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
        // Answered by the CyTube bot before it gets here (they wait for the server).
        subjects::COMMAND_ADD => Err(ActionError::Unsupported("add").to_string()),
        subjects::COMMAND_SKIP => Err(ActionError::Unsupported("skip").to_string()),
        other => Err(format!("unknown command `{other}` (expected chat or pm)")),
    };
    let reply = CommandReply {
        success: result.is_ok(),
        error: result.err(),
        message: None,
    };
    if let Err(e) = bus.respond(&msg, encode(&reply)).await {
        tracing::debug!(error = %e, "Could not answer a bot command.");
    }
}
