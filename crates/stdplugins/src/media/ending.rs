//! The media-ending tracker: how did each play end? The bot records every start
//! (`rosey.db.media.played`) but not the end; the end is what the next events say:
//!
//! - a `voteskip` event that passed (the bot's form of CyTube's `[voteskip]` notice; the
//!   notice itself as a chat line too) while it played → **voteskipped**;
//! - else, when the next item started (or the list emptied) after at least its duration
//!   (less a small tolerance) → **played** out (CyTube moved on by itself);
//! - else, when it was deleted while playing, and it was not a temporary item (CyTube
//!   deletes a temporary item itself when playback moves on; `queue` events say `temp`,
//!   `playlist_change` `temp` changes it) → **removed**;
//! - else → **skipped** (someone moved playback on: `playNext`, `jumpTo`).
//!
//! Each end is published as `rosey.db.media.ended {type, media_id, reason, played,
//! started}` at the time of the event that ended it, with the id `ended:<id of the
//! media_change that started it>`: two trackers on one bus write it once (the database
//! service de-duplicates by id). A disconnection of the bot forgets the playing item (its
//! end was not seen; the play keeps no ending).
//!
//! `time_scale` is media seconds per real second (1 in production; tests run the
//! devserver's playback faster).

use std::collections::HashMap;

use futures::StreamExt;
use rosey_model::media::{END_PLAYED, END_REMOVED, END_SKIPPED, END_VOTESKIPPED};
use rosey_model::payload::MediaEnded;
use rosey_model::subjects;
use serde_json::Value;

use super::events::{Envelope, MediaEvent, subscribe};
use crate::BusTools;

/// The user name CyTube's vote-skip notices come from.
pub const VOTESKIP_NOTICE: &str = "[voteskip]";
/// Temporary flags remembered per channel (the newest queued items).
const TEMP_MEMORY: usize = 4096;

/// A play being watched.
#[derive(Debug, Clone)]
struct Playing {
    media_type: String,
    media_id: String,
    duration: i64,
    started: f64,
    start_id: String,
    uid: Option<u64>,
    /// Queued as a temporary item (when the `queue` event said so).
    temp: bool,
    deleted: bool,
    voteskipped: bool,
}

#[derive(Debug, Default)]
struct Channel {
    current_uid: Option<u64>,
    playing: Option<Playing>,
    /// uid → temporary, from `queue` events that say it.
    temp: HashMap<u64, bool>,
}

/// The tracker's state, every channel; pure (no I/O), fed one event at a time.
#[derive(Debug)]
pub struct Tracker {
    time_scale: f64,
    channels: HashMap<String, Channel>,
}

/// Seconds short of the duration that still count as played out: CyTube's clock and the
/// bot's receive times differ by a little.
fn tolerance(duration: i64) -> f64 {
    (duration as f64 * 0.05).max(3.0)
}

impl Tracker {
    pub fn new(time_scale: f64) -> Tracker {
        Tracker {
            time_scale: if time_scale > 0.0 { time_scale } else { 1.0 },
            channels: HashMap::new(),
        }
    }

    /// The ends this event reveals (at most one).
    pub fn on_event(&mut self, e: &Envelope) -> Option<MediaEnded> {
        let scale = self.time_scale;
        let ch = self.channels.entry(e.channel.clone()).or_default();
        match &e.event {
            MediaEvent::Change {
                media_type,
                media_id,
                duration,
                ..
            } => {
                let ended = ch.playing.take().map(|p| finish(p, e, scale));
                ch.playing = Some(Playing {
                    media_type: media_type.clone(),
                    media_id: media_id.clone(),
                    duration: *duration,
                    started: e.ts,
                    start_id: e.id.clone(),
                    uid: ch.current_uid,
                    temp: ch
                        .current_uid
                        .and_then(|u| ch.temp.get(&u))
                        .copied()
                        .unwrap_or(false),
                    deleted: false,
                    voteskipped: false,
                });
                ended
            }
            MediaEvent::Playlist { action, data } => {
                let uid = data.get("uid").and_then(Value::as_u64);
                let count = data.get("count").and_then(Value::as_u64);
                match action.as_str() {
                    "current" => ch.current_uid = uid,
                    // `queue` says whether the item is temporary; `temp` is a later change.
                    "queue" | "temp" => {
                        if let (Some(uid), Some(temp)) =
                            (uid, data.get("temp").and_then(Value::as_bool))
                        {
                            if ch.temp.len() >= TEMP_MEMORY {
                                ch.temp.clear();
                            }
                            ch.temp.insert(uid, temp);
                            if let Some(p) = &mut ch.playing
                                && p.uid == Some(uid)
                            {
                                p.temp = temp;
                            }
                        }
                    }
                    "delete" => {
                        if let Some(p) = &mut ch.playing
                            && p.uid.is_some()
                            && p.uid == uid
                        {
                            p.deleted = true;
                        }
                        if let Some(uid) = uid {
                            ch.temp.remove(&uid);
                        }
                    }
                    _ => {}
                }
                // Nothing left to play: no `media_change` will end it.
                if count == Some(0) {
                    ch.current_uid = None;
                    if action == "playlist"
                        && let Some(p) = &mut ch.playing
                    {
                        p.deleted = true;
                    }
                    return ch.playing.take().map(|p| finish(p, e, scale));
                }
                None
            }
            MediaEvent::Chat { user } if user == VOTESKIP_NOTICE => {
                if let Some(p) = &mut ch.playing {
                    p.voteskipped = true;
                }
                None
            }
            MediaEvent::Voteskip { passed: true } => {
                if let Some(p) = &mut ch.playing {
                    p.voteskipped = true;
                }
                None
            }
            MediaEvent::Connection { state } if state != "joined" && state != "connected" => {
                ch.playing = None;
                ch.current_uid = None;
                None
            }
            _ => None,
        }
    }
}

/// How `p` ended at event `e`.
fn finish(p: Playing, e: &Envelope, scale: f64) -> MediaEnded {
    let elapsed = (e.ts - p.started).max(0.0) * scale;
    let capped = if p.duration > 0 {
        elapsed.min(p.duration as f64)
    } else {
        elapsed
    };
    let (reason, played) = if p.voteskipped {
        (END_VOTESKIPPED, capped.round() as i64)
    } else if p.duration > 0 && elapsed >= p.duration as f64 - tolerance(p.duration) {
        (END_PLAYED, p.duration)
    } else if p.deleted && !p.temp {
        (END_REMOVED, capped.round() as i64)
    } else {
        (END_SKIPPED, capped.round() as i64)
    };
    MediaEnded {
        media_type: p.media_type,
        media_id: p.media_id,
        reason: reason.to_string(),
        played: Some(played),
        started: Some(p.started),
        channel: Some(e.channel.clone()),
        ts: Some(e.ts),
        id: Some(format!("ended:{}", p.start_id)),
    }
}

/// Watches every channel and publishes the ends.
pub async fn start(
    tools: BusTools,
    time_scale: f64,
) -> Result<tokio::task::JoinHandle<()>, async_nats::Error> {
    let mut events = Box::pin(subscribe(&tools).await?);
    Ok(tokio::spawn(async move {
        let mut tracker = Tracker::new(time_scale);
        while let Some(e) = events.next().await {
            let Some(end) = tracker.on_event(&e) else {
                continue;
            };
            tracing::debug!(channel = %e.channel, media = %end.media_id, reason = %end.reason, "Play ended.");
            let payload = bytes::Bytes::from(rosey_model::encode(&end));
            if let Err(err) = tools.client.publish(subjects::MEDIA_ENDED, payload).await {
                tracing::warn!(error = %err, "Could not publish a media end.");
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(ts: f64, id: &str, event: MediaEvent) -> Envelope {
        Envelope {
            channel: "c".into(),
            ts,
            id: id.into(),
            event,
        }
    }
    fn change(ts: f64, id: &str, media: &str, duration: i64) -> Envelope {
        ev(
            ts,
            id,
            MediaEvent::Change {
                media_type: "yt".into(),
                media_id: media.into(),
                title: media.into(),
                duration,
            },
        )
    }
    fn pl(ts: f64, action: &str, data: Value) -> Envelope {
        ev(
            ts,
            "p",
            MediaEvent::Playlist {
                action: action.into(),
                data,
            },
        )
    }

    #[test]
    fn every_kind_of_end() {
        let mut t = Tracker::new(10.0);
        assert!(
            t.on_event(&pl(0.0, "current", json!({"uid": 1, "count": 3})))
                .is_none()
        );
        assert!(t.on_event(&change(0.0, "s1", "a", 100)).is_none());
        // 10 real seconds at 10× = 100 s: played out.
        t.on_event(&pl(10.0, "current", json!({"uid": 2, "count": 3})));
        let e = t.on_event(&change(10.0, "s2", "b", 100)).unwrap();
        assert_eq!(
            (
                e.media_id.as_str(),
                e.reason.as_str(),
                e.played,
                e.id.as_deref()
            ),
            ("a", END_PLAYED, Some(100), Some("ended:s1"))
        );
        assert_eq!(e.started, Some(0.0));
        // 2 s later someone skips: skipped after 20 s.
        t.on_event(&pl(12.0, "current", json!({"uid": 3, "count": 3})));
        let e = t.on_event(&change(12.0, "s3", "c", 100)).unwrap();
        assert_eq!((e.reason.as_str(), e.played), (END_SKIPPED, Some(20)));
        // The playing item is deleted: removed.
        t.on_event(&pl(13.0, "delete", json!({"uid": 3, "count": 2})));
        t.on_event(&pl(13.0, "current", json!({"uid": 1, "count": 2})));
        let e = t.on_event(&change(13.0, "s4", "a", 100)).unwrap();
        assert_eq!((e.reason.as_str(), e.played), (END_REMOVED, Some(10)));
        // A vote-skip notice: vote-skipped.
        t.on_event(&ev(
            14.0,
            "m",
            MediaEvent::Chat {
                user: VOTESKIP_NOTICE.into(),
            },
        ));
        t.on_event(&pl(14.0, "current", json!({"uid": 2, "count": 2})));
        let e = t.on_event(&change(14.0, "s5", "b", 100)).unwrap();
        assert_eq!(e.reason, END_VOTESKIPPED);
        // A temporary item deleted as playback moves on was skipped, not removed.
        t.on_event(&pl(
            15.0,
            "queue",
            json!({"uid": 9, "temp": true, "count": 3}),
        ));
        t.on_event(&pl(15.0, "current", json!({"uid": 9, "count": 3})));
        t.on_event(&change(15.0, "s6", "t", 100));
        t.on_event(&pl(16.0, "delete", json!({"uid": 9, "count": 2})));
        t.on_event(&pl(16.0, "current", json!({"uid": 1, "count": 2})));
        let e = t.on_event(&change(16.0, "s7", "a", 100)).unwrap();
        assert_eq!(e.reason, END_SKIPPED);
        // Made temporary while it played (`setTemp`): the same.
        t.on_event(&pl(16.5, "queue", json!({"uid": 10, "temp": false})));
        t.on_event(&pl(16.5, "current", json!({"uid": 10, "count": 3})));
        t.on_event(&change(16.5, "s7b", "p", 100));
        t.on_event(&pl(16.6, "temp", json!({"uid": 10, "temp": true})));
        t.on_event(&pl(16.7, "delete", json!({"uid": 10, "count": 2})));
        t.on_event(&pl(16.7, "current", json!({"uid": 1, "count": 2})));
        let e = t.on_event(&change(16.7, "s7c", "a", 100)).unwrap();
        assert_eq!((e.media_id.as_str(), e.reason.as_str()), ("p", END_SKIPPED));
        // A vote-skip the bot published as a `voteskip` event that passed.
        t.on_event(&ev(16.8, "v", MediaEvent::Voteskip { passed: true }));
        let e = t.on_event(&change(16.9, "s7d", "b", 100)).unwrap();
        assert_eq!(
            (e.media_id.as_str(), e.reason.as_str()),
            ("a", END_VOTESKIPPED)
        );
        // A tally that did not pass changes nothing: the moderator's skip is a skip.
        t.on_event(&ev(16.95, "v2", MediaEvent::Voteskip { passed: false }));
        let e = t.on_event(&change(16.99, "s7e", "a", 100)).unwrap();
        assert_eq!((e.media_id.as_str(), e.reason.as_str()), ("b", END_SKIPPED));
        // The list is cleared: the playing item was removed, at once.
        let e = t
            .on_event(&pl(17.0, "playlist", json!({"count": 0})))
            .unwrap();
        assert_eq!((e.media_id.as_str(), e.reason.as_str()), ("a", END_REMOVED));
        // A disconnection forgets the playing item.
        t.on_event(&change(20.0, "s8", "z", 100));
        t.on_event(&ev(
            21.0,
            "x",
            MediaEvent::Connection {
                state: "disconnected".into(),
            },
        ));
        assert!(t.on_event(&change(40.0, "s9", "y", 100)).is_none());
    }
}
