//! Viewers of the dashboard: each reads `/events?channel=C` as a browser's `EventSource`
//! would — reconnecting after an error with the last event id as `Last-Event-ID` — and
//! keeps every tagged chat line it saw, from `chat` frames and from snapshots.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// What the viewers saw: per viewer, its channel, when it first connected, and its lines.
#[derive(Default)]
pub struct Seen {
    viewers: Mutex<HashMap<usize, Viewer>>,
    pub reconnects: std::sync::atomic::AtomicU64,
    pub snapshots: std::sync::atomic::AtomicU64,
}

struct Viewer {
    channel: String,
    since: Option<Instant>,
    lines: HashSet<String>,
}

impl Seen {
    fn saw(&self, viewer: usize, line: &str) {
        if let Some(v) = self
            .viewers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(&viewer)
        {
            v.lines.insert(line.to_string());
        }
    }

    /// Per viewer, the broadcast lines of its channel (said after it first connected) it
    /// never saw.
    pub fn missed(&self, broadcast: &[(String, String, Instant)]) -> Vec<u64> {
        let map = self.viewers.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<(usize, u64)> = map
            .iter()
            .map(|(id, v)| {
                let n = broadcast
                    .iter()
                    .filter(|(l, c, t)| {
                        *c == v.channel
                            && v.since.is_some_and(|s| *t > s + Duration::from_secs(1))
                            && !v.lines.contains(l)
                    })
                    .count();
                (*id, n as u64)
            })
            .collect();
        out.sort();
        out.into_iter().map(|(_, n)| n).collect()
    }
}

/// Starts `per_channel` viewers in every channel; they stop with `stop`.
pub fn start(
    seen: Arc<Seen>,
    base: String,
    channels: &[String],
    per_channel: usize,
    stop: CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for ch in channels {
        for _ in 0..per_channel {
            let id = tasks.len();
            seen.viewers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(
                    id,
                    Viewer {
                        channel: ch.clone(),
                        since: None,
                        lines: HashSet::new(),
                    },
                );
            tasks.push(tokio::spawn(view(
                seen.clone(),
                http.clone(),
                format!("{base}/events?channel={ch}"),
                id,
                stop.clone(),
            )));
        }
    }
    tasks
}

async fn view(
    seen: Arc<Seen>,
    http: reqwest::Client,
    url: String,
    me: usize,
    stop: CancellationToken,
) {
    let mut last_id: Option<String> = None;
    loop {
        let mut req = http.get(&url);
        if let Some(id) = &last_id {
            req = req.header("Last-Event-ID", id);
        }
        let read = async {
            let Ok(r) = req.send().await else { return };
            if !r.status().is_success() {
                return;
            }
            if let Some(v) = seen
                .viewers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_mut(&me)
            {
                v.since.get_or_insert_with(Instant::now);
            }
            let mut body = r.bytes_stream();
            let mut buf = String::new();
            while let Some(Ok(chunk)) = body.next().await {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let block: String = buf.drain(..end + 2).collect();
                    on_block(&seen, me, &block, &mut last_id);
                }
            }
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = read => {}
        }
        seen.reconnects
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // EventSource's own retry delay is about this long.
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

fn on_block(seen: &Seen, me: usize, block: &str, last_id: &mut Option<String>) {
    let (mut event, mut data) = ("", String::new());
    for line in block.lines() {
        if let Some(e) = line.strip_prefix("event: ") {
            event = e;
        } else if let Some(id) = line.strip_prefix("id: ") {
            *last_id = Some(id.to_string());
        } else if let Some(d) = line.strip_prefix("data: ") {
            data.push_str(d);
        }
    }
    let Ok(v) = serde_json::from_str::<Value>(&data) else {
        return;
    };
    let take = |line: &Value| {
        if let Some(m) = line["message"].as_str().filter(|m| m.starts_with("soak-")) {
            seen.saw(me, m);
        }
    };
    match event {
        "chat" => take(&v),
        "snapshot" => {
            seen.snapshots
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            for line in v["chat"].as_array().into_iter().flatten() {
                take(line);
            }
        }
        _ => {}
    }
}
