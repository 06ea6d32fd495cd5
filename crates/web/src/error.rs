//! [`WebError`]: what a handler can fail with, and the status code and JSON body
//! (`{"error": "..."}`, as v0.5) each becomes.

use std::net::SocketAddr;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("{0}")]
    Config(String),
    #[error("cannot subscribe to the bus: {0}")]
    Subscribe(#[from] rosey_bus::BusError),
    /// A channel the dashboard does not show.
    #[error("unknown channel `{0}`")]
    UnknownChannel(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// No (or an unknown) credential.
    #[error("{0}")]
    Unauthorized(String),
    /// A credential that may not do this, or a missing session/CSRF token.
    #[error("{0}")]
    Forbidden(String),
    #[error("too many failed attempts; try again in {0} s")]
    TooManyAttempts(u64),
    /// The client holds its share of event streams.
    #[error("too many open event streams from your address")]
    TooManyStreams,
    /// The database service did not answer, or answered an error it should not have.
    #[error("database service unavailable: {0}")]
    Unavailable(String),
    /// No bot answered for the channel (a playlist action needs the channel's bot).
    #[error("no bot serves channel `{channel}`: {detail}")]
    NoBot { channel: String, detail: String },
}

impl WebError {
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::UnknownChannel(_) | WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::TooManyAttempts(_) | WebError::TooManyStreams => {
                StatusCode::TOO_MANY_REQUESTS
            }
            WebError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::NoBot { .. } => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Bind(..) | WebError::Config(_) | WebError::Subscribe(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "API request failed.");
        }
        let mut response = (status, Json(json!({"error": self.to_string()}))).into_response();
        if let WebError::TooManyAttempts(secs) = self
            && let Ok(v) = secs.to_string().parse()
        {
            response.headers_mut().insert("retry-after", v);
        }
        response
    }
}
