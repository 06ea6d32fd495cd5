//! `!quote add <text>`, `!quote` / `!quote random`, `!quote <n>`: numbered quotes per
//! channel in the key-value store (keys `<channel>/<n, zero-padded>`, and the last number
//! under `<channel>#last`).

use std::sync::Arc;

use rand::Rng;
use rosey_plugin::{CommandRequest, CommandSpec, Kv, Plugin, Reply};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::{BusTools, VERSION};

/// The longest quote, in characters.
pub const MAX_QUOTE: usize = 300;
/// How many quotes `!quote random` picks from (the newest are listed last).
const RANDOM_POOL: i64 = 1000;

fn key(channel: &str, n: u64) -> String {
    format!("{channel}/{n:08}")
}

pub fn plugin(tools: &BusTools) -> Plugin {
    let kv = tools.kv("quote");
    // One `add` at a time in this process, so two adds never take the same number.
    let adding = Arc::new(Mutex::new(()));
    Plugin::new("quote", VERSION)
        .description("Quotes: !quote add <text>, !quote, !quote <n>")
        .command(
            CommandSpec::new("quote", "Adds a quote, or shows a random or numbered one.")
                .usage("!quote [add <text> | random | <n>]"),
            move |req| {
                let (kv, adding) = (kv.clone(), adding.clone());
                async move {
                    match answer(&kv, &adding, &req).await {
                        Ok(r) => r,
                        Err(e) => {
                            tracing::warn!(error = %e, "Quote store unavailable.");
                            Reply::error("Quotes are unavailable right now.")
                        }
                    }
                }
            },
        )
}

async fn answer(kv: &Kv, adding: &Mutex<()>, req: &CommandRequest) -> Result<Reply, String> {
    let args = req.args.trim();
    let (word, rest) = match args.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim()),
        None => (args, ""),
    };
    let usage = || {
        Reply::error(format!(
            "Usage: {0}quote add <text> | {0}quote random | {0}quote <n>",
            req.prefix
        ))
    };
    let err = |e: rosey_plugin::KvError| e.to_string();
    match word.to_lowercase().as_str() {
        "add" => {
            if rest.is_empty() {
                return Ok(usage());
            }
            if rest.chars().count() > MAX_QUOTE {
                return Ok(Reply::error(format!(
                    "That quote is too long (at most {MAX_QUOTE} characters)."
                )));
            }
            let _one = adding.lock().await;
            let last_key = format!("{}#last", req.channel);
            let last = kv.get(&last_key).await.map_err(err)?;
            let n = last.and_then(|v| v.as_u64()).unwrap_or(0) + 1;
            let value = json!({"text": rest, "by": req.user, "ts": req.ts});
            kv.set(&key(&req.channel, n), value).await.map_err(err)?;
            kv.set(&last_key, json!(n)).await.map_err(err)?;
            Ok(Reply::chat(format!("Quote #{n} added.")))
        }
        "" | "random" => {
            let all = kv
                .list(&format!("{}/", req.channel), RANDOM_POOL)
                .await
                .map_err(err)?;
            if all.is_empty() {
                return Ok(Reply::chat(format!(
                    "No quotes yet. Add one with {}quote add <text>",
                    req.prefix
                )));
            }
            let e = &all[rand::rng().random_range(0..all.len())];
            let n = e.key.rsplit('/').next().and_then(|n| n.parse().ok());
            Ok(Reply::chat(show(n.unwrap_or(0), &e.value)))
        }
        n => match n.trim_start_matches('#').parse::<u64>() {
            Ok(n) if rest.is_empty() => match kv.get(&key(&req.channel, n)).await.map_err(err)? {
                Some(v) => Ok(Reply::chat(show(n, &v))),
                None => Ok(Reply::error(format!("There is no quote #{n}."))),
            },
            _ => Ok(usage()),
        },
    }
}

fn show(n: u64, v: &Value) -> String {
    let text = v["text"].as_str().unwrap_or_default();
    match v["by"].as_str() {
        Some(by) => format!("#{n}: {text} (added by {by})"),
        None => format!("#{n}: {text}"),
    }
}
