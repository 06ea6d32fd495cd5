//! The production bus on the official `async-nats` client.
//!
//! Connection options follow SPEC §2. The reconnect policy never gives up unless
//! `max_reconnect_attempts` is set (≥ 0); credentials are kept out of `Debug` and of every
//! log line (only the server URLs, with any `user:pass@` stripped, are ever printed).

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use async_nats::{ConnectOptions, RequestErrorKind, connection::State};
use bytes::Bytes;

use crate::{BusError, HeaderMap, Message, Subscription, SubscriptionInner};

/// Default connect timeout (SPEC §2).
pub const DEFAULT_CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// Default delay between reconnect attempts (SPEC §2).
pub const DEFAULT_RECONNECT_DELAY: Duration = Duration::from_secs(2);
/// Messages a subscription may hold before the client drops them as a slow consumer.
/// Larger than the client default so that a burst is absorbed while the consumer catches up.
pub const DEFAULT_SUBSCRIPTION_CAPACITY: usize = 262_144;

/// TLS settings.
#[derive(Clone, Default)]
pub struct TlsOptions {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub required: bool,
}

/// How to reach NATS. `Debug` never shows a secret.
#[derive(Clone)]
pub struct NatsOptions {
    /// One or more server URLs.
    pub servers: Vec<String>,
    pub connection_timeout: Duration,
    /// `None` = reconnect forever (SPEC's -1).
    pub max_reconnect_attempts: Option<usize>,
    pub reconnect_delay: Duration,
    pub user: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
    /// Path of a `.creds` file.
    pub credentials: Option<PathBuf>,
    /// Path of a file holding an nkey seed.
    pub nkey: Option<PathBuf>,
    pub tls: TlsOptions,
    /// Client name shown by `nats server report connections`.
    pub name: String,
    pub subscription_capacity: usize,
    /// Where this connection's request replies come back (`<prefix>.<id>…`); `None` is the
    /// client default `_INBOX`. With least-privilege accounts each role has its own prefix,
    /// so no other role can read or answer its replies (`deploy/nats/accounts.conf`).
    pub inbox_prefix: Option<String>,
}

impl Default for NatsOptions {
    fn default() -> Self {
        NatsOptions {
            servers: vec!["nats://127.0.0.1:4222".to_string()],
            connection_timeout: DEFAULT_CONNECTION_TIMEOUT,
            max_reconnect_attempts: None,
            reconnect_delay: DEFAULT_RECONNECT_DELAY,
            user: None,
            password: None,
            token: None,
            credentials: None,
            nkey: None,
            tls: TlsOptions::default(),
            name: "rosey".to_string(),
            subscription_capacity: DEFAULT_SUBSCRIPTION_CAPACITY,
            inbox_prefix: None,
        }
    }
}

impl NatsOptions {
    /// Options for one URL with everything else at its default.
    pub fn new(url: impl Into<String>) -> Self {
        NatsOptions {
            servers: vec![url.into()],
            ..Default::default()
        }
    }

    /// The server list as it may be logged (credentials in URLs replaced by `***`).
    pub fn servers_for_log(&self) -> String {
        self.servers
            .iter()
            .map(|s| redact_url(s))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl std::fmt::Debug for NatsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |o: bool| if o { "<set>" } else { "<none>" };
        f.debug_struct("NatsOptions")
            .field("servers", &self.servers_for_log())
            .field("connection_timeout", &self.connection_timeout)
            .field("max_reconnect_attempts", &self.max_reconnect_attempts)
            .field("reconnect_delay", &self.reconnect_delay)
            .field("user", &self.user)
            .field("password", &set(self.password.is_some()))
            .field("token", &set(self.token.is_some()))
            .field("credentials", &self.credentials)
            .field("nkey", &self.nkey)
            .field("tls_required", &self.tls.required)
            .field("inbox_prefix", &self.inbox_prefix)
            .finish()
    }
}

/// `nats://user:pass@host` → `nats://***@host`.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i + 3], &url[i + 3..]),
        None => ("", url),
    };
    let host_start = rest.find('/').unwrap_or(rest.len());
    match rest[..host_start].rfind('@') {
        Some(at) => format!("{scheme}***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// A connection to NATS.
#[derive(Clone)]
pub struct NatsBus {
    client: async_nats::Client,
    servers: Arc<str>,
    slow_consumer_events: Arc<AtomicU64>,
}

impl std::fmt::Debug for NatsBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBus")
            .field("servers", &self.servers)
            .finish()
    }
}

impl NatsBus {
    /// Connects. A refusal (wrong user/password, token or nkey, expired creds, untrusted
    /// certificate, TLS mismatch) fails at once with [`BusError::Refused`], whatever the
    /// retry policy. An unreachable server is retried: with `max_reconnect_attempts = None`
    /// (forever) this returns after the first failed attempt and keeps trying in the
    /// background, so a service can start before NATS; otherwise it tries `max(1, n)` times
    /// and returns [`BusError::Connect`]. Callers race it against their shutdown signal.
    pub async fn connect(options: NatsOptions) -> Result<NatsBus, BusError> {
        let servers = options.servers_for_log();
        let slow = Arc::new(AtomicU64::new(0));
        let forever = options.max_reconnect_attempts.is_none();
        let attempts = options.max_reconnect_attempts.unwrap_or(0).max(1);
        let mut last_error = String::new();
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(options.reconnect_delay).await;
            }
            let connect_options = build_options(&options, slow.clone(), false).await?;
            match connect_options.connect(options.servers.clone()).await {
                Ok(client) => return Ok(NatsBus::new(client, &servers, slow)),
                Err(e) if is_refusal(&e) => {
                    return Err(BusError::Refused {
                        servers,
                        reason: refusal_reason(&e),
                    });
                }
                Err(e) => {
                    // async-nats errors describe the failure, never the credentials.
                    last_error = e.to_string();
                    tracing::warn!(servers = %servers, attempt = attempt + 1, error = %last_error, "NATS connect failed.");
                    if forever {
                        break;
                    }
                }
            }
        }
        if forever {
            tracing::warn!(servers = %servers, "NATS unreachable; starting anyway and retrying in the background.");
            let connect_options = build_options(&options, slow.clone(), true).await?;
            return match connect_options.connect(options.servers.clone()).await {
                Ok(client) => Ok(NatsBus::new(client, &servers, slow)),
                Err(e) => Err(BusError::Connect {
                    servers,
                    reason: e.to_string(),
                }),
            };
        }
        Err(BusError::Connect {
            servers,
            reason: last_error,
        })
    }

    fn new(client: async_nats::Client, servers: &str, slow: Arc<AtomicU64>) -> NatsBus {
        NatsBus {
            client,
            servers: servers.into(),
            slow_consumer_events: slow,
        }
    }

    /// The underlying client.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// How many times the client reported a slow consumer (messages dropped client-side).
    pub fn slow_consumer_events(&self) -> u64 {
        self.slow_consumer_events.load(Ordering::Relaxed)
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.client.connection_state() == State::Connected
    }

    pub(crate) async fn publish(
        &self,
        subject: &str,
        payload: Bytes,
        headers: Option<HeaderMap>,
    ) -> Result<(), BusError> {
        let subject = subject.to_string();
        let r = match headers {
            Some(h) => self.client.publish_with_headers(subject, h, payload).await,
            None => self.client.publish(subject, payload).await,
        };
        r.map_err(|e| BusError::Io {
            op: "publish",
            reason: e.to_string(),
        })
    }

    pub(crate) async fn subscribe(
        &self,
        subject: &str,
        queue: Option<&str>,
    ) -> Result<Subscription, BusError> {
        if !crate::pattern::valid_pattern(subject) {
            return Err(BusError::InvalidSubject(subject.to_string()));
        }
        let r = match queue {
            Some(q) => {
                self.client
                    .queue_subscribe(subject.to_string(), q.to_string())
                    .await
            }
            None => self.client.subscribe(subject.to_string()).await,
        };
        let sub = r.map_err(|e| BusError::Io {
            op: "subscribe",
            reason: e.to_string(),
        })?;
        Ok(Subscription {
            inner: SubscriptionInner::Nats(sub),
        })
    }

    pub(crate) async fn request(
        &self,
        subject: &str,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<Message, BusError> {
        let request = async_nats::Request::new()
            .payload(payload)
            .timeout(Some(timeout));
        match self.client.send_request(subject.to_string(), request).await {
            Ok(m) => Ok(from_nats(m)),
            Err(e) => Err(match e.kind() {
                RequestErrorKind::TimedOut => BusError::Timeout {
                    subject: subject.to_string(),
                    timeout,
                },
                RequestErrorKind::NoResponders => BusError::NoResponders {
                    subject: subject.to_string(),
                },
                RequestErrorKind::InvalidSubject => BusError::InvalidSubject(subject.to_string()),
                _ => BusError::Io {
                    op: "request",
                    reason: e.to_string(),
                },
            }),
        }
    }

    pub(crate) async fn flush(&self) -> Result<(), BusError> {
        self.client.flush().await.map_err(|e| BusError::Io {
            op: "flush",
            reason: e.to_string(),
        })
    }
}

pub(crate) fn from_nats(m: async_nats::Message) -> Message {
    Message {
        subject: m.subject.to_string(),
        reply: m.reply.map(|r| r.to_string()),
        payload: m.payload,
        headers: m.headers,
    }
}

async fn build_options(
    o: &NatsOptions,
    slow: Arc<AtomicU64>,
    forever: bool,
) -> Result<ConnectOptions, BusError> {
    let mut c = ConnectOptions::new()
        .name(&o.name)
        .connection_timeout(o.connection_timeout)
        .subscription_capacity(o.subscription_capacity)
        .max_reconnects(o.max_reconnect_attempts)
        .retain_servers_order();
    let delay = o.reconnect_delay;
    // The first reconnect is immediate (a server restart is usually quick); then a fixed
    // delay, as SPEC §2's `reconnect_delay` describes.
    c = c.reconnect_delay_callback(
        move |attempts| if attempts <= 1 { Duration::ZERO } else { delay },
    );
    if forever {
        c = c.retry_on_initial_connect();
    }
    if let Some(prefix) = &o.inbox_prefix {
        if !crate::pattern::valid_publish_subject(prefix) {
            return Err(BusError::Options(format!(
                "inbox prefix `{prefix}`: must be a subject without wildcards"
            )));
        }
        c = c.custom_inbox_prefix(prefix.clone());
    }
    if let (Some(u), Some(p)) = (&o.user, &o.password) {
        c = c.user_and_password(u.clone(), p.clone());
    } else if o.user.is_some() != o.password.is_some() {
        return Err(BusError::Options(
            "user and password must be given together".into(),
        ));
    }
    if let Some(t) = &o.token {
        c = c.token(t.clone());
    }
    if let Some(path) = &o.credentials {
        c = c
            .credentials_file(path)
            .await
            .map_err(|e| BusError::Options(format!("credentials file {}: {e}", path.display())))?;
    }
    if let Some(path) = &o.nkey {
        let seed = std::fs::read_to_string(path)
            .map_err(|e| BusError::Options(format!("nkey seed file {}: {e}", path.display())))?;
        c = c.nkey(seed.trim().to_string());
    }
    if let Some(ca) = &o.tls.ca {
        c = c.add_root_certificates(ca.clone());
    }
    match (&o.tls.cert, &o.tls.key) {
        (Some(cert), Some(key)) => c = c.add_client_certificate(cert.clone(), key.clone()),
        (None, None) => {}
        _ => {
            return Err(BusError::Options(
                "tls.cert and tls.key must be given together".into(),
            ));
        }
    }
    if o.tls.required {
        c = c.require_tls(true);
    }
    let servers: Arc<str> = o.servers_for_log().into();
    c = c.event_callback(move |event| {
        let servers = servers.clone();
        let slow = slow.clone();
        async move {
            match event {
                async_nats::Event::Connected => {
                    tracing::info!(servers = %servers, "NATS connected.")
                }
                async_nats::Event::Disconnected => {
                    tracing::warn!(servers = %servers, "NATS disconnected; reconnecting.")
                }
                async_nats::Event::SlowConsumer(sid) => {
                    slow.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(sid, "NATS slow consumer: messages dropped by the client.");
                }
                other => tracing::info!(servers = %servers, event = %other, "NATS event."),
            }
        }
    });
    Ok(c)
}

/// Whether a connect error means the server refused us (retrying cannot help). A failed
/// TLS handshake (untrusted certificate, name mismatch) arrives from async-nats as an I/O
/// error wrapping rustls' error, so the source chain is searched for that too.
fn is_refusal(e: &async_nats::ConnectError) -> bool {
    use async_nats::ConnectErrorKind as K;
    matches!(
        e.kind(),
        K::AuthorizationViolation | K::Authentication | K::Tls
    ) || tls_failure(e)
}

fn tls_failure(e: &async_nats::ConnectError) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        if err.is::<async_nats::rustls::Error>()
            || err
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .is_some_and(|inner| inner.is::<async_nats::rustls::Error>())
        {
            return true;
        }
        source = err.source();
    }
    false
}

/// A one-line cause for a refusal, in an operator's words (async-nats' own text repeats
/// itself); for TLS, the innermost cause (e.g. `invalid peer certificate: UnknownIssuer`).
fn refusal_reason(e: &async_nats::ConnectError) -> String {
    use async_nats::ConnectErrorKind as K;
    if tls_failure(e) || e.kind() == K::Tls {
        let mut innermost = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(err) = source {
            innermost = err.to_string();
            source = err.source();
        }
        return format!(
            "TLS failed (untrusted or mismatched certificate, or TLS required on one side only): {innermost}"
        );
    }
    match e.kind() {
        K::AuthorizationViolation => "authorization violation (wrong user/password, token, nkey or creds, or an expired creds file)".into(),
        _ => "authentication failed (the nkey or creds file could not sign the server's nonce)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact_url("nats://u:p@h:4222"), "nats://***@h:4222");
        assert_eq!(redact_url("nats://h:4222"), "nats://h:4222");
        assert_eq!(redact_url("tls://tok@h"), "tls://***@h");
        assert_eq!(redact_url("h:4222"), "h:4222");
    }

    #[test]
    fn debug_hides_secrets() {
        let o = NatsOptions {
            servers: vec!["nats://alice:hunter2@h:4222".into()],
            user: Some("alice".into()),
            password: Some("hunter2".into()),
            token: Some("s3cr3t-token".into()),
            ..Default::default()
        };
        let shown = format!("{o:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("s3cr3t-token"), "{shown}");
        assert!(shown.contains("<set>"));
    }
}
