//! The tail of single-event commits, with and without SQLite's WAL auto-checkpoint: the
//! experiment behind the database-service share of the end-to-end p99 (BENCHMARKS.md).
//!
//! At 1,000 chat lines/s the service's writer is idle between lines, so every line is its own
//! transaction. This replays that pattern against `rosey_store::Store` directly (5,000 chat
//! events with ids, one commit each, 0.5 ms apart, over 50 channels) and prints the commit
//! latency percentiles and the count of commits over 1 ms: with SQLite's default
//! auto-checkpoint (1,000 pages), with no checkpoint, and as the service runs (no automatic
//! checkpoint, a passive one every 500 ms on another thread). The database goes in the
//! current directory (or `TAIL_DIR`), so the disk is the one the service would use.
//!
//! ```text
//! cargo run --release -p rosey-bench --example commit_tail
//! ```

use std::time::{Duration, Instant};

use rosey_bench::stats::Percentiles;
use rosey_store::{EventKind, Store, StoreEvent, StoreOptions};

const COMMITS: usize = 5_000;
const GAP: Duration = Duration::from_micros(500);

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// SQLite's automatic checkpoint inside the commits.
    Auto,
    /// No checkpoint at all (the WAL grows).
    Off,
    /// No automatic checkpoint, a passive one every 500 ms from another connection on
    /// another thread.
    Thread,
    /// What the service does: `Thread`, and when a pass leaves a large WAL not wholly
    /// copied, the writer copies the rest itself between two commits
    /// (`Store::finish_checkpoint`), so the WAL starts again from the beginning.
    Finish,
}

/// WAL frames past which the writer finishes a checkpoint (the service's figure).
const FINISH_AT_FRAMES: i64 = rosey_store::FINISH_CHECKPOINT_AT_FRAMES;

fn run(mode: Mode) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir_in(std::env::var_os("TAIL_DIR").unwrap_or_else(|| ".".into()))?;
    let path = dir.path().join("tail.db");
    let mut store = Store::open(&path, &StoreOptions::default())?;
    if mode != Mode::Auto {
        store
            .connection()
            .pragma_update(None, "wal_autocheckpoint", 0)?;
    }
    use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::Relaxed};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let finish = std::sync::Arc::new(AtomicBool::new(false));
    let most_frames = std::sync::Arc::new(AtomicI64::new(0));
    let checkpoints = matches!(mode, Mode::Thread | Mode::Finish).then(|| {
        let checkpointer =
            rosey_store::Checkpointer::open(&path, &StoreOptions::default()).unwrap();
        let (stop, finish, most_frames) = (stop.clone(), finish.clone(), most_frames.clone());
        std::thread::spawn(move || {
            let mut took = Vec::new();
            while !stop.load(Relaxed) {
                std::thread::sleep(Duration::from_millis(500));
                let t = Instant::now();
                let (frames, _) = checkpointer.passive().unwrap();
                took.push(t.elapsed());
                most_frames.fetch_max(frames, Relaxed);
                if mode == Mode::Finish && frames > FINISH_AT_FRAMES {
                    finish.store(true, Relaxed);
                }
            }
            took
        })
    });
    let mut samples = Vec::with_capacity(COMMITS);
    let mut finishes = Vec::new();
    for i in 0..COMMITS {
        if finish.swap(false, Relaxed) {
            let t = Instant::now();
            store.finish_checkpoint()?;
            finishes.push(t.elapsed());
        }
        let event = StoreEvent {
            channel: format!("c{}", i % 50),
            ts: 1_700_000_000 + (i / 1000) as i64,
            id: Some(format!("tail-{i}")),
            kind: EventKind::Message {
                username: format!("c{}s{}", i % 50, i % 4),
                message: format!("e2e 0 {i}"),
                bot: false,
            },
        };
        let t = Instant::now();
        store.apply_batch(std::slice::from_ref(&event))?;
        samples.push(t.elapsed());
        std::thread::sleep(GAP);
    }
    stop.store(true, Relaxed);
    let checkpoint_ms: Vec<String> = checkpoints
        .map(|t| t.join().unwrap())
        .unwrap_or_default()
        .iter()
        .map(|d| format!("{:.0}", d.as_secs_f64() * 1e3))
        .collect();
    let slow = samples
        .iter()
        .filter(|d| **d > Duration::from_millis(1))
        .count();
    let wal_kib = std::fs::metadata(dir.path().join("tail.db-wal")).map_or(0, |m| m.len() / 1024);
    let p = Percentiles::of(&samples);
    println!(
        "checkpoint {:>6}: p50 {:.3} ms, p95 {:.3} ms, p99 {:.3} ms, max {:.3} ms; \
         commits over 1 ms: {slow} of {COMMITS}; WAL {wal_kib} KiB at the end; \
         checkpoints took [{}] ms; most WAL frames seen {}; finished by the writer \
         [{}] ms",
        match mode {
            Mode::Auto => "auto",
            Mode::Off => "off",
            Mode::Thread => "thread",
            Mode::Finish => "finish",
        },
        p.p50_ms,
        p.p95_ms,
        p.p99_ms,
        p.max_ms,
        checkpoint_ms.join(" "),
        most_frames.load(Relaxed),
        finishes
            .iter()
            .map(|d| format!("{:.2}", d.as_secs_f64() * 1e3))
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for mode in [
        Mode::Auto,
        Mode::Off,
        Mode::Thread,
        Mode::Finish,
        Mode::Thread,
        Mode::Finish,
    ] {
        run(mode)?;
    }
    Ok(())
}
