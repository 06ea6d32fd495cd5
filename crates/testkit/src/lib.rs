//! Test support shared by the integration tests of every crate: a real `nats-server` on a
//! free loopback port with its own temporary JetStream directory, which the test can stop
//! and restart (fault tests) and which is killed when dropped.
//!
//! Never use the shared server on 4222 in tests: each test gets its own.
//!
//! # Layout
//! - [`NatsServer`] (here): the per-test `nats-server`.
//! - [`pg`]: a per-test PostgreSQL database, [`pg::PgTestDb`].
//! - [`v05`]: the Rosey v0.5 fixture database.

pub mod pg;
pub mod v05;

use std::{
    io::{BufRead, BufReader},
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

/// How long a server may take to say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// Where to look for the binary when it is not on PATH (Debian's package installs it here).
const FALLBACK_PATHS: [&str; 2] = ["/usr/sbin/nats-server", "/usr/local/bin/nats-server"];

/// A running (or stopped) `nats-server` owned by a test.
pub struct NatsServer {
    binary: PathBuf,
    port: u16,
    store: tempfile::TempDir,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts a server with JetStream enabled on a free port. Panics with install
    /// instructions when the binary is missing (a test cannot do anything useful then).
    pub fn start() -> NatsServer {
        let binary = find_binary().unwrap_or_else(|| {
            panic!(
                "nats-server not found on PATH or at {FALLBACK_PATHS:?}. Install it with \
                 `apt-get install -y nats-server` (Debian/Ubuntu) or from https://nats.io, \
                 then run the tests again."
            )
        });
        let port = free_port();
        let store = tempfile::tempdir().expect("create a temporary JetStream directory");
        let mut server = NatsServer {
            binary,
            port,
            store,
            child: None,
        };
        server.spawn();
        server
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The port the server listens on (kept across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Is the server process running?
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Stops the server gracefully-but-quickly (SIGTERM, then SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let (tx, rx) = mpsc::channel();
            let waiter = std::thread::spawn(move || {
                let _ = child.wait();
                let _ = tx.send(());
            });
            if rx.recv_timeout(Duration::from_secs(5)).is_err() {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
            let _ = waiter.join();
        }
    }

    /// Kills the server with SIGKILL (a crash, for fault tests).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port with the same JetStream directory.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Starts a stopped server again (no-op when running).
    pub fn start_again(&mut self) {
        if self.child.is_none() {
            self.spawn();
        }
    }

    fn spawn(&mut self) {
        let mut child = Command::new(&self.binary)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.store.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        // nats-server logs to stderr and prints "Server is ready" once it accepts clients:
        // wait for that line instead of sleeping.
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel::<Result<(), String>>();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            let mut seen = Vec::new();
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(t) = tx.as_ref() {
                    if line.contains("Server is ready") {
                        let _ = t.send(Ok(()));
                        tx = None;
                    } else {
                        seen.push(line);
                    }
                }
            }
            if let Some(t) = tx {
                let _ = t.send(Err(seen.join("\n")));
            }
        });
        match rx.recv_timeout(READY_TIMEOUT) {
            Ok(Ok(())) => self.child = Some(child),
            Ok(Err(log)) => {
                let _ = child.kill();
                panic!("nats-server exited before it was ready:\n{log}");
            }
            Err(_) => {
                let _ = child.kill();
                panic!("nats-server not ready after {READY_TIMEOUT:?}");
            }
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Finds `nats-server` on PATH or at the Debian location.
pub fn find_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("nats-server");
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    FALLBACK_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral loopback port")
}
