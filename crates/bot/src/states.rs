//! Each channel's run state — connecting, joined, reconnecting, or stopped for good with
//! the reason — shared by the whole process.
//!
//! The channel task is the only writer (it sees the client's lifecycle events); readers are
//! the process (exit when no channel is left), the shell's `status`, and health/metrics.
//! It holds no channel data and never blocks: one `watch` per channel.

use std::sync::Arc;

use tokio::sync::watch;

/// Where one channel's connection is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    /// Starting, before the first connection reached the channel.
    Connecting,
    /// In the channel (after `userlist`).
    Joined,
    /// Lost the connection; the client retries by itself.
    Reconnecting,
    /// Stopped for good: retrying cannot help (wrong channel password, duplicate login,
    /// refused account, invalid config), or the bot was shut down.
    Stopped { reason: String },
}

impl RunState {
    /// A short word for tables, logs and metrics labels (a fixed set).
    pub fn word(&self) -> &'static str {
        match self {
            RunState::Connecting => "connecting",
            RunState::Joined => "running",
            RunState::Reconnecting => "reconnecting",
            RunState::Stopped { .. } => "stopped",
        }
    }

    pub fn is_stopped(&self) -> bool {
        matches!(self, RunState::Stopped { .. })
    }
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunState::Stopped { reason } => write!(f, "stopped ({reason})"),
            other => f.write_str(other.word()),
        }
    }
}

/// The run state of every channel of a process, in configuration order. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ChannelStates {
    channels: Arc<Vec<(String, watch::Sender<RunState>)>>,
}

impl ChannelStates {
    /// Every channel starts as [`RunState::Connecting`].
    pub fn new<I: IntoIterator<Item = String>>(channels: I) -> Self {
        let channels = channels
            .into_iter()
            .map(|name| (name, watch::channel(RunState::Connecting).0))
            .collect();
        ChannelStates {
            channels: Arc::new(channels),
        }
    }

    /// Sets a channel's state; an unknown channel is ignored.
    pub fn set(&self, channel: &str, state: RunState) {
        if let Some((_, tx)) = self.channels.iter().find(|(n, _)| n == channel) {
            tx.send_if_modified(|s| {
                if *s == state {
                    false
                } else {
                    *s = state;
                    true
                }
            });
        }
    }

    /// Marks a channel stopped by shutdown, unless it already stopped for its own reason.
    pub fn set_shutdown(&self, channel: &str) {
        if !self.get(channel).is_some_and(|s| s.is_stopped()) {
            self.set(
                channel,
                RunState::Stopped {
                    reason: "shutdown".into(),
                },
            );
        }
    }

    /// One channel's state, `None` for a channel this process does not run.
    pub fn get(&self, channel: &str) -> Option<RunState> {
        self.channels
            .iter()
            .find(|(n, _)| n == channel)
            .map(|(_, tx)| tx.borrow().clone())
    }

    /// Every channel with its state, in configuration order.
    pub fn snapshot(&self) -> Vec<(String, RunState)> {
        self.channels
            .iter()
            .map(|(n, tx)| (n.clone(), tx.borrow().clone()))
            .collect()
    }

    /// Whether every channel has stopped (true for a process with no channel).
    pub fn all_stopped(&self) -> bool {
        self.channels.iter().all(|(_, tx)| tx.borrow().is_stopped())
    }

    /// Whether every channel is joined (false for a process with no channel).
    pub fn all_joined(&self) -> bool {
        !self.channels.is_empty()
            && self
                .channels
                .iter()
                .all(|(_, tx)| *tx.borrow() == RunState::Joined)
    }

    /// A future that resolves when a channel's state changes after this call (for
    /// readiness and metrics watchers).
    pub fn changed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut receivers: Vec<_> = self.channels.iter().map(|(_, tx)| tx.subscribe()).collect();
        async move {
            if receivers.is_empty() {
                return std::future::pending().await;
            }
            let waits = receivers.iter_mut().map(|rx| Box::pin(rx.changed()));
            let _ = futures::future::select_all(waits).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_stopped_needs_every_channel() {
        let s = ChannelStates::new(["a".to_string(), "b".to_string()]);
        assert!(!s.all_stopped());
        s.set("a", RunState::Stopped { reason: "x".into() });
        assert!(!s.all_stopped());
        s.set("b", RunState::Joined);
        assert!(!s.all_stopped());
        assert!(!s.all_joined());
        s.set("b", RunState::Stopped { reason: "y".into() });
        assert!(s.all_stopped());
        assert_eq!(s.get("a").unwrap().to_string(), "stopped (x)");
        s.set("zzz", RunState::Joined);
        assert_eq!(s.get("zzz"), None);
    }

    #[tokio::test]
    async fn changed_wakes_on_a_change() {
        let s = ChannelStates::new(["a".to_string()]);
        let waiter = tokio::spawn(s.changed());
        s.set("a", RunState::Joined);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
        assert!(s.all_joined());
    }
}
