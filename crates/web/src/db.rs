//! Requests to the database service: one helper that sends a JSON request, waits at most
//! [`crate::BUS_TIMEOUT`], and turns the reply into a value or a [`WebError`] (no answer →
//! 503; `{success:false, error}` → 400 with the service's words).

use rosey_bus::Bus;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::WebError;

/// Asks `subject` with `body`; decodes a successful reply as `T`.
pub(crate) async fn ask<T: DeserializeOwned>(
    bus: &Bus,
    subject: &str,
    body: &Value,
) -> Result<T, WebError> {
    let payload = serde_json::to_vec(body).unwrap_or_default();
    let reply = bus
        .request(subject, payload, crate::BUS_TIMEOUT)
        .await
        .map_err(|e| WebError::Unavailable(e.to_string()))?;
    let value: Value = serde_json::from_slice(&reply.payload)
        .map_err(|e| WebError::Unavailable(format!("unreadable reply on {subject}: {e}")))?;
    if value.get("success") == Some(&Value::Bool(false)) {
        let error = value["error"].as_str().unwrap_or("request refused");
        return Err(WebError::BadRequest(error.to_string()));
    }
    serde_json::from_value(value)
        .map_err(|e| WebError::Unavailable(format!("unexpected reply on {subject}: {e}")))
}
