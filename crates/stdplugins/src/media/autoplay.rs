//! Autoplay, per channel (`plugins.media.autoplay.<channel>`, off by default): while the
//! playlist holds fewer than `min_items` and nobody else is adding, the bot queues items
//! of the channel's history as temporary items through its `add` command — chosen at
//! random weighted by their plays, never a blocked one, never one played or added in the
//! last `avoid_hours`, and never more than `max_per_hour`. It stops as soon as people add
//! again: while an item queued by anyone but the bot is on the list (the bot's playlist
//! summary names who queued each upcoming item), it adds nothing.
//!
//! Hours are media time: `time_scale` media seconds pass per real second (1 in
//! production). One add at a time: the next waits until the server's `queue` event for
//! the last one (which also tells the bot's own name), or a few seconds.

use std::collections::VecDeque;
use std::time::Duration;

use futures::StreamExt;
use rand::seq::IndexedRandom;
use rosey_config::media::AutoplayConfig;
use rosey_model::media::{MediaListReply, MediaStats};
use rosey_model::subjects;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::blacklist::Blocked;
use super::events::{MediaEvent, subscribe};
use crate::BusTools;

/// How often autoplay looks again without an event (a refused add, the hourly budget).
const TICK: Duration = Duration::from_millis(250);
/// How long an add may wait for its `queue` event.
const PENDING: Duration = Duration::from_secs(5);
/// Candidates asked for per pick.
const POOL: i64 = 200;
/// Who autoplay's adds are audited as.
pub const BY: &str = "autoplay";

/// One channel's view of the playlist and of what autoplay did.
#[derive(Debug)]
struct State {
    cfg: AutoplayConfig,
    scale: f64,
    count: Option<u64>,
    upcoming_by: Vec<String>,
    upcoming_titles: Vec<String>,
    own_name: Option<String>,
    /// uids of items people queued that are still on the list (from `queue` and `delete`
    /// events; the summary's `upcoming` is checked too).
    people_items: std::collections::HashSet<u64>,
    pending: Option<(String, String, Instant)>,
    /// What autoplay added (or tried to), newest last, with when.
    added: VecDeque<(String, String, Instant)>,
}

impl State {
    fn real(&self, media_secs: f64) -> Duration {
        Duration::from_secs_f64((media_secs / self.scale).max(0.0))
    }

    fn on_playlist(&mut self, action: &str, data: &Value) {
        if let Some(c) = data.get("count").and_then(Value::as_u64) {
            self.count = Some(c);
        }
        if let Some(up) = data.get("upcoming").and_then(Value::as_array) {
            self.upcoming_by = up
                .iter()
                .map(|u| u["queued_by"].as_str().unwrap_or_default().to_string())
                .collect();
            self.upcoming_titles = up
                .iter()
                .map(|u| u["title"].as_str().unwrap_or_default().to_string())
                .collect();
        }
        if action == "queue"
            && let Some((t, id, _)) = &self.pending
            && data["type"].as_str() == Some(t)
            && data["id"].as_str() == Some(id)
        {
            self.own_name = data["queued_by"].as_str().map(str::to_string);
            self.pending = None;
        }
        let uid = data.get("uid").and_then(Value::as_u64);
        match (action, uid) {
            ("queue", Some(uid)) => {
                let by = data["queued_by"].as_str().unwrap_or_default();
                if !by.is_empty() && self.own_name.as_deref() != Some(by) {
                    self.people_items.insert(uid);
                }
            }
            ("delete", Some(uid)) => {
                self.people_items.remove(&uid);
            }
            ("playlist", _) => self.people_items.clear(),
            _ => {}
        }
    }

    /// Someone other than the bot has an item on the list.
    fn people_adding(&self) -> bool {
        !self.people_items.is_empty()
            || self
                .upcoming_by
                .iter()
                .any(|b| !b.is_empty() && self.own_name.as_deref() != Some(b.as_str()))
    }

    fn wants_one(&mut self, now: Instant) -> bool {
        if let Some((_, _, at)) = &self.pending {
            if now.duration_since(*at) < PENDING {
                return false;
            }
            self.pending = None;
        }
        let hour = self.real(3600.0);
        let avoid = self.real(self.cfg.avoid_hours * 3600.0).max(hour);
        while self
            .added
            .front()
            .is_some_and(|(_, _, at)| now.duration_since(*at) > avoid)
        {
            self.added.pop_front();
        }
        let this_hour = self
            .added
            .iter()
            .filter(|(_, _, at)| now.duration_since(*at) <= hour)
            .count();
        self.count
            .is_some_and(|c| c < u64::from(self.cfg.min_items))
            && !self.people_adding()
            && this_hour < self.cfg.max_per_hour as usize
    }

    /// A candidate: not blocked, not added inside the window, not on the list by title.
    fn pick<'a>(
        &self,
        channel: &str,
        blocked: &Blocked,
        items: &'a [MediaStats],
    ) -> Option<&'a MediaStats> {
        let pool: Vec<&MediaStats> = items
            .iter()
            .filter(|m| !blocked.contains(channel, &m.media_type, &m.media_id))
            .filter(|m| {
                !self
                    .added
                    .iter()
                    .any(|(t, id, _)| *t == m.media_type && *id == m.media_id)
            })
            .filter(|m| {
                m.title
                    .as_ref()
                    .is_none_or(|t| !self.upcoming_titles.contains(t))
            })
            .collect();
        pool.choose_weighted(&mut rand::rng(), |m| m.plays.max(1) as f64)
            .ok()
            .copied()
    }
}

/// Runs autoplay for `channel`.
pub async fn start(
    tools: BusTools,
    channel: String,
    cfg: AutoplayConfig,
    time_scale: f64,
    blocked: Blocked,
) -> Result<tokio::task::JoinHandle<()>, async_nats::Error> {
    let mut events = Box::pin(subscribe(&tools).await?);
    let scale = if time_scale > 0.0 { time_scale } else { 1.0 };
    tracing::info!(%channel, min_items = cfg.min_items, "Autoplay on.");
    Ok(tokio::spawn(async move {
        let mut s = State {
            cfg,
            scale,
            count: None,
            upcoming_by: Vec::new(),
            upcoming_titles: Vec::new(),
            own_name: None,
            people_items: Default::default(),
            pending: None,
            added: VecDeque::new(),
        };
        if let Ok(v) = tools
            .db(subjects::QUERY_CURRENT_STATUS, json!({"channel": channel}))
            .await
            && v["found"] == json!(true)
        {
            s.count = v["status"]["playlist_items"].as_u64();
        }
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                e = events.next() => match e {
                    Some(e) if e.channel == channel => {
                        if let MediaEvent::Playlist { action, data } = &e.event {
                            s.on_playlist(action, data);
                        }
                    }
                    Some(_) => continue,
                    None => return,
                },
                _ = tick.tick() => {}
            }
            let now = Instant::now();
            if !s.wants_one(now) {
                continue;
            }
            add_one(&tools, &channel, &blocked, &mut s, now).await;
        }
    }))
}

async fn add_one(tools: &BusTools, channel: &str, blocked: &Blocked, s: &mut State, now: Instant) {
    let avoid = s.real(s.cfg.avoid_hours * 3600.0).as_secs() as i64;
    let before = rosey_model_now() - avoid;
    let items = match tools
        .db(
            subjects::QUERY_MEDIA_CANDIDATES,
            json!({"channel": channel, "played_before": before, "limit": POOL}),
        )
        .await
        .and_then(|v| serde_json::from_value::<MediaListReply>(v).map_err(|e| e.to_string()))
    {
        Ok(r) => r.items,
        Err(e) => {
            tracing::warn!(error = %e, %channel, "Autoplay cannot read the history.");
            return;
        }
    };
    let Some(pick) = s.pick(channel, blocked, &items) else {
        tracing::debug!(%channel, "Autoplay has nothing it may add.");
        return;
    };
    let (t, id) = (pick.media_type.clone(), pick.media_id.clone());
    s.added.push_back((t.clone(), id.clone(), now));
    s.pending = Some((t.clone(), id.clone(), now));
    match super::add(tools, channel, &t, &id, BY).await {
        Ok(_) => tracing::info!(%channel, media = %format!("{t}:{id}"), "Autoplay added an item."),
        Err(server) => {
            s.pending = None;
            tracing::info!(%channel, media = %format!("{t}:{id}"), %server, "Autoplay's add was refused.");
        }
    }
}

/// The clock the database's timestamps use: Unix seconds.
fn rosey_model_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State {
        State {
            cfg: AutoplayConfig {
                enabled: true,
                min_items: 3,
                avoid_hours: 1.0,
                max_per_hour: 2,
            },
            scale: 3600.0, // an hour per second
            count: Some(1),
            upcoming_by: vec![],
            upcoming_titles: vec![],
            own_name: Some("Rosey".into()),
            people_items: Default::default(),
            pending: None,
            added: VecDeque::new(),
        }
    }

    #[test]
    fn floor_people_and_hourly_budget() {
        let t0 = Instant::now();
        let mut s = state();
        assert!(s.wants_one(t0));
        s.on_playlist("queue", &json!({"count": 2, "upcoming": [{"queued_by": "Rosey", "title": "a"}, {"queued_by": "guest", "title": "b"}]}));
        assert!(!s.wants_one(t0), "someone else is adding");
        s.on_playlist(
            "delete",
            &json!({"count": 1, "upcoming": [{"queued_by": "Rosey", "title": "a"}]}),
        );
        assert!(s.wants_one(t0));
        s.added.push_back(("yt".into(), "1".into(), t0));
        s.added.push_back(("yt".into(), "2".into(), t0));
        assert!(!s.wants_one(t0), "two per hour");
        assert!(
            s.wants_one(t0 + Duration::from_millis(1100)),
            "an hour later"
        );
        s.on_playlist(
            "queue",
            &json!({"uid": 7, "queued_by": "gus", "count": 2, "upcoming": []}),
        );
        assert!(
            !s.wants_one(t0 + Duration::from_millis(1100)),
            "gus's item is queued"
        );
        s.on_playlist("delete", &json!({"uid": 7, "count": 1, "upcoming": []}));
        assert!(
            s.wants_one(t0 + Duration::from_millis(1100)),
            "gus's item is gone"
        );
        s.on_playlist("queue", &json!({"count": 3}));
        assert!(!s.wants_one(t0 + Duration::from_secs(2)), "at the floor");
    }

    #[test]
    fn picks_skip_blocked_recent_and_listed() {
        let mut s = state();
        let m = |id: &str, title: &str| MediaStats {
            media_type: "yt".into(),
            media_id: id.into(),
            title: Some(title.into()),
            duration: 60,
            plays: 1,
            first_played: 0,
            last_played: 0,
            last_queued_by: None,
            total_played: 0,
            played_out: 0,
            skips: 0,
            vote_skips: 0,
            removals: 0,
        };
        let items = vec![m("a", "A"), m("b", "B"), m("c", "C"), m("d", "D")];
        let blocked = Blocked::default();
        blocked_insert(&blocked, "ch", "yt:a");
        s.added.push_back(("yt".into(), "b".into(), Instant::now()));
        s.upcoming_titles = vec!["C".into()];
        for _ in 0..20 {
            assert_eq!(s.pick("ch", &blocked, &items).unwrap().media_id, "d");
        }
    }

    fn blocked_insert(b: &Blocked, ch: &str, link: &str) {
        b.insert_for_tests(ch, link);
    }
}
