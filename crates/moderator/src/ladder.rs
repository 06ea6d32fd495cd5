//! Ladder positions: each user's offences still inside the escalation window, kept in the
//! moderator's key-value bucket beside the pending lifts, so that a repeat offender does
//! not start over at the ladder's first step when the moderator restarts. One key per
//! (channel, user); the value holds the offence times and when the position expires (the
//! last offence plus the window). Expired positions are dropped when read at start.
//!
//! It only stores and loads; the engine decides ([`crate::engine::Channel::offences_of`],
//! [`crate::engine::Channel::restore_offences`]).

use async_nats::jetstream::kv;
use serde::{Deserialize, Serialize};

use crate::lifts::{hex, read_all};

/// The key prefix of a ladder position.
const PREFIX: &str = "ladder.";

/// One user's place on a channel's ladder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub channel: String,
    /// The user's name, lower-case (as the engine keys its users).
    pub user: String,
    /// Epoch seconds of each offence inside the window, oldest first.
    pub offences: Vec<f64>,
    /// Epoch seconds after which the position is void (the last offence plus the window).
    pub expires: f64,
}

impl Position {
    /// The key: hex of channel and user, as the lifts' keys.
    pub fn key(&self) -> String {
        format!("{PREFIX}{}.{}", hex(&self.channel), hex(&self.user))
    }
}

/// The stored positions, in the moderator's bucket.
#[derive(Clone)]
pub struct Positions {
    kv: kv::Store,
}

impl Positions {
    /// Positions in `kv` (the bucket [`crate::lifts::Lifts`] opened).
    pub fn new(kv: kv::Store) -> Positions {
        Positions { kv }
    }

    /// Stores (or replaces) a position.
    pub async fn put(&self, p: &Position) -> Result<(), String> {
        let value = serde_json::to_vec(p).map_err(|e| e.to_string())?;
        self.kv
            .put(p.key(), value.into())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Every position still valid at `now`; expired ones are deleted from the bucket.
    pub async fn load(&self, now: f64) -> Result<Vec<Position>, String> {
        let mut out = Vec::new();
        for (key, p) in read_all::<Position>(&self.kv, PREFIX).await? {
            if p.expires > now {
                out.push(p);
            } else if let Err(e) = self.kv.delete(&key).await {
                tracing::warn!(key, error = %e, "Could not drop an expired ladder position.");
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_from_the_lifts_and_are_key_value_safe() {
        let p = Position {
            channel: "!room:hs.example".into(),
            user: "@bob:hs.example".into(),
            offences: vec![1.0],
            expires: 2.0,
        };
        let k = p.key();
        assert!(k.starts_with("ladder."), "{k}");
        assert!(
            k.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-'),
            "{k}"
        );
    }
}
