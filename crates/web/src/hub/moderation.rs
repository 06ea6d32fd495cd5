//! The Moderation panel's feed: the automated moderator's recent decisions in each shown
//! channel, newest first. Filled when the dashboard starts from the history
//! (`rosey.db.query.moderation_log`) and kept up to date from the decisions the moderator
//! publishes (`rosey.db.moderation.action`), each fanned out once, pre-serialized, to the
//! streams of logged-in moderators (`crate::moderation`).
//!
//! It is never part of the public page's stream: a shadow mute shown to every viewer would
//! tell the muted user. A decision published while the history was being read may come
//! both ways; it is kept once. An unreadable decision is skipped, logged and counted.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use rosey_bus::Bus;
use rosey_model::payload::{ModerationAction, ModerationLogReply, ModerationRow};
use rosey_model::subjects;
use serde_json::json;
use tokio::sync::broadcast;

use crate::db::ask;

/// Decisions kept (and shown) per channel.
pub const ROWS: usize = 50;
/// Decisions buffered per channel for a stream that is behind (it then gets the list again).
const FEED_BUFFER: usize = 256;

/// One channel's recent decisions and their broadcast.
pub struct Feed {
    rows: Mutex<VecDeque<ModerationRow>>,
    tx: broadcast::Sender<Arc<str>>,
}

impl Feed {
    fn new() -> Feed {
        Feed {
            rows: Mutex::new(VecDeque::new()),
            tx: broadcast::channel(FEED_BUFFER).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<ModerationRow>> {
        self.rows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The decisions kept, newest first, and a receiver of each one after them (taken
    /// under the same lock: nothing is missed or seen twice).
    pub fn subscribe(&self) -> (Vec<ModerationRow>, broadcast::Receiver<Arc<str>>) {
        let rows = self.lock();
        (rows.iter().cloned().collect(), self.tx.subscribe())
    }

    /// The history (newest first) under what arrived live already.
    fn seed(&self, history: Vec<ModerationRow>) {
        let mut rows = self.lock();
        for row in history {
            if rows.len() >= ROWS {
                break;
            }
            if !rows.iter().any(|r| same(r, &row)) {
                rows.push_back(row);
            }
        }
    }

    /// A new decision: kept first and sent to every stream, unless it is kept already.
    fn push(&self, row: ModerationRow) {
        let mut rows = self.lock();
        if rows.iter().any(|r| same(r, &row)) {
            return;
        }
        let data: Arc<str> = serde_json::to_string(&row).unwrap_or_default().into();
        rows.push_front(row);
        rows.truncate(ROWS);
        // No receiver is not an error: no moderator is watching.
        let _ = self.tx.send(data);
    }
}

/// The same decision, from the history and live: every field equal, the stored whole
/// second within one of the published time.
fn same(a: &ModerationRow, b: &ModerationRow) -> bool {
    (a.timestamp - b.timestamp).abs() <= 1
        && (&a.channel, &a.rule, &a.username, &a.step, &a.outcome)
            == (&b.channel, &b.rule, &b.username, &b.step, &b.outcome)
        && (&a.evidence, &a.answer, a.dry_run) == (&b.evidence, &b.answer, b.dry_run)
}

/// A published decision as the history keeps it.
fn row_of(a: ModerationAction, channel: String, now: f64) -> ModerationRow {
    ModerationRow {
        timestamp: a.ts.unwrap_or(now).floor() as i64,
        channel,
        rule: a.rule,
        username: a.username,
        reason: a.reason,
        evidence: a.evidence,
        step: a.step,
        outcome: a.outcome,
        answer: a.answer,
        dry_run: a.dry_run,
    }
}

/// Every shown channel's feed.
pub struct Feeds {
    channels: HashMap<String, Feed>,
    unreadable: AtomicU64,
}

impl Feeds {
    pub fn new(channels: &[String]) -> Feeds {
        Feeds {
            channels: channels.iter().map(|c| (c.clone(), Feed::new())).collect(),
            unreadable: AtomicU64::new(0),
        }
    }

    pub fn channel(&self, name: &str) -> Option<&Feed> {
        self.channels.get(name)
    }

    /// Decisions that could not be read (skipped).
    pub fn unreadable(&self) -> u64 {
        self.unreadable.load(Relaxed)
    }

    /// Reads each channel's recent history (a channel whose history does not come keeps
    /// what arrives live).
    pub async fn load(&self, bus: &Bus) {
        for (name, feed) in &self.channels {
            let body = json!({"channel": name, "limit": ROWS});
            match ask::<ModerationLogReply>(bus, subjects::QUERY_MODERATION_LOG, &body).await {
                Ok(reply) => feed.seed(reply.actions),
                Err(e) => {
                    tracing::info!(channel = %name, error = %e, "No moderation history; showing new decisions only.")
                }
            }
        }
    }

    /// One published decision (`rosey.db.moderation.action`); those of channels not shown
    /// are ignored.
    pub fn on_decision(&self, payload: &[u8], now: f64) {
        let action: ModerationAction = match rosey_model::decode(payload) {
            Ok(a) => a,
            Err(e) => {
                self.unreadable.fetch_add(1, Relaxed);
                tracing::debug!(error = %e, "Ignoring an unreadable moderation decision.");
                return;
            }
        };
        let channel = action
            .channel
            .clone()
            .unwrap_or_else(|| subjects::DEFAULT_CHANNEL.to_string());
        if let Some(feed) = self.channels.get(&channel) {
            feed.push(row_of(action, channel, now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn decision(user: &str, step: &str, ts: f64) -> Vec<u8> {
        serde_json::to_vec(&json!({"rule": "flood", "username": user, "step": step,
            "outcome": "done", "answer": format!("Muted {user}"), "channel": "c", "ts": ts}))
        .unwrap()
    }

    #[tokio::test]
    async fn decisions_come_once_newest_first_and_bounded() {
        let feeds = Feeds::new(&["c".to_string()]);
        let feed = feeds.channel("c").unwrap();
        // Arrived live while the history was read: the history's copy is not added again.
        feeds.on_decision(&decision("bob", "mute 10m", 100.7), 0.0);
        let stored = |user: &str, ts: i64| ModerationRow {
            timestamp: ts,
            channel: "c".into(),
            rule: "flood".into(),
            username: user.into(),
            reason: String::new(),
            evidence: String::new(),
            step: "mute 10m".into(),
            outcome: "done".into(),
            answer: format!("Muted {user}"),
            dry_run: false,
        };
        feed.seed(vec![stored("bob", 101), stored("amy", 90)]);
        let (rows, mut rx) = feed.subscribe();
        let users: Vec<&str> = rows.iter().map(|r| r.username.as_str()).collect();
        assert_eq!(users, ["bob", "amy"]);
        // A new one goes first and to the streams; one of another channel nowhere.
        feeds.on_decision(&decision("cat", "ban 1h", 200.0), 0.0);
        feeds.on_decision(
            &serde_json::to_vec(&json!({"rule": "flood", "username": "x", "step": "kick",
                "outcome": "done", "channel": "other"}))
            .unwrap(),
            0.0,
        );
        let sent: Value = serde_json::from_str(&rx.try_recv().unwrap()).unwrap();
        assert_eq!(
            (sent["username"].as_str(), sent["timestamp"].as_i64()),
            (Some("cat"), Some(200))
        );
        assert!(rx.try_recv().is_err());
        // Unreadable: skipped and counted.
        feeds.on_decision(b"{\"rule\": 1}", 0.0);
        assert_eq!(feeds.unreadable(), 1);
        for i in 0..ROWS + 5 {
            feeds.on_decision(&decision(&format!("u{i}"), "kick", 300.0 + i as f64), 0.0);
        }
        let (rows, _) = feed.subscribe();
        assert_eq!(rows.len(), ROWS);
        assert_eq!(rows[0].username, format!("u{}", ROWS + 4));
    }
}
