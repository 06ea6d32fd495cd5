//! The `rosey` commands the process tests read from: `stats --json`, `status --json`.

use std::collections::BTreeMap;

use serde_json::Value;
use tokio::process::Command;

/// `rosey <args> --nats-url <url>`'s standard output (panics unless it succeeds).
pub async fn rosey_out(url: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_rosey"))
        .args(args)
        .args(["--nats-url", url])
        .env_remove("NATS_URL")
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "rosey {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The top chatters `rosey stats --channel` shows: name → lines.
pub async fn chatters(url: &str, channel: &str) -> BTreeMap<String, i64> {
    let text = rosey_out(url, &["stats", "--channel", channel, "--json"]).await;
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    v["top_chatters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let name = c["username"].as_str().unwrap_or_default().to_string();
            (name, c["chat_lines"].as_i64().unwrap_or_default())
        })
        .collect()
}

/// `rosey status --json`: channel → (joined, state) for the bot process.
pub async fn status(url: &str) -> BTreeMap<String, (bool, String)> {
    let text = rosey_out(url, &["status", "--json", "--wait", "0.5"]).await;
    let processes: Vec<Value> = serde_json::from_str(&text).unwrap();
    processes
        .iter()
        .filter(|p| p["name"] == "rosey-bot")
        .flat_map(|p| {
            p["data"]["channels"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|c| {
            let state = c["state"].as_str().unwrap_or_default().to_string();
            let name = c["channel"].as_str().unwrap_or_default().to_string();
            (name, (c["joined"] == true, state))
        })
        .collect()
}
