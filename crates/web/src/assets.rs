//! The page, its script and style sheet, and the OpenAPI document — all embedded in the
//! binary with `include_str!` (no build step besides cargo) — and the security headers every
//! response carries.
//!
//! The page is static HTML: everything dynamic arrives as JSON (the event stream and the
//! API) and is written into the DOM with `textContent` by `app.js`, so chat lines, user
//! names and media titles always show as text. The Content-Security-Policy allows scripts,
//! styles and connections from this origin only and no inline script at all.

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

pub const INDEX_HTML: &str = include_str!("../assets/index.html");
pub const APP_JS: &str = include_str!("../assets/app.js");
/// The chart code (`lineChart`), shared with the benchmark report page.
pub const CHART_JS: &str = include_str!("../assets/chart.js");
pub const APP_CSS: &str = include_str!("../assets/app.css");
pub const OPENAPI_JSON: &str = include_str!("../assets/openapi.json");

/// The policy: this origin only, no inline script or style, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(|| file("text/html; charset=utf-8", INDEX_HTML)))
        .route(
            "/index.html",
            get(|| file("text/html; charset=utf-8", INDEX_HTML)),
        )
        .route(
            "/static/app.js",
            get(|| file("text/javascript; charset=utf-8", APP_JS)),
        )
        .route(
            "/static/chart.js",
            get(|| file("text/javascript; charset=utf-8", CHART_JS)),
        )
        .route(
            "/static/app.css",
            get(|| file("text/css; charset=utf-8", APP_CSS)),
        )
        .route(
            "/favicon.ico",
            get(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
        .route(
            "/api/openapi.json",
            get(|| file("application/json", OPENAPI_JSON)),
        )
}

async fn file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Adds the security headers to every response.
pub(crate) async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_no_inline_script_or_handler() {
        let html = INDEX_HTML.to_lowercase();
        assert_eq!(html.matches("<script").count(), 2);
        assert!(html.contains("<script src=\"/static/chart.js\" defer></script>"));
        assert!(html.contains("<script src=\"/static/app.js\" defer></script>"));
        for attr in [
            " onload=",
            " onclick=",
            " onerror=",
            " style=",
            "javascript:",
        ] {
            assert!(!html.contains(attr), "{attr}");
        }
        for script in [APP_JS, CHART_JS] {
            assert!(
                !script.contains("innerHTML"),
                "the scripts write text, never HTML"
            );
            assert!(!script.contains("insertAdjacentHTML"));
            assert!(!script.contains("eval("));
        }
    }

    #[test]
    fn the_openapi_document_is_json() {
        let v: serde_json::Value = serde_json::from_str(OPENAPI_JSON).unwrap();
        assert!(v["paths"]["/api/say"]["post"].is_object());
    }
}
