//! The soak's own PostgreSQL server (`--postgres`): `initdb` and `pg_ctl` from
//! `/usr/lib/postgresql/<newest>/bin`, a data directory of its own in a temporary
//! directory, a free loopback port, trust authentication. So the "PostgreSQL restarted"
//! fault never touches the shared server other tests use. As root it runs as the
//! `postgres` user (`initdb` refuses root). Stopped (immediate) when dropped, and removed.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::SoakError;

/// The database role and database the services use.
const ROLE: &str = "rosey";

pub struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// (uid, gid) to run the server as, when this process is root.
    user: Option<(u32, u32)>,
    pub restarts: u32,
}

fn fail(what: &str, e: impl std::fmt::Display) -> SoakError {
    SoakError::Setup(format!("PostgreSQL: {what}: {e}"))
}

/// The newest `/usr/lib/postgresql/<version>/bin` that has `initdb`.
fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b)
}

/// (uid, gid) of `name` from `/etc/passwd`.
fn user_ids(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 3 && f[0] == name).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

impl Postgres {
    /// Makes a cluster and starts it (blocking: a few seconds).
    pub fn start() -> Result<Postgres, SoakError> {
        let bin = bin_dir().ok_or_else(|| {
            fail(
                "no /usr/lib/postgresql/*/bin/initdb",
                "install it (`apt-get install -y postgresql`)",
            )
        })?;
        let dir = tempfile::Builder::new()
            .prefix("rosey-soak-pg")
            .tempdir()
            .map_err(|e| fail("temporary directory", e))?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { nix::libc::geteuid() } == 0;
        let user = if root {
            let ids = user_ids("postgres").ok_or_else(|| {
                fail(
                    "running as root, and there is no `postgres` user to run the server as",
                    "initdb refuses root",
                )
            })?;
            std::os::unix::fs::chown(dir.path(), Some(ids.0), Some(ids.1))
                .map_err(|e| fail("chown the data directory", e))?;
            Some(ids)
        } else {
            None
        };
        let pg = Postgres {
            bin,
            port: rosey_testkit::free_port(),
            dir,
            user,
            restarts: 0,
        };
        let data = pg.data();
        pg.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                ROLE,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        pg.start_server()?;
        Ok(pg)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").to_string_lossy().into_owned()
    }

    /// Runs one of the server's programs as its user; an error quotes its output.
    fn run(&self, program: &str, args: &[&str]) -> Result<(), SoakError> {
        let mut cmd = Command::new(self.bin.join(program));
        cmd.args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        if let Some((uid, gid)) = self.user {
            cmd.uid(uid).gid(gid);
        }
        let out = tokio::task::block_in_place(|| cmd.output())
            .map_err(|e| fail(&format!("run {program}"), e))?;
        if !out.status.success() {
            return Err(fail(
                &format!("{program} {}", out.status),
                String::from_utf8_lossy(&out.stderr).trim(),
            ));
        }
        Ok(())
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start_server(&self) -> Result<(), SoakError> {
        let data = self.data();
        let log = self
            .dir
            .path()
            .join(format!("postgres.{}.log", self.restarts));
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                &data,
                "-l",
                &log.to_string_lossy(),
                "-o",
                &opts,
                "-w",
                "-t",
                "90",
                "start",
            ],
        )
    }

    /// Stops the server at once (as a crash would: recovery on the next start).
    pub fn stop_immediate(&self) -> Result<(), SoakError> {
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        )
    }

    /// The URL of the database the services use.
    pub fn url(&self) -> String {
        format!("postgres://{ROLE}@127.0.0.1:{}/postgres", self.port)
    }

    /// The postmaster's pid (first line of `postmaster.pid`), while it runs.
    pub fn pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(Path::new(&self.data()).join("postmaster.pid")).ok()?;
        let pid: u32 = text.lines().next()?.trim().parse().ok()?;
        Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.pid().is_some() {
            let mut cmd = Command::new(self.bin.join("pg_ctl"));
            cmd.args(["-D", &self.data(), "-m", "immediate", "-w", "stop"])
                .current_dir(self.dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if let Some((uid, gid)) = self.user {
                cmd.uid(uid).gid(gid);
            }
            let _ = cmd.status();
        }
    }
}
