//! What the tests of bots sharing channels through leases (`cluster.leases`) have in common:
//! a [`Sampler`] that watches every channel from the servers' side (the devserver's user
//! list, an IRC channel's members, a Matrix room's members) and remembers the most bots
//! ever seen in one channel and the longest a channel was left without one; and
//! [`holder_pid`], the process in a lease holder id.
//!
//! The sampler asks a probe — a plain function returning bots per channel — every 10 ms.
//! Sources that answer over the network keep a live copy the probe can read at once
//! ([`crate::ircd::ChannelWatch`]).

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// The pid in a lease holder id (`<pid>-<random>`).
pub fn holder_pid(holder: &str) -> u32 {
    holder
        .split('-')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("a lease holder id is `<pid>-<random>`, not `{holder}`"))
}

/// What a [`Sampler`] saw.
#[derive(Debug, Clone, Default)]
pub struct Sampled {
    /// Per channel (in the probe's order), the most bots seen in it at once.
    pub most: Vec<usize>,
    /// The longest any channel was seen without a bot after [`Sampler::arm`], if ever.
    pub longest_empty: Option<Duration>,
}

impl Sampled {
    /// The most bots seen in any one channel.
    pub fn most_anywhere(&self) -> usize {
        self.most.iter().copied().max().unwrap_or(0)
    }
}

/// Samples bots per channel every 10 ms until [`Sampler::finish`].
pub struct Sampler {
    watching: Arc<AtomicBool>,
    armed: Arc<AtomicBool>,
    seen: Arc<Mutex<Sampled>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    /// Starts sampling `probe` (bots in each channel, always the same channels in the same
    /// order).
    pub fn start(probe: impl Fn() -> Vec<usize> + Send + Sync + 'static) -> Sampler {
        let watching = Arc::new(AtomicBool::new(true));
        let armed = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Sampled::default()));
        let task = {
            let (watching, armed, seen) = (watching.clone(), armed.clone(), seen.clone());
            tokio::spawn(async move {
                // Per channel: since when it has been seen without a bot.
                let mut empty_since: Vec<Option<Instant>> = Vec::new();
                while watching.load(Ordering::Relaxed) {
                    let bots = probe();
                    empty_since.resize(bots.len(), None);
                    {
                        let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
                        s.most.resize(bots.len(), 0);
                        for (i, &n) in bots.iter().enumerate() {
                            s.most[i] = s.most[i].max(n);
                            if n == 0 && armed.load(Ordering::Relaxed) {
                                let t = *empty_since[i].get_or_insert_with(Instant::now);
                                s.longest_empty = s.longest_empty.max(Some(t.elapsed()));
                            } else {
                                empty_since[i] = None;
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        };
        Sampler {
            watching,
            armed,
            seen,
            task,
        }
    }

    /// From now on, note a channel without a bot.
    pub fn arm(&self) {
        self.armed.store(true, Ordering::Relaxed);
    }

    /// What was seen so far (sampling goes on).
    pub fn so_far(&self) -> Sampled {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Stops sampling; what was seen.
    pub async fn finish(self) -> Sampled {
        self.watching.store(false, Ordering::Relaxed);
        let seen = self.seen.clone();
        let _ = self.task.await;
        seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
