//! The query side: one handler for every request subject of SPEC §3.2, served through the
//! NATS micro-service API on NATS and through plain queue subscriptions on the embedded bus.
//!
//! Reads use a second, read-only connection: with SQLite's WAL it sees every committed batch
//! and never waits for the writer, so queries are answered during an ingest burst. The
//! statements are indexed and their replies bounded, so on a local file they run inline on
//! the serving task (tens of microseconds); handing each to another thread would cost more
//! than the query. A store whose calls wait on the network (PostgreSQL,
//! `Storage::blocks_on_network`) gets a reader thread of its own instead, so a round trip
//! never blocks an async worker.
//! `outbound.enqueue` is a write and goes through the writer, like every other write.
//!
//! Replies to the read-only requests that depend on the data alone (`recent_chat.get`,
//! `channel_stats`, `user_stats`) are kept until the next commit ([`ReplyCache`]): the same
//! request between two chat lines is answered without running the query again.
//!
//! Errors are replies (`{success:false, error}`), never a silent `[]`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::{BoxStream, select_all};
use rosey_bus::Bus;
use rosey_model::payload::{
    ChannelStatsQuery, EnqueueReply, ErrorReply, HasEnvelope, OutboundEnqueue, OutboundGet,
    RecentChatGet, UserCountHistoryQuery, UserStatsQuery,
};
use rosey_model::{DecodeError, decode, encode, subjects};
use rosey_store::{Storage, StoreError, StoreThread, now_secs};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot, watch};

use crate::counters::Counters;

mod kv;
mod media;
use crate::writer::WriterMsg;
use crate::{DbServiceError, config::DbServiceConfig};

mod web;
pub(crate) use web::rekey_legacy as rekey_legacy_tokens;

/// Endpoint names for the micro-service API (subject → name).
pub const ENDPOINTS: [(&str, &str); 6] = [
    (subjects::OUTBOUND_GET, "outbound_get"),
    (subjects::RECENT_CHAT_GET, "recent_chat_get"),
    (subjects::QUERY_CHANNEL_STATS, "channel_stats"),
    (subjects::QUERY_USER_STATS, "user_stats"),
    (subjects::QUERY_USER_COUNT_HISTORY, "user_count_history"),
    (subjects::OUTBOUND_ENQUEUE, "outbound_enqueue"),
];

/// Where reads run.
enum Reader {
    /// On the serving task. A std Mutex: only that task uses it, never across an await.
    Inline(Mutex<Box<dyn Storage>>),
    /// On a thread that owns the store (see `rosey_store::StoreThread`).
    Thread(StoreThread),
}

impl Reader {
    fn new(store: Box<dyn Storage>) -> Result<Reader, StoreError> {
        if !store.blocks_on_network() {
            return Ok(Reader::Inline(Mutex::new(store)));
        }
        Ok(Reader::Thread(StoreThread::new("rosey-db-reader", store)?))
    }
}

/// Read-only requests whose reply depends on the data alone (not on the clock): their
/// replies are kept until the next commit to the database.
const CACHEABLE: [&str; 3] = [
    subjects::RECENT_CHAT_GET,
    subjects::QUERY_CHANNEL_STATS,
    subjects::QUERY_USER_STATS,
];
/// Replies kept per endpoint (all are dropped when full; a dashboard asks a few at most).
const CACHE_MAX: usize = 256;

/// Replies of [`CACHEABLE`] requests, valid while the database's data version is `version`
/// (SQLite's `PRAGMA data_version` on the reader's connection: it changes with every commit
/// of any other connection — this service's writer, or another process on the same file).
/// Dashboards and plugins ask the same questions between two chat lines; those are answered
/// without running the query again.
#[derive(Default)]
struct ReplyCache {
    version: i64,
    replies: [HashMap<Bytes, Bytes>; CACHEABLE.len()],
}

/// Answers requests.
pub(crate) struct Queries {
    reader: Reader,
    /// Used with an inline reader only (a store on the network has no cheap data version).
    cache: Mutex<ReplyCache>,
    /// Where to wake a channel's outbound pump after `outbound.enqueue` (none in tools that
    /// only read).
    wake: Option<Bus>,
    writer: mpsc::Sender<WriterMsg>,
    counters: Arc<Counters>,
    default_channel: String,
}

enum QueryError {
    Decode(DecodeError),
    Invalid(String),
    Store(StoreError),
    Writer(String),
}

impl QueryError {
    fn kind(&self) -> &'static str {
        match self {
            QueryError::Decode(e) => e.kind(),
            QueryError::Invalid(_) => "bad_request",
            QueryError::Store(_) | QueryError::Writer(_) => "store_error",
        }
    }

    fn message(&self) -> String {
        match self {
            QueryError::Decode(e) => e.to_string(),
            QueryError::Invalid(m) => m.clone(),
            QueryError::Store(e) => format!("database error: {e}"),
            QueryError::Writer(m) => format!("database error: {m}"),
        }
    }
}

impl Queries {
    pub fn new(
        store: Box<dyn Storage>,
        writer: mpsc::Sender<WriterMsg>,
        counters: Arc<Counters>,
        default_channel: String,
    ) -> Result<Self, StoreError> {
        Ok(Queries {
            reader: Reader::new(store)?,
            cache: Mutex::new(ReplyCache::default()),
            wake: None,
            writer,
            counters,
            default_channel,
        })
    }

    /// Wakes channels' outbound pumps on `bus` after each `outbound.enqueue`.
    pub fn with_pump_wake(mut self, bus: Bus) -> Self {
        self.wake = Some(bus);
        self
    }

    /// The reply to a request on `subject`, and whether it is a success.
    pub async fn answer(&self, subject: &str, payload: &[u8]) -> (Bytes, bool) {
        Counters::add(&self.counters.queries, 1);
        let started = std::time::Instant::now();
        let endpoint = crate::metrics::endpoint_index(subject);
        let cacheable = CACHEABLE.iter().position(|s| *s == subject);
        let mut version = None;
        if let Some(i) = cacheable {
            match self.kept(i, payload) {
                Ok(reply) => {
                    Counters::add(&self.counters.query_cache_hits, 1);
                    if let Some(e) = endpoint {
                        self.counters.metrics.query_seconds[e].observe_duration(started.elapsed());
                    }
                    return (reply, true);
                }
                Err(v) => version = v,
            }
        }
        let result = self.dispatch(subject, payload).await;
        if let (Some(i), Some(v), Ok(reply)) = (cacheable, version, &result) {
            self.keep(i, v, payload, reply);
        }
        let m = &self.counters.metrics;
        if let Some(i) = endpoint {
            m.query_seconds[i].observe_duration(started.elapsed());
        }
        match result {
            Ok(body) => (body, true),
            Err(e) => {
                if let Some(i) = endpoint {
                    m.query_errors.inc(i);
                }
                Counters::add(&self.counters.query_errors, 1);
                let message = e.message();
                self.counters.reject(e.kind(), subject, &message);
                (Bytes::from(encode(&ErrorReply::new(message))), false)
            }
        }
    }

    /// The kept reply to this request, or the data version to keep a fresh one under (read
    /// before the query runs, so a commit during the query makes the reply stale at once).
    fn kept(&self, endpoint: usize, payload: &[u8]) -> Result<Bytes, Option<i64>> {
        let Reader::Inline(store) = &self.reader else {
            return Err(None);
        };
        let version = store
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .data_version()
            .ok_or(None)?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.version != version {
            cache.version = version;
            cache.replies.iter_mut().for_each(HashMap::clear);
            return Err(Some(version));
        }
        cache.replies[endpoint]
            .get(payload)
            .cloned()
            .ok_or(Some(version))
    }

    fn keep(&self, endpoint: usize, version: i64, payload: &[u8], reply: &Bytes) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.version != version {
            return;
        }
        let replies = &mut cache.replies[endpoint];
        if replies.len() >= CACHE_MAX {
            replies.clear();
        }
        replies.insert(Bytes::copy_from_slice(payload), reply.clone());
    }

    async fn dispatch(&self, subject: &str, payload: &[u8]) -> Result<Bytes, QueryError> {
        match subject {
            subjects::RECENT_CHAT_GET => {
                let q: RecentChatGet = req(payload)?;
                let ch = q.channel_or(&self.default_channel).to_string();
                self.read(move |s| s.recent_chat(&ch, q.limit)).await
            }
            subjects::OUTBOUND_GET => {
                let q: OutboundGet = req(payload)?;
                let ch = q.channel_or(&self.default_channel).to_string();
                self.read(move |s| s.due(&ch, q.limit, q.max_retries, now_secs()))
                    .await
            }
            subjects::QUERY_CHANNEL_STATS => {
                let q: ChannelStatsQuery = req(payload)?;
                let ch = q.channel_or(&self.default_channel).to_string();
                self.read(move |s| s.channel_stats(&ch)).await
            }
            subjects::QUERY_USER_STATS => {
                let q: UserStatsQuery = req(payload)?;
                let ch = q.channel_or(&self.default_channel).to_string();
                self.read(move |s| s.user_stats(&ch, &q.username)).await
            }
            subjects::QUERY_USER_COUNT_HISTORY => {
                let q: UserCountHistoryQuery = req(payload)?;
                let ch = q.channel_or(&self.default_channel).to_string();
                self.read(move |s| s.user_count_history(&ch, q.hours, now_secs()))
                    .await
            }
            subjects::OUTBOUND_ENQUEUE => {
                let q: OutboundEnqueue = req(payload)?;
                if q.message.trim().is_empty() {
                    return Err(QueryError::Invalid(
                        "field `message`: must not be empty".into(),
                    ));
                }
                let (tx, rx) = oneshot::channel();
                let channel = q.channel_or(&self.default_channel).to_string();
                self.writer
                    .send(WriterMsg::Enqueue {
                        channel: channel.clone(),
                        message: q.message,
                        reply: tx,
                    })
                    .await
                    .map_err(|_| QueryError::Writer("the writer has stopped".into()))?;
                let id = rx
                    .await
                    .map_err(|_| QueryError::Writer("the writer has stopped".into()))?
                    .map_err(QueryError::Writer)?;
                // Committed: the channel's pump may fetch it now. A lost wake-up only
                // delays the message to the pump's next poll.
                if let Some(bus) = &self.wake {
                    let subject = subjects::command_subject(&channel, subjects::COMMAND_PUMP);
                    if let Err(e) = bus.publish(&subject, Bytes::new()).await {
                        tracing::debug!(error = %e, "Could not wake the outbound pump.");
                    }
                }
                Ok(Bytes::from(encode(&EnqueueReply { success: true, id })))
            }
            other if subjects::DASHBOARD_QUERY_SUBJECTS.contains(&other) => {
                self.dispatch_web(other, payload).await
            }
            other if subjects::MEDIA_QUERY_SUBJECTS.contains(&other) => {
                self.dispatch_media(other, payload).await
            }
            kv if subjects::parse_kv_subject(kv).is_some()
                || subjects::KV_RETIRED.contains(&kv) =>
            {
                self.kv(kv, payload).await
            }
            other => Err(QueryError::Invalid(format!(
                "unknown request subject `{other}`"
            ))),
        }
    }

    async fn read<T: Serialize>(
        &self,
        f: impl FnOnce(&mut dyn Storage) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<Bytes, QueryError> {
        match &self.reader {
            Reader::Inline(store) => {
                let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
                let value = f(&mut **store).map_err(QueryError::Store)?;
                Ok(Bytes::from(encode(&value)))
            }
            Reader::Thread(t) => t
                .call(move |s| f(s).map(|v| Bytes::from(encode(&v))))
                .await
                .map_err(QueryError::Store),
        }
    }

    /// Answers a request about one channel: `payload` decoded as `Q`; `prepare`, given the
    /// request and its channel (the service's default when it names none), checks it and
    /// returns the read to run on the query connection, whose value is the reply.
    async fn ask<Q, T, F>(
        &self,
        payload: &[u8],
        prepare: impl FnOnce(Q, String) -> Result<F, QueryError>,
    ) -> Result<Bytes, QueryError>
    where
        Q: DeserializeOwned + HasEnvelope,
        T: Serialize,
        F: FnOnce(&mut dyn Storage) -> Result<T, StoreError> + Send + 'static,
    {
        let q: Q = req(payload)?;
        let channel = q.channel_or(&self.default_channel).to_string();
        self.read(prepare(q, channel)?).await
    }

    /// Runs a write of another module (the dashboard's tokens, the plugin key-value store) on
    /// the writer's store, after everything queued before it, and waits for its result.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Storage) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, QueryError> {
        let (tx, rx) = oneshot::channel();
        let call = Box::new(move |s: &mut dyn Storage| {
            let _ = tx.send(f(s));
        });
        let gone = || QueryError::Writer("the writer has stopped".into());
        self.writer
            .send(WriterMsg::Call(call))
            .await
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?.map_err(QueryError::Store)
    }
}

/// Decodes a request; an empty body counts as `{}` (every request field has a default or is
/// reported missing by name).
fn req<T: DeserializeOwned>(payload: &[u8]) -> Result<T, QueryError> {
    let payload = if payload.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        payload
    };
    decode(payload).map_err(QueryError::Decode)
}

/// Serves queries until `stop` flips. Returns the micro service (NATS) so the caller can
/// stop it.
pub(crate) async fn serve(
    bus: Bus,
    queries: Arc<Queries>,
    cfg: &DbServiceConfig,
    stop: watch::Receiver<bool>,
) -> Result<
    (
        tokio::task::JoinHandle<()>,
        Option<async_nats::service::Service>,
    ),
    DbServiceError,
> {
    match bus.nats_client() {
        Some(client) => {
            let (service, streams) = register(client, &queries, cfg).await?;
            let task = tokio::spawn(serve_micro(streams, queries, stop));
            Ok((task, Some(service)))
        }
        None => {
            let mut subs = Vec::new();
            for (subject, _) in all_endpoints() {
                let sub = bus
                    .queue_subscribe(&subject, &cfg.query_queue_group)
                    .await?;
                subs.push(sub);
            }
            let task = tokio::spawn(serve_plain(bus, subs, queries, stop));
            Ok((task, None))
        }
    }
}

/// Every request subject the service answers (subject, endpoint name).
fn all_endpoints() -> Vec<(String, &'static str)> {
    ENDPOINTS
        .iter()
        .chain(&web::ENDPOINTS)
        .chain(&media::ENDPOINTS)
        .map(|(s, n)| (s.to_string(), *n))
        .chain(kv::endpoints())
        .collect()
}

type Requests = BoxStream<'static, async_nats::service::Request>;

async fn register(
    client: &async_nats::Client,
    queries: &Arc<Queries>,
    cfg: &DbServiceConfig,
) -> Result<(async_nats::service::Service, Vec<Requests>), DbServiceError> {
    use async_nats::service::ServiceExt;
    let err = |e: async_nats::Error| DbServiceError::Service {
        name: cfg.service_name.clone(),
        reason: e.to_string(),
    };
    let counters = queries.counters.clone();
    let service = client
        .service_builder()
        .description("Rosey database service: rosey.db.* events and queries")
        .queue_group(&cfg.query_queue_group)
        .metadata(HashMap::from_iter(
            [
                (
                    "ingest_queue_group".to_string(),
                    cfg.ingest_queue_group.clone(),
                ),
                ("db_path".to_string(), cfg.db.to_string()),
            ]
            .into_iter()
            .chain(cfg.commit.clone().map(|c| ("commit".to_string(), c)))
            .chain(cfg.binary.clone().map(|b| ("binary".to_string(), b))),
        ))
        .stats_handler(move |_endpoint, _stats| {
            serde_json::to_value(counters.snapshot()).unwrap_or_default()
        })
        .start(&cfg.service_name, env!("CARGO_PKG_VERSION"))
        .await
        .map_err(err)?;
    let mut streams: Vec<Requests> = Vec::new();
    for (subject, name) in all_endpoints() {
        let endpoint = service
            .endpoint_builder()
            .name(name)
            .add(subject)
            .await
            .map_err(err)?;
        streams.push(endpoint.boxed());
    }
    Ok((service, streams))
}

async fn serve_micro(
    streams: Vec<Requests>,
    queries: Arc<Queries>,
    mut stop: watch::Receiver<bool>,
) {
    let mut all = select_all(streams);
    loop {
        let request = tokio::select! {
            biased;
            _ = stop.changed() => return,
            r = all.next() => match r {
                Some(r) => r,
                None => return,
            },
        };
        let (body, _ok) = queries
            .answer(&request.message.subject, &request.message.payload)
            .await;
        if let Err(e) = request.respond(Ok(body)).await {
            tracing::debug!(error = %e, "Could not send a reply.");
        }
    }
}

async fn serve_plain(
    bus: Bus,
    subs: Vec<rosey_bus::Subscription>,
    queries: Arc<Queries>,
    mut stop: watch::Receiver<bool>,
) {
    let mut all = select_all(subs);
    loop {
        let m = tokio::select! {
            biased;
            _ = stop.changed() => return,
            m = all.next() => match m {
                Some(m) => m,
                None => return,
            },
        };
        let (body, _ok) = queries.answer(&m.subject, &m.payload).await;
        if let Err(e) = bus.respond(&m, body).await {
            tracing::debug!(error = %e, "Could not send a reply.");
        }
    }
}
