//! The chat and media log files (`logging.chat_log_file`, `logging.media_log_file`): one
//! line per chat message / media change, stamped with the event's own time (UTC), so a
//! replayed or delayed event is logged when it happened, not when it was processed.

use std::{
    fs::{File, OpenOptions},
    io::Write,
    path::Path,
};

use crate::format::timestamp_seconds;

/// An append-only log file; write errors are reported once and then ignored (a full disk
/// must not stop the bot).
pub struct LogFile {
    file: File,
    failed: bool,
}

impl LogFile {
    /// Opens the configured log file, if any; a file that cannot be opened is logged and
    /// left off (the bot runs without it).
    pub fn open_or_warn(path: Option<&Path>) -> Option<LogFile> {
        let path = path?;
        match LogFile::open(path) {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "Cannot open log file; logging to it is off.");
                None
            }
        }
    }

    /// Opens (creating) `path` for appending.
    pub fn open(path: &Path) -> std::io::Result<LogFile> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(LogFile {
            file,
            failed: false,
        })
    }

    /// Appends `[YYYY-MM-DD HH:MM:SS] text`.
    pub fn line(&mut self, ts: f64, text: &str) {
        let line = format!(
            "[{}] {}\n",
            timestamp_seconds(ts as i64),
            text.replace('\n', " ")
        );
        if let Err(e) = self.file.write_all(line.as_bytes())
            && !self.failed
        {
            self.failed = true;
            tracing::warn!(error = %e, "Cannot write a log file line; further errors are not reported.");
        }
    }
}
