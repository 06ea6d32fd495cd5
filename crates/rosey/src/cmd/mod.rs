//! One module per subcommand (or pair of closely related subcommands).

pub mod bench;
mod chatters;
pub mod common;
pub mod config;
pub mod config_arg;
pub mod db;
pub mod db_backup;
pub mod db_service;
pub mod demo;
pub mod devserver;
pub mod moderator;
pub mod plugins;
pub mod run;
pub mod soak;
pub mod stats;
pub mod status;
pub mod web;

use std::process::ExitCode;

/// What a subcommand whose issue has not landed yet answers: a clear message and exit 2.
#[allow(dead_code)]
pub fn not_yet(name: &str) -> anyhow::Result<ExitCode> {
    eprintln!("rosey {name}: not yet available in this build");
    Ok(ExitCode::from(2))
}
