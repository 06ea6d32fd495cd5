//! The client's saved state: the sync position (`next_batch`) and the rooms known to be
//! direct-message rooms, in a small JSON file written atomically (temporary file, then
//! rename) after each sync's events were handed to the application. A restart resumes from
//! there, so nothing is replayed as new.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What is kept across restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    /// The `next_batch` of the last sync whose events were handed out.
    pub next_batch: Option<String>,
    /// Rooms we accepted as direct-message rooms (an invite's `is_direct` is not visible
    /// in the room's state after the join).
    #[serde(default)]
    pub direct_rooms: Vec<String>,
}

/// A state file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PositionError {
    #[error("cannot read the state file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the state file {path} is not valid: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write the state file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Reads the state file; a missing file is an empty state.
pub fn load(path: &Path) -> Result<Saved, PositionError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| PositionError::Parse {
            path: path.to_path_buf(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Saved::default()),
        Err(source) => Err(PositionError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes the state file atomically.
pub fn save(path: &Path, saved: &Saved) -> Result<(), PositionError> {
    let err = |source| PositionError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let text = serde_json::to_vec_pretty(saved).expect("the state serializes");
    std::fs::write(&tmp, text).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("matrix.json");
        assert_eq!(load(&path).unwrap(), Saved::default());
        let s = Saved {
            next_batch: Some("s72_1".into()),
            direct_rooms: vec!["!dm:localhost".into()],
        };
        save(&path, &s).unwrap();
        assert_eq!(load(&path).unwrap(), s);
        std::fs::write(&path, "{not json").unwrap();
        assert!(matches!(load(&path), Err(PositionError::Parse { .. })));
    }
}
