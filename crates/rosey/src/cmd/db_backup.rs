//! `rosey db backup FILE` and `rosey db check`: an online, consistent backup of the SQLite
//! store while the database service keeps writing, and an integrity check with the schema
//! version and row counts (`rosey_store::backup`). PostgreSQL has its own tools: `pg_dump`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// Where to write the copy (must not exist yet).
    pub file: PathBuf,
    /// The SQLite store (default: DATABASE_PATH, else the config's `database.path`).
    #[arg(long, env = "DATABASE_PATH")]
    pub db_path: Option<PathBuf>,
    /// Configuration file to take `database.path` from.
    #[command(flatten)]
    pub config: super::config_arg::ConfigFile,
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The SQLite store (default: DATABASE_PATH, else the config's `database.path`).
    #[arg(long, env = "DATABASE_PATH")]
    pub db_path: Option<PathBuf>,
    /// Configuration file to take `database.path` from.
    #[command(flatten)]
    pub config: super::config_arg::ConfigFile,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The store file named by the flag, the environment or the configuration.
fn store_path(db_path: Option<PathBuf>, config: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = db_path {
        return Ok(p);
    }
    let config = super::common::config_or_env(config)?;
    if let Some(url) = &config.database.url {
        anyhow::bail!(
            "the store is PostgreSQL ({}): back it up with `pg_dump` and check it with PostgreSQL's own tools (see docs/operations.md)",
            rosey_store::storage::redact_url(url)
        );
    }
    Ok(config.database.path.clone())
}

pub async fn backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let source = store_path(args.db_path, args.config.as_deref())?;
    let target = args.file.clone();
    let started = std::time::Instant::now();
    let bytes = tokio::task::spawn_blocking({
        let source = source.clone();
        move || rosey_store::backup::backup(&source, &target)
    })
    .await?
    .with_context(|| format!("backup of {}", source.display()))?;
    println!(
        "backed up {} to {} ({bytes} bytes, {:.1} s); check it with `rosey db check --db-path {}`",
        source.display(),
        args.file.display(),
        started.elapsed().as_secs_f64(),
        args.file.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let path = store_path(args.db_path, args.config.as_deref())?;
    let report = tokio::task::spawn_blocking({
        let path = path.clone();
        move || rosey_store::backup::check(&path)
    })
    .await?
    .with_context(|| format!("check of {}", path.display()))?;
    if args.json {
        let rows: serde_json::Map<String, serde_json::Value> = report
            .rows
            .iter()
            .map(|(t, n)| (t.clone(), (*n).into()))
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "ok": report.is_ok(),
                "integrity": report.integrity,
                "schema_version": report.schema_version,
                "supported_version": report.supported_version,
                "rows": rows,
            })
        );
    } else {
        println!(
            "{}: {}",
            path.display(),
            if report.is_ok() { "OK" } else { "PROBLEMS" }
        );
        println!("  integrity: {}", report.integrity.join("; "));
        println!(
            "  schema version: {} (this build: {})",
            report.schema_version, report.supported_version
        );
        for (table, n) in &report.rows {
            println!("  {table}: {n} rows");
        }
    }
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
