//! A real IRC server for tests: InspIRCd (Debian package `inspircd`) on free loopback ports
//! with its own configuration file in a temporary directory — a plain port and a TLS port
//! with a test certificate (rcgen) — which the test can stop and restart, and whose log it
//! can read (e.g. for "Excess Flood" disconnects). Killed when dropped.
//!
//! InspIRCd rather than ngIRCd: ngIRCd only slows a flooding client down, it never
//! disconnects it, so a pacing test against it could not fail; InspIRCd disconnects for
//! "Excess Flood" and "RecvQ exceeded" like the big networks, and offers the IRCv3
//! capabilities the client negotiates (`server-time`, `message-tags`, `multi-prefix`).

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use crate::free_port;

const FALLBACK_PATHS: [&str; 2] = ["/usr/sbin/inspircd", "/usr/local/sbin/inspircd"];

/// The server's flood limits: a client's commands add up; over `threshold` it is
/// disconnected ("Excess Flood"); they drain at `commands_per_second`.
#[derive(Debug, Clone, Copy)]
pub struct FloodLimits {
    pub threshold: u32,
    pub commands_per_second: u32,
}

impl Default for FloodLimits {
    /// Ten commands at once, then ten a second: InspIRCd's default threshold with a faster
    /// drain than its default (one a second), to keep the tests short.
    fn default() -> Self {
        FloodLimits {
            threshold: 10,
            commands_per_second: 10,
        }
    }
}

/// A running (or stopped) InspIRCd owned by a test.
pub struct IrcServer {
    binary: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    tls_port: u16,
    child: Option<Child>,
}

impl IrcServer {
    /// Starts a server with the default flood limits.
    pub fn start() -> IrcServer {
        Self::start_with(FloodLimits::default())
    }

    /// Starts a server with these flood limits. Panics with install instructions when the
    /// binary is missing.
    pub fn start_with(limits: FloodLimits) -> IrcServer {
        Self::start_with_password(limits, None)
    }

    /// Starts a server that only admits clients sending this server password (`PASS`).
    pub fn start_with_password(limits: FloodLimits, password: Option<&str>) -> IrcServer {
        Self::start_with_extra(limits, password, "")
    }

    /// Starts a server whose configuration ends with `extra` (more modules, a server link:
    /// see [`crate::services`]).
    pub fn start_with_extra(limits: FloodLimits, password: Option<&str>, extra: &str) -> IrcServer {
        let binary = find_binary().unwrap_or_else(|| {
            panic!(
                "inspircd not found on PATH or at {FALLBACK_PATHS:?}. Install it with \
                 `apt-get install -y inspircd` (Debian/Ubuntu), then run the tests again."
            )
        });
        let dir = tempfile::tempdir().expect("create a temporary directory for inspircd");
        let mut server = IrcServer {
            binary,
            port: free_port(),
            tls_port: free_port(),
            dir,
            child: None,
        };
        server.write_pki();
        server.write_config(limits, password, extra);
        server.spawn();
        server
    }

    /// The plain-text port (kept across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TLS port (certificate for `localhost` and `127.0.0.1`, signed by [`ca_file`]).
    ///
    /// [`ca_file`]: IrcServer::ca_file
    pub fn tls_port(&self) -> u16 {
        self.tls_port
    }

    /// The test CA's certificate (PEM), for the client's trust store.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The server's log so far (connects, quits and their reasons).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("ircd.log")).unwrap_or_default()
    }

    /// Stops the server (SIGKILL: an abrupt end, like a crash or a netsplit).
    pub fn stop(&mut self) {
        self.resume();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open but nothing answers — a dead
    /// link, as a client sees one.
    pub fn pause(&self) {
        self.signal(nix::sys::signal::Signal::SIGSTOP);
    }

    /// Lets a paused server run again (SIGCONT).
    pub fn resume(&self) {
        self.signal(nix::sys::signal::Signal::SIGCONT);
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        if let Some(child) = &self.child {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            nix::sys::signal::kill(pid, sig).expect("signal inspircd");
        }
    }

    /// Starts the server again on the same ports.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn write_pki(&self) {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Rosey IRC test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
            .expect("self-sign the CA");
        let params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("server params");
        let key = KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &ca).expect("sign the server cert");
        let write = |name: &str, text: String| {
            std::fs::write(self.dir.path().join(name), text).expect("write a PEM file")
        };
        write("ca.pem", ca.pem());
        write("server.pem", cert.pem());
        write("server-key.pem", key.serialize_pem());
    }

    fn write_config(&self, limits: FloodLimits, password: Option<&str>, extra: &str) {
        let d = self.dir.path().display();
        let password = password
            .map(|p| format!(r#" password="{p}""#))
            .unwrap_or_default();
        let config = format!(
            r#"<server name="irc.rosey.test" description="Rosey test server" network="RoseyTest">
<admin name="Rosey" nick="rosey" email="rosey@example.invalid">
<bind address="127.0.0.1" port="{port}" type="clients">
<bind address="127.0.0.1" port="{tls_port}" type="clients" sslprofile="rosey">
<connect name="main" allow="*" timeout="20" pingfreq="120" hardsendq="1M" softsendq="65536"
         recvq="8192" threshold="{threshold}" commandrate="{rate}" fakelag="no"
         localmax="200" globalmax="200" useident="no" limit="500" maxchans="20"{password}>
<pid file="{d}/inspircd.pid">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="{d}/ircd.log">
<options prefixquit="Quit: " syntaxhints="no">
<security hideserver="" userstats="Pu" customversion="">
<performance nouserdns="yes">
<module name="cap">
<module name="ircv3">
<module name="ircv3_servertime">
<module name="ircv3_ctctags">
<module name="ircv3_msgid">
<module name="namesx">
<module name="ssl_gnutls">
<sslprofile name="rosey" provider="gnutls" certfile="{d}/server.pem" keyfile="{d}/server-key.pem"
            hash="sha256" requestclientcert="no">
{extra}
"#,
            port = self.port,
            tls_port = self.tls_port,
            threshold = limits.threshold,
            rate = limits.commands_per_second * 1000,
        );
        std::fs::write(self.config_path(), config).expect("write the inspircd configuration");
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("inspircd.conf")
    }

    fn spawn(&mut self) {
        let mut child = Command::new(&self.binary)
            .arg("--nofork")
            .arg("--runasroot")
            .arg(format!("--config={}", self.config_path().display()))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        // InspIRCd prints "InspIRCd is now running" once it listens: wait for that line
        // instead of sleeping (and keep draining its output so it never blocks).
        let stdout = child.stdout.take().expect("piped stdout");
        self.child = Some(crate::wait_for_line(
            child,
            stdout,
            "is now running",
            "inspircd",
        ));
    }
}

impl Drop for IrcServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Finds `inspircd` on PATH or at the Debian location.
pub fn find_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("inspircd");
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    FALLBACK_PATHS
        .iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .map(Path::to_path_buf)
}

/// A second IRC client for tests, over a raw socket: it writes protocol lines as given and
/// reads what the server sends (answering `PING`), so a test can act as a channel member.
pub struct RawClient {
    nick: String,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>>,
    writer: tokio::net::tcp::OwnedWriteHalf,
    /// Everything read so far that no wait consumed, oldest first.
    backlog: std::collections::VecDeque<rosey_irc::Message>,
}

/// How long a [`RawClient`] waits for what it expects.
pub const RAW_WAIT: Duration = Duration::from_secs(20);

impl RawClient {
    /// Connects to `127.0.0.1:port` and registers as `nick` (waits for `001`).
    pub async fn connect(port: u16, nick: &str) -> RawClient {
        Self::register(port, nick, None).await
    }

    /// Like [`connect`](Self::connect), sending a server password first.
    pub async fn connect_with_password(port: u16, nick: &str, password: &str) -> RawClient {
        Self::register(port, nick, Some(password)).await
    }

    async fn register(port: u16, nick: &str, password: Option<&str>) -> RawClient {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect to the IRC server");
        let (read, writer) = stream.into_split();
        use tokio::io::AsyncBufReadExt;
        let mut client = RawClient {
            nick: nick.to_string(),
            lines: tokio::io::BufReader::new(read).lines(),
            writer,
            backlog: Default::default(),
        };
        if let Some(pw) = password {
            client.send(&format!("PASS {pw}")).await;
        }
        client.send(&format!("NICK {nick}")).await;
        client.send(&format!("USER {nick} 0 * :test client")).await;
        client.expect(|m| m.command == "001").await;
        client
    }

    pub fn nick(&self) -> &str {
        &self.nick
    }

    /// Sends one raw line (CR LF added).
    pub async fn send(&mut self, line: &str) {
        use tokio::io::AsyncWriteExt;
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("write to the IRC server");
    }

    /// Joins `channel` (with `key`) and waits for the end of its NAMES list.
    pub async fn join(&mut self, channel: &str, key: Option<&str>) {
        match key {
            Some(k) => self.send(&format!("JOIN {channel} {k}")).await,
            None => self.send(&format!("JOIN {channel}")).await,
        }
        self.expect(|m| m.command == "366").await;
    }

    /// `PRIVMSG target :text`.
    pub async fn privmsg(&mut self, target: &str, text: &str) {
        self.send(&format!("PRIVMSG {target} :{text}")).await;
    }

    /// The next message (from the backlog first), or `None` after `wait` or at EOF.
    pub async fn next_within(&mut self, wait: Duration) -> Option<rosey_irc::Message> {
        if let Some(m) = self.backlog.pop_front() {
            return Some(m);
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.next_line())
                .await
                .ok()?
                .ok()??;
            let Ok(msg) = rosey_irc::Message::parse(&line) else {
                continue;
            };
            if msg.command == "PING" {
                let token = msg.param(0).to_string();
                self.send(&format!("PONG :{token}")).await;
                continue;
            }
            return Some(msg);
        }
    }

    /// Waits (up to [`RAW_WAIT`]) for a message `pred` accepts, keeping the ones before it
    /// out of the backlog. Panics on timeout.
    pub async fn expect(
        &mut self,
        pred: impl FnMut(&rosey_irc::Message) -> bool,
    ) -> rosey_irc::Message {
        self.expect_within(RAW_WAIT, pred)
            .await
            .unwrap_or_else(|| panic!("{}: expected message did not arrive", self.nick))
    }

    /// Like [`expect`](Self::expect) with its own timeout; `None` when nothing matched.
    pub async fn expect_within(
        &mut self,
        wait: Duration,
        mut pred: impl FnMut(&rosey_irc::Message) -> bool,
    ) -> Option<rosey_irc::Message> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let msg = self.next_within(left).await?;
            if pred(&msg) {
                return Some(msg);
            }
        }
    }

    /// `PRIVMSG`s from `from` to `target` (a channel, or our nick for PMs) until `wait`
    /// passes with nothing new; their texts in order.
    pub async fn privmsgs_from(&mut self, from: &str, target: &str, wait: Duration) -> Vec<String> {
        let mut texts = Vec::new();
        while let Some(m) = self.next_within(wait).await {
            if m.command == "PRIVMSG"
                && m.source_nick()
                    .is_some_and(|n| n.eq_ignore_ascii_case(from))
                && m.param(0).eq_ignore_ascii_case(target)
            {
                texts.push(m.param(1).to_string());
            }
        }
        texts
    }
}

/// An IRC channel's members as the server tells a member of it, kept live for tests that
/// sample who is in the channel at any moment (the lease tests: never two bots in one
/// channel). A background client sits in the channel, follows `JOIN`, `PART`, `QUIT`,
/// `KICK` and `NICK`, and asks for `NAMES` twice a second to start again from the server's
/// own list. Stops when dropped.
pub struct ChannelWatch {
    members: std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
    task: tokio::task::JoinHandle<()>,
}

/// How often a [`ChannelWatch`] asks for the full member list.
const NAMES_EVERY: Duration = Duration::from_millis(500);

impl ChannelWatch {
    /// Joins `channel` on `127.0.0.1:port` as `nick` and returns once the first member list
    /// is in.
    pub async fn start(port: u16, nick: &str, channel: &str) -> ChannelWatch {
        let mut client = RawClient::connect(port, nick).await;
        client.send(&format!("JOIN {channel}")).await;
        let members = std::sync::Arc::new(std::sync::Mutex::new(Default::default()));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let task = {
            let members = members.clone();
            let channel = channel.to_string();
            tokio::spawn(async move {
                let mut ready = Some(ready_tx);
                let mut listing = std::collections::BTreeSet::new();
                let mut asked = tokio::time::Instant::now();
                loop {
                    if asked.elapsed() >= NAMES_EVERY {
                        client.send(&format!("NAMES {channel}")).await;
                        asked = tokio::time::Instant::now();
                    }
                    let waited = tokio::time::Instant::now();
                    let Some(m) = client.next_within(NAMES_EVERY / 4).await else {
                        if waited.elapsed() < NAMES_EVERY / 4 {
                            // Nothing, and before the wait was up: the server closed the
                            // connection. The last list stands.
                            break;
                        }
                        continue;
                    };
                    let mut now = members.lock().unwrap_or_else(|e| e.into_inner());
                    let nick = m.source_nick().unwrap_or_default().to_string();
                    let here = |target: &str| target.eq_ignore_ascii_case(&channel);
                    match m.command.as_str() {
                        "353" if here(m.param(2)) => listing.extend(
                            m.param(3)
                                .split_whitespace()
                                .map(|n| n.trim_start_matches(['~', '&', '@', '%', '+']))
                                .map(str::to_string),
                        ),
                        "366" if here(m.param(1)) => {
                            *now = std::mem::take(&mut listing);
                            if let Some(tx) = ready.take() {
                                let _ = tx.send(());
                            }
                        }
                        "JOIN" if here(m.param(0)) => {
                            now.insert(nick);
                        }
                        "PART" if here(m.param(0)) => {
                            now.remove(&nick);
                        }
                        "KICK" if here(m.param(0)) => {
                            now.remove(m.param(1));
                        }
                        "QUIT" => {
                            now.remove(&nick);
                        }
                        "NICK" if now.remove(&nick) => {
                            now.insert(m.param(0).to_string());
                        }
                        _ => {}
                    }
                }
            })
        };
        tokio::time::timeout(RAW_WAIT, ready_rx)
            .await
            .expect("the channel's member list arrives")
            .expect("the watching client runs");
        ChannelWatch { members, task }
    }

    /// The channel's members now (nicks without their prefixes).
    pub fn members(&self) -> std::collections::BTreeSet<String> {
        self.members
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many members' nicks are `nick` or `nick` with something appended (`Rosey_`,
    /// `Rosey042`: the names a client takes when its own is in use), case-insensitively.
    pub fn count_like(&self, nick: &str) -> usize {
        let nick = nick.to_ascii_lowercase();
        self.members()
            .iter()
            .filter(|m| m.to_ascii_lowercase().starts_with(&nick))
            .count()
    }
}

impl Drop for ChannelWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}
