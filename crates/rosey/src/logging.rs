//! Logging set-up shared by every long-running command: `tracing` to stderr, level from
//! `--log-level`, else `RUST_LOG`, else the given default.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Safe to call once per process.
#[allow(dead_code)]
pub fn init(level: Option<&str>, default: &str, json: bool) {
    let filter = match level {
        Some(l) => EnvFilter::new(l),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default)),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
