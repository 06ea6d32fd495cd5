//! Several `rosey bot` processes with the same configuration sharing the channels
//! (`cluster.leases: true`): each channel is served by the one process holding its lease, a
//! key in a JetStream key-value bucket. Nothing here is consensus of our own: the bucket's
//! compare-and-set writes decide every ownership question.
//!
//! - **Acquire**: `create` on the channel's key, which succeeds only when the key is absent
//!   (never written, deleted, or expired). The winner starts the channel once the lease,
//!   read back from the stream's leader half a tick later, is still its write (two
//!   concurrent creates can both succeed on a replicated bucket of an older nats-server:
//!   see `Supervisor::hold`).
//! - **Renew**: `update` with the revision last written, every [`LeaseSettings::tick`]; a
//!   wrong-revision answer means the lease is gone and the channel is stopped at once.
//! - **Expire**: the bucket's `max_age` ([`LeaseSettings::key_ttl`], half the lease time)
//!   drops a key nobody renews, so a SIGKILLed process's channels become free by themselves.
//!   The holder never serves past its own deadline (last renewal sent + key TTL − two ticks)
//!   without a renewal, so a process cut off from NATS leaves before anyone can take over:
//!   every bucket call gets at most one tick and the deadlines are checked between them, so
//!   a call left unanswered (the bucket's stream has no leader during an election) cannot
//!   hold a channel past its deadline.
//! - **Release**: a graceful stop leaves every channel first, then deletes its keys: the
//!   others see the delete on their watch and take the channels over at once. A channel
//!   whose bot stopped for good (kicked, refused) is released the same way, and left to the
//!   others for a lease time.
//! - **Fair share**: every process also keeps a presence key (`p.<id>`); with `P` processes
//!   alive and `N` channels, a process holds at most `⌈N / P⌉`, releasing the excess when a
//!   newcomer appears and acquiring free channels while below it. Which process tries which
//!   free channel first is spread by a rendezvous hash, so they rarely race for one key.
//!
//! Each held channel runs as its own one-channel [`Bot`], started and shut down whole, so
//! the per-channel code is the same as without leases. The process's metrics and status
//! service read one [`BotSource::leased`] set, to which each held channel's bot is added on
//! acquiring and from which it is removed the moment the channel stops being held.
//!
//! # Layout
//! - [`LeaseSettings`], [`channel_key`]: what and where.
//! - [`serve`] / [`run`]: the supervisor loop (renew, presence, balance, acquire; release on
//!   stop), keeping the process's [`BotSource`] to the channels held.
//! - `View` (private): the bucket as last seen through a watch, for choosing candidates;
//!   only hints — the compare-and-set writes are the authority.
//! - [`holders`]: the bucket's current channel → holder map (tests, operators).

use std::{
    collections::HashMap,
    hash::{Hash, Hasher},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_nats::jetstream::{
    self,
    kv::{self, Operation},
};
use bytes::Bytes;
use futures::{StreamExt, future::join_all};
use rosey_bus::Bus;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{Bot, BotConfig, ChannelSpec, metrics::BotSource};

/// Prefix of the channel keys.
const CHANNEL_PREFIX: &str = "ch.";
/// Prefix of the presence keys.
const PRESENCE_PREFIX: &str = "p.";
/// Renewals in flight at once.
const RENEW_CONCURRENCY: usize = 64;

/// Where the leases live and how long they last.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseSettings {
    /// The key-value bucket.
    pub bucket: String,
    /// The longest a dead process's channels stay without a bot.
    pub lease_time: Duration,
    /// Replicas of the bucket (as many as the `ROSEY_DB` stream).
    pub replicas: usize,
}

impl LeaseSettings {
    /// The `cluster` section's settings, when `cluster.leases` is on.
    pub fn from_config(cfg: &rosey_config::Config) -> Option<LeaseSettings> {
        cfg.cluster.leases.then(|| LeaseSettings {
            bucket: cfg.cluster.bucket.clone(),
            lease_time: cfg.cluster.lease_time,
            replicas: cfg.nats.jetstream_options.replicas.max(1) as usize,
        })
    }

    /// How long a key lives without a renewal (the bucket's `max_age`): half the lease time,
    /// leaving the other half for noticing the expiry and joining.
    pub fn key_ttl(&self) -> Duration {
        self.lease_time / 2
    }

    /// How often leases are renewed and free channels looked for.
    pub fn tick(&self) -> Duration {
        self.lease_time / 10
    }

    /// How long after sending a renewal (or a create) that succeeded the holder may serve
    /// without another: the key TTL less two ticks, because the key's server-side life
    /// starts no earlier than the send, and the holder needs time to notice and to leave.
    pub fn validity(&self) -> Duration {
        self.key_ttl().saturating_sub(2 * self.tick())
    }
}

/// The bucket key of a channel: `ch.` and where it is (a CyTube server's URL and channel
/// name, an IRC server and channel, a homeserver and room: any platform), with every byte
/// outside `[A-Za-z0-9_-]` written as `=XX` (keys allow few characters, and `.` separates).
pub fn channel_key(spec: &ChannelSpec) -> String {
    let mut key = String::from(CHANNEL_PREFIX);
    let raw = spec.platform.place();
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            key.push(b as char);
        } else {
            key.push_str(&format!("={b:02X}"));
        }
    }
    key
}

/// What can stop the supervisor before it starts.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The bus is the embedded one: leases need NATS with JetStream.
    #[error("cluster.leases needs NATS with JetStream (the bus is embedded)")]
    NoNats,
    /// The bucket name is not valid.
    #[error("cluster.bucket `{0}` is not a valid bucket name (letters, digits, `_` and `-`)")]
    BadBucket(String),
}

/// A channel this process holds.
struct Held {
    revision: u64,
    /// Past this, the lease may have expired on the server: stop serving.
    valid_until: Instant,
    /// When the write of the lease was acknowledged.
    acquired_at: Instant,
    /// Its channel: an index into `Supervisor::specs`.
    spec: usize,
    /// `None` until the lease is confirmed (see [`Supervisor::hold`]).
    bot: Option<Bot>,
}

/// A key as last seen through the watch.
struct Seen {
    value: Bytes,
    at: Instant,
}

/// The bucket as seen through a watch (hints only).
#[derive(Default)]
struct View {
    keys: HashMap<String, Seen>,
}

impl View {
    /// Is `key` free or stale (not written for longer than `ttl`)?
    fn looks_free(&self, key: &str, ttl: Duration) -> bool {
        self.keys.get(key).is_none_or(|s| s.at.elapsed() > ttl)
    }

    /// Processes whose presence key was written within `ttl`.
    fn live_processes(&self, ttl: Duration) -> Vec<String> {
        self.keys
            .iter()
            .filter(|(k, s)| k.starts_with(PRESENCE_PREFIX) && s.at.elapsed() <= ttl)
            .map(|(_, s)| String::from_utf8_lossy(&s.value).into_owned())
            .collect()
    }
}

/// Runs the supervisor until `signal` resolves (then hands every channel over), or fails at
/// once on a bad setting. What `rosey bot` runs when `cluster.leases` is on. `source` (a
/// [`BotSource::leased`] set) follows the channels held.
pub async fn serve(
    bus: Bus,
    cfg: BotConfig,
    settings: LeaseSettings,
    source: BotSource,
    signal: impl std::future::Future<Output = ()>,
) -> Result<(), LeaseError> {
    let stop = CancellationToken::new();
    let task = run(bus, cfg, settings, source, stop.clone());
    tokio::pin!(task);
    tokio::select! {
        r = &mut task => return r,
        _ = signal => tracing::info!("Signal received; handing the channels over."),
    }
    stop.cancel();
    task.await
}

/// Runs the supervisor until `stop` is cancelled, then hands every channel over (leaves,
/// then deletes the leases). `source` follows the channels held.
pub async fn run(
    bus: Bus,
    cfg: BotConfig,
    settings: LeaseSettings,
    source: BotSource,
    stop: CancellationToken,
) -> Result<(), LeaseError> {
    let client = bus.nats_client().ok_or(LeaseError::NoNats)?.clone();
    if !valid_bucket_name(&settings.bucket) {
        return Err(LeaseError::BadBucket(settings.bucket.clone()));
    }
    let me = format!("{}-{:08x}", std::process::id(), rand::random::<u32>());
    tracing::info!(bucket = %settings.bucket, id = %me, lease_time = ?settings.lease_time, "Sharing the channels through leases.");
    let Some(kv) = open_bucket(&client, &settings, &stop).await else {
        return Ok(());
    };
    let view = Arc::new(Mutex::new(View::default()));
    let changed = Arc::new(Notify::new());
    let watch_stop = stop.child_token();
    let watcher = tokio::spawn(watch(
        kv.clone(),
        view.clone(),
        changed.clone(),
        settings.tick(),
        settings.key_ttl(),
        watch_stop.clone(),
    ));
    let specs: Vec<(String, ChannelSpec)> = cfg
        .channels
        .iter()
        .map(|s| (channel_key(s), s.clone()))
        .collect();
    let mut sup = Supervisor {
        kv,
        bus,
        cfg,
        settings,
        presence: format!("{PRESENCE_PREFIX}{me}"),
        me,
        specs,
        held: HashMap::new(),
        source,
        view,
        stuck: HashMap::new(),
        resting: HashMap::new(),
    };
    // Announce ourselves and give processes started at the same moment one tick to do the
    // same, so that the first share is already close to fair.
    sup.put_presence().await;
    let tick = sup.settings.tick();
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = tokio::time::sleep(tick) => {}
    }
    while !stop.is_cancelled() {
        sup.step().await;
        let wait = sup.next_wait();
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
            _ = changed.notified() => {}
        }
    }
    sup.release_all().await;
    watch_stop.cancel();
    let _ = watcher.await;
    Ok(())
}

struct Supervisor {
    kv: kv::Store,
    bus: Bus,
    cfg: BotConfig,
    settings: LeaseSettings,
    me: String,
    presence: String,
    specs: Vec<(String, ChannelSpec)>,
    held: HashMap<String, Held>,
    /// The process's metrics and status: exactly the bots in `held`.
    source: BotSource,
    view: Arc<Mutex<View>>,
    /// Keys found still there when they should have expired: the revision found, and when
    /// this process first found it (see [`Supervisor::take_over_if_stuck`]).
    stuck: HashMap<String, (u64, Instant)>,
    /// Keys this process handed over because their channel stopped for good, and until when
    /// it leaves them to the others.
    resting: HashMap<String, Instant>,
}

impl Supervisor {
    /// Takes a channel out of `held` (and out of the metrics and status) before its bot is
    /// stopped: once it is no longer held it is another process's to show.
    fn unhold(&mut self, key: &str) -> Option<Held> {
        let held = self.held.remove(key)?;
        if let Some(bot) = &held.bot {
            self.source.remove(&bot.metrics_source());
        }
        Some(held)
    }

    /// One round: renew, announce, balance, acquire.
    ///
    /// Every bucket call gets at most one tick, and the deadlines are checked between the
    /// phases: while the bucket's stream has no leader (an election after its node died) a
    /// call may go unanswered for the client's whole timeout (5 to 10 s), and a round stuck
    /// in one must not keep a channel past its deadline.
    async fn step(&mut self) {
        self.leave_expired().await;
        self.renew().await;
        self.leave_expired().await;
        self.hand_over_stopped().await;
        self.confirm_pending().await;
        self.leave_expired().await;
        self.put_presence().await;
        self.leave_expired().await;
        let target = self.fair_share();
        if self.held.len() > target {
            self.release_excess(self.held.len() - target).await;
        } else if self.held.len() < target {
            self.acquire(target - self.held.len()).await;
        }
        self.leave_expired().await;
    }

    /// `⌈channels / live processes⌉` (this process always counts).
    fn fair_share(&self) -> usize {
        let mut live = self
            .view
            .lock()
            .unwrap()
            .live_processes(self.settings.key_ttl());
        if !live.contains(&self.me) {
            live.push(self.me.clone());
        }
        self.specs.len().div_ceil(live.len())
    }

    async fn put_presence(&self) {
        let put = self.kv.put(&self.presence, Bytes::from(self.me.clone()));
        match tokio::time::timeout(self.settings.tick(), put).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "Lease presence not written."),
            Err(_) => tracing::warn!("Lease presence not written: timed out."),
        }
    }

    /// Renews every held lease; leaves the channels whose lease is lost.
    async fn renew(&mut self) {
        let tick = self.settings.tick();
        let value = Bytes::from(self.me.clone());
        // A lease not yet read back is not renewed: a renewal could race the same way as the
        // create (see `hold`), and the read-back comes well within its validity.
        let requests: Vec<(String, u64)> = self
            .held
            .iter()
            .filter(|(_, h)| h.bot.is_some())
            .map(|(k, h)| (k.clone(), h.revision))
            .collect();
        let kv = &self.kv;
        let me = self.me.as_str();
        // Each renewal gets one tick: a hung request must not hold up the deadline check.
        let results: Vec<(String, Instant, Result<u64, String>)> = futures::stream::iter(requests)
            .map(|(key, revision)| {
                let value = value.clone();
                async move {
                    let sent = Instant::now();
                    let renewal = async {
                        match kv.update(&key, value, revision).await {
                            Ok(revision) => Ok(revision),
                            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                                still_ours(kv, &key, me, revision)
                                    .await
                                    .ok_or_else(|| LOST.to_string())
                            }
                            Err(e) => Err(e.to_string()),
                        }
                    };
                    let r = tokio::time::timeout(tick, renewal)
                        .await
                        .unwrap_or_else(|_| Err("timed out".to_string()));
                    (key, sent, r)
                }
            })
            .buffer_unordered(RENEW_CONCURRENCY)
            .collect()
            .await;
        let mut lost = Vec::new();
        for (key, sent, result) in results {
            let Some(held) = self.held.get_mut(&key) else {
                continue;
            };
            match result {
                Ok(revision) => {
                    held.revision = revision;
                    held.valid_until = sent + self.settings.validity();
                }
                Err(e) if e == LOST => {
                    tracing::warn!(key = %key, "Lease lost (taken over or expired); leaving the channel.");
                    lost.push(key);
                }
                Err(e) => tracing::warn!(key = %key, error = %e, "Lease renewal failed; retrying."),
            }
        }
        self.leave(&lost).await;
    }

    /// Hands over the leases of channels whose bot stopped for good (kicked, refused): held
    /// but never served, they would stay without a bot while this process renews them. This
    /// process then leaves the key alone for a lease time, so that a cause that is not its
    /// own (another session with the bot's name) lets another process try.
    async fn hand_over_stopped(&mut self) {
        let stopped: Vec<String> = self
            .held
            .iter()
            .filter(|(_, h)| h.bot.as_ref().is_some_and(|b| b.states().all_stopped()))
            .map(|(k, _)| k.clone())
            .collect();
        if stopped.is_empty() {
            return;
        }
        for key in &stopped {
            tracing::warn!(key = %key, "Channel stopped for good; handing its lease over.");
            self.resting
                .insert(key.clone(), Instant::now() + self.settings.lease_time);
        }
        self.release(stopped).await;
    }

    /// Leaves every channel past its deadline: never serve past it, whatever the bucket
    /// calls did.
    async fn leave_expired(&mut self) {
        let now = Instant::now();
        let expired: Vec<String> = self
            .held
            .iter()
            .filter(|(_, h)| now >= h.valid_until)
            .map(|(k, _)| k.clone())
            .collect();
        for key in &expired {
            tracing::warn!(key = %key, "Lease not renewed in time; leaving the channel.");
        }
        self.leave(&expired).await;
    }

    /// Leaves the channels of leases that are gone (or going): nothing to delete.
    async fn leave(&mut self, keys: &[String]) {
        let bots: Vec<Bot> = keys
            .iter()
            .filter_map(|k| self.unhold(k))
            .filter_map(|h| h.bot)
            .collect();
        join_all(bots.into_iter().map(Bot::shutdown)).await;
    }

    /// Tries the free channels, best rendezvous score first, until `wanted` are acquired or
    /// a tick has passed. A create left unanswered may still have been written: that key is
    /// then nobody's to serve until it expires (never renewed), a gap but never two bots.
    async fn acquire(&mut self, wanted: usize) {
        let until = tokio::time::Instant::now() + self.settings.tick();
        let ttl = self.settings.key_ttl();
        let now = Instant::now();
        self.resting.retain(|_, until| *until > now);
        let mut candidates: Vec<(u64, usize)> = {
            let view = self.view.lock().unwrap();
            self.specs
                .iter()
                .enumerate()
                .filter(|(_, (key, _))| {
                    !self.held.contains_key(key)
                        && !self.resting.contains_key(key)
                        && view.looks_free(key, ttl)
                })
                .map(|(i, (key, _))| (score(&self.me, key), i))
                .collect()
        };
        candidates.sort_unstable_by(|a, b| b.cmp(a));
        let mut got = 0;
        for (_, i) in candidates {
            if got == wanted {
                break;
            }
            let key = self.specs[i].0.clone();
            let sent = Instant::now();
            let create = self.kv.create(&key, Bytes::from(self.me.clone()));
            let Ok(created) = tokio::time::timeout_at(until, create).await else {
                tracing::warn!(key = %key, "Lease not acquired: timed out.");
                break;
            };
            match created {
                Ok(revision) => {
                    self.hold(i, revision, sent);
                    got += 1;
                }
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                    let sent = Instant::now();
                    if let Some(revision) = self.take_over_if_stuck(&key, until).await {
                        self.hold(i, revision, sent);
                        got += 1;
                    }
                }
                Err(e) => {
                    tracing::warn!(key = %key, error = %e, "Lease not acquired.");
                    break;
                }
            }
        }
    }

    /// Records the lease of `specs[i]`, written with `revision` by a call sent at `sent`; its
    /// channel is joined once [`Supervisor::confirm_pending`] has read it back.
    ///
    /// Why not at once: on a replicated bucket, nats-server before 2.9.21 checks the expected
    /// revision of a write before the write goes through the cluster's consensus, not as part
    /// of it (nats-server issue 4320), so two processes creating the same free key within a
    /// few milliseconds can both be told they won; the later write stands. Seen in the
    /// bucket-leader test: two processes joined one channel and CyTube kicked one with
    /// "Duplicate login".
    fn hold(&mut self, i: usize, revision: u64, sent: Instant) {
        let (key, spec) = &self.specs[i];
        tracing::info!(channel = %spec.channel, key = %key, "Lease acquired; joining once it reads back as ours.");
        self.stuck.remove(key);
        self.held.insert(
            key.clone(),
            Held {
                revision,
                valid_until: sent + self.settings.validity(),
                acquired_at: Instant::now(),
                spec: i,
                bot: None,
            },
        );
    }

    /// How long after its write a lease is read back: by then any write that raced it has
    /// gone through the consensus too (milliseconds), and whichever came last stands.
    fn settle(&self) -> Duration {
        self.settings.tick() / 2
    }

    /// Until the next round: a tick, or less when a lease is due to be read back.
    fn next_wait(&self) -> Duration {
        let settle = self.settle();
        self.held
            .values()
            .filter(|h| h.bot.is_none())
            .map(|h| settle.saturating_sub(h.acquired_at.elapsed()))
            .fold(self.settings.tick(), Duration::min)
    }

    /// Reads back every lease acquired at least [`Supervisor::settle`] ago and not yet
    /// served, from the bucket stream's leader (not a replica, which may be behind): our
    /// revision with our id → join the channel; anything else → another process's write
    /// stands, so forget the lease without joining. A read that fails is tried again next
    /// round (the lease's deadline still applies).
    async fn confirm_pending(&mut self) {
        let settle = self.settle();
        let due: Vec<(String, u64)> = self
            .held
            .iter()
            .filter(|(_, h)| h.bot.is_none() && h.acquired_at.elapsed() >= settle)
            .map(|(k, h)| (k.clone(), h.revision))
            .collect();
        let tick = self.settings.tick();
        for (key, revision) in due {
            let subject = format!("{}{}", self.kv.prefix, key);
            let read = self.kv.stream.get_last_raw_message_by_subject(&subject);
            let Ok(Ok(last)) = tokio::time::timeout(tick, read).await else {
                continue;
            };
            if last.sequence == revision && last.payload.as_ref() == self.me.as_bytes() {
                self.join(&key);
            } else {
                tracing::warn!(key = %key, revision, standing = last.sequence, "Lease lost to a write that raced it; not joining.");
                self.leave(std::slice::from_ref(&key)).await;
            }
        }
    }

    /// Joins the channel of a confirmed lease.
    fn join(&mut self, key: &str) {
        let Some(held) = self.held.get_mut(key) else {
            return;
        };
        let spec = &self.specs[held.spec].1;
        tracing::info!(channel = %spec.channel, key = %key, "Lease confirmed; joining.");
        let mut one = self.cfg.clone();
        one.channels = vec![spec.clone()];
        let bot = Bot::start(self.bus.clone(), one);
        self.source.add(&bot.metrics_source());
        held.bot = Some(bot);
    }

    /// A key that `create` found still there although nobody has renewed it for longer than
    /// the key TTL, as far as the watch knows: the server should have dropped it (`max_age`).
    /// Once the same revision has stood for longer than the key TTL by this process's own
    /// clock, it is taken over by compare-and-set on that revision. That is safe whatever the
    /// server's expiry does: its holder wrote it before it was first seen here and stops
    /// serving at most the TTL less two ticks after writing it, and any renewal meanwhile
    /// changes the revision and makes the takeover fail. Returns the new revision.
    async fn take_over_if_stuck(&mut self, key: &str, until: tokio::time::Instant) -> Option<u64> {
        let entry = tokio::time::timeout_at(until, self.kv.entry(key))
            .await
            .ok()?
            .ok()??;
        if entry.operation != Operation::Put {
            return None;
        }
        match self.stuck.get(key) {
            Some(&(revision, since)) if revision == entry.revision => {
                if since.elapsed() <= self.settings.key_ttl() {
                    return None;
                }
                let update = self.kv.update(key, Bytes::from(self.me.clone()), revision);
                let taken = tokio::time::timeout_at(until, update).await.ok()?.ok()?;
                tracing::warn!(key = %key, revision, "Lease key outlived its time on the server; taken over by its revision.");
                Some(taken)
            }
            _ => {
                self.stuck
                    .insert(key.to_string(), (entry.revision, Instant::now()));
                None
            }
        }
    }

    /// Hands `n` channels over (the lowest rendezvous scores): leave, then delete the lease.
    async fn release_excess(&mut self, n: usize) {
        let mut mine: Vec<(u64, String)> = self
            .held
            .keys()
            .map(|k| (score(&self.me, k), k.clone()))
            .collect();
        mine.sort_unstable();
        let keys: Vec<String> = mine.into_iter().take(n).map(|(_, k)| k).collect();
        tracing::info!(
            count = keys.len(),
            "Handing channels over for a fair share."
        );
        self.release(keys).await;
    }

    async fn release_all(&mut self) {
        let keys: Vec<String> = self.held.keys().cloned().collect();
        if !keys.is_empty() {
            tracing::info!(count = keys.len(), "Stopping: handing every channel over.");
        }
        self.release(keys).await;
        let _ = self.kv.delete(&self.presence).await;
    }

    /// Leaves the channels, and only then deletes their leases (expecting our revision, so
    /// a lease someone else has meanwhile taken is never deleted).
    async fn release(&mut self, keys: Vec<String>) {
        let held: Vec<(String, Held)> = keys
            .into_iter()
            .filter_map(|k| self.unhold(&k).map(|h| (k, h)))
            .collect();
        let kv = &self.kv;
        let tick = self.settings.tick();
        join_all(held.into_iter().map(|(key, h)| async move {
            if let Some(bot) = h.bot {
                bot.shutdown().await;
            }
            let delete = kv.delete_expect_revision(&key, Some(h.revision));
            let error = match tokio::time::timeout(tick, delete).await {
                Ok(Ok(())) => return,
                Ok(Err(e)) => e.to_string(),
                Err(_) => "timed out".to_string(),
            };
            tracing::warn!(key = %key, error = %error, "Lease not deleted; it will expire.");
        }))
        .await;
    }
}

/// A renewal's answer when the key holds another revision that is not ours.
const LOST: &str = "lost";

/// After a wrong-revision answer to a renewal that expected `expected`: the key's current
/// revision when it holds our id at a newer revision (a renewal whose acknowledgement was
/// lost did reach the server), else `None` (lost). Our id at `expected` itself is not ours
/// any more: the server has a newer write, and that read came from a replica behind it.
async fn still_ours(kv: &kv::Store, key: &str, me: &str, expected: u64) -> Option<u64> {
    match kv.entry(key).await {
        Ok(Some(e))
            if e.operation == Operation::Put
                && e.value.as_ref() == me.as_bytes()
                && e.revision > expected =>
        {
            Some(e.revision)
        }
        _ => None,
    }
}

/// The rendezvous score of `key` for process `me`.
fn score(me: &str, key: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (me, key).hash(&mut h);
    h.finish()
}

fn valid_bucket_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The bucket's stream, laid out as JetStream's key-value store lays out a bucket
/// (`KV_<bucket>` over `$KV.<bucket>.>`, one message per key, roll-ups and direct gets
/// allowed). Created directly rather than with `create_key_value`, which first reads the
/// account's limits in a shape nats-server 2.9 (Debian's) does not send; the bucket is then
/// opened with `get_key_value` and used through the client's key-value API.
fn bucket_stream(settings: &LeaseSettings) -> jetstream::stream::Config {
    use jetstream::stream::{Config, DiscardPolicy, StorageType};
    Config {
        name: format!("KV_{}", settings.bucket),
        description: Some("Rosey channel leases".into()),
        subjects: vec![format!("$KV.{}.>", settings.bucket)],
        max_messages_per_subject: 1,
        max_age: settings.key_ttl(),
        storage: StorageType::File,
        num_replicas: settings.replicas,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: DiscardPolicy::New,
        ..Default::default()
    }
}

/// Creates (or brings up to date) the bucket, retrying while JetStream is not reachable;
/// `None` when stopped meanwhile.
async fn open_bucket(
    client: &async_nats::Client,
    settings: &LeaseSettings,
    stop: &CancellationToken,
) -> Option<kv::Store> {
    let js = jetstream::new(client.clone());
    loop {
        let opened = match js.create_or_update_stream(bucket_stream(settings)).await {
            Ok(_) => js
                .get_key_value(&settings.bucket)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match opened {
            Ok(kv) => return Some(kv),
            Err(e) => {
                tracing::warn!(bucket = %settings.bucket, error = %e, "Lease bucket not ready; retrying.")
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return None,
            _ = tokio::time::sleep(settings.tick()) => {}
        }
    }
}

/// Keeps `view` up to date from a watch on the whole bucket, and wakes the supervisor when a
/// lease is deleted or a process appears or leaves.
///
/// The watch is made again when it ends, fails, or says nothing for `quiet`: every process
/// writes its presence key every tick, so a silent watch is a dead one (a push consumer can
/// stop delivering without ending when the bucket's stream changes leader).
async fn watch(
    kv: kv::Store,
    view: Arc<Mutex<View>>,
    changed: Arc<Notify>,
    retry: Duration,
    quiet: Duration,
    stop: CancellationToken,
) {
    while !stop.is_cancelled() {
        let mut entries = match kv.watch_all().await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "Lease watch failed; retrying.");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(retry) => continue,
                }
            }
        };
        loop {
            let entry = tokio::select! {
                _ = stop.cancelled() => return,
                e = tokio::time::timeout(quiet, entries.next()) => e,
            };
            let Ok(Some(Ok(entry))) = entry else {
                if entry.is_err() {
                    tracing::warn!(quiet = ?quiet, "Lease watch silent; watching again.");
                }
                break;
            };
            let mut v = view.lock().unwrap();
            match entry.operation {
                Operation::Put => {
                    let new = v
                        .keys
                        .insert(
                            entry.key.clone(),
                            Seen {
                                value: entry.value,
                                at: Instant::now(),
                            },
                        )
                        .is_none();
                    if new && entry.key.starts_with(PRESENCE_PREFIX) {
                        changed.notify_one();
                    }
                }
                Operation::Delete | Operation::Purge => {
                    v.keys.remove(&entry.key);
                    changed.notify_one();
                }
            }
        }
    }
}

/// The bucket's channel keys and who holds each (the value of every live channel key).
pub async fn holders(
    client: &async_nats::Client,
    bucket: &str,
) -> Result<HashMap<String, String>, String> {
    let js = jetstream::new(client.clone());
    let kv = js.get_key_value(bucket).await.map_err(|e| e.to_string())?;
    let mut keys = kv.keys().await.map_err(|e| e.to_string())?;
    let mut out = HashMap::new();
    while let Some(key) = keys.next().await {
        let key = key.map_err(|e| e.to_string())?;
        if !key.starts_with(CHANNEL_PREFIX) {
            continue;
        }
        if let Some(v) = kv.get(&key).await.map_err(|e| e.to_string())? {
            out.insert(key, String::from_utf8_lossy(&v).into_owned());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(domain: &str, channel: &str) -> ChannelSpec {
        let cfg = rosey_config::Config::from_value(serde_json::json!({
            "version": "2.0",
            "platforms": [{"type": "cytube", "name": "p", "domain": domain, "channel": channel}]
        }))
        .unwrap();
        BotConfig::from_config(&cfg).channels.remove(0)
    }

    #[test]
    fn channel_keys_are_valid_and_distinct() {
        let a = channel_key(&spec("https://cytu.be", "room_1"));
        assert_eq!(a, "ch.https=3A=2F=2Fcytu=2Ebe=2Froom_1");
        let b = channel_key(&spec("http://127.0.0.1:8880", "room_1"));
        assert_ne!(a, b);
        assert!(
            b.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"._-=".contains(&c))
        );
    }

    #[test]
    fn every_platforms_channels_get_a_lease_key() {
        let cfg = rosey_config::Config::from_value(serde_json::json!({
            "version": "2.0",
            "platforms": [
                {"type": "cytube", "name": "tube", "domain": "https://cytu.be", "channel": "c"},
                {"type": "irc", "name": "libera", "server": "irc.libera.chat", "nick": "R",
                 "channel": "#c"},
                {"type": "matrix", "name": "home", "homeserver": "https://hs.example",
                 "user": ["@r:hs.example", "pw"], "channel": "#c:hs.example"}
            ]
        }))
        .unwrap();
        // One list: every channel, whatever its platform, is leased the same way.
        let keys: Vec<String> = BotConfig::from_config(&cfg)
            .channels
            .iter()
            .map(channel_key)
            .collect();
        assert_eq!(
            keys,
            vec![
                "ch.https=3A=2F=2Fcytu=2Ebe=2Fc",
                "ch.irc=3A=2F=2Firc=2Elibera=2Echat=3A6697=2F=23c",
                "ch.https=3A=2F=2Fhs=2Eexample=2F=23c=3Ahs=2Eexample",
            ]
        );
    }

    #[test]
    fn key_ttl_and_tick_follow_the_lease_time() {
        let s = LeaseSettings {
            bucket: "b".into(),
            lease_time: Duration::from_secs(15),
            replicas: 1,
        };
        assert_eq!(s.key_ttl(), Duration::from_millis(7_500));
        assert_eq!(s.tick(), Duration::from_millis(1_500));
        assert_eq!(s.validity(), Duration::from_millis(4_500));
        assert!(valid_bucket_name("rosey_leases"));
        assert!(!valid_bucket_name("rosey.leases"));
    }
}
