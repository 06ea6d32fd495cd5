//! What the standard plugins need from the bus besides their own endpoints: database
//! queries (`rosey.db.query.*`), the key-value store, and the bot's command subjects for
//! lines said outside a command's reply (`!tell` deliveries, `!remind`).

use std::time::Duration;

use rosey_model::payload::{ChatCommand, CommandReply};
use rosey_model::subjects;
use rosey_plugin::Kv;
use serde_json::Value;

/// How long a plugin waits for the database service or the bot.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// The bus, for plugins. Cheap to clone.
#[derive(Clone)]
pub struct BusTools {
    pub client: async_nats::Client,
}

impl BusTools {
    pub fn new(client: async_nats::Client) -> Self {
        BusTools { client }
    }

    /// A key-value store namespace.
    pub fn kv(&self, plugin: &str) -> Kv {
        Kv::new(self.client.clone(), plugin)
    }

    /// A request with a JSON body; the JSON reply, or why there is none.
    pub async fn request(&self, subject: &str, body: Value) -> Result<Value, String> {
        let payload = bytes::Bytes::from(rosey_model::encode(&body));
        let m = tokio::time::timeout(
            REQUEST_TIMEOUT,
            self.client.request(subject.to_string(), payload),
        )
        .await
        .map_err(|_| "no answer in time".to_string())?
        .map_err(|e| e.to_string())?;
        serde_json::from_slice(&m.payload).map_err(|e| e.to_string())
    }

    /// A database query; a `{success:false}` reply is an error.
    pub async fn db(&self, subject: &str, body: Value) -> Result<Value, String> {
        let v = self.request(subject, body).await?;
        if v.get("success") == Some(&Value::Bool(false)) {
            return Err(v["error"].as_str().unwrap_or("error").to_string());
        }
        Ok(v)
    }

    /// Has the bot of `channel` say `text` (through its paced send path).
    pub async fn say(&self, channel: &str, text: &str) -> Result<(), String> {
        let body = serde_json::to_value(ChatCommand {
            message: text.to_string(),
        })
        .unwrap_or_default();
        let v = self
            .request(
                &subjects::command_subject(channel, subjects::COMMAND_CHAT),
                body,
            )
            .await?;
        let r: CommandReply = serde_json::from_value(v).map_err(|e| e.to_string())?;
        match r.error {
            Some(e) if !r.success => Err(e),
            _ => Ok(()),
        }
    }
}
