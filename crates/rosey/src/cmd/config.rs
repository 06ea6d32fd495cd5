//! `rosey config check|migrate`: thin wrappers over `rosey_config` that turn its results
//! into what an operator reads and an exit code (0 = fine, 1 = something needs fixing).
//! Reports go to stdout, errors and problems to stderr; nothing here can panic on bad input.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use rosey_config::{
    Config,
    env::process_env,
    load::load_file,
    migrate::{MigrateOptions, MigrateReport, migrate_file},
};

#[derive(clap::Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate a config file; print every problem with its field path.
    ///
    /// Environment overrides (ROSEY_NATS_URL, DATABASE_PATH, ROSEY_PASSWORD, ...) are
    /// applied first, exactly as `rosey run` would. Exit 0 when valid, 1 otherwise.
    Check {
        file: PathBuf,
        /// Print the effective configuration (secrets redacted) as JSON on stdout; the
        /// summary then goes to stderr so the output can be piped.
        #[arg(long)]
        print: bool,
    },
    /// Convert a v1 config to v2.
    ///
    /// Nothing is dropped: keys with no v2 meaning are kept under `legacy` and listed.
    /// A v2 file is left untouched. The file is replaced atomically. Exit 0 on success
    /// (including "already v2"), 1 on error.
    Migrate {
        file: PathBuf,
        /// Write FILE.bak before changing anything.
        #[arg(long)]
        backup: bool,
        /// Write the result here instead of replacing FILE.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Print the configuration's JSON Schema (draft-07), generated from Rosey's own types.
    ///
    /// The repository keeps the same text in `config.schema.json`; name it with
    /// `"$schema": "./config.schema.json"` at the top of a config file and editors complete
    /// and check the keys.
    Schema,
}

pub async fn run(cmd: ConfigCommand) -> anyhow::Result<ExitCode> {
    Ok(match cmd {
        ConfigCommand::Check { file, print } => check(&file, print),
        ConfigCommand::Migrate {
            file,
            backup,
            output,
        } => migrate(&file, MigrateOptions { backup, output }),
        ConfigCommand::Schema => {
            print!("{}", rosey_config::schema::to_pretty_json());
            ExitCode::SUCCESS
        }
    })
}

fn check(file: &Path, print: bool) -> ExitCode {
    let loaded = match load_file(file, process_env) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut summary = vec![format!("{}: OK", file.display())];
    summary.extend(describe(&loaded.config));
    for o in &loaded.overrides {
        summary.push(format!("  from the environment: {o}"));
    }
    let unused = loaded.config.unused_keys();
    if !unused.is_empty() {
        summary.push(format!(
            "  kept but not used by Rosey: {}",
            unused.join(", ")
        ));
    }
    if print {
        for line in &summary {
            eprintln!("{line}");
        }
        print!("{}", loaded.config.to_redacted_json());
    } else {
        for line in &summary {
            println!("{line}");
        }
    }
    ExitCode::SUCCESS
}

/// A few lines saying what the configuration will do, so "OK" is not taken on trust.
fn describe(config: &Config) -> Vec<String> {
    let bus = if config.nats.is_embedded() {
        "embedded (in-process, no NATS server)".to_owned()
    } else {
        let urls: Vec<String> = config
            .nats
            .server_urls()
            .iter()
            .map(|u| rosey_config::redact::redact_url(u))
            .collect();
        let durable = if config.nats.jetstream {
            ", JetStream on"
        } else {
            ""
        };
        format!("{}{durable}", urls.join(", "))
    };
    let mut lines = vec![format!("  bus: {bus}")];
    lines.push(format!(
        "  database: {}{}",
        config.database.path.display(),
        if config.database.run_as_service {
            " (service runs in-process)"
        } else {
            ""
        }
    ));
    if config.platforms.is_empty() {
        lines.push("  platforms: none".to_owned());
    }
    for p in &config.platforms {
        let login = match &p.user {
            None => "anonymous".to_owned(),
            Some(u) if u.password.is_some() => format!("as {}", u.name),
            Some(u) => format!("as guest {}", u.name),
        };
        let state = if p.enabled { "" } else { " [disabled]" };
        let place = match p.kind {
            rosey_config::PlatformKind::Irc => format!(
                "irc://{}/{}",
                p.server.as_deref().unwrap_or_default(),
                p.channel.name
            ),
            rosey_config::PlatformKind::Matrix => format!(
                "matrix {}/{}",
                p.homeserver.as_deref().unwrap_or_default(),
                p.channel.name
            ),
            _ => format!("{}/r/{}", p.base_url(), p.channel.name),
        };
        lines.push(format!("  platform {}: {place} {login}{state}", p.name));
    }
    lines
}

fn migrate(file: &Path, options: MigrateOptions) -> ExitCode {
    match migrate_file(file, &options) {
        Ok(MigrateReport::AlreadyV2 { path }) => {
            println!(
                "{}: already v2; nothing to do (file left untouched)",
                path.display()
            );
            ExitCode::SUCCESS
        }
        Ok(MigrateReport::Migrated {
            outcome,
            written,
            backup,
            problems,
        }) => {
            println!(
                "Migrated {} to version {} → {}",
                file.display(),
                rosey_config::defaults::VERSION,
                written.display()
            );
            if let Some(b) = backup {
                println!("Original kept as {}", b.display());
            }
            println!("Carried over:");
            for m in &outcome.moved {
                println!("  {m}");
            }
            if !outcome.legacy_keys.is_empty() {
                println!(
                    "Kept under `legacy` (Rosey v2 does not use them; review and remove when done): {}",
                    outcome.legacy_keys.join(", ")
                );
            }
            for note in &outcome.notes {
                println!("Note: {note}");
            }
            if !problems.is_empty() {
                // The migration lost nothing and succeeded; these were wrong (or missing) in
                // the v1 file already and need the operator before `rosey run` accepts it.
                eprintln!(
                    "{} needs attention before `rosey run` will accept it:",
                    written.display()
                );
                for p in &problems {
                    eprintln!("  {p}");
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rosey config migrate: {e}");
            ExitCode::FAILURE
        }
    }
}
