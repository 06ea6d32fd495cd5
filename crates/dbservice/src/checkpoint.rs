//! The checkpoint thread: copies the WAL into the database off the commit path, and gets a
//! steadily written WAL to start over without holding up commits.
//!
//! The writer's own automatic checkpoint is off in the service (it used to stall one commit
//! in ~120 by up to several milliseconds). This thread runs a `PASSIVE` checkpoint every
//! [`CHECKPOINT_INTERVAL`] from its own connection; a passive pass never blocks the writer.
//!
//! Starting over: SQLite restarts the WAL at a commit only once a checkpoint has copied all
//! of it, and under steady commits a pass always ends behind the writer (it copies up to
//! where the WAL stood when it began). A pass costs two `fsync`s (the WAL before copying,
//! the database after), milliseconds on a busy disk, so a pass that is to copy everything
//! must fit in a pause of the commits. When the WAL is over
//! [`rosey_store::FINISH_CHECKPOINT_AT_FRAMES`], the thread therefore watches the writer's
//! commit count every [`PAUSE_CHECK`] and runs a pass as soon as one interval passed
//! without a commit (chat has pauses; the next commit then starts the WAL over). Only when
//! no pause came and the WAL reached [`FORCE_FINISH_AT_FRAMES`] does it ask the writer to
//! copy the rest itself between two commits (`WriterMsg::FinishCheckpoint`): that holds the
//! commits for those two `fsync`s, which was the database side's end-to-end tail when it
//! happened at every pass over 16 MiB (BENCHMARKS.md, issue 31).
//!
//! It must not write anything but the checkpoint, and it stops when its sender is dropped.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::DbServiceError;
use crate::counters::Counters;
use crate::writer::WriterMsg;

/// How often the thread copies the WAL into the database.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);
/// While the WAL waits to start over: how often the thread looks for a pause of the commits
/// (an interval without one is the pause).
pub const PAUSE_CHECK: Duration = Duration::from_millis(10);
/// WAL frames past which the writer finishes the checkpoint itself when no pause came:
/// 65,536 pages (256 MiB), about 8 s of a steady 1,000 single-line commits per second.
pub const FORCE_FINISH_AT_FRAMES: i64 = 16 * rosey_store::FINISH_CHECKPOINT_AT_FRAMES;

/// Starts the thread; it stops when the returned sender is dropped.
pub(crate) fn spawn(
    checkpointer: rosey_store::Checkpointer,
    writer: mpsc::WeakSender<WriterMsg>,
    counters: Arc<Counters>,
) -> Result<std::sync::mpsc::Sender<()>, DbServiceError> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("rosey-db-checkpoint".into())
        .spawn(move || {
            let mut state = State::new(&counters);
            // The receive timeout is the timer: nothing is ever sent, dropping ends it.
            while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(state.wait()) {
                if !state.due(&counters) {
                    continue;
                }
                let started = Instant::now();
                let result = checkpointer.passive();
                counters
                    .metrics
                    .checkpoint_seconds
                    .observe_duration(started.elapsed());
                match result {
                    Ok((frames, copied)) => {
                        if state.passed(frames, copied)
                            && let Some(w) = writer.upgrade()
                        {
                            // A full queue is busy with events: the next pass asks again.
                            let _ = w.try_send(WriterMsg::FinishCheckpoint);
                        }
                    }
                    Err(e) => state.failed(&e),
                }
            }
        })
        .map_err(|e| DbServiceError::Join(format!("cannot start the checkpoint thread: {e}")))?;
    Ok(tx)
}

/// What the thread knows between passes.
struct State {
    last_pass: Instant,
    /// The writer's commit count at the last look.
    commits: u64,
    /// The WAL is large and not wholly copied: look for a pause.
    waiting_for_pause: bool,
    failing: bool,
}

impl State {
    fn new(counters: &Counters) -> State {
        State {
            last_pass: Instant::now(),
            commits: counters.batches.load(Ordering::Relaxed),
            waiting_for_pause: false,
            failing: false,
        }
    }

    fn wait(&self) -> Duration {
        if self.waiting_for_pause {
            PAUSE_CHECK
        } else {
            CHECKPOINT_INTERVAL
        }
    }

    /// Whether a pass runs now: every interval, and while waiting for a pause, as soon as
    /// the writer committed nothing since the last look.
    fn due(&mut self, counters: &Counters) -> bool {
        let commits = counters.batches.load(Ordering::Relaxed);
        let paused = commits == self.commits;
        self.commits = commits;
        !self.waiting_for_pause || paused || self.last_pass.elapsed() >= CHECKPOINT_INTERVAL
    }

    /// Records a pass that left `frames` in the WAL, `copied` of them in the database; true
    /// when the writer must finish it.
    fn passed(&mut self, frames: i64, copied: i64) -> bool {
        self.last_pass = Instant::now();
        self.failing = false;
        self.waiting_for_pause =
            frames > rosey_store::FINISH_CHECKPOINT_AT_FRAMES && copied < frames;
        self.waiting_for_pause && frames > FORCE_FINISH_AT_FRAMES
    }

    fn failed(&mut self, e: &rosey_store::StoreError) {
        self.last_pass = Instant::now();
        if !self.failing {
            self.failing = true;
            tracing::warn!(error = %e, "WAL checkpoint failed; will retry.");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_wal_waits_for_a_pause_and_only_a_huge_one_asks_the_writer() {
        let counters = Counters::default();
        let mut s = State::new(&counters);
        assert!(s.due(&counters), "a pass every interval");
        let big = rosey_store::FINISH_CHECKPOINT_AT_FRAMES + 1;
        assert!(
            !s.passed(big, big),
            "wholly copied: the WAL starts over by itself"
        );
        assert_eq!(s.wait(), CHECKPOINT_INTERVAL);
        assert!(!s.passed(big, 10), "large, not copied: wait for a pause");
        assert_eq!(s.wait(), PAUSE_CHECK);
        Counters::add(&counters.batches, 1);
        assert!(!s.due(&counters), "a commit since the last look: no pause");
        assert!(s.due(&counters), "no commit since the last look: the pause");
        assert!(
            s.passed(FORCE_FINISH_AT_FRAMES + 1, 10),
            "huge: the writer finishes"
        );
        assert!(!s.passed(100, 10), "small: nothing to do");
        assert_eq!(s.wait(), CHECKPOINT_INTERVAL);
    }
}
