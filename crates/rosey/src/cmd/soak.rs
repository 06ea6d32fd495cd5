//! `rosey soak`: the whole system on loopback under a seeded fault schedule
//! ([`rosey_soak`]). Thin: read the flags, run the soak with this executable as every
//! process, write the report (JSON and HTML), print its summary. Exit 1 when the
//! accounting is not exact (a line lost or stored twice) with `--check`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

#[derive(clap::Args, Debug)]
pub struct SoakArgs {
    /// How long the load runs (e.g. `10m`, `1h`), faults included.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// The seed of the fault schedule and of the crowd's choices (same seed, same run).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Devserver channels (shared by the two bots).
    #[arg(long, default_value_t = 6)]
    pub channels: usize,
    /// Chat lines per second over all channels.
    #[arg(long, default_value_t = 6.0)]
    pub rate: f64,
    /// Dashboard viewers (SSE) per channel.
    #[arg(long, default_value_t = 2)]
    pub viewers: usize,
    /// Time between two faults (capped at one minute).
    #[arg(long, default_value = "40s", value_parser = humantime::parse_duration)]
    pub fault_every: Duration,
    /// How long a SIGSTOPped process stays stopped.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub stop_for: Duration,
    /// How long the database directory stays full (ENOSPC) in the disk-full fault.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub full_for: Duration,
    /// The second database service on the soak's own PostgreSQL server (initdb and pg_ctl
    /// from /usr/lib/postgresql; never the shared one), restarted as a fault. Without it,
    /// both database services use SQLite (separate files).
    #[arg(long)]
    pub postgres: bool,
    /// Where to write soak-report.json and soak-report.html.
    #[arg(long, default_value = "soak-report")]
    pub out: PathBuf,
    /// Exit 1 unless every broadcast line was stored exactly once.
    #[arg(long)]
    pub check: bool,
}

pub async fn run(args: SoakArgs) -> anyhow::Result<ExitCode> {
    crate::logging::init(None, "warn", false);
    let rosey = std::env::current_exe().context("cannot find the rosey executable")?;
    let mut opts = rosey_soak::SoakOptions::new(rosey, args.duration, args.seed);
    opts.channels = args.channels.max(1);
    opts.rate = args.rate;
    opts.viewers = args.viewers;
    opts.fault_every = args.fault_every;
    opts.stop_for = args.stop_for;
    opts.full_for = args.full_for;
    opts.postgres = args.postgres;
    opts.progress = std::io::stdout().is_terminal();
    let report = rosey_soak::run(opts).await?;
    let (json, html) = report.write(&args.out)?;
    print!("{}", report.summary());
    println!("report: {} and {}", json.display(), html.display());
    if args.check && !report.accounting.exact {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
