//! Lease mode (`cluster.leases`) across platforms, with real processes and real servers:
//! three `rosey bot` processes share devserver CyTube channels, an InspIRCd channel and a
//! Synapse room through the lease bucket of a real nats-server (JetStream). Each channel is
//! joined by exactly one process — sampled all along from the servers' side (the
//! devserver's user lists, the IRC channel's members, the room's members) — and when the
//! process holding the IRC channel, then the one holding the Matrix room, is SIGKILLed,
//! its channels are joined again, each by one of the others, within the lease time. A line said in every channel before and after is stored exactly once (the database
//! service on the same JetStream), so the new holders serve their channels and no channel
//! is served twice.
//!
//! Before the platform seam the supervisor leased only the CyTube channels, and each held
//! lease started a copy of the whole configuration with only the CyTube list replaced: the
//! IRC channel had no lease and one bot per CyTube lease (six here), and this test timed out
//! waiting for one bot there.

mod common;
use common::durable::{assert_exactly_stored, start_db_service, wait_rows_at_least};
use common::platforms;

use std::{
    collections::{BTreeSet, HashMap},
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use rosey_bus::durable::{StreamSettings, ensure_db_stream};
use rosey_bus::{Bus, NatsOptions};
use rosey_cytube::CytubeHandle;
use rosey_devserver::{DevServer, DevServerConfig};
use rosey_testkit::{
    NatsServer, eventually_with,
    ircd::{ChannelWatch, IrcServer, RawClient},
    leases::{Sampler, holder_pid},
    synapse::{Peer, RoomWatch, Synapse},
};
use serde_json::{Value, json};

const BOT: &str = "RoseyBot";
const BOT_PW: &str = "botpw";
/// CyTube channels `lp0`…: with the IRC channel, seven to share among three processes.
const CYTUBE_CHANNELS: usize = 6;
const IRC_CHANNEL: &str = "#leaseirc";
/// The bots' Matrix user, and the room's alias (`#leaseroom:localhost`).
const MX_BOT: &str = "leasebot";
const MX_PW: &str = "mx-pw";
const MX_ROOM: &str = "leaseroom";
/// Short lease time (the default is 15 s).
const LEASE_SECS: u64 = 6;
const BUCKET: &str = "rosey_leases";
const WAIT: Duration = Duration::from_secs(60);

fn cytube_channel(i: usize) -> String {
    format!("lp{i}")
}

/// Every channel the bots share, as the servers show them.
struct Seats {
    devserver: Arc<DevServer>,
    irc: Arc<ChannelWatch>,
    /// The room's members, and the bots' user id. Membership is the user's, not a
    /// process's: a second process in the room would not show here, but its replies and
    /// rows would (every line is stored exactly once, checked below).
    matrix: Arc<RoomWatch>,
    bot_id: String,
}

impl Seats {
    /// Bots in each channel: the CyTube channels in order, the IRC channel, the room. An IRC
    /// bot that found its nick taken joins as `RoseyBot_` or `RoseyBot042`: counted too.
    fn bots(&self) -> Vec<usize> {
        let mut bots: Vec<usize> = (0..CYTUBE_CHANNELS)
            .map(|i| {
                self.devserver
                    .users(&cytube_channel(i))
                    .iter()
                    .filter(|u| u.name == BOT)
                    .count()
            })
            .collect();
        bots.push(self.irc.count_like(BOT));
        bots.push(self.matrix.count(&self.bot_id));
        bots
    }

    fn count(&self) -> usize {
        CYTUBE_CHANNELS + 2
    }

    fn sampler(&self) -> Sampler {
        let seats = Seats {
            devserver: self.devserver.clone(),
            irc: self.irc.clone(),
            matrix: self.matrix.clone(),
            bot_id: self.bot_id.clone(),
        };
        Sampler::start(move || seats.bots())
    }
}

/// The lease bucket: channel key → holding pid (empty while it cannot be read).
async fn held(js: &async_nats::Client) -> HashMap<String, u32> {
    let read = rosey_bot::leases::holders(js, BUCKET);
    match tokio::time::timeout(Duration::from_secs(2), read).await {
        Ok(Ok(holders)) => holders
            .into_iter()
            .map(|(k, h)| (k, holder_pid(&h)))
            .collect(),
        _ => HashMap::new(),
    }
}

/// Waits until every channel has exactly one bot (servers' side) and the bucket has a
/// holder for each, none of them `gone`; returns the bucket then. A failure names what was
/// seen last.
async fn one_bot_everywhere(
    seats: &Seats,
    js: &async_nats::Client,
    gone: Option<u32>,
    within: Duration,
) -> HashMap<String, u32> {
    let what = format!(
        "one bot in each of the {} channels and a lease for each",
        seats.count()
    );
    eventually_with(&what, within, || async move {
        let bots = seats.bots();
        let held = held(js).await;
        let pids: BTreeSet<u32> = held.values().copied().collect();
        let ok = bots.iter().all(|&n| n == 1)
            && held.len() == seats.count()
            && gone.is_none_or(|g| !pids.contains(&g));
        if ok {
            Ok(held)
        } else {
            Err(format!(
                "bots per channel (CyTube…, IRC, Matrix) {bots:?}; leases {held:?}"
            ))
        }
    })
    .await
}

/// Someone in every channel to say a line: a guest per CyTube channel, one IRC user, one
/// Matrix user.
struct Talkers {
    cytube: Vec<CytubeHandle>,
    irc: RawClient,
    matrix: Peer,
    room: String,
}

impl Talkers {
    async fn join(devserver: &DevServer, irc: &IrcServer, matrix: Peer, room: &str) -> Talkers {
        let mut cytube = Vec::new();
        for i in 0..CYTUBE_CHANNELS {
            let name = format!("g{i}");
            let (url, channel) = (devserver.base_url(), cytube_channel(i));
            cytube.push(common::join_guest(&url, &channel, &name, WAIT).await);
        }
        let mut irc = RawClient::connect(irc.port(), "talker").await;
        irc.join(IRC_CHANNEL, None).await;
        Talkers {
            cytube,
            irc,
            matrix,
            room: room.to_string(),
        }
    }

    /// Line `tag-i` in every channel; waits until the database holds `total` lines.
    async fn round(&mut self, tag: &str, db: &Path, total: i64) {
        for (i, guest) in self.cytube.iter().enumerate() {
            guest.chat(&format!("{tag}-{i}")).unwrap();
        }
        self.irc.privmsg(IRC_CHANNEL, &format!("{tag}-irc")).await;
        let room = self.room.clone();
        self.matrix.say(&room, &format!("{tag}-mx")).await;
        wait_rows_at_least(db, total, &format!("the {tag} lines stored")).await;
    }
}

fn bots_config(
    dir: &Path,
    nats_url: &str,
    devserver: &DevServer,
    irc: &IrcServer,
    synapse: &Synapse,
) -> PathBuf {
    let mut platforms: Vec<Value> = (0..CYTUBE_CHANNELS)
        .map(|i| {
            let name = format!("c{i}");
            platforms::cytube(&name, devserver, &cytube_channel(i), BOT, BOT_PW)
        })
        .collect();
    platforms.push(platforms::irc("net", irc.port(), BOT, IRC_CHANNEL));
    let alias = format!("#{MX_ROOM}:{}", rosey_testkit::synapse::SERVER_NAME);
    let bot_id = synapse.user_id(MX_BOT);
    platforms.push(platforms::matrix("mx", synapse, &bot_id, MX_PW, &alias));
    let path = dir.join("bots.json");
    let config = json!({
        "version": "2.0",
        "nats": {"url": nats_url, "jetstream": true, "reconnect_delay": 0.2},
        // The Matrix sync position is kept next to the database (in the test's directory,
        // not the working directory).
        "database": {"path": dir.join("bots.db")},
        "platforms": platforms,
        "cluster": {"leases": true, "lease_time": LEASE_SECS, "bucket": BUCKET},
        "logging": {"level": "warn"}
    });
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_on_every_platform_each_held_by_one_process_and_taken_over_after_sigkill() {
    if !rosey_testkit::tools::inspircd() || !rosey_testkit::tools::synapse() {
        return;
    }
    let nats = NatsServer::start();
    let client = Bus::connect(NatsOptions::new(nats.url())).await.unwrap();
    let js = client.nats_client().unwrap().clone();
    ensure_db_stream(&js, &StreamSettings::default())
        .await
        .unwrap();
    let devserver = Arc::new(
        DevServer::start(DevServerConfig::default().with_account(BOT, BOT_PW, 2.0))
            .await
            .unwrap(),
    );
    let irc = IrcServer::start();
    let synapse = Synapse::start();
    synapse.register(MX_BOT, MX_PW);
    synapse.register("owner", MX_PW);
    let owner = Peer::login(&synapse, "owner", MX_PW).await;
    let room = owner.create_public_room(MX_ROOM).await;
    let watcher = Peer::login(&synapse, "owner", MX_PW).await;
    let seats = Seats {
        devserver: devserver.clone(),
        irc: Arc::new(ChannelWatch::start(irc.port(), "watcher", IRC_CHANNEL).await),
        matrix: Arc::new(RoomWatch::start(watcher, &room).await),
        bot_id: synapse.user_id(MX_BOT),
    };
    let dir = tempfile::tempdir().unwrap();
    let config = bots_config(dir.path(), &nats.url(), &devserver, &irc, &synapse);
    let db = dir.path().join("bots.db");
    let mut service = start_db_service(&client, &config, &db).await;
    let sampler = seats.sampler();

    let cfg = config.to_str().unwrap();
    let mut bots: Vec<_> = (0..3)
        .map(|_| common::spawn_rosey(&["bot", cfg], None))
        .collect();
    let held = one_bot_everywhere(&seats, &js, None, WAIT).await;
    let (irc_key, &irc_holder) = held
        .iter()
        .find(|(key, _)| key.contains(&IRC_CHANNEL[1..]))
        .unwrap_or_else(|| panic!("a lease for {IRC_CHANNEL}: {held:?}"));
    eprintln!("leases: {held:?}; {irc_key} held by {irc_holder}");
    let lines = seats.count() as i64;
    let mut talkers = Talkers::join(&devserver, &irc, owner, &room).await;
    talkers.round("before", &db, lines).await;

    // SIGKILL the process in the IRC channel: its channels come back, each to one of the
    // two others, within the lease time.
    let victim = bots
        .iter_mut()
        .find(|b| b.id() == Some(irc_holder))
        .expect("the IRC channel's holder is one of our processes");
    victim.start_kill().unwrap();
    victim.wait().await.unwrap();
    let killed_at = Instant::now();
    sampler.arm();
    let after = one_bot_everywhere(&seats, &js, Some(irc_holder), WAIT).await;
    let takeover = killed_at.elapsed();
    eprintln!("taken over after SIGKILL in {takeover:?}: {after:?}");
    assert!(
        takeover <= Duration::from_secs(LEASE_SECS),
        "taken over in {takeover:?}, lease time {LEASE_SECS} s"
    );
    assert_ne!(after[irc_key.as_str()], irc_holder);
    talkers.round("after", &db, 2 * lines).await;

    // Then the process in the Matrix room (of the two left): the last one takes it all.
    let (mx_key, &mx_holder) = after
        .iter()
        .find(|(key, _)| key.contains(MX_ROOM))
        .unwrap_or_else(|| panic!("a lease for the room: {after:?}"));
    let victim = bots
        .iter_mut()
        .find(|b| b.id() == Some(mx_holder))
        .expect("the room's holder is one of our processes");
    victim.start_kill().unwrap();
    victim.wait().await.unwrap();
    let killed_at = Instant::now();
    let last = one_bot_everywhere(&seats, &js, Some(mx_holder), WAIT).await;
    let takeover = killed_at.elapsed();
    eprintln!("the room taken over after SIGKILL in {takeover:?}: {last:?}");
    assert!(
        takeover <= Duration::from_secs(LEASE_SECS),
        "taken over in {takeover:?}, lease time {LEASE_SECS} s"
    );
    assert_eq!(
        last.values().copied().collect::<BTreeSet<u32>>().len(),
        1,
        "one process left holds everything: {last:?}"
    );
    assert_ne!(last[mx_key.as_str()], mx_holder);
    talkers.round("last", &db, 3 * lines).await;

    let seen = sampler.finish().await;
    assert_eq!(
        seen.most,
        vec![1; seats.count()],
        "never two bots in one channel (CyTube…, IRC, Matrix)"
    );
    assert!(
        seen.longest_empty
            .is_some_and(|gap| gap <= Duration::from_secs(LEASE_SECS)),
        "a channel without a bot for {:?}",
        seen.longest_empty
    );
    assert_eq!(devserver.kicks_sent(), 0, "no duplicate-login kick");
    assert_exactly_stored(&client, &db, 3 * lines).await;
    for bot in bots.iter_mut().filter(|b| b.id().is_some()) {
        common::sigterm_and_wait(bot, WAIT).await;
    }
    common::sigterm_and_wait(&mut service, WAIT).await;
}
