//! Set-up shared by the tests that run the bot against the devserver (the CyTube server) on a
//! real `nats-server`: the bot's account, a client configuration that reconnects quickly, a
//! user that joins a channel, the bus and the database service as those tests start them, and
//! [`Services`]: all of that running together, the part every bot rig starts before its bot.

use std::{path::PathBuf, time::Duration};

use rosey_bus::Bus;
use rosey_cytube::{ClientConfig, CytubeEvent, CytubeHandle, EventStream, Login, ServerEvent};
use rosey_dbservice::DbServiceHandle;
use rosey_devserver::{DevServer, DevServerConfig};

use crate::NatsServer;
use crate::bus_db::BusDb;
/// The bus and the database service as every bot test starts them (kept here for the tests
/// that name them through this module).
pub use crate::bus_db::{bus, db_service};

/// The bot's account name on the devserver.
pub const BOT: &str = "Rosey";
/// The bot's password on the devserver.
pub const BOT_PW: &str = "bot-pw";

/// How long a user may take to join.
const JOIN_WAIT: Duration = Duration::from_secs(15);

/// A client of `channel` on `server` with a short reconnect back-off (50 ms, at most 500 ms).
pub fn client_config(server: &DevServer, channel: &str, login: Login) -> ClientConfig {
    let mut c = ClientConfig::new(server.base_url(), channel, login);
    c.backoff.base = Duration::from_millis(50);
    c.backoff.cap = Duration::from_millis(500);
    c
}

/// The bot's registered login ([`BOT`], [`BOT_PW`]).
pub fn bot_login() -> Login {
    Login::Registered {
        name: BOT.into(),
        password: BOT_PW.into(),
    }
}

/// Connects a user to `channel` and waits until it has joined (fails the test otherwise).
pub async fn join(server: &DevServer, channel: &str, login: Login) -> (CytubeHandle, EventStream) {
    let (handle, mut events) = rosey_cytube::connect(client_config(server, channel, login));
    let joined = tokio::time::timeout(JOIN_WAIT, async {
        while let Some(e) = events.recv().await {
            if matches!(e, CytubeEvent::Joined { .. }) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(joined, Ok(true), "user joins {channel}");
    (handle, events)
}

/// What a bot rig runs besides the bot: a `nats-server`, the devserver, a bus on it and the
/// database service on an SQLite file in a temporary folder.
pub struct Services {
    /// The per-test `nats-server` (a test may stop and restart it).
    pub nats: NatsServer,
    pub server: DevServer,
    /// A bus on `nats` that reconnects quickly ([`bus`]).
    pub bus: Bus,
    /// The database service, `None` while a test has it stopped.
    pub db: Option<DbServiceHandle>,
    /// The service's database file.
    pub db_path: PathBuf,
    /// Holds `db_path`; removed when dropped.
    pub tmp: tempfile::TempDir,
}

impl Services {
    /// Starts a `nats-server`, the bus and the database service (with `default_channel`)
    /// — a [`BusDb`] — then the devserver from `server_cfg`.
    pub async fn start(server_cfg: DevServerConfig, default_channel: &str) -> Services {
        let BusDb {
            nats,
            bus,
            db,
            db_path,
            tmp,
        } = BusDb::start(default_channel).await;
        let server = DevServer::start(server_cfg)
            .await
            .expect("devserver starts");
        Services {
            nats,
            server,
            bus,
            db,
            db_path,
            tmp,
        }
    }

    /// Shuts the database service down (when it runs), checking it stopped cleanly.
    pub async fn stop_db(&mut self) {
        if let Some(db) = self.db.take() {
            db.shutdown().await.unwrap();
        }
    }
}

/// `impl Deref<Target = Services>` (and `DerefMut`) for a rig struct with a field `services`,
/// so that a test reaches `rig.server`, `rig.bus`, `rig.db` directly.
#[macro_export]
macro_rules! deref_services {
    ($rig:ty) => {
        impl std::ops::Deref for $rig {
            type Target = $crate::cytube::Services;
            fn deref(&self) -> &$crate::cytube::Services {
                &self.services
            }
        }

        impl std::ops::DerefMut for $rig {
            fn deref_mut(&mut self) -> &mut $crate::cytube::Services {
                &mut self.services
            }
        }
    };
}

/// The bot's ([`BOT`]) chat lines in `channel` after position `from` of the devserver's log.
pub fn bot_lines(server: &DevServer, channel: &str, from: usize) -> Vec<String> {
    server.chat_log(channel)[from..]
        .iter()
        .filter(|r| r.username == BOT)
        .map(|r| r.msg.clone())
        .collect()
}

/// The first line of the bot after `from` that satisfies `ok`, looked for every 20 ms;
/// `None` when there is none within `within` (the caller says what it missed).
pub async fn bot_line_where(
    server: &DevServer,
    channel: &str,
    from: usize,
    within: Duration,
    ok: impl Fn(&str) -> bool,
) -> Option<String> {
    tokio::time::timeout(within, async {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            if let Some(l) = bot_lines(server, channel, from).into_iter().find(|l| ok(l)) {
                return l;
            }
        }
    })
    .await
    .ok()
}

/// `user` says `text` (up to 50 times, half a second apart) until the bot answers with a
/// line starting with `prefix`, and returns it: the bot finds a new plugin within a moment.
pub async fn first_answer(
    server: &DevServer,
    channel: &str,
    user: &CytubeHandle,
    text: &str,
    prefix: &str,
) -> String {
    for _ in 0..50 {
        let from = server.chat_log(channel).len();
        user.chat(text).unwrap();
        let got = bot_line_where(server, channel, from, Duration::from_millis(500), |l| {
            l.starts_with(prefix)
        })
        .await;
        if let Some(l) = got {
            return l;
        }
    }
    panic!("the bot never answered {text}");
}

/// The next PM addressed to this client (not its own echo), within `within`.
pub async fn next_pm(events: &mut EventStream, within: Duration) -> String {
    tokio::time::timeout(within, async {
        while let Some(e) = events.recv().await {
            if let CytubeEvent::Server(ServerEvent::Pm(pm)) = e
                && !pm.from_self
            {
                return pm.text;
            }
        }
        panic!("event stream ended")
    })
    .await
    .expect("a PM arrives")
}
