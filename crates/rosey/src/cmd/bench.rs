//! `rosey bench`: the benchmark suite.

use std::{path::PathBuf, process::ExitCode};

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Fewer and shorter runs.
    #[arg(long)]
    pub quick: bool,
    /// Where to write the report (JSON and Markdown).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub async fn run(_args: BenchArgs) -> anyhow::Result<ExitCode> {
    super::not_yet("bench")
}
