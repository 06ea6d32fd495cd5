//! The `rosey` package's library: every subcommand (`cmd/`, one file each) and the logging
//! set-up, shared by the package's two binaries:
//! - `rosey` (`src/main.rs`): every command, the one binary `rosey run` needs;
//! - `rosey-db` (`src/bin/rosey_db.rs`): the database service alone, the same flags and
//!   configuration as `rosey db-service`. It links only what the service uses, so the pages
//!   a running service keeps resident (its code, and the relocated tables the loader writes
//!   at start) are a fraction of the big binary's.
//!
//! Nothing here is an API for other crates: the library only lets two thin binaries share
//! one implementation.

use std::future::Future;
use std::process::ExitCode;

pub mod cmd;
pub mod logging;

/// `rosey --version`: `0.6.0 (commit 3f2a9c1d0b7e, built 2026-12-07)` (see build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ROSEY_GIT_COMMIT"),
    ", built ",
    env!("ROSEY_BUILD_DATE"),
    ")"
);

/// Runs a command on the multi-threaded runtime; an error is printed as one line (with the
/// chain of causes, never a backtrace) and exits 1.
pub fn block_on(command: impl Future<Output = anyhow::Result<ExitCode>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rosey: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rosey: {e:#}");
            ExitCode::FAILURE
        }
    }
}
