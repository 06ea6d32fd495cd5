//! Logging set-up shared by every long-running command: `tracing` to stderr.
//!
//! Which filter applies, first match wins (SPEC §1):
//! 1. `--log-level` (a level or a full filter);
//! 2. `RUST_LOG`, as a full `tracing` filter (e.g. `rosey_cytube=debug,info`);
//! 3. `ROSEY_LOG_LEVEL`;
//! 4. the configuration's `logging.level` (or the command's own default).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The environment variable holding a full filter.
const RUST_LOG: &str = "RUST_LOG";
/// Rosey's own level variable (also read by the config loader as `logging.level`).
const ROSEY_LOG_LEVEL: &str = rosey_config::env::LOG_LEVEL_VAR;

/// Libraries that log whole websocket/socket.io frames at TRACE — a CyTube `login` frame
/// holds the account password — are capped at DEBUG whatever the filter says, so no level
/// ever writes a secret (tested by `tests/secrets.rs`).
const FRAME_LOGGER_CAPS: &str =
    "tungstenite=debug,tokio_tungstenite=debug,engineioxide=debug,socketioxide=debug";

/// The filter text that applies, and where it came from (for a bad-filter message).
fn choose(flag: Option<&str>, configured: &str) -> (String, &'static str) {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if let Some(f) = flag {
        return (f.to_string(), "--log-level");
    }
    if let Some(f) = env(RUST_LOG) {
        return (f, RUST_LOG);
    }
    if let Some(f) = env(ROSEY_LOG_LEVEL) {
        return (f, ROSEY_LOG_LEVEL);
    }
    (configured.to_string(), "the configuration")
}

/// Installs the global subscriber. `configured` is the level from the configuration (or
/// the command's default). Safe to call once per process.
pub fn init(flag: Option<&str>, configured: &str, json: bool) {
    let (text, source) = choose(flag, configured);
    let parse = |t: &str| EnvFilter::builder().parse(t);
    let mut filter = parse(&text).unwrap_or_else(|e| {
        eprintln!("rosey: ignoring the log filter `{text}` from {source} ({e}); using `info`");
        EnvFilter::new("info")
    });
    // The caps only matter where TRACE is on; added elsewhere they would *raise* those
    // libraries to DEBUG.
    let trace_on = filter
        .max_level_hint()
        .is_none_or(|max| max >= tracing::level_filters::LevelFilter::TRACE);
    if trace_on && let Ok(capped) = parse(&format!("{text},{FRAME_LOGGER_CAPS}")) {
        filter = capped;
    }
    // Colours only on a terminal: a pipe, a file or journald gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
