//! Set-up shared by the tests that run the bot against the devserver (the CyTube server) on a
//! real `nats-server`: the bot's account, a client configuration that reconnects quickly, a
//! user that joins a channel, the bus and the database service as those tests start them.

use std::{path::Path, time::Duration};

use rosey_bus::{Bus, NatsOptions};
use rosey_cytube::{ClientConfig, CytubeEvent, CytubeHandle, EventStream, Login};
use rosey_dbservice::{DbService, DbServiceConfig, DbServiceHandle};
use rosey_devserver::DevServer;

use crate::NatsServer;

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

/// A bus on `nats` that reconnects after 100 ms (for tests that restart the server).
pub async fn bus(nats: &NatsServer) -> Bus {
    let mut options = NatsOptions::new(nats.url());
    options.reconnect_delay = Duration::from_millis(100);
    Bus::connect(options).await.expect("connect to nats")
}

/// The database service on the file `path`, writing batches after 5 ms.
pub async fn db_service(bus: &Bus, path: &Path, default_channel: &str) -> DbServiceHandle {
    let mut cfg = DbServiceConfig::new(path, default_channel);
    cfg.batch_delay = Duration::from_millis(5);
    DbService::start(bus.clone(), cfg)
        .await
        .expect("database service starts")
}
