//! `rosey bench`: the benchmark suite ([`rosey_bench`]). Thin: pick the sizes, run the suite
//! with this executable as `db-service`, `bot` and echo responder, write the report (JSON,
//! Markdown, and the HTML page with the history) and print the Markdown.

use std::io::IsTerminal;
use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use rosey_bench::{BenchOptions, Preset, Sizes};

/// Where the report goes without `--out`.
const DEFAULT_OUT: &str = "bench-report";

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Fewer and shorter runs; judges only the targets such a run can (nothing lost or
    /// doubled, memory), not speed.
    #[arg(long)]
    pub quick: bool,
    /// Exit 1 when a target this run judges is not met (without it, exit 0 whatever the
    /// figures: the report says which targets were met).
    #[arg(long)]
    pub check: bool,
    /// Where to write the report (bench-report.json, bench-report.md, report.html; the run's
    /// figures are appended to bench-history.jsonl there); default ./bench-report.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Size preset (full, quick, tiny); `tiny` is for the suite's own tests.
    #[arg(long, hide = true, conflicts_with = "quick")]
    pub preset: Option<String>,
    /// Internal: serve the echo floor on this NATS URL until killed (the suite runs this).
    #[arg(long, hide = true)]
    pub echo_responder: Option<String>,
    /// Experiment: TOKIO_WORKER_THREADS for the db-service process.
    #[arg(long, hide = true)]
    pub db_service_workers: Option<usize>,
    /// Experiment: the db-service and the end-to-end bot serve /metrics, scraped every second.
    #[arg(long, hide = true)]
    pub metrics: bool,
    /// Channel counts of the scale run instead of the preset's (e.g. `100,1000`).
    #[arg(long, value_delimiter = ',', value_name = "N,N,…")]
    pub scale_channels: Option<Vec<usize>>,
    /// Experiment: run this program as `db-service`, `bot` and echo responder instead of this
    /// executable (e.g. a script that runs one of them under `valgrind --tool=callgrind`).
    #[arg(long, hide = true)]
    pub rosey: Option<PathBuf>,
    /// Only the web dashboard's section (`rosey web`: first HTML, idle RSS, SSE delivery).
    #[arg(long)]
    pub web: bool,
    /// Only the big audience: 2,000 SSE viewers of one channel at 1,000 lines/s (`rosey web`:
    /// every line delivered, delivery p99, RSS).
    #[arg(long)]
    pub audience: bool,
    /// Viewers for `--audience` (default 2,000).
    #[arg(long, requires = "audience")]
    pub viewers: Option<usize>,
    /// Only the plugin command round trip (1 and 10 plugins): prints its table.
    #[arg(long)]
    pub plugins: bool,
    /// Commands per configuration for `--plugins`.
    #[arg(long, default_value_t = 500, requires = "plugins")]
    pub samples: usize,
    /// Only the automated moderator's figures: rule evaluation (p99 per line with 100
    /// patterns) and the end-to-end latency with the moderator running and not.
    #[arg(long)]
    pub moderation: bool,
    /// Only ingest on SQLite and PostgreSQL side by side (a fresh database on the server
    /// at 127.0.0.1:5432, or ROSEY_TEST_PG_URL, dropped at the end).
    #[arg(long)]
    pub postgres: bool,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if let Some(url) = &args.echo_responder {
        rosey_bench::serve_echo(url)
            .await
            .context("echo responder")?;
        return Ok(ExitCode::SUCCESS);
    }
    crate::logging::init(None, "warn", false);
    if args.moderation {
        let lines = if preset(&args)? == Preset::Full {
            200_000
        } else {
            20_000
        };
        let report = tokio::task::spawn_blocking(move || rosey_moderator::bench::run(lines, 100))
            .await
            .context("moderation bench")?;
        println!("{}", report.to_markdown());
        return moderation_latency(&args).await;
    }
    if args.plugins {
        let rosey = std::env::current_exe().context("cannot find the rosey executable")?;
        let report = rosey_bench::plugins::run(&rosey, args.samples.max(1)).await?;
        println!("{}", report.to_markdown());
        return Ok(ExitCode::SUCCESS);
    }
    let preset = preset(&args)?;
    if args.postgres {
        let rosey = std::env::current_exe().context("cannot find the rosey executable")?;
        let report = rosey_bench::backends::run(&rosey, &Sizes::for_preset(preset)).await?;
        println!("{}", report.to_markdown());
        let (mixed, message) = report.targets();
        return Ok(if args.check && !(mixed && message) {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }
    let out = args.out.unwrap_or_else(|| PathBuf::from(DEFAULT_OUT));
    if args.web {
        return web_section(&out).await;
    }
    if args.audience {
        return audience_section(&out, args.viewers, args.check).await;
    }
    let mut sizes = Sizes::for_preset(preset);
    if let Some(n) = args.scale_channels {
        sizes.scale_channels = n;
    }
    let opts = BenchOptions {
        sizes,
        rosey: match args.rosey {
            Some(path) => path,
            None => std::env::current_exe().context("cannot find the rosey executable")?,
        },
        progress: std::io::stdout().is_terminal(),
        db_service_workers: args.db_service_workers,
        metrics: args.metrics,
    };
    let report = rosey_bench::run(opts).await?;
    let markdown = report.to_markdown();
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let json_path = out.join("bench-report.json");
    let md_path = out.join("bench-report.md");
    let json = serde_json::to_string_pretty(&report).context("cannot encode the report")?;
    std::fs::write(&json_path, json + "\n")
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    std::fs::write(&md_path, &markdown)
        .with_context(|| format!("cannot write {}", md_path.display()))?;
    let page = rosey_bench::history::write(&out, &report)
        .with_context(|| format!("cannot write the report page in {}", out.display()))?;
    println!("{markdown}");
    println!(
        "Report written to {}, {} and {} (with every run's trend from {}).",
        json_path.display(),
        md_path.display(),
        page.display(),
        rosey_bench::history::HISTORY_FILE
    );
    let failing = report.failing();
    if failing.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let names: Vec<&str> = failing.iter().map(|t| t.figure.as_str()).collect();
    let line = format!(
        "{} target(s) this {} run judges not met: {}",
        failing.len(),
        report.sizes.preset.name(),
        names.join("; ")
    );
    if args.check {
        eprintln!("rosey bench: {line}");
        Ok(ExitCode::from(1))
    } else {
        println!("{line} (`--check` makes that exit 1).");
        Ok(ExitCode::SUCCESS)
    }
}

/// `rosey bench --web`: the web dashboard's section alone.
async fn web_section(out: &std::path::Path) -> anyhow::Result<ExitCode> {
    let rosey = std::env::current_exe().context("cannot find the rosey executable")?;
    let figures = rosey_bench::web::run(&rosey, &rosey_bench::web::WebOptions::default()).await?;
    let markdown = figures.to_markdown();
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let path = out.join("web-report.json");
    let json = serde_json::to_string_pretty(&figures).context("cannot encode the figures")?;
    std::fs::write(&path, json + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("{markdown}");
    println!("Figures written to {}.", path.display());
    Ok(ExitCode::SUCCESS)
}

/// `rosey bench --moderation`'s second table: chat line → row with the moderator off and on.
async fn moderation_latency(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let rosey = std::env::current_exe().context("cannot find the rosey executable")?;
    let preset = preset(args)?;
    let rounds = if preset == Preset::Full { 2 } else { 1 };
    let figures = rosey_bench::moderation::run(&rosey, &Sizes::for_preset(preset), rounds).await?;
    println!("{}", figures.to_markdown());
    Ok(ExitCode::SUCCESS)
}

/// The size preset: `--preset`, else `--quick`, else full.
fn preset(args: &BenchArgs) -> anyhow::Result<Preset> {
    Ok(match (&args.preset, args.quick) {
        (Some(p), _) => Preset::parse(p)
            .with_context(|| format!("unknown preset {p:?} (full, quick or tiny)"))?,
        (None, true) => Preset::Quick,
        (None, false) => Preset::Full,
    })
}

/// `rosey bench --audience`: the big-audience section alone.
async fn audience_section(
    out: &std::path::Path,
    viewers: Option<usize>,
    check: bool,
) -> anyhow::Result<ExitCode> {
    let rosey = std::env::current_exe().context("cannot find the rosey executable")?;
    let mut opts = rosey_bench::audience::AudienceOptions::default();
    opts.viewers = viewers.unwrap_or(opts.viewers);
    let figures = rosey_bench::audience::run(&rosey, &opts).await?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let path = out.join("audience-report.json");
    let json = serde_json::to_string_pretty(&figures).context("cannot encode the figures")?;
    std::fs::write(&path, json + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("{}", figures.to_markdown());
    println!("Figures written to {}.", path.display());
    let missed = figures.targets().iter().any(|t| t.met == Some(false));
    Ok(if check && missed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
