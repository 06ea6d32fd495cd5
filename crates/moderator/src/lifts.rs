//! Pending lifts: the timed mutes and bans still to undo, kept in a JetStream key-value
//! bucket so that they are lifted when due even after the moderator (or the bot) restarts.
//! One key per (channel, user, lift action); the value says when. The same bucket keeps
//! the users' ladder positions ([`crate::ladder`]) under keys of their own.

use async_nats::jetstream::{self, kv};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The key prefix of a pending lift.
const PREFIX: &str = "lift.";

/// One mute or ban to lift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lift {
    pub channel: String,
    pub user: String,
    /// `unmute` or `unban`.
    pub action: String,
    /// Epoch seconds when it is due.
    pub due: f64,
    /// The rule that imposed it (for the record of the lift).
    #[serde(default)]
    pub rule: String,
}

impl Lift {
    /// The key: hex of channel and user (key-value keys allow few characters; Matrix ids
    /// hold `@` and `:`), then the action.
    pub fn key(&self) -> String {
        format!(
            "{PREFIX}{}.{}.{}",
            hex(&self.channel),
            hex(&self.user),
            self.action
        )
    }
}

/// Hex of a name, for a key (key-value keys allow few characters).
pub(crate) fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The lift that undoes a timed `action`, if it is one.
pub fn undo_of(action: &str) -> Option<&'static str> {
    match action {
        "mute" | "smute" => Some("unmute"),
        "ban" => Some("unban"),
        _ => None,
    }
}

/// The bucket's stream, laid out as the key-value store lays a bucket out. Created as a
/// stream (as the bot's lease bucket is) because `create_key_value` first reads account
/// limits in a shape older servers (Debian's nats-server 2.9) do not send.
fn bucket_stream(bucket: &str) -> jetstream::stream::Config {
    use jetstream::stream::{Config, DiscardPolicy, StorageType};
    Config {
        name: format!("KV_{bucket}"),
        description: Some("Rosey moderator: timed mutes and bans to lift, ladder positions".into()),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        storage: StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: DiscardPolicy::New,
        ..Default::default()
    }
}

/// The pending lifts of one bucket.
#[derive(Clone)]
pub struct Lifts {
    kv: kv::Store,
}

impl Lifts {
    /// Opens (creating when needed) the bucket.
    pub async fn open(client: &async_nats::Client, bucket: &str) -> Result<Lifts, String> {
        let js = jetstream::new(client.clone());
        js.create_or_update_stream(bucket_stream(bucket))
            .await
            .map_err(|e| format!("key-value bucket {bucket}: {e}"))?;
        let kv = js
            .get_key_value(bucket)
            .await
            .map_err(|e| format!("key-value bucket {bucket}: {e}"))?;
        Ok(Lifts { kv })
    }

    /// Stores (or moves) a lift.
    pub async fn put(&self, lift: &Lift) -> Result<(), String> {
        let value = serde_json::to_vec(lift).map_err(|e| e.to_string())?;
        self.kv
            .put(lift.key(), value.into())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    pub async fn remove(&self, lift: &Lift) -> Result<(), String> {
        self.kv.delete(lift.key()).await.map_err(|e| e.to_string())
    }

    /// Every pending lift (unreadable values are skipped with a warning).
    pub async fn all(&self) -> Result<Vec<Lift>, String> {
        Ok(read_all(&self.kv, PREFIX)
            .await?
            .into_iter()
            .map(|(_, l)| l)
            .collect())
    }

    /// The bucket, for the other records kept in it.
    pub fn store(&self) -> kv::Store {
        self.kv.clone()
    }
}

/// Every value under the keys that start with `prefix`, with its key (unreadable values are
/// skipped with a warning).
pub(crate) async fn read_all<T: DeserializeOwned>(
    kv: &kv::Store,
    prefix: &str,
) -> Result<Vec<(String, T)>, String> {
    let mut keys = kv.keys().await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    while let Some(key) = keys.next().await {
        let key = key.map_err(|e| e.to_string())?;
        if !key.starts_with(prefix) {
            continue;
        }
        match kv.get(&key).await {
            Ok(Some(v)) => match serde_json::from_slice::<T>(&v) {
                Ok(t) => out.push((key, t)),
                Err(e) => tracing::warn!(key, error = %e, "Unreadable moderator record; skipped."),
            },
            Ok(None) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_key_value_safe() {
        let l = Lift {
            channel: "!room:hs.example".into(),
            user: "@bob:hs.example".into(),
            action: "unmute".into(),
            due: 1.0,
            rule: "flood".into(),
        };
        let k = l.key();
        assert!(
            k.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-'),
            "{k}"
        );
        assert_eq!(undo_of("smute"), Some("unmute"));
        assert_eq!(undo_of("ban"), Some("unban"));
        assert_eq!(undo_of("kick"), None);
    }
}
