//! `rosey status`: every Rosey process on the bus, found through the NATS micro-service
//! discovery subjects (`$SRV.INFO`, `$SRV.STATS`): database services (`rosey-db`) with their
//! endpoints' request and error counts and ingest counters and the executable that runs them
//! (the lean `rosey-db` or `rosey`), bots (`rosey-bot`) with each
//! channel's state, users and queue depth. A table, or `--json` for scripts.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use serde_json::{Value, json};

use super::stats::connect;

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// NATS server URL.
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,
    /// A configuration file whose `nats` section (credentials, TLS) is used.
    #[command(flatten)]
    pub config: super::config_arg::ConfigFile,
    /// Print JSON (one object per process) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// How long to collect answers, in seconds.
    #[arg(long, default_value_t = 1.0)]
    pub wait: f64,
}

/// Every answer to a discovery request within `wait`.
async fn discover(
    client: &async_nats::Client,
    subject: &str,
    wait: Duration,
) -> anyhow::Result<Vec<Value>> {
    let inbox = client.new_inbox();
    let mut sub = client.subscribe(inbox.clone()).await?;
    client
        .publish_with_reply(subject.to_string(), inbox, "".into())
        .await?;
    client.flush().await?;
    let deadline = tokio::time::Instant::now() + wait;
    let mut out = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout_at(deadline, sub.next()).await {
        if let Ok(v) = serde_json::from_slice::<Value>(&m.payload) {
            out.push(v);
        }
    }
    Ok(out)
}

/// Seconds since an RFC 3339 time (the micro-service `started` field).
fn uptime(started: &str) -> Option<u64> {
    let t = humantime::parse_rfc3339_weak(started.trim_end_matches('Z').split('.').next()?).ok()?;
    std::time::SystemTime::now()
        .duration_since(t)
        .ok()
        .map(|d| d.as_secs())
}

/// `0.6.0 (3f2a9c1d0b7e)`: the version and, when the process says, its commit.
fn version(process: &Value) -> String {
    let version = process["version"].as_str().unwrap_or("?");
    match process["metadata"]["commit"].as_str() {
        Some(commit) => format!("{version} ({commit})"),
        None => version.to_string(),
    }
}

fn duration(secs: u64) -> String {
    rosey_bot::shell::format::duration(secs as i64)
}

pub async fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let bus = connect(args.nats_url.clone(), args.config.as_deref()).await?;
    let client = bus.nats_client().context("status needs NATS")?.clone();
    let wait = Duration::from_secs_f64(args.wait.clamp(0.1, 30.0));
    let (infos, stats) = tokio::try_join!(
        discover(&client, "$SRV.INFO", wait),
        discover(&client, "$SRV.STATS", wait)
    )?;
    let stats: BTreeMap<String, Value> = stats
        .into_iter()
        .filter_map(|s| Some((s["id"].as_str()?.to_string(), s)))
        .collect();
    let mut processes: Vec<Value> = infos
        .into_iter()
        .filter(|i| i["name"].as_str().is_some_and(|n| n.starts_with("rosey")))
        .map(|info| {
            let id = info["id"].as_str().unwrap_or_default().to_string();
            let st = stats.get(&id).cloned().unwrap_or(Value::Null);
            let endpoints: Vec<Value> = st["endpoints"].as_array().cloned().unwrap_or_default();
            let requests: u64 = endpoints
                .iter()
                .filter_map(|e| e["num_requests"].as_u64())
                .sum();
            let errors: u64 = endpoints
                .iter()
                .filter_map(|e| e["num_errors"].as_u64())
                .sum();
            // Both services put their own figures in every endpoint's `data`: take the first.
            let data = endpoints
                .iter()
                .map(|e| e["data"].clone())
                .find(|d| !d.is_null())
                .unwrap_or(Value::Null);
            json!({
                "name": info["name"],
                "id": id,
                "version": info["version"],
                "metadata": info["metadata"],
                "started": st["started"],
                "uptime_seconds": st["started"].as_str().and_then(uptime),
                "requests": requests,
                "errors": errors,
                "data": data,
            })
        })
        .collect();
    processes.sort_by_key(|p| (p["name"].to_string(), p["id"].to_string()));

    if args.json {
        println!("{}", serde_json::to_string_pretty(&processes)?);
        return Ok(ExitCode::SUCCESS);
    }
    if processes.is_empty() {
        let at = super::stats::address(args.nats_url.clone(), args.config.as_deref());
        println!("No Rosey process answered on the bus at {at}.");
        return Ok(ExitCode::from(1));
    }
    println!(
        "{:<16} {:<24} {:<22} {:<14} {:>9} {:>7}  DETAILS",
        "PROCESS", "ID", "VERSION", "UPTIME", "REQUESTS", "ERRORS"
    );
    for p in &processes {
        let details = match p["name"].as_str() {
            Some("rosey-bot") => format!("outbox {}", p["data"]["durable_outbox_depth"]),
            _ => format!(
                "binary {}, received {}, applied {}, queries {}",
                p["metadata"]["binary"].as_str().unwrap_or("?"),
                p["data"]["received"],
                p["data"]["applied"],
                p["data"]["queries"]
            ),
        };
        println!(
            "{:<16} {:<24} {:<22} {:<14} {:>9} {:>7}  {}",
            p["name"].as_str().unwrap_or("?"),
            p["id"].as_str().unwrap_or("?"),
            version(p),
            p["uptime_seconds"]
                .as_u64()
                .map(duration)
                .unwrap_or_else(|| "-".into()),
            p["requests"],
            p["errors"],
            details
        );
        for ch in p["data"]["channels"].as_array().into_iter().flatten() {
            println!(
                "  channel {:<20} {:<13} users {}/{}  queue {}  reconnects {}  db breaker {}",
                ch["channel"].as_str().unwrap_or("?"),
                ch["state"].as_str().unwrap_or("?"),
                ch["users_chat"],
                ch["users_connected"],
                ch["outbound_queue"],
                ch["reconnects"],
                ch["breaker"].as_str().unwrap_or("?"),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
