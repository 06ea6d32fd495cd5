//! v1 (flat, legacy) → v2 migration (SPEC §6.2), on values and on files.
//!
//! The rule is that nothing is lost: every v1 key lands somewhere in the v2 tree, and a
//! key with no v2 meaning goes under `legacy`. Comment keys stay where they were. The file
//! operation never touches a v2 file, can keep a byte-identical `.bak`, and replaces the
//! file atomically (write a temporary file, then rename).
//!
//! | v1 | v2 |
//! |---|---|
//! | `domain`, `channel`, `user`, `response_timeout`, `restart_delay`, `proxy`, `retry`, `retry_delay` | `platforms[0].*` (type `cytube`, name `primary`, enabled) |
//! | `platform` (`cytube` or `irc`; v0.5's documents) | `platforms[0].type` |
//! | `server` (v0.5's documents) | `platforms[0].domain` (CyTube, when there is no `domain`), `platforms[0].server` (IRC) |
//! | `log_level`, `chat_log_file`, `media_log_file` | `logging.level`, `logging.*` |
//! | `db` | `database.path` (and `run_as_service: true`) |
//! | `shell` | `shell.enabled` (`null`/`false`/`""` → false); the v1 value itself → `legacy.shell` |
//! | `llm` | `llm` |
//! | `version` (1) | `legacy.version` |
//! | anything else | `legacy.*` |
//!
//! `nats` gets its defaults with `url: "embedded"` (v1 had no bus, so the migrated bot runs
//! in one process until the operator points it at a NATS server).

use std::{
    fmt, io,
    path::{Path, PathBuf},
};

use serde_json::{Map, Value, json};

use crate::{
    atomic::write_atomic,
    defaults as d,
    render::render,
    source::{self, Format, Generation, SyntaxError},
    validate::{Problem, describe, validate},
};

/// v1 keys that become `platforms[0]` keys of the same name.
const PLATFORM_KEYS: &[&str] = &[
    "domain",
    "channel",
    "user",
    "response_timeout",
    "restart_delay",
    "proxy",
    "retry",
    "retry_delay",
];

/// Where one v1 key went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// The v1 key.
    pub from: String,
    /// The v2 path.
    pub to: String,
}

impl fmt::Display for Moved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} → {}", self.from, self.to)
    }
}

/// The result of migrating one v1 value.
#[derive(Debug, Clone, PartialEq)]
pub struct MigrationOutcome {
    /// The v2 configuration.
    pub v2: Value,
    /// Every v1 key that was carried over and where it went, in v1 key order.
    pub moved: Vec<Moved>,
    /// The v1 keys with no v2 meaning, now under `legacy` (a subset of `moved`'s sources).
    pub legacy_keys: Vec<String>,
    /// What the migration added or interpreted on its own (defaults, conversions).
    pub notes: Vec<String>,
}

/// Why a migration could not be done.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The input file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The input is not valid JSON/YAML.
    #[error("{origin}: {error}")]
    Syntax {
        /// The file.
        origin: String,
        /// Where and what.
        error: SyntaxError,
    },
    /// The top level is not an object.
    #[error("{origin}: expected an object at the top level, got {found}")]
    NotAnObject {
        /// The file.
        origin: String,
        /// What was there instead.
        found: String,
    },
    /// A `version` this build does not know how to migrate.
    #[error("{origin}: unknown configuration version {version}; only v1 files can be migrated")]
    UnknownVersion {
        /// The file.
        origin: String,
        /// The version found.
        version: String,
    },
    /// No `version`, but v2 sections: migrating as v1 would bury them under `legacy`.
    #[error(
        "{origin}: has no \"version\" but already has v2 sections; add \"version\": \"2.0\" instead of migrating"
    )]
    UnversionedV2 {
        /// The file.
        origin: String,
    },
    /// [`migrate_v1`] was given a v2 value (the file operation reports this as success).
    #[error("{origin} is already version 2")]
    AlreadyV2 {
        /// The file.
        origin: String,
    },
    /// Writing the backup or the result failed; the original file is intact.
    #[error("cannot write {}: {source} (the original file is unchanged)", path.display())]
    Write {
        /// The file being written.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// Sections only a v2 file has.
const V2_SECTIONS: &[&str] = &["platforms", "nats", "database", "logging"];

/// Converts a v1 configuration value to v2, losing nothing.
pub fn migrate_v1(v1: &Value) -> Result<MigrationOutcome, MigrateError> {
    migrate_value(v1, "<config>")
}

fn migrate_value(v1: &Value, origin: &str) -> Result<MigrationOutcome, MigrateError> {
    let origin = origin.to_owned();
    let Value::Object(src) = v1 else {
        return Err(MigrateError::NotAnObject {
            origin,
            found: describe(v1),
        });
    };
    match source::generation(v1) {
        Generation::V1 => {}
        Generation::V2 => return Err(MigrateError::AlreadyV2 { origin }),
        Generation::Unknown(v) => {
            return Err(MigrateError::UnknownVersion {
                origin,
                version: v.to_string(),
            });
        }
        Generation::Unversioned => {
            if V2_SECTIONS.iter().any(|k| src.contains_key(*k)) {
                return Err(MigrateError::UnversionedV2 { origin });
            }
        }
    }

    let mut out = Map::new();
    let mut platform = Map::new();
    platform.insert("type".into(), json!(d::PLATFORM_TYPE));
    platform.insert("name".into(), json!(d::PLATFORM_NAME_MIGRATED));
    platform.insert("enabled".into(), json!(true));
    let mut logging = Map::new();
    let mut database = Map::new();
    let mut shell: Option<Map<String, Value>> = None;
    let mut legacy = Map::new();
    let mut moved = Vec::new();
    let mut legacy_keys = Vec::new();
    let mut notes = Vec::new();
    let mut moved_to = |from: &str, to: String| {
        moved.push(Moved {
            from: from.to_owned(),
            to,
        })
    };
    let kind = match src.get("platform").and_then(Value::as_str).map(str::trim) {
        Some(t) if t.eq_ignore_ascii_case(d::PLATFORM_TYPE_IRC) => Some(d::PLATFORM_TYPE_IRC),
        Some(t) if t.eq_ignore_ascii_case(d::PLATFORM_TYPE_MATRIX) => Some(d::PLATFORM_TYPE_MATRIX),
        Some(t) if t.eq_ignore_ascii_case(d::PLATFORM_TYPE) => Some(d::PLATFORM_TYPE),
        _ => None,
    };
    if let Some(kind) = kind {
        platform.insert("type".into(), json!(kind));
    }
    let irc = kind == Some(d::PLATFORM_TYPE_IRC);

    for (key, value) in src {
        let k = key.as_str();
        if source::is_comment_key(k) {
            out.insert(key.clone(), value.clone());
        } else if k == "user" && value.is_string() {
            // v1 allowed a bare guest name; v2 spells a guest as [name].
            platform.insert(key.clone(), json!([value]));
            moved_to(k, "platforms[0].user".into());
            notes.push("user: a bare name became [name] (a guest login)".into());
        } else if PLATFORM_KEYS.contains(&k) {
            platform.insert(key.clone(), value.clone());
            moved_to(k, format!("platforms[0].{k}"));
        } else if k == "platform" && kind.is_some() {
            moved_to(k, "platforms[0].type".into());
        } else if k == "server" && (irc || !src.contains_key("domain")) {
            let to = if irc { "server" } else { "domain" };
            platform.insert(to.into(), value.clone());
            moved_to(k, format!("platforms[0].{to}"));
        } else if k == "log_level" {
            logging.insert("level".into(), value.clone());
            moved_to(k, "logging.level".into());
        } else if k == "chat_log_file" || k == "media_log_file" {
            logging.insert(key.clone(), value.clone());
            moved_to(k, format!("logging.{k}"));
        } else if k == "db" {
            database.insert("path".into(), value.clone());
            moved_to(k, "database.path".into());
        } else if k == "shell" {
            let enabled = match value {
                Value::Null | Value::Bool(false) => false,
                Value::String(s) => !s.trim().is_empty(),
                _ => true,
            };
            shell = Some(Map::from_iter([("enabled".to_owned(), json!(enabled))]));
            moved_to(k, "shell.enabled".into());
            if !value.is_null() {
                // The v1 shell was a telnet-style server at host:port; v2's is the PM shell,
                // so the address has no meaning any more, but it is kept.
                legacy.insert(key.clone(), value.clone());
                moved_to(k, "legacy.shell".into());
                notes.push(format!(
                    "shell: v1 opened a shell server at {}; v2's shell works by private message, so that address is kept under legacy.shell only",
                    describe(value)
                ));
            }
        } else if k == "llm" {
            out.insert(key.clone(), value.clone());
            moved_to(k, "llm".into());
        } else {
            legacy.insert(key.clone(), value.clone());
            legacy_keys.push(key.clone());
            moved_to(k, format!("legacy.{k}"));
        }
    }

    database.insert("run_as_service".into(), json!(d::DATABASE_RUN_AS_SERVICE));
    out.insert("version".into(), json!(d::VERSION));
    out.insert(
        "nats".into(),
        json!({
            "url": d::NATS_URL_EMBEDDED,
            "connection_timeout": d::NATS_CONNECTION_TIMEOUT_SECS as u64,
            "max_reconnect_attempts": d::NATS_MAX_RECONNECT_ATTEMPTS,
            "reconnect_delay": d::NATS_RECONNECT_DELAY_SECS as u64,
            "jetstream": d::NATS_JETSTREAM,
        }),
    );
    notes.push(
        "nats: added with url \"embedded\" (one process, no NATS server); set nats.url to use a NATS server".into(),
    );
    out.insert("database".into(), Value::Object(database));
    out.insert("platforms".into(), json!([platform]));
    if let Some(shell) = shell {
        out.insert("shell".into(), Value::Object(shell));
    }
    if !logging.is_empty() {
        out.insert("logging".into(), Value::Object(logging));
    }
    if !legacy.is_empty() {
        out.insert("legacy".into(), Value::Object(legacy));
    }
    Ok(MigrationOutcome {
        v2: Value::Object(out),
        moved,
        legacy_keys,
        notes,
    })
}

/// What `rosey config migrate` asked for.
#[derive(Debug, Clone, Default)]
pub struct MigrateOptions {
    /// Copy the original to `FILE.bak` (or `FILE.bak.N` if that is taken) first.
    pub backup: bool,
    /// Write here instead of replacing the input. The format follows its extension.
    pub output: Option<PathBuf>,
}

/// What a file migration did.
#[derive(Debug, Clone)]
pub enum MigrateReport {
    /// The file is already v2; nothing was written.
    AlreadyV2 {
        /// The file.
        path: PathBuf,
    },
    /// The file was migrated.
    Migrated {
        /// The mapping and what was kept under `legacy`.
        outcome: MigrationOutcome,
        /// The file written.
        written: PathBuf,
        /// The backup, if one was asked for.
        backup: Option<PathBuf>,
        /// Validation problems of the result (for example a v1 file that had no `domain`).
        /// The migration itself lost nothing; these need the operator's attention.
        problems: Vec<Problem>,
    },
}

/// Migrates a v1 file to v2 in place (or to `options.output`).
pub fn migrate_file(path: &Path, options: &MigrateOptions) -> Result<MigrateReport, MigrateError> {
    migrate_file_with(path, options, |_| Ok(()))
}

/// [`migrate_file`] with a hook run just before the final rename (tests interrupt there).
fn migrate_file_with(
    path: &Path,
    options: &MigrateOptions,
    before_rename: impl FnOnce(&Path) -> io::Result<()>,
) -> Result<MigrateReport, MigrateError> {
    let origin = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| MigrateError::Read {
        path: path.to_owned(),
        source,
    })?;
    let format = Format::from_path(path);
    let text = std::str::from_utf8(&bytes).map_err(|e| MigrateError::Syntax {
        origin: origin.clone(),
        error: SyntaxError {
            format,
            line: 0,
            column: 0,
            message: format!("not UTF-8 text (bad byte at offset {})", e.valid_up_to()),
        },
    })?;
    let value = source::parse_text(text, format).map_err(|error| MigrateError::Syntax {
        origin: origin.clone(),
        error,
    })?;
    let outcome = match migrate_value(&value, &origin) {
        Err(MigrateError::AlreadyV2 { .. }) => {
            return Ok(MigrateReport::AlreadyV2 {
                path: path.to_owned(),
            });
        }
        other => other?,
    };
    let out_format = options.output.as_deref().map_or(format, Format::from_path);
    let rendered = render(&outcome.v2, out_format);
    let mut check = outcome.v2.clone();
    source::strip_comments(&mut check);
    let problems = validate(&check);

    let backup = if options.backup {
        Some(write_backup(path, &bytes)?)
    } else {
        None
    };
    let target = match &options.output {
        Some(out) => out.clone(),
        // Replacing a symlink would turn it into a plain file; replace what it points at.
        None => std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned()),
    };
    write_atomic(&target, rendered.as_bytes(), Some(path), before_rename).map_err(|source| {
        MigrateError::Write {
            path: target.clone(),
            source,
        }
    })?;
    Ok(MigrateReport::Migrated {
        outcome,
        written: target,
        backup,
        problems,
    })
}

/// Most `FILE.bak.N` names tried before giving up.
const MAX_BACKUPS: u32 = 1000;

/// Writes `FILE.bak` holding exactly `bytes`. An existing `.bak` with the same bytes is
/// reused; one with different bytes is never overwritten (it may be the only copy of an
/// older file), the next free `FILE.bak.N` is used instead.
fn write_backup(path: &Path, bytes: &[u8]) -> Result<PathBuf, MigrateError> {
    let base = path.as_os_str().to_owned();
    for n in 0..MAX_BACKUPS {
        let mut name = base.clone();
        name.push(if n == 0 {
            ".bak".to_owned()
        } else {
            format!(".bak.{n}")
        });
        let candidate = PathBuf::from(name);
        match std::fs::read(&candidate) {
            Ok(existing) if existing == bytes => return Ok(candidate),
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                write_atomic(&candidate, bytes, Some(path), |_| Ok(())).map_err(|source| {
                    MigrateError::Write {
                        path: candidate.clone(),
                        source,
                    }
                })?;
                return Ok(candidate);
            }
            Err(source) => {
                return Err(MigrateError::Write {
                    path: candidate,
                    source,
                });
            }
        }
    }
    Err(MigrateError::Write {
        path: path.to_owned(),
        source: io::Error::other("every FILE.bak.N name is taken"),
    })
}

#[cfg(test)]
mod tests;
