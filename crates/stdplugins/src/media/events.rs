//! The normalized events the media services read, from one subscription to
//! `rosey.events.>` (one subscription keeps their order, which the tracker depends on: a
//! `delete` of the playing item must be seen before the next `media_change`).

use futures::StreamExt;
use serde_json::Value;

use crate::BusTools;

/// One event, as far as the media services care.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    /// Something started playing.
    Change {
        media_type: String,
        media_id: String,
        title: String,
        duration: i64,
    },
    /// A playlist change: `action` (`queue`, `delete`, `move`, `current`, `playlist`) and its
    /// data, which the bot completes with the list as it now is (`count`, `upcoming`).
    Playlist { action: String, data: Value },
    /// A chat line (the tracker looks for the server's `[voteskip]` notice).
    Chat { user: String },
    /// A vote-skip tally, or (`passed`) the vote that moved playback on.
    Voteskip { passed: bool },
    /// The bot's connection: `connected`, `joined`, `disconnected`, `reconnecting`.
    Connection { state: String },
}

/// An event with its envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub channel: String,
    /// Event time, epoch seconds (the bot's clock).
    pub ts: f64,
    pub id: String,
    pub event: MediaEvent,
}

fn text(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Reads one normalized event; `None` for kinds the media services ignore or bad input.
pub fn parse(payload: &[u8]) -> Option<Envelope> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    let event = match v.get("kind")?.as_str()? {
        "media_change" => MediaEvent::Change {
            media_type: text(&v, "type"),
            media_id: match v.get("media_id")? {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
            title: text(&v, "title"),
            duration: v.get("duration").and_then(Value::as_i64).unwrap_or(0),
        },
        "playlist_change" => MediaEvent::Playlist {
            action: text(&v, "action"),
            data: v.get("data").cloned().unwrap_or(Value::Null),
        },
        "message" if !v.get("history").and_then(Value::as_bool).unwrap_or(false) => {
            MediaEvent::Chat {
                user: text(&v, "user"),
            }
        }
        "voteskip" => MediaEvent::Voteskip {
            passed: v.get("passed").and_then(Value::as_bool).unwrap_or(false),
        },
        "connection" => MediaEvent::Connection {
            state: text(&v, "state"),
        },
        _ => return None,
    };
    Some(Envelope {
        channel: text(&v, "channel"),
        ts: v.get("ts").and_then(Value::as_f64).unwrap_or(0.0),
        id: match v.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        },
        event,
    })
}

/// The media events of every channel, in order.
pub async fn subscribe(
    tools: &BusTools,
) -> Result<impl futures::Stream<Item = Envelope> + use<>, async_nats::Error> {
    let sub = tools
        .client
        .subscribe(format!("{}.>", rosey_model::subjects::EVENTS_PREFIX))
        .await?;
    Ok(sub.filter_map(|m| async move { parse(&m.payload) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_bot_publishes_and_ignores_the_rest() {
        let e = parse(br#"{"channel":"c","ts":5.5,"id":"e1","kind":"media_change","title":"T","type":"yt","media_id":"x","duration":61}"#).unwrap();
        assert_eq!((e.channel.as_str(), e.ts, e.id.as_str()), ("c", 5.5, "e1"));
        assert!(matches!(e.event, MediaEvent::Change { duration: 61, .. }));
        let d = parse(br#"{"channel":"c","ts":1,"id":"e2","kind":"playlist_change","action":"delete","data":{"uid":4,"count":0}}"#).unwrap();
        assert!(matches!(d.event, MediaEvent::Playlist { ref action, .. } if action == "delete"));
        assert!(parse(br#"{"channel":"c","ts":1,"id":"e","kind":"message","user":"u","content":"x","history":true}"#).is_none());
        let v = parse(br#"{"channel":"c","ts":2,"id":"e3","kind":"voteskip","count":2,"need":2,"passed":true}"#).unwrap();
        assert_eq!(v.event, MediaEvent::Voteskip { passed: true });
        assert!(parse(br#"{"kind":"user_join"}"#).is_none());
        assert!(parse(b"not json").is_none());
    }
}
