//! `rosey demo`: the whole system in one process with no network and no NATS — the
//! devserver, a handful of simulated chatters, the bot and the database service on the
//! embedded bus — with a live one-line summary and the final statistics.

use std::{
    io::{IsTerminal, Write},
    path::PathBuf,
    process::ExitCode,
    time::Duration,
};

use anyhow::Context;
use rosey_bot::{Bot, BotConfig, ChannelSpec, shell::stats_text};
use rosey_bus::Bus;
use rosey_cytube::{ClientConfig, Login};
use rosey_dbservice::{DbService, DbServiceConfig};
use rosey_devserver::{DevServer, DevServerConfig};
use rosey_model::{
    decode, decode_list, encode,
    payload::{ChannelStatsReply, ChatRow},
    subjects,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{chatters, common::shutdown_signal};

const CHANNEL: &str = "demo";
const BOT_NAME: &str = "Rosey";
const BOT_PASSWORD: &str = "demo-bot";
const MOD_NAME: &str = "mia";
const MOD_PASSWORD: &str = "demo-mod";
const DJ_NAME: &str = "dj_rosa";
const DJ_PASSWORD: &str = "demo-dj";
const GUESTS: &[&str] = &["alice", "bob", "carol", "dave"];
/// The demo's user-count samples and status updates come this often (5 minutes and 10 s in
/// a real deployment), so its charts fill within seconds.
const DEMO_INTERVALS: (Duration, Duration) = (Duration::from_secs(5), Duration::from_secs(2));
/// How often the demo playlist moves to its next item.
const DEMO_TRACK: Duration = Duration::from_secs(12);
/// What the dashboard says under its title.
const DEMO_NOTICE: &str = "This is the Rosey demo: a simulated CyTube channel with simulated \
    chatters, a demo playlist, and user counts sampled every 5 s (5 min in a real deployment).";

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Keep the database here instead of a temporary file.
    #[arg(long)]
    pub db_path: Option<PathBuf>,
    /// Log level for the components (default: warn, so the summary stays readable).
    #[arg(long)]
    pub log_level: Option<String>,
    /// Serve the web dashboard here (another free port when this one is taken).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub web_listen: std::net::SocketAddr,
}

/// Prints a line above the live summary.
pub fn note(text: &str) {
    let mut out = std::io::stdout().lock();
    if out.is_terminal() {
        let _ = write!(out, "\r\x1b[2K");
    }
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// One summary line from the database service's answers.
async fn summary(bus: &Bus) -> Option<(String, ChannelStatsReply)> {
    let timeout = Duration::from_secs(1);
    let body = encode(&json!({"channel": CHANNEL}));
    let stats = bus
        .request(subjects::QUERY_CHANNEL_STATS, body, timeout)
        .await
        .ok()?;
    let stats: ChannelStatsReply = decode(&stats.payload).ok()?;
    let body = encode(&json!({"channel": CHANNEL, "limit": 1_000_000}));
    let chat = bus
        .request(subjects::RECENT_CHAT_GET, body, timeout)
        .await
        .ok()?;
    let stored = decode_list::<ChatRow>(&chat.payload)
        .map(|v| v.len())
        .unwrap_or(0);
    let line = format!(
        "users in chat: {} | connected: {} | messages stored: {} | peak: {} | users seen: {}",
        stats.current.chat_users,
        stats.current.connected_users,
        stored,
        stats.high_water_mark.users,
        stats.total_users_seen
    );
    Some((line, stats))
}

pub async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    crate::logging::init(args.log_level.as_deref(), "warn", false);
    let tmp = tempfile::tempdir().context("cannot create a temporary directory")?;
    let db_path = args
        .db_path
        .clone()
        .unwrap_or_else(|| tmp.path().join("demo.db"));

    let mut server_cfg = DevServerConfig::default()
        .with_account(BOT_NAME, BOT_PASSWORD, 3.0)
        .with_account(MOD_NAME, MOD_PASSWORD, 2.0)
        .with_account(DJ_NAME, DJ_PASSWORD, 2.0);
    server_cfg.guest_login_delay = Duration::ZERO;
    let server = DevServer::start(server_cfg)
        .await
        .context("cannot start the devserver")?;
    let base = server.base_url();
    note(&format!(
        "devserver: {base} (channel `{CHANNEL}`); database: {}",
        db_path.display()
    ));

    let bus = Bus::embedded();
    let db = DbService::start(bus.clone(), DbServiceConfig::new(&db_path, CHANNEL))
        .await
        .context("cannot start the database service")?;

    let mut client = ClientConfig::new(
        &base,
        CHANNEL,
        Login::Registered {
            name: BOT_NAME.into(),
            password: BOT_PASSWORD.into(),
        },
    );
    client.backoff.base = Duration::from_millis(500);
    client.backoff.cap = Duration::from_secs(5);
    let mut bot_cfg = BotConfig::new(vec![ChannelSpec::cytube(CHANNEL, "demo", client)]);
    (bot_cfg.intervals.user_count, bot_cfg.intervals.status) = DEMO_INTERVALS;
    let bot = Bot::start(bus.clone(), bot_cfg);

    let web = super::web::demo_dashboard(&bus, CHANNEL, args.web_listen, DEMO_NOTICE).await?;
    // The last hour: the demo's samples fill it within seconds.
    note(&format!("dashboard: {}?hours=1", web.url()));
    if let Some(token) = super::web::demo_token(&bus).await {
        note(&format!(
            "API token (log in on the page to say something): {token}"
        ));
    }

    let stop = CancellationToken::new();
    let mut sims = tokio::task::JoinSet::new();
    for (i, name) in GUESTS.iter().enumerate() {
        sims.spawn(chatters::guest(
            base.clone(),
            CHANNEL.into(),
            name.to_string(),
            i as u64 + 1,
            i % 2 == 1,
            stop.child_token(),
        ));
    }
    sims.spawn(chatters::dj(
        base.clone(),
        CHANNEL.into(),
        DJ_NAME.into(),
        DJ_PASSWORD.into(),
        DEMO_TRACK,
        stop.child_token(),
    ));
    sims.spawn(chatters::moderator(
        base.clone(),
        CHANNEL.into(),
        MOD_NAME.into(),
        MOD_PASSWORD.into(),
        BOT_NAME.into(),
        Duration::from_secs(15),
        stop.child_token(),
    ));

    let tty = std::io::stdout().is_terminal();
    let deadline = args
        .seconds
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let until = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(until);
    let signal = shutdown_signal();
    tokio::pin!(signal);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = &mut until => break,
            _ = &mut signal => break,
            _ = tick.tick() => {
                n += 1;
                let line = summary(&bus).await.map(|(l, _)| l).unwrap_or_else(|| "waiting for the database service…".into());
                if tty {
                    print!("\r\x1b[2K{line}");
                    let _ = std::io::stdout().flush();
                } else if n.is_multiple_of(5) {
                    println!("{line}");
                }
            }
        }
    }
    if tty {
        println!();
    }
    stop.cancel();
    while sims.join_next().await.is_some() {}
    web.shutdown().await;
    bot.shutdown().await;
    db.flush().await.ok();
    println!();
    match summary(&bus).await {
        Some((line, stats)) => {
            println!("Final: {line}");
            for l in stats_text::channel_stats(&stats) {
                println!("{l}");
            }
        }
        None => println!("Final statistics unavailable."),
    }
    db.shutdown().await.context("database service shutdown")?;
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
