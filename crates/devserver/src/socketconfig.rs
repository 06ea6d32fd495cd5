//! `GET /socketconfig/<channel>.json`: tells a client which socket.io server to use. Served
//! by axum on the same port as socket.io, pointing at this server itself.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::text;

/// Answers `{servers:[{url, secure:false}]}`, or 404 `{"error": …}` for an invalid name.
/// Like CyTube, it does not check whether the channel exists.
pub async fn handler(State(url): State<Arc<str>>, Path(file): Path<String>) -> Response {
    let name = file.strip_suffix(".json").unwrap_or(&file);
    if file.ends_with(".json") && text::valid_channel_name(name) {
        let body = json!({ "servers": [ { "url": &*url, "secure": false } ] });
        (StatusCode::OK, Json(body)).into_response()
    } else {
        let body = json!({ "error": format!("Channel \"{name}\" does not exist.") });
        (StatusCode::NOT_FOUND, Json(body)).into_response()
    }
}
