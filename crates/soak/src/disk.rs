//! The database directory on a small file system of its own (a tmpfs, mounted when this
//! process is root), so the "disk full" fault can fill it to ENOSPC and free it again
//! without touching anything else. Unmounted when dropped (the soak drops it on every way
//! out, an interrupt included).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The file that fills the disk.
const FILLER: &str = "filler";

pub struct Disk {
    dir: PathBuf,
}

impl Disk {
    /// Mounts a tmpfs of `size` (`512m`) at `dir`; `None` (the fault is left out) when not
    /// root or the mount fails.
    pub fn mount(dir: &Path, size: &str) -> Option<Disk> {
        std::fs::create_dir_all(dir).ok()?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { nix::libc::geteuid() } != 0 {
            return None;
        }
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Disk {
            dir: dir.to_path_buf(),
        })
    }

    /// Writes a file until the file system is full (ENOSPC); returns the bytes written.
    pub fn fill(&self) -> std::io::Result<u64> {
        tokio::task::block_in_place(|| {
            let mut f = std::fs::File::create(self.dir.join(FILLER))?;
            let chunk = vec![0u8; 1 << 20];
            let mut written = 0u64;
            loop {
                match f.write(&chunk) {
                    Ok(0) => return Ok(written),
                    Ok(n) => written += n as u64,
                    Err(e) if e.raw_os_error() == Some(nix::libc::ENOSPC) => return Ok(written),
                    Err(e) => return Err(e),
                }
            }
        })
    }

    /// Frees what [`Disk::fill`] took.
    pub fn free(&self) {
        let _ = std::fs::remove_file(self.dir.join(FILLER));
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        self.free();
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .stderr(Stdio::null())
            .status();
    }
}
