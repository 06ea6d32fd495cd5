//! The transport: one ruma request → one HTTP request (reqwest, rustls) → the ruma response
//! or an [`ApiError`] that says what the caller should do (retry after a delay, retry with
//! backoff, log in again, or give up on this request).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use ruma::api::auth_scheme::{AuthScheme, SendAccessToken};
use ruma::api::error::{ErrorKind, FromHttpResponseError, RetryAfter};
use ruma::api::path_builder::VersionHistory;
use ruma::api::{
    IncomingResponse, IncomingResponseExt, MatrixVersion, OutgoingRequest, OutgoingRequestExt,
    SupportedVersions,
};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No answer: connection refused or reset, timeout, or a 5xx from a proxy. Retry.
    #[error("homeserver unreachable: {0}")]
    Transport(String),
    /// `M_LIMIT_EXCEEDED`: retry after this long (the server's `retry_after_ms` or
    /// `Retry-After`, when it gave one).
    #[error("rate limited (M_LIMIT_EXCEEDED), retry after {retry_after:?}")]
    RateLimited { retry_after: Option<Duration> },
    /// The access token is no longer valid (`M_UNKNOWN_TOKEN`): log in again.
    #[error("access token rejected: {0}")]
    UnknownToken(String),
    /// Any other error the server answered with.
    #[error("{status} {errcode}: {message}")]
    Server {
        status: u16,
        errcode: String,
        message: String,
    },
    /// The request could not be built or the answer not read (a bug or a strange server).
    #[error("bad request or response: {0}")]
    Protocol(String),
}

impl ApiError {
    /// Worth retrying the same request later?
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Transport(_) | ApiError::RateLimited { .. } => true,
            ApiError::Server { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// The Matrix error code, for server errors.
    pub fn errcode(&self) -> Option<&str> {
        match self {
            ApiError::Server { errcode, .. } => Some(errcode),
            ApiError::RateLimited { .. } => Some("M_LIMIT_EXCEEDED"),
            ApiError::UnknownToken(_) => Some("M_UNKNOWN_TOKEN"),
            _ => None,
        }
    }
}

/// The HTTP side of the client, shared by the sync task and the sender task.
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: RwLock<Option<String>>,
    versions: SupportedVersions,
    timeout: Duration,
}

impl Api {
    pub fn new(base: &str, timeout: Duration) -> Api {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .expect("build the HTTP client");
        let mut versions = BTreeSet::new();
        versions.insert(MatrixVersion::V1_1);
        Api {
            http,
            base: base.to_string(),
            token: RwLock::new(None),
            versions: SupportedVersions {
                versions,
                features: BTreeSet::new(),
            },
            timeout,
        }
    }

    pub fn set_token(&self, token: Option<String>) {
        *self.token.write().expect("token lock") = token;
    }

    pub fn has_token(&self) -> bool {
        self.token.read().expect("token lock").is_some()
    }

    /// Sends `req` with the default timeout.
    pub async fn call<R>(&self, req: R) -> Result<R::IncomingResponse, ApiError>
    where
        R: OutgoingRequest<PathBuilder = VersionHistory, EndpointError = ruma::api::error::Error>,
        for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
    {
        self.call_with_timeout(req, self.timeout).await
    }

    /// Sends `req`, waiting at most `timeout` for the answer.
    pub async fn call_with_timeout<R>(
        &self,
        req: R,
        timeout: Duration,
    ) -> Result<R::IncomingResponse, ApiError>
    where
        R: OutgoingRequest<PathBuilder = VersionHistory, EndpointError = ruma::api::error::Error>,
        for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
    {
        let token = self.token.read().expect("token lock").clone();
        let auth = match token.as_deref() {
            Some(t) => SendAccessToken::IfRequired(t),
            None => SendAccessToken::None,
        };
        let http_req = req
            .try_into_http_request::<Vec<u8>>(&self.base, auth, Cow::Borrowed(&self.versions))
            .map_err(|e| ApiError::Protocol(e.to_string()))?;
        let mut request =
            reqwest::Request::try_from(http_req).map_err(|e| ApiError::Protocol(e.to_string()))?;
        *request.timeout_mut() = Some(timeout);
        let resp = self
            .http
            .execute(request)
            .await
            .map_err(|e| ApiError::Transport(error_chain(&e)))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .bytes()
            .await
            .map_err(|e| ApiError::Transport(error_chain(&e)))?;
        let headers = headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes()));
        decode_response(status.as_u16(), headers, &body)
    }
}

/// One homeserver answer (status, headers, body) → the typed response or the [`ApiError`]
/// it means. Pure; [`Api::call`] reads every answer through it (and the fuzz targets, so
/// whatever a homeserver sends is tried here without a network).
pub fn decode_response<'h, T>(
    status: u16,
    headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
    body: &[u8],
) -> Result<T, ApiError>
where
    T: IncomingResponse<EndpointError = ruma::api::error::Error>,
{
    let server_error = (500..600).contains(&status);
    if server_error && !looks_like_matrix_error(body) {
        return Err(ApiError::Transport(format!("HTTP {status}")));
    }
    let mut builder = http::Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    let response = builder
        .body(body)
        .map_err(|e| ApiError::Protocol(e.to_string()))?;
    T::try_from_http_response(response).map_err(|e| match e {
        FromHttpResponseError::Server(err) => classify(err),
        FromHttpResponseError::Deserialization(d) => ApiError::Protocol(d.to_string()),
        other => ApiError::Protocol(other.to_string()),
    })
}

fn looks_like_matrix_error(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v.get("errcode").is_some())
}

fn classify(err: ruma::api::error::Error) -> ApiError {
    let status = err.status_code.as_u16();
    let message = err.to_string();
    match err.error_kind() {
        Some(ErrorKind::LimitExceeded(data)) => ApiError::RateLimited {
            retry_after: data.retry_after.as_ref().map(|r| match r {
                RetryAfter::Delay(d) => *d,
                RetryAfter::DateTime(t) => t
                    .duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO),
            }),
        },
        Some(ErrorKind::UnknownToken(_)) => ApiError::UnknownToken(message),
        Some(kind) => ApiError::Server {
            status,
            errcode: kind.errcode().to_string(),
            message,
        },
        None => ApiError::Server {
            status,
            errcode: String::new(),
            message,
        },
    }
}

/// An error with its causes (reqwest's own text is often just "error sending request").
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
