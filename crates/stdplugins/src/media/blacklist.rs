//! The blocklist: `!blacklist add [type:id | YouTube link] [reason]` (no media: what is
//! playing), `!blacklist remove <type:id | link>`, `!blacklist list` — moderators only (the
//! rank is `plugins.media.blacklist_min_rank`). Entries live in the key-value store
//! (namespace `blacklist`, keys `<channel>/<type>:<id>`, value `{title, by, reason, ts}`),
//! and this process keeps them in memory ([`Blocked`]) so the guard answers at once.
//!
//! The guard watches `queue` events: a blocked item is removed through the bot
//! (`rosey.commands.<channel>.remove {uid}`) as soon as it is queued, and whoever queued it
//! is told by PM why — with the server's words when the removal fails.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use rosey_model::payload::{PmCommandRequest, RemoveCommand};
use rosey_model::subjects;
use rosey_plugin::{CommandRequest, CommandSpec, Kv, Plugin, Reply};
use serde_json::{Value, json};

use super::events::{MediaEvent, subscribe};
use crate::{BusTools, VERSION};

/// The key-value namespace.
pub const NAMESPACE: &str = "blacklist";
/// Entries listed or loaded at most.
const MAX_ENTRIES: i64 = 1000;

/// The blocked `type:id`s of every channel, shared by the command, the guard, `!random`
/// and autoplay (a std Mutex: never held across an await).
#[derive(Clone, Default)]
pub struct Blocked(Arc<Mutex<HashMap<String, HashSet<String>>>>);

impl Blocked {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashSet<String>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Is `type:id` blocked in `channel`?
    pub fn contains(&self, channel: &str, media_type: &str, media_id: &str) -> bool {
        self.map()
            .get(channel)
            .is_some_and(|s| s.contains(&link(media_type, media_id)))
    }

    fn insert(&self, channel: &str, link: String) {
        self.map()
            .entry(channel.to_string())
            .or_default()
            .insert(link);
    }

    /// Blocks `link` (`type:id`) in `channel` in memory only (tests of its users).
    #[doc(hidden)]
    pub fn insert_for_tests(&self, channel: &str, link: &str) {
        self.insert(channel, link.to_string());
    }

    fn remove(&self, channel: &str, link: &str) {
        if let Some(s) = self.map().get_mut(channel) {
            s.remove(link);
        }
    }

    /// Loads every entry from the store (once, at start).
    pub async fn load(&self, tools: &BusTools) {
        match tools.kv(NAMESPACE).list("", MAX_ENTRIES).await {
            Ok(entries) => {
                for e in entries {
                    if let Some((ch, l)) = e.key.split_once('/') {
                        self.insert(ch, l.to_string());
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "Cannot load the blocklist yet."),
        }
    }
}

fn link(media_type: &str, media_id: &str) -> String {
    format!("{media_type}:{media_id}")
}

fn key(channel: &str, link: &str) -> String {
    format!("{channel}/{link}")
}

/// A media named as `type:id` or by a YouTube link: `(type, id)`.
pub fn parse_media(s: &str) -> Option<(String, String)> {
    let s = s.trim();
    for marker in ["youtube.com/watch?v=", "youtu.be/", "youtube.com/shorts/"] {
        if let Some((_, rest)) = s.split_once(marker) {
            let id: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            return (!id.is_empty()).then(|| ("yt".to_string(), id));
        }
    }
    let (t, id) = s.split_once(':')?;
    let plain = |x: &str| !x.is_empty() && !x.contains(char::is_whitespace);
    (t.len() <= 3
        && t.chars().all(|c| c.is_ascii_alphanumeric())
        && plain(id)
        && !id.starts_with("//"))
    .then(|| (t.to_ascii_lowercase(), id.to_string()))
}

pub fn plugin(tools: &BusTools, blocked: Blocked, min_rank: f64) -> Plugin {
    let kv = tools.kv(NAMESPACE);
    Plugin::new("blacklist", VERSION)
        .description("The channel's blocklist of media: !blacklist add|remove|list")
        .command(
            CommandSpec::new(
                "blacklist",
                "Blocks a media (removed at once when queued), unblocks it, or lists them.",
            )
            .usage("!blacklist add [type:id|link] [reason] | remove <type:id|link> | list")
            .min_rank(min_rank),
            move |req| {
                let (kv, blocked) = (kv.clone(), blocked.clone());
                async move {
                    match answer(&kv, &blocked, &req).await {
                        Ok(r) => r,
                        Err(e) => {
                            tracing::warn!(error = %e, "Blocklist store unavailable.");
                            Reply::error("The blocklist is unavailable right now.")
                        }
                    }
                }
            },
        )
}

async fn answer(kv: &Kv, blocked: &Blocked, req: &CommandRequest) -> Result<Reply, String> {
    let args = req.args.trim();
    let (word, rest) = args
        .split_once(char::is_whitespace)
        .map(|(w, r)| (w, r.trim()))
        .unwrap_or((args, ""));
    let usage = || {
        Reply::error(format!(
            "Usage: {0}blacklist add [type:id|link] [reason] | {0}blacklist remove <type:id|link> | {0}blacklist list",
            req.prefix
        ))
    };
    let err = |e: rosey_plugin::KvError| e.to_string();
    match word.to_ascii_lowercase().as_str() {
        "add" => {
            let (first, reason) = rest
                .split_once(char::is_whitespace)
                .map(|(a, b)| (a, b.trim()))
                .unwrap_or((rest, ""));
            let (media, title, reason) = match parse_media(first) {
                Some(m) => (m, None, reason),
                None => {
                    // No media named: what is playing; all of `rest` is the reason.
                    let Some(now) = req.context.media.as_ref().filter(|m| !m.id.is_empty()) else {
                        return Ok(usage());
                    };
                    (
                        (now.media_type.clone(), now.id.clone()),
                        Some(now.title.clone()),
                        rest,
                    )
                }
            };
            let l = link(&media.0, &media.1);
            let value = json!({"title": title, "by": req.user, "reason": reason, "ts": req.ts});
            kv.set(&key(&req.channel, &l), value).await.map_err(err)?;
            blocked.insert(&req.channel, l.clone());
            let what = title.map(|t| format!("{t} ({l})")).unwrap_or(l);
            Ok(Reply::chat(format!("Blocked {what}.")))
        }
        "remove" | "del" | "delete" => {
            let Some(media) = parse_media(rest) else {
                return Ok(usage());
            };
            let l = link(&media.0, &media.1);
            let existed = kv.delete(&key(&req.channel, &l)).await.map_err(err)?;
            blocked.remove(&req.channel, &l);
            Ok(Reply::chat(if existed {
                format!("Unblocked {l}.")
            } else {
                format!("{l} was not blocked.")
            }))
        }
        "list" | "" => {
            let entries = kv
                .list(&format!("{}/", req.channel), MAX_ENTRIES)
                .await
                .map_err(err)?;
            if entries.is_empty() {
                return Ok(Reply::chat("Nothing is blocked."));
            }
            let shown: Vec<String> = entries
                .iter()
                .take(20)
                .map(|e| {
                    let l = e.key.split_once('/').map(|x| x.1).unwrap_or(&e.key);
                    match e.value.get("title").and_then(Value::as_str) {
                        Some(t) => format!("{t} ({l})"),
                        None => l.to_string(),
                    }
                })
                .collect();
            Ok(Reply::chat(format!(
                "Blocked ({}): {}",
                entries.len(),
                shown.join(", ")
            )))
        }
        _ => Ok(usage()),
    }
}

/// Removes blocked items as soon as they are queued, and tells whoever queued them.
pub async fn start_guard(
    tools: BusTools,
    blocked: Blocked,
) -> Result<tokio::task::JoinHandle<()>, async_nats::Error> {
    let mut events = Box::pin(subscribe(&tools).await?);
    Ok(tokio::spawn(async move {
        while let Some(e) = events.next().await {
            let MediaEvent::Playlist { action, data } = &e.event else {
                continue;
            };
            if action != "queue" {
                continue;
            }
            let (Some(uid), Some(t), Some(id)) = (
                data.get("uid").and_then(Value::as_u64),
                data.get("type").and_then(Value::as_str),
                data.get("id").and_then(Value::as_str),
            ) else {
                continue;
            };
            if !blocked.contains(&e.channel, t, id) {
                continue;
            }
            let (tools, channel) = (tools.clone(), e.channel.clone());
            let by = data["queued_by"].as_str().unwrap_or_default().to_string();
            let title = data["title"].as_str().unwrap_or(id).to_string();
            tokio::spawn(async move { remove_blocked(&tools, &channel, uid, &title, &by).await });
        }
    }))
}

async fn remove_blocked(tools: &BusTools, channel: &str, uid: u64, title: &str, by: &str) {
    let body = serde_json::to_value(RemoveCommand {
        uid,
        by: Some(NAMESPACE.to_string()),
    })
    .unwrap_or_default();
    let outcome = super::command(tools, channel, subjects::COMMAND_REMOVE, body).await;
    let message = match &outcome {
        Ok(_) => {
            format!("{title} was removed from the playlist: it is on this channel's blocklist.")
        }
        Err(server) => {
            format!("{title} is on this channel's blocklist, but removing it failed: {server}")
        }
    };
    tracing::info!(%channel, %title, %by, removed = outcome.is_ok(), "Blocked item queued.");
    if by.is_empty() {
        return;
    }
    let pm = serde_json::to_value(PmCommandRequest {
        to: by.to_string(),
        message,
    })
    .unwrap_or_default();
    if let Err(e) = super::command(tools, channel, subjects::COMMAND_PM, pm).await {
        tracing::warn!(error = %e, %channel, "Could not tell the adder about a blocked item.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_names() {
        assert_eq!(parse_media("yt:abc"), Some(("yt".into(), "abc".into())));
        assert_eq!(
            parse_media("https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=1"),
            Some(("yt".into(), "dQw4w9WgXcQ".into()))
        );
        assert_eq!(
            parse_media("https://youtu.be/xyz_-1"),
            Some(("yt".into(), "xyz_-1".into()))
        );
        assert_eq!(parse_media("https://example.com/a"), None);
        assert_eq!(parse_media("nope"), None);
        let b = Blocked::default();
        b.insert("c", link("yt", "x"));
        assert!(b.contains("c", "yt", "x") && !b.contains("d", "yt", "x"));
        b.remove("c", "yt:x");
        assert!(!b.contains("c", "yt", "x"));
    }
}
