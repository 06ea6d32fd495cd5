//! Logging set-up shared by every long-running command: `tracing` to stderr, or to a rotated
//! file when the configuration's `logging.file` names one; text or JSON lines
//! (`logging.format`).
//!
//! Rotation is `file-rotate`'s: daily or by size, keeping a number of old files.
//! (`tracing-appender`'s rolling files rotate by time only, with no size limit.) Lines are
//! written synchronously through a mutex, so nothing is lost when the process exits.
//!
//! Which filter applies, first match wins (SPEC §1):
//! 1. `--log-level` (a level or a full filter);
//! 2. `RUST_LOG`, as a full `tracing` filter (e.g. `rosey_cytube=debug,info`);
//! 3. `ROSEY_LOG_LEVEL`;
//! 4. the configuration's `logging.level` (or the command's own default).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The environment variable holding a full filter.
const RUST_LOG: &str = "RUST_LOG";
/// Rosey's own level variable (also read by the config loader as `logging.level`).
const ROSEY_LOG_LEVEL: &str = rosey_config::env::LOG_LEVEL_VAR;

/// Libraries that log whole websocket/socket.io frames at TRACE — a CyTube `login` frame
/// holds the account password — are capped at DEBUG whatever the filter says, so no level
/// ever writes a secret (tested by `tests/secrets.rs`).
const FRAME_LOGGER_CAPS: &str =
    "tungstenite=debug,tokio_tungstenite=debug,engineioxide=debug,socketioxide=debug";

/// The filter text that applies, and where it came from (for a bad-filter message).
fn choose(flag: Option<&str>, configured: &str) -> (String, &'static str) {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if let Some(f) = flag {
        return (f.to_string(), "--log-level");
    }
    if let Some(f) = env(RUST_LOG) {
        return (f, RUST_LOG);
    }
    if let Some(f) = env(ROSEY_LOG_LEVEL) {
        return (f, ROSEY_LOG_LEVEL);
    }
    (configured.to_string(), "the configuration")
}

/// Installs the global subscriber, logging to stderr. `configured` is the level from the
/// configuration (or the command's default). Safe to call once per process.
pub fn init(flag: Option<&str>, configured: &str, json: bool) {
    install(flag, configured, json, None);
}

/// [`init`] with the configuration's `logging` section: its level and format, and its
/// `file` when set (then the log goes there instead of stderr, which gets one line saying
/// so).
pub fn init_with(flag: Option<&str>, logging: &rosey_config::LoggingConfig) -> anyhow::Result<()> {
    let json = logging.format == rosey_config::LogFormat::Json;
    let level = logging.level.to_string();
    let file = logging.file.as_ref().map(open_file).transpose()?;
    if let Some(f) = &logging.file {
        eprintln!("rosey: logging to {}", f.path.display());
    }
    install(flag, &level, json, file);
    Ok(())
}

type FileWriter = std::sync::Mutex<Box<dyn std::io::Write + Send>>;

/// The rotating writer for `logging.file`. The directory is created and the file opened
/// here first, so a path Rosey cannot write is a clear error rather than a panic inside the
/// rotation crate.
fn open_file(cfg: &rosey_config::LogFileConfig) -> anyhow::Result<FileWriter> {
    use anyhow::Context as _;
    use file_rotate::{
        ContentLimit, FileRotate, TimeFrequency,
        compression::Compression,
        suffix::{AppendCount, AppendTimestamp, FileLimit},
    };
    let path = std::path::absolute(&cfg.path)
        .with_context(|| format!("logging.file.path {}", cfg.path.display()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the log directory {}", dir.display()))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open the log file {}", path.display()))?;
    let max_bytes = usize::try_from(cfg.max_bytes).unwrap_or(usize::MAX).max(1);
    let writer: Box<dyn std::io::Write + Send> = match cfg.rotate {
        rosey_config::LogRotate::Daily => Box::new(FileRotate::new(
            &path,
            AppendTimestamp::default(FileLimit::MaxFiles(cfg.keep)),
            ContentLimit::Time(TimeFrequency::Daily),
            Compression::None,
            None,
        )),
        rosey_config::LogRotate::Size => Box::new(FileRotate::new(
            &path,
            AppendCount::new(cfg.keep),
            ContentLimit::BytesSurpassed(max_bytes),
            Compression::None,
            None,
        )),
        rosey_config::LogRotate::Never => Box::new(FileRotate::new(
            &path,
            AppendCount::new(cfg.keep),
            ContentLimit::None,
            Compression::None,
            None,
        )),
    };
    Ok(std::sync::Mutex::new(writer))
}

fn install(flag: Option<&str>, configured: &str, json: bool, file: Option<FileWriter>) {
    let (text, source) = choose(flag, configured);
    let parse = |t: &str| EnvFilter::builder().parse(t);
    let mut filter = parse(&text).unwrap_or_else(|e| {
        eprintln!("rosey: ignoring the log filter `{text}` from {source} ({e}); using `info`");
        EnvFilter::new("info")
    });
    // The caps only matter where TRACE is on; added elsewhere they would *raise* those
    // libraries to DEBUG.
    let trace_on = filter
        .max_level_hint()
        .is_none_or(|max| max >= tracing::level_filters::LevelFilter::TRACE);
    if trace_on && let Ok(capped) = parse(&format!("{text},{FRAME_LOGGER_CAPS}")) {
        filter = capped;
    }
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match (file, json) {
        (Some(file), true) => builder.json().with_writer(file).try_init(),
        (Some(file), false) => builder.with_ansi(false).with_writer(file).try_init(),
        // Colours only on a terminal: a pipe, a file or journald gets plain text.
        (None, true) => builder.json().with_writer(std::io::stderr).try_init(),
        (None, false) => builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .try_init(),
    };
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use rosey_config::{LogFileConfig, LogRotate};

    use super::open_file;

    #[test]
    fn size_rotation_keeps_the_configured_number_of_old_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/rosey.log");
        let cfg = LogFileConfig {
            path: path.clone(),
            rotate: LogRotate::Size,
            max_bytes: 100,
            keep: 2,
        };
        let file = open_file(&cfg).unwrap();
        let mut w = file.lock().unwrap();
        // One write per line, as the subscriber writes each formatted event.
        for i in 0..6 {
            let line = format!("{i}: {}\n", "x".repeat(120));
            w.write_all(line.as_bytes()).unwrap();
        }
        w.flush().unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join("logs"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["rosey.log", "rosey.log.1", "rosey.log.2"]);
        // Each line passed the limit: the current file has the last, `.1` the one before.
        let read = |name: &str| std::fs::read_to_string(dir.path().join("logs").join(name));
        assert!(read("rosey.log").unwrap().starts_with("5: "));
        assert!(read("rosey.log.1").unwrap().starts_with("4: "));
    }

    #[test]
    fn a_log_file_that_cannot_be_written_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("not-a-dir");
        std::fs::write(&blocker, "").unwrap();
        let cfg = LogFileConfig {
            path: blocker.join("rosey.log"),
            rotate: LogRotate::Daily,
            max_bytes: 1,
            keep: 1,
        };
        let err = open_file(&cfg).err().expect("refused").to_string();
        assert!(err.contains("cannot create the log directory"), "{err}");
    }
}
