//! The moderator's cost on logging (`rosey bench --moderation`): chat line → stored row
//! latency, measured as [`crate::e2e`] measures it, with `rosey moderator` running and
//! without, alternately in the same run. The moderator only follows the events; the
//! storage path (bot → `rosey.db.*` → database service) does not wait for it, so the ratio
//! of the two should be 1.
//!
//! Set-up: a nats-server, `rosey db-service` and `rosey bot` as their own processes, the
//! devserver and the chatters in this process; then rounds of "off" (no moderator) and "on"
//! (`rosey moderator` judging every channel with the default rules, flood relaxed so that
//! the chatters' steady 5 lines/s each are not a flood, and dry run: it decides, and acts
//! on nothing, so the runs stay comparable).

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use rosey_bus::{Bus, NatsOptions};
use rosey_devserver::{DevServer, DevServerConfig};
use rosey_model::subjects;
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::BenchError;
use crate::options::Sizes;
use crate::procs::Child;
use crate::stats::Spread;

/// How long a process may take to answer after it is spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a process may take to stop after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The figures: each end-to-end run's percentiles with the moderator off and on.
#[derive(Debug, Clone, Serialize)]
pub struct ModerationLatency {
    pub rate: u32,
    pub channels: usize,
    pub lines_per_run: usize,
    /// Off/on pairs.
    pub rounds: usize,
    pub off_p50_ms: Spread,
    pub off_p99_ms: Spread,
    pub on_p50_ms: Spread,
    pub on_p99_ms: Spread,
    /// Lines lost or stored twice, all runs.
    pub lost: u64,
    pub duplicated: u64,
    /// Chat lines the moderator judged while on (from its state), and its decisions.
    pub lines_judged: u64,
    pub decisions: u64,
}

impl ModerationLatency {
    /// On ÷ off, of the medians of the runs' p50.
    pub fn ratio_p50(&self) -> f64 {
        self.on_p50_ms.median / self.off_p50_ms.median.max(f64::MIN_POSITIVE)
    }

    /// On ÷ off, of the medians of the runs' p99.
    pub fn ratio_p99(&self) -> f64 {
        self.on_p99_ms.median / self.off_p99_ms.median.max(f64::MIN_POSITIVE)
    }

    pub fn to_markdown(&self) -> String {
        let row = |name: &str, p50: &Spread, p99: &Spread| {
            format!(
                "| {name} | {:.2} ({:.2}–{:.2}) | {:.2} ({:.2}–{:.2}) |\n",
                p50.median, p50.min, p50.max, p99.median, p99.min, p99.max
            )
        };
        format!(
            "## Moderation: added end-to-end latency\n\n\
             Chat line → stored row at {} lines/s over {} channels, {} lines per run, {} \
             off/on rounds (medians of the runs, min–max in brackets). On: `rosey moderator` \
             judged {} lines ({} decisions, dry run).\n\n\
             | moderator | p50 ms | p99 ms |\n|---|---|---|\n{}{}\n\
             Ratio on ÷ off: p50 **{:.2}**, p99 **{:.2}** (target: 1, no added latency). \
             Lost {}, duplicated {}.\n",
            self.rate,
            self.channels,
            self.lines_per_run,
            self.rounds,
            self.lines_judged,
            self.decisions,
            row("off", &self.off_p50_ms, &self.off_p99_ms),
            row("on", &self.on_p50_ms, &self.on_p99_ms),
            self.ratio_p50(),
            self.ratio_p99(),
            self.lost,
            self.duplicated
        )
    }
}

/// The moderator's configuration: every channel moderated with the default rules, dry run,
/// flood well above the chatters' pace.
fn moderator_config(nats_url: &str, channels: &[String]) -> Value {
    let rules: serde_json::Map<String, Value> =
        channels.iter().map(|c| (c.clone(), json!({}))).collect();
    json!({
        "version": "2.0",
        "nats": {"url": nats_url},
        "moderation": {
            "enabled": true,
            "defaults": {"dry_run": true, "flood": {"lines": 100, "seconds": 5}},
            "channels": rules,
        },
        "logging": {"level": "warn"},
    })
}

/// Runs `rounds` off/on pairs of end-to-end measurements at `sizes`.
pub async fn run(
    rosey: &Path,
    sizes: &Sizes,
    rounds: usize,
) -> Result<ModerationLatency, BenchError> {
    rosey_testkit::find_binary().ok_or(BenchError::NatsServerMissing)?;
    let nats = std::panic::catch_unwind(rosey_testkit::NatsServer::start)
        .map_err(|p| BenchError::NatsServerStart(crate::panic_text(p.as_ref())))?;
    let url = nats.url();
    let client = Bus::connect(NatsOptions::new(url.clone())).await?;
    let dir = tempfile::tempdir()?;
    let dir = dir.path();
    let db = dir.join("moderation.db");
    let mut service = Child::spawn_db_service(
        rosey,
        &[
            OsStr::new("--log-level"),
            OsStr::new("warn"),
            OsStr::new("--db-path"),
            db.as_os_str(),
            OsStr::new("--nats-url"),
            OsStr::new(&url),
        ],
        dir,
        dir.join("db-service.log"),
        &[],
    )?;
    crate::query::wait_answering(
        &client,
        service.what(),
        subjects::RECENT_CHAT_GET,
        service.started,
        READY_TIMEOUT,
    )
    .await?;
    let devserver = DevServer::start(DevServerConfig::default()).await?;
    let channels: Vec<String> = (0..sizes.e2e_channels).map(|c| format!("mod{c}")).collect();
    let config = crate::bot::config(&url, &devserver.base_url(), &channels);
    let mut bot = crate::bot::spawn(rosey, dir, "bot-moderation", &config)?;
    crate::bot::wait_joined(&devserver, &mut bot, &channels).await?;
    let mod_config = dir.join("moderator.json");
    std::fs::write(&mod_config, moderator_config(&url, &channels).to_string()).map_err(
        |source| BenchError::Write {
            path: mod_config.clone(),
            source,
        },
    )?;

    let (mut off, mut on) = (Vec::new(), Vec::new());
    let (mut lost, mut duplicated) = (0, 0);
    let (mut lines_judged, mut decisions) = (0, 0);
    let mut lines_per_run = 0;
    for _ in 0..rounds.max(1) {
        for moderated in [false, true] {
            let mut moderator = if moderated {
                let mut m = Child::spawn(
                    "rosey moderator",
                    rosey,
                    &[OsStr::new("moderator"), mod_config.as_os_str()],
                    dir,
                    dir.join("moderator.log"),
                    &[],
                )?;
                crate::query::wait_answering(
                    &client,
                    "rosey moderator",
                    subjects::MODERATION_STATE,
                    m.started,
                    READY_TIMEOUT,
                )
                .await?;
                m.check_alive()?;
                Some(m)
            } else {
                None
            };
            let figure = crate::e2e::measure(
                crate::e2e::Rig {
                    client: &client,
                    devserver: &devserver,
                    db: &db,
                    bot: &mut bot,
                    service: &mut service,
                    channels: &channels,
                },
                sizes,
                || {},
            )
            .await?;
            // The next measurement's chatters log in under the same names.
            senders_gone(&devserver, &channels).await?;
            lost += figure.lost;
            duplicated += figure.duplicated;
            lines_per_run = figure.lines_per_run;
            let runs = if moderated { &mut on } else { &mut off };
            runs.push((figure.latency.p50_ms.median, figure.latency.p99_ms.median));
            if let Some(m) = moderator.as_mut() {
                let (judged, decided) = judged(&client).await?;
                lines_judged += judged;
                decisions += decided;
                m.terminate(STOP_TIMEOUT).await?;
            }
        }
    }
    let _ = bot.terminate(STOP_TIMEOUT).await;
    let _ = service.terminate(STOP_TIMEOUT).await;
    devserver.shutdown().await;
    drop(client);
    drop(nats);
    let spread = |runs: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| {
        Spread::of(runs.iter().map(f).collect())
            .ok_or_else(|| BenchError::measurement("moderation latency", "no run"))
    };
    Ok(ModerationLatency {
        rate: sizes.e2e_rate,
        channels: channels.len(),
        lines_per_run,
        rounds: rounds.max(1),
        off_p50_ms: spread(&off, |r| r.0)?,
        off_p99_ms: spread(&off, |r| r.1)?,
        on_p50_ms: spread(&on, |r| r.0)?,
        on_p99_ms: spread(&on, |r| r.1)?,
        lost,
        duplicated,
        lines_judged,
        decisions,
    })
}

/// Waits until only the bot is left in every channel.
async fn senders_gone(devserver: &DevServer, channels: &[String]) -> Result<(), BenchError> {
    for ch in channels {
        for user in devserver.users(ch) {
            if user.name != crate::bot::BOT_NAME
                && !devserver
                    .wait_for_user_gone(ch, &user.name, READY_TIMEOUT)
                    .await
            {
                return Err(BenchError::NotReady {
                    what: format!("chatter {} to leave {ch}", user.name),
                    seconds: READY_TIMEOUT.as_secs_f64(),
                    detail: String::new(),
                });
            }
        }
    }
    Ok(())
}

/// The lines the moderator judged and the decisions it took, from its state.
async fn judged(client: &Bus) -> Result<(u64, u64), BenchError> {
    let reply = client
        .request(subjects::MODERATION_STATE, &b"{}"[..], READY_TIMEOUT)
        .await?;
    let state: Value = serde_json::from_slice(&reply.payload)
        .map_err(|e| BenchError::measurement("moderator state", e))?;
    let decisions = state["decisions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["count"].as_u64())
        .sum();
    Ok((state["lines"].as_u64().unwrap_or(0), decisions))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_moderator_judges_every_channel_in_dry_run() {
        let c = moderator_config("nats://127.0.0.1:1", &["a".into(), "b".into()]);
        assert_eq!(c["moderation"]["enabled"], true);
        assert_eq!(c["moderation"]["defaults"]["dry_run"], true);
        assert!(c["moderation"]["channels"]["b"].is_object());
    }

    #[test]
    fn ratios_and_table() {
        let s = |v: f64| Spread::of(vec![v]).unwrap();
        let m = ModerationLatency {
            rate: 1000,
            channels: 50,
            lines_per_run: 5000,
            rounds: 2,
            off_p50_ms: s(2.0),
            off_p99_ms: s(4.0),
            on_p50_ms: s(2.2),
            on_p99_ms: s(4.0),
            lost: 0,
            duplicated: 0,
            lines_judged: 10_000,
            decisions: 0,
        };
        assert!((m.ratio_p50() - 1.1).abs() < 1e-9);
        assert!((m.ratio_p99() - 1.0).abs() < 1e-9);
        let md = m.to_markdown();
        assert!(md.contains("p50 **1.10**, p99 **1.00**"), "{md}");
    }
}
