//! `rosey web` (the dashboard and HTTP API, a client of the bus) and `rosey token`
//! (API tokens, through the database service). `rosey run` and `rosey demo` serve the
//! dashboard too (see [`serve_if_configured`]).

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use rosey_bus::Bus;
use rosey_model::web::{TokenCreated, TokenList, TokenRevoked};
use rosey_model::{decode, subjects};
use serde_json::json;

use super::common::{before_signal, connect_bus, shutdown_signal};

/// Where `rosey web` listens when neither flag nor config says.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(clap::Args, Debug)]
pub struct WebArgs {
    /// Configuration file (v2): its `nats` section, channels and `web` section.
    #[command(flatten)]
    pub config: super::config_arg::ConfigFile,
    /// Address to serve on (overrides `web.listen`; default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// NATS server URL (overrides the config).
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,
    /// A channel to show (repeatable; default: the config's enabled platforms).
    #[arg(long)]
    pub channel: Vec<String>,
    /// Log level.
    #[arg(long)]
    pub log_level: Option<String>,
    /// Serve /metrics, /healthz and /readyz on this address (overrides `metrics.listen`).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
}

/// The channels of the configuration's enabled platforms (the default channel first).
pub fn channels(config: &rosey_config::Config) -> Vec<String> {
    let mut list: Vec<String> = config
        .enabled_platforms()
        .map(|p| p.channel.name.clone())
        .collect();
    if list.is_empty() {
        list.push(config.default_channel().to_string());
    }
    list
}

fn web_config(
    config: &rosey_config::Config,
    listen: SocketAddr,
) -> anyhow::Result<rosey_web::WebConfig> {
    let w = &config.web;
    let mut cfg = rosey_web::WebConfig::new(listen, channels(config));
    cfg.secure_cookies = w.secure_cookies;
    cfg.trusted_proxies =
        rosey_web::TrustedProxies::parse(&w.trusted_proxies).context("web.trusted_proxies")?;
    let l = &mut cfg.limits;
    l.header_timeout = w.header_timeout.unwrap_or(l.header_timeout);
    l.idle_timeout = w.idle_timeout.unwrap_or(l.idle_timeout);
    l.max_connections = w.max_connections.unwrap_or(l.max_connections);
    l.max_connections_per_client = w
        .max_connections_per_client
        .unwrap_or(l.max_connections_per_client);
    l.max_streams = w.max_streams.unwrap_or(l.max_streams);
    l.max_streams_per_client = w.max_streams_per_client.unwrap_or(l.max_streams_per_client);
    Ok(cfg)
}

/// Starts the dashboard when the configuration has `web.listen` (for `rosey run`).
pub async fn serve_if_configured(
    bus: &Bus,
    config: &rosey_config::Config,
) -> anyhow::Result<Option<rosey_web::WebHandle>> {
    let Some(listen) = config.web.listen else {
        return Ok(None);
    };
    let handle = rosey_web::start(bus.clone(), web_config(config, listen)?)
        .await
        .context("cannot start the web dashboard")?;
    tracing::info!(url = %handle.url(), "Web dashboard.");
    Ok(Some(handle))
}

/// The dashboard of `rosey demo`: on `listen`, or any free port when that one is taken.
pub async fn demo_dashboard(
    bus: &Bus,
    channel: &str,
    listen: SocketAddr,
    notice: &str,
) -> anyhow::Result<rosey_web::WebHandle> {
    let cfg = rosey_web::WebConfig {
        notice: Some(notice.to_owned()),
        chart_refresh: std::time::Duration::from_secs(5),
        ..rosey_web::WebConfig::new(listen, vec![channel.to_string()])
    };
    match rosey_web::start(bus.clone(), cfg.clone()).await {
        Ok(w) => Ok(w),
        Err(rosey_web::WebError::Bind(..)) => {
            let any = SocketAddr::new(listen.ip(), 0);
            let cfg = rosey_web::WebConfig { listen: any, ..cfg };
            Ok(rosey_web::start(bus.clone(), cfg)
                .await
                .context("cannot start the web dashboard")?)
        }
        Err(e) => Err(e).context("cannot start the web dashboard"),
    }
}

/// A token for the demo's page (the demo's database is thrown away at the end).
pub async fn demo_token(bus: &Bus) -> Option<String> {
    let body = json!({"description": "rosey demo"});
    let reply = super::stats::ask(bus, subjects::TOKENS_CREATE, body)
        .await
        .ok()?;
    decode::<TokenCreated>(&reply).ok().map(|c| c.token)
}

pub async fn run(args: WebArgs) -> anyhow::Result<ExitCode> {
    let mut signal = Box::pin(shutdown_signal());
    let config = match args.config.as_deref() {
        Some(path) => super::common::load_config(path, args.log_level.as_deref())?,
        None => {
            crate::logging::init(args.log_level.as_deref(), "info", false);
            super::common::config_or_env(None)?
        }
    };
    let listen = match (args.listen, config.web.listen) {
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => DEFAULT_LISTEN.parse()?,
    };
    let mut cfg = web_config(&config, listen)?;
    if !args.channel.is_empty() {
        cfg.channels = args.channel.clone();
    }
    let url = args.nats_url.clone().or_else(|| {
        config
            .nats
            .is_embedded()
            .then(|| super::stats::DEFAULT_NATS_URL.into())
    });
    let connect = connect_bus(
        &config.nats,
        url.as_deref(),
        "rosey-web",
        rosey_model::subjects::INBOX_WEB,
    );
    let Some(bus) = before_signal(&mut signal, connect).await else {
        return Ok(ExitCode::SUCCESS);
    };
    let bus = bus?;
    let metrics =
        super::common::MetricsListener::start(args.metrics_listen, &config, "web").await?;
    if let Some(m) = &metrics {
        m.watch_bus(&bus);
    }
    let web = rosey_web::start(bus, cfg)
        .await
        .context("cannot start the web dashboard")?;
    if let Some(m) = &metrics {
        m.metrics.add_source(web.stats());
    }
    println!("Rosey dashboard: {}", web.url());
    signal.await;
    tracing::info!("Signal received; stopping.");
    web.shutdown().await;
    if let Some(m) = metrics {
        m.shutdown().await;
    }
    Ok(ExitCode::SUCCESS)
}

/// The bus options every `rosey token` subcommand takes.
#[derive(clap::Args, Debug)]
pub struct BusArgs {
    /// NATS server URL (default: the config's `nats.url`, else nats://127.0.0.1:4222).
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,
    /// A configuration file whose `nats` section (credentials, TLS) is used.
    #[command(flatten)]
    pub config: super::config_arg::ConfigFile,
    /// Print the raw JSON reply.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token for the HTTP API; it is shown once, only its hash is stored.
    Create {
        /// What the token is for.
        #[arg(long, default_value = "")]
        description: String,
        /// May also administer tokens over HTTP (/api/tokens).
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        bus: BusArgs,
    },
    /// List tokens (their first characters, never the token).
    List {
        #[command(flatten)]
        bus: BusArgs,
    },
    /// Revoke the token that starts with PREFIX (at least 8 characters).
    Revoke {
        prefix: String,
        #[command(flatten)]
        bus: BusArgs,
    },
}

async fn request(
    b: &BusArgs,
    subject: &str,
    body: serde_json::Value,
) -> anyhow::Result<bytes::Bytes> {
    let bus = super::stats::connect(b.nats_url.clone(), b.config.as_deref()).await?;
    let payload = super::stats::ask(&bus, subject, body).await?;
    super::stats::check_error(&payload)?;
    Ok(payload)
}

pub async fn token(cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TokenCommand::Create {
            description,
            admin,
            bus,
        } => {
            let reply = request(
                &bus,
                subjects::TOKENS_CREATE,
                json!({"description": description, "admin": admin}),
            )
            .await?;
            let created: TokenCreated = decode(&reply)?;
            if bus.json {
                println!("{}", String::from_utf8_lossy(&reply));
            } else {
                println!("{}", created.token);
                eprintln!(
                    "Created {}token {}… — copy it now: it is not stored and cannot be shown again.",
                    if created.admin { "admin " } else { "" },
                    created.prefix
                );
            }
        }
        TokenCommand::List { bus } => {
            let reply = request(&bus, subjects::TOKENS_LIST, json!({})).await?;
            let list: TokenList = decode(&reply)?;
            if bus.json {
                println!("{}", String::from_utf8_lossy(&reply));
            } else if list.tokens.is_empty() {
                println!("No API tokens.");
            } else {
                println!(
                    "{:<16} {:<6} {:<8} {:>12} {:>12}  DESCRIPTION",
                    "PREFIX", "ADMIN", "REVOKED", "CREATED", "LAST USED"
                );
                for t in &list.tokens {
                    println!(
                        "{:<16} {:<6} {:<8} {:>12} {:>12}  {}",
                        t.prefix,
                        if t.admin { "yes" } else { "no" },
                        if t.revoked { "yes" } else { "no" },
                        t.created_at,
                        t.last_used
                            .map(|t| t.to_string())
                            .unwrap_or_else(|| "-".into()),
                        t.description.as_deref().unwrap_or("")
                    );
                }
            }
        }
        TokenCommand::Revoke { prefix, bus } => {
            let reply = request(&bus, subjects::TOKENS_REVOKE, json!({"prefix": prefix})).await?;
            let r: TokenRevoked = decode(&reply)?;
            if bus.json {
                println!("{}", String::from_utf8_lossy(&reply));
            }
            if r.revoked == 0 {
                eprintln!("rosey: no live token starts with `{prefix}`");
                return Ok(ExitCode::FAILURE);
            }
            if !bus.json {
                println!("Revoked {}…", r.prefix.unwrap_or_default());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
