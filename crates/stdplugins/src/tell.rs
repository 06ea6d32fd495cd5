//! `!tell <user> <message>`: kept in the key-value store (so a restart loses nothing) and
//! said in the channel when the user next speaks or joins, once: the delivery deletes the
//! entry first and says it only if the delete removed it, so two deliverers (two events,
//! two instances) cannot both say it.
//!
//! Keys: `<channel>/<user, lower case>/<time in ns>`. This process remembers which
//! `<channel>/<user>/` prefixes have entries (loaded at start, added by `!tell`) so it asks
//! the store only for users with something waiting.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use rosey_model::{EventBody, NormalizedEvent, subjects};
use rosey_plugin::{CommandSpec, Kv, Plugin, Reply};
use serde_json::json;

use crate::text::{age, duration};
use crate::{BusTools, VERSION};

/// The longest message, in characters.
pub const MAX_MESSAGE: usize = 300;
/// Messages waiting for one user at most.
pub const MAX_WAITING: i64 = 10;
/// The most entries loaded at start.
const LOAD_LIMIT: i64 = 1000;

/// Prefixes with messages waiting, shared by the command and the delivery (a std Mutex:
/// never held across an await).
#[derive(Clone, Default)]
pub struct Waiting(Arc<Mutex<HashSet<String>>>);

impl Waiting {
    fn set(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn prefix(channel: &str, user: &str) -> String {
    format!("{channel}/{}/", user.to_lowercase())
}

pub fn plugin(tools: &BusTools, waiting: Waiting) -> Plugin {
    let kv = tools.kv("tell");
    Plugin::new("tell", VERSION)
        .description("Leaves a message for a user: !tell <user> <message>")
        .command(
            CommandSpec::new(
                "tell",
                "Leaves a message for a user, said when they are next here.",
            )
            .usage("!tell <user> <message>"),
            move |req| {
                let (kv, waiting) = (kv.clone(), waiting.clone());
                async move {
                    let args = req.args.trim();
                    let Some((to, message)) = args.split_once(char::is_whitespace) else {
                        return Reply::error(format!("Usage: {}tell <user> <message>", req.prefix));
                    };
                    let (to, message) = (to.trim_start_matches('@'), message.trim());
                    if to.eq_ignore_ascii_case(&req.user) {
                        return Reply::error("You can tell yourself that.");
                    }
                    if message.chars().count() > MAX_MESSAGE {
                        return Reply::error(format!(
                            "That message is too long (at most {MAX_MESSAGE} characters)."
                        ));
                    }
                    let p = prefix(&req.channel, to);
                    let stored = async {
                        if kv.list(&p, MAX_WAITING).await?.len() as i64 >= MAX_WAITING {
                            return Ok(false);
                        }
                        let ns = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_nanos())
                            .unwrap_or(0);
                        let value =
                            json!({"from": req.user, "to": to, "message": message, "ts": req.ts});
                        kv.set(&format!("{p}{ns:020}"), value).await?;
                        Ok::<_, rosey_plugin::KvError>(true)
                    };
                    match stored.await {
                        Ok(true) => {
                            waiting.set().insert(p);
                            Reply::chat(format!(
                                "{}: I'll tell {to} when they are next here.",
                                req.user
                            ))
                        }
                        Ok(false) => Reply::error(format!(
                            "{to} already has {MAX_WAITING} messages waiting."
                        )),
                        Err(e) => {
                            tracing::warn!(error = %e, "Tell store unavailable.");
                            Reply::error("Messages are unavailable right now.")
                        }
                    }
                }
            },
        )
}

/// Loads what is waiting and starts delivering on chat and join events.
pub async fn start_delivery(
    tools: BusTools,
    waiting: Waiting,
) -> Result<tokio::task::JoinHandle<()>, async_nats::Error> {
    let kv = tools.kv("tell");
    match kv.list("", LOAD_LIMIT).await {
        Ok(entries) => {
            for e in entries {
                if let Some((p, _)) = e.key.rsplit_once('/') {
                    waiting.set().insert(format!("{p}/"));
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "Cannot load waiting messages yet; they are delivered once the store answers a new !tell.")
        }
    }
    let base = subjects::EVENTS_PREFIX;
    let mut chat = tools.client.subscribe(format!("{base}.*.message")).await?;
    let mut joins = tools
        .client
        .subscribe(format!("{base}.*.user_join"))
        .await?;
    Ok(tokio::spawn(async move {
        loop {
            let m = tokio::select! {
                Some(m) = chat.next() => m,
                Some(m) = joins.next() => m,
                else => return,
            };
            let Ok(ev) = serde_json::from_slice::<NormalizedEvent>(&m.payload) else {
                continue;
            };
            let user = match &ev.body {
                EventBody::Message { user, history, .. } if !history => user,
                EventBody::UserJoin { user, .. } => user,
                _ => continue,
            };
            let p = prefix(&ev.channel, user);
            if !waiting.set().contains(&p) {
                continue;
            }
            deliver(&tools, &kv, &waiting, &ev.channel, user, &p).await;
        }
    }))
}

async fn deliver(tools: &BusTools, kv: &Kv, waiting: &Waiting, channel: &str, user: &str, p: &str) {
    let entries = match kv.list(p, MAX_WAITING).await {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "Cannot read waiting messages.");
            return;
        }
    };
    if entries.len() < MAX_WAITING as usize {
        // Everything is being delivered now; a new !tell adds the prefix again.
        waiting.set().remove(p);
    }
    for e in entries {
        // Delete first: only the deliverer whose delete removed it says it.
        match kv.delete(&e.key).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(err) => {
                tracing::warn!(error = %err, "Cannot take a waiting message.");
                waiting.set().insert(p.to_string());
                return;
            }
        }
        let v = &e.value;
        let line = format!(
            "{user}: {} told you {} ago: {}",
            v["from"].as_str().unwrap_or("someone"),
            duration(v["ts"].as_f64().map(age).unwrap_or(0)),
            v["message"].as_str().unwrap_or_default()
        );
        if let Err(err) = tools.say(channel, &line).await {
            tracing::warn!(error = %err, %channel, "Could not deliver a message; it is lost.");
        }
    }
}
