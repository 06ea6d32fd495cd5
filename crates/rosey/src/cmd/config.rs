//! `rosey config check|migrate`.

use std::{path::PathBuf, process::ExitCode};

#[derive(clap::Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate a config file; print every problem with its field path.
    Check {
        file: PathBuf,
        /// Print the effective configuration (secrets redacted).
        #[arg(long)]
        print: bool,
    },
    /// Convert a v1 config to v2.
    Migrate {
        file: PathBuf,
        /// Write FILE.bak before changing anything.
        #[arg(long)]
        backup: bool,
        /// Write the result here instead of replacing FILE.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

pub async fn run(_cmd: ConfigCommand) -> anyhow::Result<ExitCode> {
    super::not_yet("config")
}
