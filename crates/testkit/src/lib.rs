//! Test support shared by the integration tests of every crate: a real `nats-server` on a
//! free loopback port with its own temporary JetStream directory, which the test can stop
//! and restart (fault tests) and which is killed when dropped.
//!
//! Never use the shared server on 4222 in tests: each test gets its own.
//!
//! Also: [`create_v05_database`], a database file exactly as Rosey v0.5 left it, for the
//! adoption, copy and upgrade tests.
//!
//! # Layout
//! - [`NatsServer`] (here): the per-test `nats-server`; [`create_v05_database`].
//! - [`pg`]: a per-test PostgreSQL database, [`pg::PgTestDb`].
//! - [`cluster`]: a three-node `nats-server` cluster with routes and JetStream on every node,
//!   each node killable and restartable, [`NatsCluster`].
//! - [`ircd`]: a per-test IRC server (InspIRCd), [`ircd::IrcServer`], a raw second client
//!   and a live view of a channel's members, [`ircd::ChannelWatch`].
//! - [`services`]: that server linked to IRC services (Atheme: NickServ accounts, SASL),
//!   [`services::ServicesNetwork`].
//! - [`synapse`]: a per-test Matrix homeserver (Synapse), [`synapse::Synapse`], and a
//!   plain-HTTP second client, [`synapse::Peer`].
//! - [`tools`]: whether an outside tool a test needs is here, decided when the test runs
//!   (skipped with the reason locally, a failure under `CI=true`).
//! - [`bus_db`]: what a bot test starts on every platform: `nats-server`, a bus and the
//!   database service ([`bus_db::BusDb`]), requests to it, waiting for stored lines.
//! - [`cytube`]: the bot's tests' set-up around the devserver: the bot's login, a quickly
//!   reconnecting client, a user that joins, and [`cytube::Services`]: [`bus_db::BusDb`]
//!   with the devserver.
//! - [`leases`]: for the tests of bots sharing channels through leases, a [`leases::Sampler`]
//!   of bots per channel as the servers see them.
//! - [`media`]: the media history's expected totals, counted in plain Rust from a list of
//!   plays.
//! - [`service`]: waiting for a `rosey db-service` process until it answers.
//! - [`wait`]: [`eventually`], re-checking a condition until it holds, with a deadline.
//! - [`browser`]: the dashboard's browser scripts (chromium through playwright-core).

pub mod browser;
pub mod bus_db;
pub mod cluster;
pub mod cytube;
pub mod ircd;
pub mod leases;
pub mod media;
pub mod pg;
pub mod service;
pub mod services;
pub mod synapse;
pub mod tools;
pub mod wait;

pub use cluster::NatsCluster;
pub use wait::{eventually, eventually_with};

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
    /// A configuration file (authorization, TLS, accounts), when the test gave one.
    config: Option<PathBuf>,
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
            config: None,
            child: None,
        };
        server.spawn();
        server
    }

    /// Starts a server like [`NatsServer::start`] with `config` (nats-server configuration
    /// text: `authorization {…}`, `tls {…}`, `accounts {…}`) written to a file in its
    /// temporary directory. Address, port and JetStream directory still come from the flags.
    pub fn start_with_config(config: &str) -> NatsServer {
        let binary = find_binary().expect("nats-server is installed (see NatsServer::start)");
        let store = tempfile::tempdir().expect("create a temporary JetStream directory");
        let file = store.path().join("nats-server.conf");
        std::fs::write(&file, config).expect("write the nats-server configuration");
        let mut server = NatsServer {
            binary,
            port: free_port(),
            config: Some(file),
            store,
            child: None,
        };
        server.spawn();
        server
    }

    /// The server's temporary directory (its JetStream store and configuration file live
    /// here; tests may put certificates and credentials beside them).
    pub fn dir(&self) -> &std::path::Path {
        self.store.path()
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
        if let Some(child) = self.child.take() {
            terminate(child);
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
        let mut cmd = Command::new(&self.binary);
        if let Some(config) = &self.config {
            cmd.arg("-c").arg(config);
        }
        cmd.args([
            "-a",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-js",
            "-sd",
        ])
        .arg(self.store.path());
        self.child = Some(spawn_ready(&mut cmd));
    }
}

/// SIGTERM, then SIGKILL if the process has not exited within 5 s; waits for it.
pub(crate) fn terminate(mut child: Child) {
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

/// Runs a `nats-server` command and waits until it says it is ready. nats-server logs to
/// stderr and prints "Server is ready" once it accepts clients: wait for that line instead
/// of sleeping. Panics with the server's log when it exits first or takes too long.
pub(crate) fn spawn_ready(cmd: &mut Command) -> Child {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
    let stderr = child.stderr.take().expect("piped stderr");
    wait_for_line(child, stderr, "Server is ready", "nats-server")
}

/// Waits (at most [`READY_TIMEOUT`]) until `output` of the just-spawned `child` prints a
/// line containing `marker`, and keeps draining it afterwards so the child never blocks on
/// a full pipe. Kills the child and panics with what it printed when it exits first or
/// takes too long; `what` names it in the message.
pub(crate) fn wait_for_line(
    mut child: Child,
    output: impl std::io::Read + Send + 'static,
    marker: &'static str,
    what: &str,
) -> Child {
    let (tx, rx) = mpsc::channel::<Result<(), String>>();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        let mut seen = Vec::new();
        for line in BufReader::new(output).lines() {
            let Ok(line) = line else { break };
            if let Some(t) = tx.as_ref() {
                if line.contains(marker) {
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
        Ok(Ok(())) => child,
        Ok(Err(log)) => {
            let _ = child.kill();
            panic!("{what} exited before it was ready:\n{log}");
        }
        Err(_) => {
            let _ = child.kill();
            panic!("{what} not ready after {READY_TIMEOUT:?}");
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

/// Builds a database exactly as Rosey v0.5 did (its schema, no version table), with rows in
/// every table: users `alice` (42 lines, 3600 s) and `bob` (7 lines, session open since 290),
/// peaks 12/20, two recent lines, one queued and one sent outbound message, one API token.
pub fn create_v05_database(path: &std::path::Path) {
    let c = rusqlite::Connection::open(path).expect("create the v0.5 database");
    c.execute_batch(rosey_store::schema::V05_SCHEMA)
        .expect("v0.5 schema");
    c.execute_batch(
        "INSERT OR IGNORE INTO channel_stats (id, max_users, last_updated) VALUES (1, 0, 1);
         INSERT OR IGNORE INTO current_status (id, last_updated) VALUES (1, 1);
         INSERT INTO user_stats VALUES ('alice', 100, 200, 42, 3600, NULL);
         INSERT INTO user_stats VALUES ('bob', 110, 300, 7, 60, 290);
         INSERT INTO user_actions (timestamp, username, action_type, details)
             VALUES (150, 'mod', 'pm_command', 'cmd=help, args: , result: success');
         UPDATE channel_stats SET max_users = 12, max_users_timestamp = 170,
             max_connected = 20, max_connected_timestamp = 171 WHERE id = 1;
         INSERT INTO user_count_history (timestamp, chat_users, connected_users) VALUES (180, 3, 5);
         INSERT INTO recent_chat (timestamp, username, message) VALUES (190, 'alice', 'hello');
         INSERT INTO recent_chat (timestamp, username, message) VALUES (191, 'bob', 'hi alice');
         UPDATE current_status SET bot_name = 'Rosey', bot_rank = 3.0, current_chat_users = 2,
             current_connected_users = 4 WHERE id = 1;
         INSERT INTO outbound_messages (timestamp, message, sent, retry_count)
             VALUES (195, 'queued line', 0, 0);
         INSERT INTO outbound_messages (timestamp, message, sent, sent_timestamp)
             VALUES (196, 'sent line', 1, 197);
         INSERT INTO api_tokens (token, description, created_at) VALUES ('tok', 'dash', 10);",
    )
    .expect("v0.5 rows");
}

/// Asserts that the SQLite store at `path` holds one committed prefix of a numbered chat
/// burst — `user`'s lines "0", "1", … "k-1" in order in `recent_chat`, and a chat counter
/// that agrees — and returns `k`. For backup tests.
pub fn assert_numbered_chat_prefix(path: &std::path::Path, user: &str) -> u64 {
    let c = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open the store read-only");
    let mut stmt = c
        .prepare("SELECT message FROM recent_chat WHERE username = ?1 ORDER BY id")
        .unwrap();
    let lines: Vec<u64> = stmt
        .query_map([user], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|m| m.unwrap().parse().expect("a numbered line"))
        .collect();
    let k = lines.len() as u64;
    assert_eq!(lines, (0..k).collect::<Vec<_>>(), "lines 0..{k} in order");
    let total: i64 = c
        .query_row(
            "SELECT total_chat_lines FROM user_stats WHERE username = ?1",
            [user],
            |r| r.get(0),
        )
        .unwrap_or(0);
    assert_eq!(total as u64, k, "the chat counter agrees with the lines");
    k
}

/// The repository's root folder (for tests that check files kept in the repository).
pub fn repo_root() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// The text of the repository file at `rel` (relative to [`repo_root`]); fails the test with
/// the path when it cannot be read.
pub fn read_repo_file(rel: &str) -> String {
    let path = repo_root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
