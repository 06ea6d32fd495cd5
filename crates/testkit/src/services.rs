//! A real IRC network with services for tests: an [`IrcServer`] (InspIRCd) linked to Atheme
//! (Debian package `atheme-services`), so that NickServ accounts exist and SASL logins are
//! checked by services the way the big networks do it, instead of by a unit test's script.
//!
//! Both run on free loopback ports with their own configuration in a temporary directory:
//! InspIRCd gets a `servers` port, the `spanningtree`, `services_account` and `sasl` modules,
//! a `<link>` for the services server and a `<uline>` for it; Atheme gets the `inspircd`
//! protocol module, its flat-file database (`opensex`) in the temporary directory, NickServ
//! (register, identify) and SaslServ with PLAIN. Accounts are registered through NickServ
//! over IRC ([`ServicesNetwork::register`]), as a user would. Both are killed when dropped.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use crate::{
    free_port,
    ircd::{FloodLimits, IrcServer, RawClient},
};

/// The name the services server links under.
pub const SERVICES_NAME: &str = "services.rosey.test";
/// Where Debian's package installs the daemon.
const ATHEME_FALLBACK: &str = "/usr/bin/atheme-services";

/// InspIRCd and Atheme, linked.
pub struct ServicesNetwork {
    ircd: IrcServer,
    dir: tempfile::TempDir,
    atheme: Option<Child>,
}

impl ServicesNetwork {
    /// Starts InspIRCd, then Atheme, and returns once Atheme has finished its burst (its
    /// log says "finished synching with uplink"): NickServ and SASL answer from then on.
    /// Panics with install instructions when a binary is missing.
    pub fn start() -> ServicesNetwork {
        let binary = find_atheme().unwrap_or_else(|| {
            panic!(
                "atheme-services not found on PATH or at {ATHEME_FALLBACK}. Install it with \
                 `apt-get install -y atheme-services` (Debian/Ubuntu), then run the tests again."
            )
        });
        let link_port = free_port();
        // Loopback only, and only for this pair of processes.
        let link_password = format!("rosey-link-{link_port}");
        let ircd = IrcServer::start_with_extra(
            FloodLimits::default(),
            None,
            &inspircd_link(link_port, &link_password),
        );
        let dir = tempfile::tempdir().expect("create a temporary directory for atheme");
        std::fs::create_dir(dir.path().join("data")).expect("atheme's data directory");
        let config = dir.path().join("atheme.conf");
        std::fs::write(
            &config,
            atheme_config(dir.path(), link_port, &link_password),
        )
        .expect("write atheme.conf");
        let mut child = Command::new(&binary)
            .arg("-n")
            .arg("-c")
            .arg(&config)
            .arg("-D")
            .arg(dir.path().join("data"))
            .arg("-l")
            .arg(dir.path().join("atheme-main.log"))
            .arg("-p")
            .arg(dir.path().join("atheme.pid"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        // In the foreground (`-n`) Atheme logs to stderr too: wait for the end of its burst.
        let stderr = child.stderr.take().expect("piped stderr");
        let atheme = crate::wait_for_line(
            child,
            stderr,
            "finished synching with uplink",
            "atheme-services",
        );
        ServicesNetwork {
            ircd,
            dir,
            atheme: Some(atheme),
        }
    }

    /// The IRC server clients connect to.
    pub fn ircd(&self) -> &IrcServer {
        &self.ircd
    }

    /// Its plain-text client port.
    pub fn port(&self) -> u16 {
        self.ircd.port()
    }

    /// Atheme's log so far (registrations, SASL logins and failures).
    pub fn services_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("atheme.log")).unwrap_or_default()
    }

    /// Registers the NickServ account `nick` with `password`, as a user would: connects as
    /// `nick`, sends `REGISTER`, waits for NickServ's confirmation, and quits (the nick is
    /// free again afterwards). Panics when NickServ refuses.
    pub async fn register(&self, nick: &str, password: &str) {
        let mut client = RawClient::connect(self.port(), nick).await;
        client
            .privmsg(
                "NickServ",
                &format!("REGISTER {password} {nick}@example.invalid"),
            )
            .await;
        let reply = client
            .expect(|m| m.command == "NOTICE" && m.source_nick() == Some("NickServ"))
            .await;
        assert!(
            reply.param(1).contains("is now registered"),
            "NickServ did not register {nick}: {:?}\n{}",
            reply.param(1),
            self.services_log()
        );
        client.send("QUIT :registered").await;
        // The nick is free once the server has closed our connection.
        while client.next_within(crate::ircd::RAW_WAIT).await.is_some() {}
    }
}

impl Drop for ServicesNetwork {
    fn drop(&mut self) {
        if let Some(mut child) = self.atheme.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What InspIRCd needs for services: the server port, the link and U-line, the account
/// and SASL modules (SASL goes to the services server).
fn inspircd_link(port: u16, password: &str) -> String {
    format!(
        r#"<bind address="127.0.0.1" port="{port}" type="servers">
<module name="spanningtree">
<module name="services_account">
<module name="sasl">
<sasl target="{SERVICES_NAME}" requiressl="no">
<link name="{SERVICES_NAME}" ipaddr="127.0.0.1" port="{port}" allowmask="127.0.0.1/32"
      sendpass="{password}" recvpass="{password}" hidden="no">
<uline server="{SERVICES_NAME}" silent="yes">
"#
    )
}

/// Atheme's configuration: the fewest modules a NickServ account and a SASL PLAIN login
/// need; no rate limit on commands (the tests register in a burst).
fn atheme_config(dir: &Path, port: u16, password: &str) -> String {
    let d = dir.display();
    format!(
        r#"loadmodule "modules/protocol/inspircd";
loadmodule "modules/backend/opensex";
loadmodule "modules/crypto/pbkdf2v2";
loadmodule "modules/nickserv/main";
loadmodule "modules/nickserv/register";
loadmodule "modules/nickserv/identify";
loadmodule "modules/saslserv/main";
loadmodule "modules/saslserv/plain";
serverinfo {{
  name = "{SERVICES_NAME}";
  desc = "Rosey test services";
  numeric = "00A";
  recontime = 1;
  netname = "RoseyTest";
  hidehostsuffix = "users.rosey.test";
  adminname = "Rosey";
  adminemail = "rosey@example.invalid";
  registeremail = "rosey@example.invalid";
  auth = none;
  casemapping = rfc1459;
  maxlogins = 5;
  maxusers = 5;
  mdlimit = 30;
  emaillimit = 10;
  emailtime = 300;
}};
uplink "irc.rosey.test" {{
  host = "127.0.0.1";
  port = {port};
  send_password = "{password}";
  receive_password = "{password}";
}};
nickserv {{
  nick = "NickServ";
  user = "NickServ";
  host = "{SERVICES_NAME}";
  real = "Nickname Services";
  maxnicks = 5;
  expire = 30;
}};
saslserv {{
  nick = "SaslServ";
  user = "SaslServ";
  host = "{SERVICES_NAME}";
  real = "SASL Authentication Agent";
}};
logfile "{d}/atheme.log" {{ all; }};
general {{
  commit_interval = 5;
  uplink_sendq_limit = 1048576;
  language = "en";
  flood_msgs = 0;
  flood_time = 10;
  ratelimit_uses = 0;
  ratelimit_period = 60;
  kline_time = 7;
  default_clone_allowed = 5;
  default_clone_warn = 4;
  immune_level = immune;
}};
"#
    )
}

/// Finds `atheme-services` on PATH or at the Debian location.
pub fn find_atheme() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("atheme-services"))
                .find(|c| c.is_file())
        })
        .or_else(|| Some(PathBuf::from(ATHEME_FALLBACK)).filter(|p| p.is_file()))
}
