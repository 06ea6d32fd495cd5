//! The in-process bus: the same semantics as NATS for what Rosey uses, without a server.
//! For `rosey run` with no `nats` section and for `rosey demo`.
//!
//! Differences from NATS, on purpose: a full subscriber queue makes the publisher wait
//! (backpressure) instead of dropping the message as a NATS "slow consumer" would, since
//! nothing else in the process could ever recover a dropped message.

use std::{
    sync::{
        Arc, RwLock, Weak,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::{BusError, HeaderMap, Message, Subscription, SubscriptionInner, pattern};

/// Messages a subscriber may have queued before publishers wait (NATS's default pending
/// limit is the same count).
pub const SUBSCRIPTION_CAPACITY: usize = 65_536;

/// A handle to an in-process bus; clones share it.
#[derive(Clone, Default)]
pub struct EmbeddedBus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EmbeddedBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBus")
            .field(
                "subscriptions",
                &self.inner.subs.read().map(|s| s.len()).unwrap_or(0),
            )
            .finish()
    }
}

#[derive(Default)]
struct Inner {
    // A std lock is right here: it is held only to copy out senders, never across an await.
    subs: RwLock<Vec<Entry>>,
    next_id: AtomicU64,
    round_robin: AtomicUsize,
}

struct Entry {
    id: u64,
    pattern: String,
    queue: Option<String>,
    tx: mpsc::Sender<Message>,
}

/// The receiving end of an embedded subscription.
pub(crate) struct EmbeddedSubscription {
    id: u64,
    rx: mpsc::Receiver<Message>,
    bus: Weak<Inner>,
}

impl EmbeddedSubscription {
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for EmbeddedSubscription {
    fn drop(&mut self) {
        if let Some(inner) = self.bus.upgrade()
            && let Ok(mut subs) = inner.subs.write()
        {
            subs.retain(|e| e.id != self.id);
        }
    }
}

impl EmbeddedBus {
    /// A new, empty bus.
    pub fn new() -> EmbeddedBus {
        EmbeddedBus::default()
    }

    pub(crate) fn subscribe(
        &self,
        subject: &str,
        queue: Option<&str>,
    ) -> Result<Subscription, BusError> {
        if !pattern::valid_pattern(subject) {
            return Err(BusError::InvalidSubject(subject.to_string()));
        }
        let (tx, rx) = mpsc::channel(SUBSCRIPTION_CAPACITY);
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.inner
            .subs
            .write()
            .map_err(|_| BusError::Closed)?
            .push(Entry {
                id,
                pattern: subject.to_string(),
                queue: queue.map(str::to_string),
                tx,
            });
        Ok(Subscription {
            inner: SubscriptionInner::Embedded(EmbeddedSubscription {
                id,
                rx,
                bus: Arc::downgrade(&self.inner),
            }),
        })
    }

    /// Delivers a message; returns how many subscribers it was handed to.
    pub(crate) async fn publish(
        &self,
        subject: &str,
        payload: Bytes,
        headers: Option<HeaderMap>,
        reply: Option<String>,
    ) -> Result<usize, BusError> {
        if !pattern::valid_publish_subject(subject) {
            return Err(BusError::InvalidSubject(subject.to_string()));
        }
        let targets = self.targets(subject)?;
        let mut delivered = 0;
        for tx in targets {
            let msg = Message {
                subject: subject.to_string(),
                reply: reply.clone(),
                payload: payload.clone(),
                headers: headers.clone(),
            };
            // A subscriber that went away meanwhile simply does not count.
            if tx.send(msg).await.is_ok() {
                delivered += 1;
            }
        }
        Ok(delivered)
    }

    /// Every plain subscriber that matches, plus one member of each matching queue group.
    fn targets(&self, subject: &str) -> Result<Vec<mpsc::Sender<Message>>, BusError> {
        let subs = self.inner.subs.read().map_err(|_| BusError::Closed)?;
        let mut plain = Vec::new();
        let mut groups: Vec<(&str, Vec<&mpsc::Sender<Message>>)> = Vec::new();
        for e in subs
            .iter()
            .filter(|e| pattern::matches(&e.pattern, subject))
        {
            match &e.queue {
                None => plain.push(e.tx.clone()),
                Some(q) => match groups.iter_mut().find(|(name, _)| name == q) {
                    Some((_, members)) => members.push(&e.tx),
                    None => groups.push((q.as_str(), vec![&e.tx])),
                },
            }
        }
        for (_, members) in groups {
            let n = self.inner.round_robin.fetch_add(1, Ordering::Relaxed);
            plain.push(members[n % members.len()].clone());
        }
        Ok(plain)
    }

    pub(crate) async fn request(
        &self,
        subject: &str,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<Message, BusError> {
        let n = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let inbox = format!("_INBOX.embedded.{n}");
        let mut sub = self.subscribe(&inbox, None)?;
        let delivered = self.publish(subject, payload, None, Some(inbox)).await?;
        if delivered == 0 {
            return Err(BusError::NoResponders {
                subject: subject.to_string(),
            });
        }
        match tokio::time::timeout(timeout, sub.next()).await {
            Ok(Some(msg)) => Ok(msg),
            Ok(None) => Err(BusError::Closed),
            Err(_) => Err(BusError::Timeout {
                subject: subject.to_string(),
                timeout,
            }),
        }
    }
}
