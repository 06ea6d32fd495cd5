//! The plugin command round trip (issue 14): a user's `!ping` chat line in → the bot's
//! reply line out, with 1 and with 10 plugins registered, and the bot's CPU per routed
//! command.
//!
//! Set-up: a nats-server, the devserver (this process), `rosey bot` as its own process with
//! rate limits off, and the plugins in this process on `rosey-plugin`. One guest sends one
//! command at a time, each after the previous reply and at least [`SPACING`] after the
//! previous send, so neither side's flood pacing ever delays a line: the figure excludes
//! pacing. The time is taken at the sending user's client (its send and the broadcast back
//! included: two loopback websocket hops on top of the bot's path).

use std::path::Path;
use std::time::{Duration, Instant};

use rosey_cytube::{ClientConfig, CytubeEvent, Login, ServerEvent};
use rosey_devserver::{DevServer, DevServerConfig};
use rosey_plugin::{CommandSpec, Plugin, Reply, RunningPlugin};
use serde::Serialize;

use crate::error::BenchError;
use crate::stats::Percentiles;

/// The smallest gap between two commands. The clients' pacing (`rosey_cytube::Throttle`:
/// a burst, then at least 140 ms between lines until 2.6 s of silence) then never holds a
/// line back, on the user's side or the bot's.
pub const SPACING: Duration = Duration::from_millis(170);
/// Longer than `rosey_cytube::Throttle`'s reset after silence.
const PACING_RESET: Duration = Duration::from_secs(3);
/// How long one reply may take before the run fails.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
const CHANNEL: &str = "plugbench";

/// One configuration's figures.
#[derive(Debug, Clone, Serialize)]
pub struct RoundTrip {
    pub plugins: usize,
    pub latency: Percentiles,
    /// The bot process's CPU time per command, milliseconds.
    pub bot_cpu_ms_per_command: f64,
}

/// Both configurations.
#[derive(Debug, Clone, Serialize)]
pub struct PluginBench {
    pub samples: usize,
    pub runs: Vec<RoundTrip>,
}

impl PluginBench {
    pub fn to_markdown(&self) -> String {
        let mut s = String::from(
            "## Plugin command round trip\n\n\
             `!ping` from a user → the bot's reply at that user, one command at a time, no flood \
             pacing; the bot as `rosey bot`, the plugins on `rosey-plugin`.\n\n\
             | plugins registered | commands | p50 ms | p95 ms | p99 ms | max ms | bot CPU per command |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for r in &self.runs {
            s += &format!(
                "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.3} ms |\n",
                r.plugins,
                r.latency.count,
                r.latency.p50_ms,
                r.latency.p95_ms,
                r.latency.p99_ms,
                r.latency.max_ms,
                r.bot_cpu_ms_per_command
            );
        }
        s
    }
}

fn plugin(i: usize) -> Plugin {
    let command = if i == 0 {
        "ping".to_string()
    } else {
        format!("cmd{i}")
    };
    Plugin::new(format!("bench{i}"), "0.0.0").command(
        CommandSpec::new(command, "Answers at once."),
        |req| async move { Reply::chat(format!("pong {}", req.args)) },
    )
}

/// Runs `samples` commands with 1 plugin, then with 10.
pub async fn run(rosey: &Path, samples: usize) -> Result<PluginBench, BenchError> {
    rosey_testkit::find_binary().ok_or(BenchError::NatsServerMissing)?;
    let nats = std::panic::catch_unwind(rosey_testkit::NatsServer::start)
        .map_err(|p| BenchError::NatsServerStart(crate::panic_text(p.as_ref())))?;
    let devserver = DevServer::start(DevServerConfig::default()).await?;
    let dir = tempfile::tempdir()?;
    let mut config = crate::bot::config(&nats.url(), &devserver.base_url(), &[CHANNEL.into()]);
    config["plugins"] = serde_json::json!({"user_burst": 0, "channel_burst": 0});
    let mut bot = crate::bot::spawn(rosey, dir.path(), "plugin-bot", &config)?;
    crate::bot::wait_joined(&devserver, &mut bot, &[CHANNEL.into()]).await?;
    let client = async_nats::connect(nats.url())
        .await
        .map_err(|e| BenchError::Measurement {
            what: "plugin bench",
            detail: format!("cannot connect to NATS: {e}"),
        })?;
    let mut running: Vec<RunningPlugin> = Vec::new();
    let mut runs = Vec::new();
    let (user, mut events) = rosey_cytube::connect(ClientConfig::new(
        devserver.base_url(),
        CHANNEL,
        Login::Guest("bencher".into()),
    ));
    wait_for(&mut events, |e| matches!(e, CytubeEvent::Joined { .. })).await?;
    for count in [1usize, 10] {
        while running.len() < count {
            let p = plugin(running.len()).start(&client).await.map_err(|e| {
                BenchError::Measurement {
                    what: "plugin bench",
                    detail: e.to_string(),
                }
            })?;
            running.push(p);
        }
        // Warm-up: until the bot routes to the plugins (it discovers them on announce).
        let mut answered = 0;
        for k in 0..200 {
            if round_trip(
                &user,
                &mut events,
                &format!("w{count}-{k}"),
                Duration::from_millis(300),
            )
            .await
            .is_ok()
            {
                answered += 1;
                if answered >= 20 {
                    break;
                }
            }
        }
        // The warm-up went faster than the pacing allows; a silence longer than the pacing's
        // reset (2.6 s) restores both clients' burst, so no measured line waits for it.
        tokio::time::sleep(PACING_RESET).await;
        let cpu0 = bot.sample()?.cpu_s;
        let mut latencies = Vec::with_capacity(samples);
        for k in 0..samples {
            let sent = Instant::now();
            latencies.push(
                round_trip(&user, &mut events, &format!("{count}-{k}"), REPLY_TIMEOUT).await?,
            );
            if let Some(rest) = SPACING.checked_sub(sent.elapsed()) {
                tokio::time::sleep(rest).await;
            }
        }
        let cpu1 = bot.sample()?.cpu_s;
        runs.push(RoundTrip {
            plugins: count,
            latency: Percentiles::of(&latencies),
            bot_cpu_ms_per_command: (cpu1 - cpu0) * 1e3 / samples.max(1) as f64,
        });
    }
    user.shutdown().await;
    for p in running {
        p.stop().await;
    }
    bot.terminate(Duration::from_secs(10)).await?;
    Ok(PluginBench { samples, runs })
}

/// Sends `!ping <tag>` and waits for the bot's `pong <tag>`.
async fn round_trip(
    user: &rosey_cytube::CytubeHandle,
    events: &mut rosey_cytube::EventStream,
    tag: &str,
    timeout: Duration,
) -> Result<Duration, BenchError> {
    let t = Instant::now();
    user.chat(&format!("!ping {tag}"))
        .map_err(|e| BenchError::Measurement {
            what: "plugin bench",
            detail: e.to_string(),
        })?;
    let want = format!("pong {tag}");
    tokio::time::timeout(
        timeout,
        wait_for(
            events,
            |e| matches!(e, CytubeEvent::Server(ServerEvent::ChatMsg(m)) if m.text == want),
        ),
    )
    .await
    .map_err(|_| BenchError::Measurement {
        what: "plugin bench",
        detail: format!("no reply to !ping {tag} within {timeout:?}"),
    })??;
    Ok(t.elapsed())
}

async fn wait_for(
    events: &mut rosey_cytube::EventStream,
    ok: impl Fn(&CytubeEvent) -> bool,
) -> Result<(), BenchError> {
    while let Some(e) = events.recv().await {
        if ok(&e) {
            return Ok(());
        }
    }
    Err(BenchError::Measurement {
        what: "plugin bench",
        detail: "the user's connection ended".into(),
    })
}
