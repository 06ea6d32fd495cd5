//! Replacing a file so that it is never lost or half-written: write a temporary file in
//! the same directory, flush it to disk, then rename it over the target (a rename within
//! one directory is atomic on POSIX file systems and on NTFS).

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
};

/// How many temporary names to try before giving up (another writer could hold one).
const TEMP_ATTEMPTS: u32 = 100;

/// Writes `bytes` to `target` atomically. The new file gets the permissions of
/// `permissions_from` (the file it replaces: a config with passwords is often 0600) before
/// any byte is written. `before_rename` runs when the temporary file is complete, just
/// before the rename; tests use it to interrupt the write at the worst moment.
pub(crate) fn write_atomic(
    target: &Path,
    bytes: &[u8],
    permissions_from: Option<&Path>,
    before_rename: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<()> {
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    let (tmp, mut file) = create_temp(dir, &name.to_string_lossy())?;
    let result = (|| {
        if let Some(meta) = permissions_from.and_then(|p| fs::metadata(p).ok()) {
            file.set_permissions(meta.permissions())?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        before_rename(&tmp)?;
        fs::rename(&tmp, target)?;
        sync_dir(dir);
        Ok(())
    })();
    if result.is_err() {
        // Best effort: the temporary file is ours and useless now.
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn create_temp(dir: &Path, name: &str) -> io::Result<(PathBuf, File)> {
    let pid = std::process::id();
    let mut last_err = None;
    for n in 0..TEMP_ATTEMPTS {
        let tmp = dir.join(format!(".{name}.rosey-tmp-{pid}-{n}"));
        // `create_new` so that we never write through someone else's file or symlink.
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("no free temporary file name")))
}

/// Makes the rename itself durable. Not every platform can open a directory, and the data
/// is already safe in either name, so failure here is ignored.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("c.json");
        fs::write(&target, "old").unwrap();
        write_atomic(&target, b"new", Some(&target), |_| Ok(())).unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn failure_before_rename_keeps_the_original_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("c.json");
        fs::write(&target, "old").unwrap();
        let err = write_atomic(&target, b"new", None, |tmp| {
            assert_eq!(fs::read(tmp).unwrap(), b"new");
            Err(io::Error::new(io::ErrorKind::Interrupted, "power cut"))
        })
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
        assert_eq!(fs::read_to_string(&target).unwrap(), "old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn keeps_the_permissions_of_the_file_it_replaces() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("c.json");
        fs::write(&target, "old").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&target, b"new", Some(&target), |_| Ok(())).unwrap();
        let mode = fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
