//! The processes under test: the database service (the lean `rosey-db` when it sits beside
//! `rosey`, else `rosey db-service`), `rosey bot` and the echo responder run as
//! separate processes (so memory and CPU are theirs alone), with their logs in files. This
//! module spawns them, reads their resident set and CPU time from `/proc` (Linux), and stops
//! them with SIGTERM, checking the exit status.
//!
//! It does not decide what to measure; the suite modules do.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::error::BenchError;

/// Clock ticks per second of the CPU times in `/proc/<pid>/stat`. Linux reports them in
/// `USER_HZ`, which its user-space ABI fixes at 100 whatever the kernel's internal `HZ`.
pub const USER_HZ: f64 = 100.0;

/// How much of a child's log an error quotes.
const LOG_TAIL_BYTES: usize = 2000;

/// Memory and CPU of a process at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcSample {
    /// Resident set (VmRSS), KiB.
    pub rss_kib: u64,
    /// Peak resident set so far (VmHWM), KiB.
    pub hwm_kib: u64,
    /// User + system CPU time so far, seconds.
    pub cpu_s: f64,
}

/// Reads `/proc/<pid>/status` and `/proc/<pid>/stat`; `None` when the process is gone.
pub fn sample(pid: u32) -> Option<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (rss_kib, hwm_kib) = parse_status(&status)?;
    let ticks = parse_stat_cpu_ticks(&stat)?;
    Some(ProcSample {
        rss_kib,
        hwm_kib,
        cpu_s: ticks as f64 / USER_HZ,
    })
}

/// (VmRSS, VmHWM) in KiB from the text of `/proc/<pid>/status`.
pub fn parse_status(text: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// utime + stime (fields 14 and 15) from the text of `/proc/<pid>/stat`. The command name
/// (field 2) is in parentheses and may contain spaces, so fields are counted after the last
/// `)`: there, field 3 (state) is the first.
pub fn parse_stat_cpu_ticks(text: &str) -> Option<u64> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The lean database-service binary's file name.
pub const LEAN_DB_BINARY: &str = "rosey-db";

/// What runs the database service: `rosey-db` when it sits beside `rosey` (as the package's
/// build and the image put it), else `rosey db-service`. The program, the arguments before
/// the service's flags, and its name for the report.
pub fn db_service_program(rosey: &Path) -> (PathBuf, &'static [&'static str], &'static str) {
    let lean = rosey.with_file_name(LEAN_DB_BINARY);
    if lean.is_file() {
        (lean, &[], LEAN_DB_BINARY)
    } else {
        (rosey.to_path_buf(), &["db-service"], "rosey db-service")
    }
}

/// A child process under test. Killed (SIGKILL) when dropped while still running.
pub struct Child {
    what: String,
    child: Option<std::process::Child>,
    log: PathBuf,
    /// When it was spawned.
    pub started: Instant,
}

impl Child {
    /// Spawns `program args…` in `cwd` with stdout and stderr going to `log`.
    pub fn spawn(
        what: &str,
        program: &Path,
        args: &[&std::ffi::OsStr],
        cwd: &Path,
        log: PathBuf,
        env: &[(&str, String)],
    ) -> Result<Child, BenchError> {
        let spawn_err = |source| BenchError::Spawn {
            what: what.to_string(),
            program: program.to_path_buf(),
            source,
        };
        let out = File::create(&log).map_err(spawn_err)?;
        let err = out.try_clone().map_err(spawn_err)?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // The children must not inherit a RUST_LOG meant for the suite itself.
            .env_remove("RUST_LOG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let child = cmd.spawn().map_err(spawn_err)?;
        Ok(Child {
            what: what.to_string(),
            child: Some(child),
            log,
            started,
        })
    }

    /// Spawns the database service with its `flags` (see [`db_service_program`]); the
    /// child's [`Child::what`] names the binary.
    pub fn spawn_db_service(
        rosey: &Path,
        flags: &[&std::ffi::OsStr],
        cwd: &Path,
        log: PathBuf,
        env: &[(&str, String)],
    ) -> Result<Child, BenchError> {
        let (program, lead, name) = db_service_program(rosey);
        let mut args: Vec<&std::ffi::OsStr> = lead.iter().map(std::ffi::OsStr::new).collect();
        args.extend_from_slice(flags);
        Child::spawn(name, &program, &args, cwd, log, env)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// What this child is, for messages.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// An error unless the process is still running (with the end of its log when not).
    pub fn check_alive(&mut self) -> Result<(), BenchError> {
        let Some(child) = self.child.as_mut() else {
            return Err(self.exited("stopped".to_string()));
        };
        match child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(self.exited(status.to_string())),
        }
    }

    /// Memory and CPU now; an error when the process is gone.
    pub fn sample(&mut self) -> Result<ProcSample, BenchError> {
        self.check_alive()?;
        sample(self.pid()).ok_or_else(|| self.exited("gone from /proc".to_string()))
    }

    /// SIGTERM, then waits up to `timeout` for the exit. Returns how long the stop took and
    /// the exit status; after `timeout` the process is killed and that is an error.
    pub async fn terminate(
        &mut self,
        timeout: Duration,
    ) -> Result<(Duration, ExitStatus), BenchError> {
        let Some(mut child) = self.child.take() else {
            return Err(self.exited("already stopped".to_string()));
        };
        let t = Instant::now();
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok((t.elapsed(), status));
            }
            if t.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                return Err(BenchError::NotReady {
                    what: format!("{} to stop after SIGTERM", self.what),
                    seconds: timeout.as_secs_f64(),
                    detail: self.log_tail(),
                });
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// The last lines of the child's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read(&self.log).unwrap_or_default();
        let from = text.len().saturating_sub(LOG_TAIL_BYTES);
        String::from_utf8_lossy(&text[from..]).into_owned()
    }

    fn exited(&self, status: String) -> BenchError {
        BenchError::Exited {
            what: self.what.clone(),
            status,
            log: self.log_tail(),
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Exit status as the report shows it.
pub fn exit_text(status: &ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit {code}"),
        None => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_stat() {
        let status = "Name:\trosey\nVmHWM:\t   51200 kB\nVmRSS:\t   12288 kB\nThreads:\t4\n";
        assert_eq!(parse_status(status), Some((12288, 51200)));
        assert_eq!(parse_status("Name:\tx\n"), None);
        // A command name with spaces and parentheses must not shift the fields.
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 1 2 3";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(300));
        assert_eq!(parse_stat_cpu_ticks("42 (x) S 1"), None);
    }

    #[test]
    fn samples_this_process() {
        let s = sample(std::process::id()).expect("our own /proc entry");
        assert!(s.rss_kib > 0 && s.hwm_kib >= s.rss_kib);
        assert!(s.cpu_s >= 0.0);
    }
}
