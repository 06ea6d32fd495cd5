//! One channel's command routing. [`ChannelCommands::on_chat`] runs on the channel's event
//! loop and decides at once — not a command, unknown, not enabled here, over a rate limit,
//! rank too low, or routed — and a routed command continues in a task of its own: request,
//! timeout, reply within the output budget, sent through the channel's [`Platform`] (its
//! paced send path).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use rosey_bus::{Bus, BusError};
use rosey_config::plugins::{OnFailure, PluginsConfig};
use rosey_plugin::protocol::{PROTOCOL_VERSION, valid_name};
use rosey_plugin::{CommandRequest, Context, Reply};

use super::limits::{Limiter, Rate};
use super::registry::{Registry, Route};

use crate::platform::Platform;

/// One chat line, normalized.
#[derive(Debug, Clone, Copy)]
pub struct ChatLine<'a> {
    pub user: &'a str,
    /// The user's rank in the bot's own user list (0 when not listed).
    pub rank: f64,
    pub text: &'a str,
    /// Epoch seconds.
    pub ts: f64,
}

/// What [`ChannelCommands::on_chat`] decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// No prefix, or no valid command word after it.
    NotACommand,
    /// No plugin declares it (perhaps another bot's): ignored.
    Unknown,
    /// Its plugin is not enabled in this channel.
    NotEnabled,
    /// Over the user's or the channel's rate limit: dropped.
    RateLimited,
    /// The user's rank is below the command's minimum: refused without asking the plugin.
    Refused { needs: f64 },
    /// The plugin is gone: answered "unavailable" (or nothing) without asking.
    Unavailable { plugin: String },
    /// Sent to the plugin.
    Routed { plugin: String },
}

/// Counts of what happened to commands, for logs, status and tests.
#[derive(Debug, Default)]
pub struct CommandStats {
    pub routed: AtomicU64,
    pub answered: AtomicU64,
    pub rate_limited: AtomicU64,
    pub refused: AtomicU64,
    pub timeouts: AtomicU64,
    pub unavailable: AtomicU64,
    pub errors: AtomicU64,
    /// Lines or characters cut by the output budget.
    pub truncated: AtomicU64,
}

/// One channel's router. Cheap to clone.
#[derive(Clone)]
pub struct ChannelCommands {
    inner: Arc<Inner>,
}

struct Inner {
    channel: String,
    settings: PluginsConfig,
    registry: Registry,
    bus: Bus,
    outlet: Arc<dyn Platform>,
    /// A std Mutex: held for a few arithmetic steps, never across an await.
    limiter: Mutex<Limiter>,
    stats: CommandStats,
    seq: AtomicU64,
}

impl ChannelCommands {
    pub fn new(
        channel: &str,
        settings: PluginsConfig,
        registry: Registry,
        bus: Bus,
        outlet: Arc<dyn Platform>,
    ) -> Self {
        let limiter = Limiter::new(
            Rate {
                burst: settings.user_burst,
                interval: settings.user_interval,
            },
            Rate {
                burst: settings.channel_burst,
                interval: settings.channel_interval,
            },
        );
        ChannelCommands {
            inner: Arc::new(Inner {
                channel: channel.to_string(),
                settings,
                registry,
                bus,
                outlet,
                limiter: Mutex::new(limiter),
                stats: CommandStats::default(),
                seq: AtomicU64::new(0),
            }),
        }
    }

    pub fn stats(&self) -> &CommandStats {
        &self.inner.stats
    }

    /// Handles one chat line. Never waits: a routed command runs in its own task.
    /// `context` is called only for a routed command.
    pub fn on_chat(&self, line: ChatLine<'_>, context: impl FnOnce() -> Context) -> Outcome {
        self.route(line, context, false)
    }

    /// Handles one PM to the bot: routed like a chat line, but only to commands that take
    /// PMs, and everything is answered by PM. Any outcome but `NotACommand`, `Unknown` and
    /// `NotEnabled` means the PM was a plugin command (the PM shell should not see it).
    pub fn on_pm(&self, line: ChatLine<'_>, context: impl FnOnce() -> Context) -> Outcome {
        self.route(line, context, true)
    }

    fn route(
        &self,
        line: ChatLine<'_>,
        context: impl FnOnce() -> Context,
        private: bool,
    ) -> Outcome {
        let s = &self.inner.settings;
        let Some(rest) = line.text.strip_prefix(s.prefix.as_str()) else {
            return Outcome::NotACommand;
        };
        let (word, args) = match rest.split_once(char::is_whitespace) {
            Some((w, a)) => (w, a.trim()),
            None => (rest, ""),
        };
        let command = word.to_lowercase();
        if !valid_name(&command) {
            return Outcome::NotACommand;
        }
        let Some(route) = self
            .inner
            .registry
            .lookup(&command)
            .filter(|r| !private || r.command.pm)
        else {
            return Outcome::Unknown;
        };
        if !s.enabled_in(&self.inner.channel, &route.plugin) {
            return Outcome::NotEnabled;
        }
        let stats = &self.inner.stats;
        let limited = self
            .inner
            .limiter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .check(line.user);
        if let Err(which) = limited {
            stats.rate_limited.fetch_add(1, Relaxed);
            tracing::debug!(channel = %self.inner.channel, user = %line.user, %command, ?which, "Command rate-limited.");
            return Outcome::RateLimited;
        }
        let needs = route.command.min_rank;
        if line.rank < needs {
            stats.refused.fetch_add(1, Relaxed);
            let text = format!("{}{} needs rank {needs} or higher.", s.prefix, command);
            self.say(line.user, &text, private);
            return Outcome::Refused { needs };
        }
        if !route.present {
            self.fail(&route, line.user, false, private);
            return Outcome::Unavailable {
                plugin: route.plugin,
            };
        }
        stats.routed.fetch_add(1, Relaxed);
        let seq = self.inner.seq.fetch_add(1, Relaxed);
        let request = CommandRequest {
            v: PROTOCOL_VERSION,
            channel: self.inner.channel.clone(),
            user: line.user.to_string(),
            rank: line.rank,
            command,
            args: args.to_string(),
            event_id: format!("{}-{}-{seq}", self.inner.channel, (line.ts * 1000.0) as i64),
            ts: line.ts,
            prefix: s.prefix.clone(),
            pm: private,
            context: context(),
        };
        let plugin = route.plugin.clone();
        let this = self.clone();
        tokio::spawn(async move { this.ask(route, request).await });
        Outcome::Routed { plugin }
    }

    async fn ask(&self, route: Route, request: CommandRequest) {
        let inner = &self.inner;
        let body = rosey_model::encode(&request);
        let answer = inner
            .bus
            .request(&route.command.subject, body, inner.settings.timeout)
            .await;
        let reply = match answer {
            Ok(m) => {
                let service_error = m
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("Nats-Service-Error"))
                    .map(|v| v.as_str().to_string());
                match service_error {
                    Some(e) => Err(format!("service error: {e}")),
                    None => serde_json::from_slice::<Reply>(&m.payload).map_err(|e| e.to_string()),
                }
            }
            Err(BusError::Timeout { .. }) => {
                inner.stats.timeouts.fetch_add(1, Relaxed);
                tracing::warn!(channel = %inner.channel, plugin = %route.plugin, command = %request.command, "Plugin did not answer in time.");
                self.fail(&route, &request.user, true, request.pm);
                return;
            }
            Err(e) => {
                tracing::warn!(channel = %inner.channel, plugin = %route.plugin, error = %e, "Plugin unavailable.");
                self.fail(&route, &request.user, false, request.pm);
                return;
            }
        };
        match reply {
            Ok(reply) => {
                inner.stats.answered.fetch_add(1, Relaxed);
                self.deliver(&request.user, reply, request.pm);
            }
            Err(e) => {
                inner.stats.errors.fetch_add(1, Relaxed);
                tracing::warn!(channel = %inner.channel, plugin = %route.plugin, error = %e, "Bad reply from a plugin.");
                let text = format!("{} failed.", route.plugin);
                self.say(&request.user, &text, request.pm);
            }
        }
    }

    /// The "did not answer" / "unavailable" line, unless configured silent.
    fn fail(&self, route: &Route, user: &str, timed_out: bool, private: bool) {
        if !timed_out {
            self.inner.stats.unavailable.fetch_add(1, Relaxed);
        }
        if self.inner.settings.on_failure == OnFailure::Silent {
            return;
        }
        let what = if timed_out {
            "did not answer"
        } else {
            "is unavailable"
        };
        self.say(user, &format!("{} {what}.", route.plugin), private);
    }

    /// A short line for `user`: `<user>: text` in chat, or `text` by PM.
    fn say(&self, user: &str, text: &str, private: bool) {
        if private {
            if let Err(e) = self.inner.outlet.pm(user, text) {
                tracing::debug!(error = %e, "Could not queue a plugin PM.");
            }
        } else {
            self.send_chat(&format!("{user}: {text}"));
        }
    }

    /// Sends a reply within the output budget: at most `max_lines` lines and `max_chars`
    /// characters over chat, PM and error together; lines are cleaned (see [`clean`]). A
    /// command that came by PM is answered by PM only (and opens no poll).
    fn deliver(&self, user: &str, reply: Reply, private: bool) {
        let s = &self.inner.settings;
        let mut lines_left = s.max_lines;
        let mut chars_left = s.max_chars;
        let mut cut = false;
        let mut budget = |text: &str| -> Vec<String> {
            let mut out = Vec::new();
            for line in text.lines().map(clean).filter(|l| !l.is_empty()) {
                if lines_left == 0 || chars_left == 0 {
                    cut = true;
                    break;
                }
                let n = line.chars().count();
                let line = if n > chars_left {
                    cut = true;
                    line.chars().take(chars_left).collect()
                } else {
                    line
                };
                chars_left -= line.chars().count();
                lines_left -= 1;
                out.push(line);
            }
            out
        };
        let mut chat = Vec::new();
        let mut pm = Vec::new();
        if let Some(e) = &reply.error {
            match private {
                true => pm.extend(budget(e)),
                false => chat.extend(budget(&format!("{user}: {e}"))),
            }
        }
        for l in &reply.chat {
            match private {
                true => pm.extend(budget(l)),
                false => chat.extend(budget(l)),
            }
        }
        for l in &reply.pm {
            pm.extend(budget(l));
        }
        if cut {
            self.inner.stats.truncated.fetch_add(1, Relaxed);
        }
        for l in chat {
            self.send_chat(&l);
        }
        for l in pm {
            if let Err(e) = self.inner.outlet.pm(user, &l) {
                tracing::debug!(error = %e, "Could not queue a plugin PM.");
            }
        }
        if let Some(p) = reply.poll.filter(|_| !private) {
            let title = clean(&p.title);
            let options: Vec<String> = p.options.iter().map(|o| clean(o)).take(20).collect();
            if let Err(e) = self.inner.outlet.poll(&title, options) {
                tracing::warn!(channel = %self.inner.channel, error = %e, "Could not open a plugin's poll.");
                // The asker learns why nothing opened (e.g. a platform without polls).
                self.send_chat(&format!("{user}: {e}"));
            }
        }
    }

    fn send_chat(&self, text: &str) {
        if let Err(e) = self.inner.outlet.say(text) {
            tracing::debug!(error = %e, "Could not queue a command reply.");
        }
    }
}

/// A line as it may be sent: control characters dropped, and no leading `/` (a chat line
/// starting with `/` is a channel command such as `/kick`; a plugin must not issue those).
pub fn clean(line: &str) -> String {
    let kept: String = line.chars().filter(|c| !c.is_control()).collect();
    kept.trim().trim_start_matches('/').trim_start().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::ActionError;
    use rosey_plugin::{CommandInfo, PluginInfo};

    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl Platform for Recorder {
        fn kind(&self) -> &'static str {
            "test"
        }
        fn is_joined(&self) -> bool {
            true
        }
        fn view(&self) -> crate::platform::View {
            Default::default()
        }
        fn stats(&self) -> crate::platform::ClientStats {
            Default::default()
        }
        fn say(&self, text: &str) -> Result<(), ActionError> {
            self.0.lock().unwrap().push(format!("chat {text}"));
            Ok(())
        }
        fn say_confirmed<'a>(
            &'a self,
            text: &'a str,
        ) -> futures::future::BoxFuture<'a, Result<(), ActionError>> {
            Box::pin(std::future::ready(self.say(text)))
        }
        fn pm(&self, to: &str, text: &str) -> Result<(), ActionError> {
            self.0.lock().unwrap().push(format!("pm {to} {text}"));
            Ok(())
        }
        fn poll(&self, title: &str, options: Vec<String>) -> Result<(), ActionError> {
            self.0
                .lock()
                .unwrap()
                .push(format!("poll {title} {}", options.join("|")));
            Ok(())
        }
        fn shutdown(&self) -> futures::future::BoxFuture<'_, ()> {
            Box::pin(std::future::ready(()))
        }
    }

    fn router(settings: PluginsConfig) -> (ChannelCommands, Arc<Recorder>, Registry) {
        let registry = Registry::new();
        registry.update(vec![PluginInfo {
            name: "dice".into(),
            version: "1.0.0".into(),
            description: String::new(),
            protocol: "1".into(),
            ids: vec![],
            commands: vec![
                CommandInfo {
                    name: "roll".into(),
                    subject: "rosey.plugins.dice.roll".into(),
                    help: String::new(),
                    usage: String::new(),
                    min_rank: 0.0,
                    pm: true,
                },
                CommandInfo {
                    name: "poll".into(),
                    subject: "rosey.plugins.dice.poll".into(),
                    help: String::new(),
                    usage: String::new(),
                    min_rank: 2.0,
                    pm: false,
                },
            ],
            ignored: vec![],
        }]);
        let out = Arc::new(Recorder::default());
        let c = ChannelCommands::new(
            "chan",
            settings,
            registry.clone(),
            Bus::embedded(),
            out.clone(),
        );
        (c, out, registry)
    }

    fn line<'a>(user: &'a str, rank: f64, text: &'a str) -> ChatLine<'a> {
        ChatLine {
            user,
            rank,
            text,
            ts: 1.0,
        }
    }

    #[tokio::test]
    async fn decisions_before_any_request() {
        let (c, out, registry) = router(PluginsConfig::default());
        let ctx = Context::default;
        assert_eq!(
            c.on_chat(line("a", 0.0, "hello"), ctx),
            Outcome::NotACommand
        );
        assert_eq!(
            c.on_chat(line("a", 0.0, "! roll"), ctx),
            Outcome::NotACommand
        );
        assert_eq!(c.on_chat(line("a", 0.0, "!nope"), ctx), Outcome::Unknown);
        assert_eq!(
            c.on_chat(line("guest", 0.0, "!poll a|b"), ctx),
            Outcome::Refused { needs: 2.0 }
        );
        assert_eq!(
            out.0.lock().unwrap().as_slice(),
            ["chat guest: !poll needs rank 2 or higher."]
        );
        registry.update(vec![]);
        assert_eq!(
            c.on_chat(line("a", 0.0, "!ROLL 2d6"), ctx),
            Outcome::Unavailable {
                plugin: "dice".into()
            }
        );
        assert_eq!(
            out.0.lock().unwrap().last().unwrap(),
            "chat a: dice is unavailable."
        );
    }

    #[tokio::test]
    async fn pms_reach_only_commands_that_take_them_and_are_answered_by_pm() {
        let (c, out, registry) = router(PluginsConfig::default());
        let ctx = Context::default;
        assert_eq!(c.on_pm(line("a", 0.0, "!poll x|y"), ctx), Outcome::Unknown);
        assert_eq!(c.on_pm(line("a", 0.0, "help"), ctx), Outcome::NotACommand);
        registry.update(vec![]);
        assert_eq!(
            c.on_pm(line("a", 0.0, "!roll"), ctx),
            Outcome::Unavailable {
                plugin: "dice".into()
            }
        );
        c.deliver(
            "a",
            Reply {
                chat: vec!["rolled".into()],
                error: Some("oops".into()),
                poll: Some(rosey_plugin::PollSpec {
                    title: "t".into(),
                    options: vec!["x".into(), "y".into()],
                }),
                ..Reply::none()
            },
            true,
        );
        assert_eq!(
            out.0.lock().unwrap().as_slice(),
            ["pm a dice is unavailable.", "pm a oops", "pm a rolled"]
        );
    }

    #[tokio::test]
    async fn channels_list_their_plugins() {
        let mut s = PluginsConfig::default();
        s.channels.insert("chan".into(), vec!["quotes".into()]);
        let (c, _, _) = router(s);
        assert_eq!(
            c.on_chat(line("a", 0.0, "!roll"), Context::default),
            Outcome::NotEnabled
        );
    }

    #[tokio::test]
    async fn the_output_budget_cuts_lines_and_characters() {
        let (c, out, _) = router(PluginsConfig {
            max_lines: 3,
            max_chars: 14,
            ..PluginsConfig::default()
        });
        c.deliver(
            "u",
            Reply {
                chat: vec!["/kick someone".into(), "two\nthree".into(), "four".into()],
                pm: vec!["five".into()],
                ..Reply::none()
            },
            false,
        );
        assert_eq!(
            out.0.lock().unwrap().as_slice(),
            ["chat kick someone", "chat tw"]
        );
        assert_eq!(c.stats().truncated.load(Relaxed), 1);
    }
}
