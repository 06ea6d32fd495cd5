//! `rosey stats` and `rosey say`: small request/reply clients of the database service.

use std::{process::ExitCode, time::Duration};

use anyhow::Context;
use rosey_bot::shell::stats_text;
use rosey_bus::{Bus, BusError};
use rosey_model::{
    decode, encode,
    payload::{ChannelStatsReply, EnqueueReply, ErrorReply, OutboundEnqueue, UserStatsReply},
    subjects,
};
use serde_json::json;

/// How long to wait for the database service.
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);
/// Where NATS is when nothing says otherwise.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    /// Statistics of one user instead of the channel.
    #[arg(long)]
    pub user: Option<String>,
    /// Channel (default: the database service's default channel).
    #[arg(long)]
    pub channel: Option<String>,
    /// NATS server URL (default: the config's `nats.url`, else nats://127.0.0.1:4222).
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,
    /// A configuration file whose `nats` section (credentials, TLS) is used. The
    /// environment supplies secrets too (ROSEY_NATS_USER/PASSWORD, ROSEY_NATS_TOKEN, …).
    #[command(flatten)]
    pub config: super::config_arg::ConfigFile,
    /// Print the raw JSON reply.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct SayArgs {
    /// Channel (default: the database service's default channel).
    #[arg(long)]
    pub channel: Option<String>,
    /// NATS server URL (default: the config's `nats.url`, else nats://127.0.0.1:4222).
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,
    /// A configuration file whose `nats` section (credentials, TLS) is used. The
    /// environment supplies secrets too (ROSEY_NATS_USER/PASSWORD, ROSEY_NATS_TOKEN, …).
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// The message to send.
    pub message: String,
}

/// Connects with a bounded number of attempts: a one-shot command should fail with a clear
/// reason, not wait forever for a server that is not there. Credentials and TLS come from
/// `--config`'s `nats` section and the environment, as for the long-running commands.
pub async fn connect(url: Option<String>, config: Option<&std::path::Path>) -> anyhow::Result<Bus> {
    let cfg = super::common::config_or_env(config)?;
    let servers = servers(url, &cfg);
    let mut options =
        super::common::nats_options(&cfg.nats, servers, "rosey-cli", subjects::INBOX_ADMIN);
    options.max_reconnect_attempts = Some(1);
    options.connection_timeout = Duration::from_secs(3);
    Ok(Bus::connect(options).await?)
}

/// The servers a one-shot command tries: `--nats-url`/NATS_URL, else the configuration's
/// `nats.url`, else nats://127.0.0.1:4222 (an embedded bus is inside its process).
fn servers(url: Option<String>, cfg: &rosey_config::Config) -> Vec<String> {
    match url.map(|u| rosey_config::NatsUrl::parse_list(&u)) {
        Some(rosey_config::NatsUrl::Servers(s)) => s,
        _ => match &cfg.nats.url {
            rosey_config::NatsUrl::Servers(s) => s.clone(),
            rosey_config::NatsUrl::Embedded => vec![DEFAULT_NATS_URL.to_string()],
        },
    }
}

/// Where a one-shot command looked for the bus, for "nobody answered" messages (credentials
/// hidden), with the reminder that an embedded bus (`rosey demo`, `nats.url: embedded`) is
/// inside its process, where no other process can reach it.
pub fn address(url: Option<String>, config: Option<&std::path::Path>) -> String {
    let Ok(cfg) = super::common::config_or_env(config) else {
        return url.unwrap_or_else(|| DEFAULT_NATS_URL.into());
    };
    let embedded_file =
        url.is_none() && config.is_some() && cfg.nats.url == rosey_config::NatsUrl::Embedded;
    let options = rosey_bus::NatsOptions {
        servers: servers(url, &cfg),
        ..rosey_bus::NatsOptions::default()
    };
    let hint = if embedded_file {
        "the configuration's nats.url is \"embedded\": that bus lives inside the process that runs it, where no other process can reach it"
    } else {
        "`rosey demo` and a `nats.url: embedded` configuration keep their bus inside their process, where this cannot reach it"
    };
    format!("{} ({hint})", options.servers_for_log())
}

/// Sends a request and turns "nobody answered" into a sentence an operator understands.
pub(super) async fn ask(
    bus: &Bus,
    subject: &str,
    body: serde_json::Value,
) -> anyhow::Result<bytes::Bytes> {
    match bus.request(subject, encode(&body), REPLY_TIMEOUT).await {
        Ok(m) => Ok(m.payload),
        Err(BusError::NoResponders { .. }) => {
            anyhow::bail!("the database service is not running (no responders on {subject})")
        }
        Err(BusError::Timeout { .. }) => anyhow::bail!(
            "the database service did not answer within {REPLY_TIMEOUT:?} ({subject})"
        ),
        Err(e) => Err(e.into()),
    }
}

/// An `{success:false, error}` reply becomes an error.
pub(super) fn check_error(payload: &[u8]) -> anyhow::Result<()> {
    if let Ok(e) = decode::<ErrorReply>(payload)
        && !e.success
    {
        anyhow::bail!("the database service answered: {}", e.error);
    }
    Ok(())
}

pub async fn stats(args: StatsArgs) -> anyhow::Result<ExitCode> {
    let at = address(args.nats_url.clone(), args.config.as_deref());
    let bus = connect(args.nats_url, args.config.as_deref()).await?;
    let mut body = match &args.user {
        Some(u) => json!({ "username": u }),
        None => json!({}),
    };
    if let Some(c) = &args.channel {
        body["channel"] = json!(c);
    }
    let subject = if args.user.is_some() {
        subjects::QUERY_USER_STATS
    } else {
        subjects::QUERY_CHANNEL_STATS
    };
    let payload = ask(&bus, subject, body)
        .await
        .with_context(|| format!("NATS at {at}"))?;
    if args.json {
        println!("{}", String::from_utf8_lossy(&payload));
        return Ok(ExitCode::SUCCESS);
    }
    check_error(&payload)?;
    let lines = if args.user.is_some() {
        let reply: UserStatsReply = decode(&payload).context("unexpected user_stats reply")?;
        stats_text::user_stats(&reply)
    } else {
        let reply: ChannelStatsReply =
            decode(&payload).context("unexpected channel_stats reply")?;
        let mut lines = stats_text::channel_stats(&reply);
        lines.insert(
            1,
            format!(
                "Now: {} in chat, {} connected",
                reply.current.chat_users, reply.current.connected_users
            ),
        );
        lines
    };
    for line in lines {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn say(args: SayArgs) -> anyhow::Result<ExitCode> {
    if args.message.trim().is_empty() {
        anyhow::bail!("the message is empty");
    }
    let bus = connect(args.nats_url, args.config.as_deref()).await?;
    let request = OutboundEnqueue {
        message: args.message,
        channel: args.channel,
        ts: None,
        id: None,
    };
    let payload = ask(
        &bus,
        subjects::OUTBOUND_ENQUEUE,
        serde_json::to_value(&request)?,
    )
    .await?;
    check_error(&payload)?;
    let reply: EnqueueReply = decode(&payload).context("unexpected enqueue reply")?;
    println!(
        "Queued message #{} (the bot sends it within a few seconds)",
        reply.id
    );
    Ok(ExitCode::SUCCESS)
}
