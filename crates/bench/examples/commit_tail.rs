//! The tail of single-event commits, with and without SQLite's WAL auto-checkpoint: the
//! experiment behind the database-service share of the end-to-end p99 (BENCHMARKS.md).
//!
//! At 1,000 chat lines/s the service's writer is idle between lines, so every line is its own
//! transaction. This replays that pattern against `rosey_store::Store` directly (5,000 chat
//! events with ids, one commit each, 0.5 ms apart, over 50 channels) and prints the commit
//! latency percentiles and the count of commits over 1 ms, first with SQLite's default
//! auto-checkpoint (1,000 pages), then with it off on the writer connection.
//!
//! ```text
//! cargo run --release -p rosey-bench --example commit_tail
//! ```

use std::time::{Duration, Instant};

use rosey_bench::stats::Percentiles;
use rosey_store::{EventKind, Store, StoreEvent, StoreOptions};

const COMMITS: usize = 5_000;
const GAP: Duration = Duration::from_micros(500);

fn run(auto_checkpoint: bool) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("tail.db");
    let mut store = Store::open(&path, &StoreOptions::default())?;
    if !auto_checkpoint {
        store
            .connection()
            .pragma_update(None, "wal_autocheckpoint", 0)?;
    }
    let mut samples = Vec::with_capacity(COMMITS);
    for i in 0..COMMITS {
        let event = StoreEvent {
            channel: format!("c{}", i % 50),
            ts: 1_700_000_000 + (i / 1000) as i64,
            id: Some(format!("tail-{i}")),
            kind: EventKind::Message {
                username: format!("c{}s{}", i % 50, i % 4),
                message: format!("e2e 0 {i}"),
            },
        };
        let t = Instant::now();
        store.apply_batch(std::slice::from_ref(&event))?;
        samples.push(t.elapsed());
        std::thread::sleep(GAP);
    }
    let slow = samples
        .iter()
        .filter(|d| **d > Duration::from_millis(1))
        .count();
    let wal_kib = std::fs::metadata(dir.path().join("tail.db-wal")).map_or(0, |m| m.len() / 1024);
    let p = Percentiles::of(&samples);
    println!(
        "auto-checkpoint {:>3}: p50 {:.3} ms, p95 {:.3} ms, p99 {:.3} ms, max {:.3} ms; \
         commits over 1 ms: {slow} of {COMMITS}; WAL {wal_kib} KiB at the end",
        if auto_checkpoint { "on" } else { "off" },
        p.p50_ms,
        p.p95_ms,
        p.p99_ms,
        p.max_ms
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for auto_checkpoint in [true, false, true, false] {
        run(auto_checkpoint)?;
    }
    Ok(())
}
