//! The error a configuration load returns: unreadable file, syntax error, a v1 file, or a
//! list of validation problems. Every variant displays as a message an operator can act
//! on without a backtrace.

use std::{fmt::Write as _, io, path::PathBuf};

use crate::{
    source::{SyntaxError, migrate_hint},
    validate::Problem,
};

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The text is not valid JSON/YAML.
    #[error("{origin}: {error}")]
    Syntax {
        /// The file name, or `<config>` for text.
        origin: String,
        /// Where and what.
        error: SyntaxError,
    },
    /// A legacy flat file: it needs `rosey config migrate`.
    #[error("{origin} is a v1 (legacy) configuration; {}", migrate_hint(origin))]
    LegacyV1 {
        /// The file name, or `<config>` for text.
        origin: String,
    },
    /// Parsed, but breaks one or more rules.
    #[error("{}", invalid_message(origin, problems))]
    Invalid {
        /// The file name, or `<config>` for text.
        origin: String,
        /// Every problem, in file order.
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// The validation problems (empty for the other kinds of error).
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

/// A header line, then one problem per line.
fn invalid_message(origin: &str, problems: &[Problem]) -> String {
    let count = problems.len();
    let mut out = format!(
        "{origin}: {count} problem{}",
        if count == 1 { "" } else { "s" }
    );
    for p in problems {
        let _ = write!(out, "\n  {p}");
    }
    out
}
