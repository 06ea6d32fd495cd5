//! What `tokio::time::sleep_until(Instant::now())` costs: the experiment behind the client
//! send-path share of the end-to-end latency (BENCHMARKS.md). The CyTube client's connection
//! task arms such a timer for a chat line the throttle allows at once; tokio rounds timers up
//! to its next 1 ms tick, so the line waits for it.
//!
//! ```text
//! cargo run --release -p rosey-bench --example timer_floor
//! ```

use std::time::Duration;

use rosey_bench::stats::Percentiles;
use tokio::time::{Instant, sleep, sleep_until};

const SAMPLES: usize = 1_000;

#[tokio::main]
async fn main() {
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        // A gap that is not a whole number of milliseconds, so the samples fall at every
        // phase of the timer's tick.
        sleep(Duration::from_micros(1_700)).await;
        let t = std::time::Instant::now();
        sleep_until(Instant::now()).await;
        samples.push(t.elapsed());
    }
    let p = Percentiles::of(&samples);
    println!(
        "sleep_until(now) x{}: p50 {:.3} ms, p95 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        p.count, p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms
    );
}
