//! The bot's Prometheus metrics: the [`BotSource`] that writes, at scrape time, every
//! channel's instruments ([`crate::instruments`], whatever its platform) with what its
//! client (through the platform seam), the publisher, the durable outbox and the breaker
//! count.
//!
//! Every family has a `channel` label (bounded by the configuration); the others come from
//! fixed sets: `kind` ([`EVENT_KINDS`]), `command` ([`SHELL_COMMANDS`]), `outcome`, `state`.

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, RwLock};

use rosey_config::ReadyWhen;
use rosey_metrics::{Check, Out, Source};

use crate::breaker::STATES as BREAKER_STATES;
use crate::platform::{ClientStats, Platform};
use crate::publisher::Publisher;
use crate::states::ChannelStates;
use rosey_bus::outbox::Outbox;

/// Channel run states as label values (the words of [`RunState::word`](crate::states::RunState::word)).
pub const CHANNEL_STATES: &[&str] = &["connecting", "running", "reconnecting", "stopped"];

pub use crate::instruments::{ChannelMetrics, EVENT_KINDS, SHELL_COMMANDS};

/// One channel as the source sees it: its connection and its publisher.
#[derive(Clone)]
pub(crate) struct ChannelView {
    pub platform: Arc<dyn Platform>,
    pub publisher: Publisher,
}

impl ChannelView {
    pub(crate) fn channel(&self) -> &str {
        self.publisher.channel()
    }
}

/// One [`Bot`](crate::Bot)'s channels, fixed for the bot's life.
pub(crate) struct BotParts {
    pub channels: Vec<ChannelView>,
    pub outbox: Option<Outbox>,
    pub states: ChannelStates,
    /// The plugin registry, when plugins are on (`rosey_bot_plugins`).
    pub plugins: Option<crate::commands::Registry>,
}

impl BotParts {
    /// A channel's run state word (`connecting`, `running`, `reconnecting`, `stopped`).
    pub(crate) fn state_word(&self, channel: &str) -> &'static str {
        self.states
            .get(channel)
            .map(|s| s.word())
            .unwrap_or("stopped")
    }
}

/// The metrics, readiness and status of a bot at scrape (or request) time.
///
/// A bot's own source ([`Bot::metrics_source`](crate::Bot::metrics_source)) holds that bot's
/// channels. In lease mode the process serves one [`BotSource::leased`] set instead, to which
/// the supervisor adds each held channel's one-channel bot when it acquires the lease and
/// from which it removes it on release: the same metrics and status code then always shows
/// the channels the process holds now. The set is read under a lock at scrape time only;
/// the channels' hot paths touch their atomics, never this.
#[derive(Clone)]
pub struct BotSource {
    bots: Arc<RwLock<Vec<Arc<BotParts>>>>,
    /// A lease-mode set: holding no channel is a standby, not a fault.
    leased: bool,
}

impl BotSource {
    /// One bot's source.
    pub(crate) fn of(parts: BotParts) -> BotSource {
        BotSource {
            bots: Arc::new(RwLock::new(vec![Arc::new(parts)])),
            leased: false,
        }
    }

    /// An empty lease-mode set (see [`crate::leases`]).
    pub fn leased() -> BotSource {
        BotSource {
            bots: Arc::default(),
            leased: true,
        }
    }

    /// Is this a lease-mode set?
    pub fn is_leased(&self) -> bool {
        self.leased
    }

    /// Adds `bot`'s channels to this set.
    pub fn add(&self, bot: &BotSource) {
        let parts = bot.parts();
        self.write().extend(parts);
    }

    /// Removes `bot`'s channels (added with [`BotSource::add`]) from this set.
    pub fn remove(&self, bot: &BotSource) {
        let parts = bot.parts();
        self.write()
            .retain(|p| !parts.iter().any(|q| Arc::ptr_eq(p, q)));
    }

    /// The bots now in the source.
    pub(crate) fn parts(&self) -> Vec<Arc<BotParts>> {
        self.bots.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Arc<BotParts>>> {
        self.bots.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Ready when every channel (or, with [`ReadyWhen::AnyChannel`], one) is joined. A
    /// lease-mode process holding no channel is a ready standby.
    pub fn check(&self, when: ReadyWhen) -> Check {
        let parts = self.parts();
        let total: usize = parts.iter().map(|b| b.channels.len()).sum();
        let joined: usize = parts
            .iter()
            .map(|b| b.channels.iter().filter(|c| c.platform.is_joined()).count())
            .sum();
        let standby = total == 0 && self.leased;
        let ok = match when {
            ReadyWhen::AllChannels => joined == total && (total > 0 || standby),
            ReadyWhen::AnyChannel => joined > 0 || standby,
        };
        let detail = if standby {
            "standby: no channel lease held".to_string()
        } else {
            format!("{joined} of {total} channels joined")
        };
        if ok {
            Check::ready(detail)
        } else {
            Check::not_ready(detail)
        }
    }
}

impl Source for BotSource {
    fn collect(&self, out: &mut Out<'_>) -> fmt::Result {
        let parts = self.parts();
        let chans: Vec<(&str, &ChannelMetrics, ClientStats, &Publisher)> = parts
            .iter()
            .flat_map(|b| &b.channels)
            .map(|c| {
                (
                    c.publisher.channel(),
                    &**c.publisher.metrics(),
                    c.platform.stats(),
                    &c.publisher,
                )
            })
            .collect();
        let each = |f: fn(&ChannelMetrics, &ClientStats, &Publisher) -> i64| {
            chans
                .iter()
                .map(move |(ch, m, s, p)| ([("channel", *ch)], f(m, s, p)))
        };
        // Every channel, whatever its platform: (channel, state word, joined).
        let presence: Vec<(&str, &'static str, bool)> = parts
            .iter()
            .flat_map(|b| {
                b.channels.iter().map(|c| {
                    (
                        c.channel(),
                        b.state_word(c.channel()),
                        c.platform.is_joined(),
                    )
                })
            })
            .collect();
        out.gauge(
            "rosey_bot_channel_state",
            "1 for the channel's current state (connecting, running, reconnecting, stopped).",
            presence.iter().flat_map(|(ch, now, _)| {
                CHANNEL_STATES
                    .iter()
                    .map(move |s| ([("channel", *ch), ("state", *s)], i64::from(now == s)))
            }),
        )?;
        out.gauge(
            "rosey_bot_connected",
            "1 while the channel is joined.",
            presence
                .iter()
                .map(|(ch, _, joined)| ([("channel", *ch)], i64::from(*joined))),
        )?;
        out.counter(
            "rosey_bot_reconnects",
            "Reconnect attempts to the chat server.",
            each(|m, _, _| m.reconnects.load(Relaxed) as i64).map(|(l, v)| (l, v as u64)),
        )?;
        out.gauge(
            "rosey_bot_users_chat",
            "Named users in the channel's user list.",
            each(|m, _, _| m.users_chat.load(Relaxed)),
        )?;
        out.gauge(
            "rosey_bot_users_connected",
            "Connections to the channel (CyTube's usercount, guests included).",
            each(|m, _, _| m.users_connected.load(Relaxed)),
        )?;
        out.counter(
            "rosey_bot_cytube_events",
            "Chat server events received, by kind.",
            chans.iter().flat_map(|(ch, m, _, _)| {
                m.events
                    .iter()
                    .map(move |(k, v)| ([("channel", *ch), ("kind", k)], v))
            }),
        )?;
        out.counter(
            "rosey_bot_chat_lines_sent",
            "Chat lines written to the chat server.",
            each(|_, s, _| s.chat_sent as i64).map(|(l, v)| (l, v as u64)),
        )?;
        out.counter(
            "rosey_bot_pms_sent",
            "Private messages written to the chat server.",
            each(|_, s, _| s.pm_sent as i64).map(|(l, v)| (l, v as u64)),
        )?;
        out.counter(
            "rosey_bot_throttle_waits",
            "Outgoing commands that waited for the flood throttle.",
            each(|_, s, _| s.throttle_waits as i64).map(|(l, v)| (l, v as u64)),
        )?;
        out.gauge(
            "rosey_bot_throttle_burst",
            "Chat throttle: messages allowed in a burst.",
            each(|_, s, _| s.throttle_burst as i64),
        )?;
        out.gauge(
            "rosey_bot_throttle_interval_seconds",
            "Chat throttle: seconds between messages after the burst.",
            chans
                .iter()
                .map(|(ch, _, s, _)| ([("channel", *ch)], s.throttle_interval)),
        )?;
        out.counter(
            "rosey_bot_flood_cooldowns",
            "Cooldown notices from the server (a message was dropped for flooding).",
            each(|_, s, _| s.cooldowns as i64).map(|(l, v)| (l, v as u64)),
        )?;
        out.gauge(
            "rosey_bot_outbound_queue_depth",
            "Commands accepted by the chat client and not yet written.",
            each(|_, s, _| s.queued as i64),
        )?;
        out.counter(
            "rosey_bot_outbound_sent",
            "Queued outbound messages (rosey say, the pump) sent.",
            each(|m, _, _| m.outbound_sent.load(Relaxed) as i64).map(|(l, v)| (l, v as u64)),
        )?;
        out.counter(
            "rosey_bot_outbound_failed",
            "Queued outbound messages that could not be sent (reported with mark_failed).",
            each(|m, _, _| m.outbound_failed.load(Relaxed) as i64).map(|(l, v)| (l, v as u64)),
        )?;
        out.counter(
            "rosey_bot_shell_commands",
            "PM shell commands run, by command and outcome.",
            chans.iter().flat_map(|(ch, m, _, _)| {
                let ok = m.shell_success.iter().map(move |(c, v)| {
                    (
                        [("channel", *ch), ("command", c), ("outcome", "success")],
                        v,
                    )
                });
                let err = m.shell_error.iter().map(move |(c, v)| {
                    ([("channel", *ch), ("command", c), ("outcome", "error")], v)
                });
                ok.chain(err)
            }),
        )?;
        out.counter(
            "rosey_bot_bus_published",
            "Events published to the bus.",
            each(|_, _, p| p.stats().published.load(Relaxed) as i64).map(|(l, v)| (l, v as u64)),
        )?;
        out.counter(
            "rosey_bot_bus_publish_errors",
            "Events the bus refused or timed out (plain mode drops them).",
            each(|_, _, p| p.stats().failed.load(Relaxed) as i64).map(|(l, v)| (l, v as u64)),
        )?;
        out.gauge(
            "rosey_bot_db_breaker_state",
            "1 for the database breaker's current state (closed, open, half_open).",
            chans.iter().flat_map(|(ch, m, _, _)| {
                let now = m.breaker.state();
                BREAKER_STATES
                    .iter()
                    .enumerate()
                    .map(move |(i, s)| ([("channel", *ch), ("state", *s)], i64::from(now == i)))
            }),
        )?;
        out.counter(
            "rosey_bot_db_breaker_transitions",
            "Database breaker transitions, by the state entered.",
            chans.iter().flat_map(|(ch, m, _, _)| {
                m.breaker
                    .transitions
                    .iter()
                    .map(move |(s, v)| ([("channel", *ch), ("state", s)], v))
            }),
        )?;
        out.counter(
            "rosey_bot_db_breaker_rejected",
            "Database queries refused at once while the breaker was open.",
            each(|m, _, _| m.breaker.rejected.load(Relaxed) as i64).map(|(l, v)| (l, v as u64)),
        )?;
        // Exported in plain mode too (at 0), so one dashboard fits both modes. In lease
        // mode every held channel's bot has an outbox of its own: their sum.
        let outboxes = || parts.iter().filter_map(|b| b.outbox.as_ref());
        out.gauge_value(
            "rosey_bot_durable_outbox_depth",
            "Durable mode: events waiting to be stored in the JetStream stream.",
            outboxes().map(|o| o.depth()).sum::<usize>() as i64,
        )?;
        out.counter_value(
            "rosey_bot_durable_outbox_overflow",
            "Durable mode: events refused because the outbox was full.",
            outboxes()
                .map(|o| o.stats().overflow.load(Relaxed))
                .sum::<u64>(),
        )?;
        // One registry per bot process; in lease mode every held bot shares the process's.
        let (present, absent) = parts
            .iter()
            .find_map(|b| b.plugins.as_ref())
            .map_or((0, 0), |r| r.plugin_counts());
        out.gauge(
            "rosey_bot_plugins",
            "Plugins on the bus: present (answered the last discovery) or absent (seen before, gone since; their commands answer \"unavailable\").",
            [
                ([("state", "present")], present as i64),
                ([("state", "absent")], absent as i64),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty_bot() -> BotSource {
        BotSource::of(BotParts {
            channels: Vec::new(),
            outbox: None,
            states: ChannelStates::new(Vec::new()),
            plugins: None,
        })
    }

    #[test]
    fn a_lease_set_follows_the_bots_added_and_removed() {
        let set = BotSource::leased();
        let (a, b) = (empty_bot(), empty_bot());
        set.add(&a);
        set.add(&b);
        assert_eq!(set.parts().len(), 2);
        set.remove(&a);
        let left = set.parts();
        assert_eq!(left.len(), 1);
        assert!(Arc::ptr_eq(&left[0], &b.parts()[0]));
        set.remove(&b);
        assert!(set.parts().is_empty());
    }

    #[test]
    fn holding_nothing_is_a_ready_standby_only_in_lease_mode() {
        for when in [ReadyWhen::AllChannels, ReadyWhen::AnyChannel] {
            let standby = BotSource::leased().check(when);
            assert!(standby.ok, "{}", standby.detail);
            assert!(!empty_bot().check(when).ok);
        }
    }
}
