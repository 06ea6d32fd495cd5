//! `rosey db copy|backup|check`. `copy` moves an SQLite database (a Rosey v0.5 file too)
//! into PostgreSQL with a progress bar, resumable, and compares the two at the end
//! (`rosey_store::copy`); `backup` and `check` live in `db_backup`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use rosey_store::StoreOptions;
use rosey_store::copy::{self, CopyOptions};

/// Exit status of a copy that stopped before the end (run it again to continue).
const EXIT_INTERRUPTED: u8 = 3;
/// Exit status of a copy whose comparison found differences.
const EXIT_MISMATCH: u8 = 4;

#[derive(clap::Subcommand, Debug)]
pub enum DbCommand {
    /// Copy an SQLite database into PostgreSQL (resumable; compared at the end).
    Copy(CopyArgs),
    /// Back up the SQLite store while the service runs (consistent; PostgreSQL: pg_dump).
    Backup(super::db_backup::BackupArgs),
    /// Check a SQLite store: integrity, schema version, row counts (exit 1 on a problem).
    Check(super::db_backup::CheckArgs),
}

#[derive(clap::Args, Debug)]
pub struct CopyArgs {
    /// The SQLite file (a Rosey v0.5 `bot_data.db` is adopted first, after a backup).
    #[arg(long)]
    pub from: PathBuf,
    /// The PostgreSQL database (`postgres://user@host:5432/db`).
    #[arg(long, env = "DATABASE_URL")]
    pub to: String,
    /// The channel that rows without one belong to (those of a v0.5 file).
    #[arg(long, default_value = rosey_model::subjects::DEFAULT_CHANNEL)]
    pub channel: String,
    /// Rows per chunk (one commit each).
    #[arg(long, default_value_t = 5_000)]
    pub chunk_rows: i64,
    /// Stop after this many rows, as an interruption would (for tests).
    #[arg(long, hide = true)]
    pub stop_after_rows: Option<u64>,
}

pub async fn run(cmd: DbCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DbCommand::Copy(a) => copy_cmd(a).await,
        DbCommand::Backup(a) => super::db_backup::backup(a).await,
        DbCommand::Check(a) => super::db_backup::check(a).await,
    }
}

async fn copy_cmd(args: CopyArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        rosey_store::storage::is_postgres_url(&args.to),
        "--to must be a PostgreSQL URL like postgres://user@host:5432/db"
    );
    let target = rosey_store::storage::redact_url(&args.to);
    let from = args.from.clone();
    let report = tokio::task::spawn_blocking(move || {
        let bar = ProgressBar::new(0);
        if let Ok(style) = ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30.cyan/blue}] {pos}/{len} rows {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        let mut on_progress = |table: &str, done: u64, total: u64| {
            bar.set_length(total);
            bar.set_position(done);
            bar.set_message(table.to_string());
        };
        let r = copy::sqlite_to_postgres(
            &args.from,
            &args.to,
            &StoreOptions::with_channel(&args.channel),
            &CopyOptions {
                chunk_rows: args.chunk_rows,
                stop_after_rows: args.stop_after_rows,
            },
            &mut on_progress,
        );
        bar.finish_and_clear();
        r
    })
    .await?
    .with_context(|| format!("copy of {} into {target}", from.display()))?;
    if report.resumed {
        println!("resumed an earlier copy of {}", from.display());
    }
    if report.interrupted {
        println!(
            "interrupted after {} rows; run the same command again to continue",
            report.copied_now
        );
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    println!("{:<20} {:>10} {:>10}", "table", "source", "target");
    for (table, s, d) in &report.tables {
        println!("{table:<20} {s:>10} {d:>10}");
    }
    println!(
        "copied {} rows in this run; {} query answers compared",
        report.copied_now, report.answers_compared
    );
    if report.mismatches.is_empty() {
        println!("every row count and answer is identical");
        Ok(ExitCode::SUCCESS)
    } else {
        for m in &report.mismatches {
            eprintln!("mismatch: {m}");
        }
        Ok(ExitCode::from(EXIT_MISMATCH))
    }
}
