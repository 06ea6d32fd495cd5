//! The Rosey bot: one task per enabled channel, whatever its platform (CyTube, IRC,
//! Matrix), turns the platform's events into normalized events and `rosey.db.*` events on
//! the bus, runs the background tasks (user counts, status, outbound pump) and the
//! moderators' PM command shell.
//!
//! # Layout
//! - [`platform`]: the seam — what a platform implements (actions, live view, updates) and
//!   everything else is written against.
//! - [`platforms`]: the platforms this bot knows: [`PlatformSpec`] and the one match on the
//!   kind where a channel is connected.
//! - [`cytube`], [`irc`], [`matrix`]: one folder per platform (its client's types never leave it; no
//!   platform folder imports another).
//! - [`config`]: [`BotConfig`] (one channel list, shell settings, intervals), from a v2
//!   config.
//! - `channel` (private): one channel's runner, the same for every platform: updates →
//!   published events, run states, counts, status, bus commands, plugin routing, the shell.
//! - [`publisher`]: stamping and publishing `rosey.db.*` and normalized events (durable
//!   mode through `rosey_bus::outbox`).
//! - [`pump`]: the outbound message pump.
//! - [`shell`]: the PM command shell (SPEC §5), one command table for every platform.
//! - [`commands`]: chat commands routed to plugin processes (`docs/plugins.md`).
//! - [`states`]: each channel's run state (connecting, running, reconnecting, stopped for
//!   good), for the exit decision, the shell's `status` and health checks.
//! - [`logs`]: chat and media log files; [`format`]: durations, timestamps, reply splitting.
//! - [`instruments`]: one channel's counters and gauges; [`metrics`]: the scrape-time
//!   [`metrics::BotSource`] (a bot's channels, or in lease mode the set the process holds).
//! - [`breaker`]: the circuit breaker on database queries (shell, pump).
//! - [`leases`]: several bot processes sharing the channels (every platform's) through
//!   leases in a JetStream key-value bucket (`cluster.leases`), each held channel run as a
//!   one-channel [`Bot`].
//! - [`status`]: the bot on the NATS micro-service API (`rosey-bot`), for `rosey status`.
//!
//! Start it with [`Bot::start`]; several channels run side by side, each with its own
//! connection, state and throttle, and never mix their data (every payload carries its
//! `channel`). Adding a platform: `docs/platforms.md`.

pub mod breaker;
mod channel;
pub mod commands;
pub mod config;
pub mod cytube;
pub mod format;
pub mod instruments;
pub mod irc;
pub mod leases;
pub mod logs;
pub mod matrix;
pub mod metrics;
pub mod platform;
pub mod platforms;
pub mod publisher;
pub mod pump;
pub mod shell;
pub mod states;
pub mod status;

use std::sync::Arc;

use rosey_bus::Bus;
use rosey_bus::outbox::Outbox;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use config::{BotConfig, ChannelSpec, Intervals, ShellSettings};
pub use platforms::PlatformSpec;
pub use publisher::{EventIds, Publisher};
pub use states::{ChannelStates, RunState};

/// A running bot.
pub struct Bot {
    stop: CancellationToken,
    tasks: JoinSet<()>,
    publishers: Vec<Publisher>,
    states: ChannelStates,
    outbox_stop: CancellationToken,
    outbox_task: Option<tokio::task::JoinHandle<()>>,
    source: metrics::BotSource,
}

impl Bot {
    /// Connects every channel and starts its tasks. Connection problems never fail this:
    /// every platform's client reconnects by itself, and the bus may come and go.
    pub fn start(bus: Bus, cfg: BotConfig) -> Bot {
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let ids = Arc::new(EventIds::new());
        let cfg = Arc::new(cfg);
        let mut publishers = Vec::new();
        let states = ChannelStates::new(cfg.channels.iter().map(|c| c.channel.clone()));
        let outbox_stop = CancellationToken::new();
        let mut outbox_task = None;
        let outbox = match (&cfg.durable, bus.nats_client()) {
            (Some(settings), Some(client)) => {
                // The outbox outlives the channels: it is stopped (and drained) last, so
                // the channels' final events still go out.
                let (outbox, task) =
                    Outbox::start(client.clone(), settings.clone(), outbox_stop.clone());
                outbox_task = Some(task);
                tracing::info!(stream = %settings.name, "Durable mode: database events go to JetStream.");
                Some(outbox)
            }
            (Some(_), None) => {
                tracing::warn!(
                    "nats.jetstream is set but the bus is embedded; durable mode is off."
                );
                None
            }
            _ => None,
        };
        let mut views = Vec::new();
        let registry = match (&cfg.plugins, bus.nats_client()) {
            (Some(p), Some(client)) => Some(commands::Registry::start(
                client.clone(),
                p.discovery_interval,
                stop.clone(),
            )),
            _ => None,
        };
        let new_publisher = |channel: &str| {
            let publisher =
                Publisher::new(bus.clone(), channel, ids.clone()).with_breaker(cfg.breaker.clone());
            match &outbox {
                Some(o) => publisher.with_outbox(o.clone()),
                None => publisher,
            }
        };
        for spec in cfg.channels.iter() {
            let publisher = new_publisher(&spec.channel);
            publishers.push(publisher.clone());
            tracing::info!(channel = %spec.channel, platform = %spec.name, kind = spec.platform.kind(), place = %spec.platform.place(), "Starting channel bot.");
            let conn = platforms::connect(spec, cfg.intervals.shell_db_timeout);
            views.push(metrics::ChannelView {
                platform: conn.platform.clone(),
                publisher: publisher.clone(),
            });
            // One token per channel: a channel that stops for good also stops its pump,
            // so the process notices when no channel is left.
            let channel_stop = stop.child_token();
            tasks.spawn(pump::run(
                conn.platform.clone(),
                publisher.clone(),
                cfg.intervals.clone(),
                channel_stop.clone(),
            ));
            // One router per channel (when plugins are on).
            let commands = registry.as_ref().zip(cfg.plugins.as_ref()).map(|(r, p)| {
                commands::ChannelCommands::new(
                    &spec.channel,
                    p.clone(),
                    r.clone(),
                    bus.clone(),
                    conn.platform.clone(),
                )
            });
            let bot = channel::ChannelBot::new(
                &spec.channel,
                cfg.clone(),
                bus.clone(),
                conn.platform,
                publisher,
                states.clone(),
            )
            .with_commands(commands);
            tasks.spawn(bot.run(conn.updates, channel_stop));
        }
        Bot {
            source: metrics::BotSource::of(metrics::BotParts {
                channels: views,
                outbox,
                states: states.clone(),
                plugins: registry.clone(),
            }),
            stop,
            tasks,
            publishers,
            states,
            outbox_stop,
            outbox_task,
        }
    }

    /// The bot's metrics and readiness (register with a [`rosey_metrics::Metrics`]).
    pub fn metrics_source(&self) -> metrics::BotSource {
        self.source.clone()
    }

    /// Events published and failed so far, over all channels.
    pub fn publish_counts(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.publishers.iter().fold((0, 0), |(p, f), x| {
            (
                p + x.stats().published.load(Relaxed),
                f + x.stats().failed.load(Relaxed),
            )
        })
    }

    /// Every channel's run state (shared; stays current while the bot runs).
    pub fn states(&self) -> &ChannelStates {
        &self.states
    }

    /// Stops every channel (a last status update, then the connections close).
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
        self.outbox_stop.cancel();
        if let Some(task) = self.outbox_task.take() {
            let _ = task.await;
        }
    }

    /// Waits until every channel has stopped by itself (all clients stopped for good) and
    /// returns each channel's reason.
    pub async fn wait(&mut self) -> Vec<(String, String)> {
        while self.tasks.join_next().await.is_some() {}
        self.states
            .snapshot()
            .into_iter()
            .map(|(ch, s)| match s {
                RunState::Stopped { reason } => (ch, reason),
                other => (ch, other.to_string()),
            })
            .collect()
    }
}
