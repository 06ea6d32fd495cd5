//! Beyond one machine, with real processes and exact counts:
//! - a three-node NATS cluster ([`rosey_testkit::NatsCluster`], the configuration shipped in
//!   `deploy/nats/cluster/`) with the `ROSEY_DB` stream on three replicas: the node the
//!   publishers are connected to is SIGKILLed in the middle of a 30,000-event durable burst
//!   and started again; the `rosey db-service` process and the publishers (the bot's own
//!   outbox among them) move to another node by themselves; every event stored once.
//! - three `rosey bot` processes sharing 30 devserver channels through leases
//!   (`cluster.leases`): one SIGKILLed, its channels joined again by exactly one bot within
//!   the lease time; a fourth process takes a fair share; a graceful stop hands over at once.
//!   At no point two bots in a channel (sampled), never a "Duplicate login" kick (counted by
//!   the devserver), no chat line stored twice.
//! - a lease the server never drops (its `max_age` switched off) is still taken over from a
//!   SIGKILLed holder, by compare-and-set on its revision once it has stood unrenewed too long.
//! - lease-mode processes serve `rosey status` and the per-channel metrics for exactly the
//!   channels they hold, following hand-overs (one NATS server: the cheap check).
//!
//! Nothing sleeps to wait for something: conditions are polled with a deadline.

mod common;
use common::durable::{
    POLL, assert_exactly_stored, chat_events, counts, start_db_service, wait_rows_at_least,
};

use std::{
    collections::{BTreeSet, HashMap},
    path::{Path, PathBuf},
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use rosey_bench::dbbench as bench;
use rosey_bus::durable::{StreamSettings, ensure_db_stream};
use rosey_bus::{Bus, NatsOptions};
use rosey_devserver::{DevServer, DevServerConfig};
use rosey_testkit::leases::{Sampler, holder_pid};
use rosey_testkit::{NatsCluster, NatsServer};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

const WAIT: Duration = common::durable::DRAIN_TIMEOUT;
/// How long the lease bucket's recovery after its leader's death may take (see its test).
const RECOVERY_WAIT: Duration = Duration::from_secs(150);

/// A `rosey` child process, killed when dropped.
fn rosey(args: &[&str]) -> Child {
    common::spawn_rosey(args, None)
}

/// [`rosey`] with a `RUST_LOG` filter of its own.
fn rosey_logging(args: &[&str], filter: Option<&str>) -> Child {
    common::spawn_rosey(args, filter)
}

/// Polls `ok` until it holds, failing with `what` after [`WAIT`].
async fn until<F, Fut>(what: &str, ok: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    until_within(what, WAIT, ok).await
}

/// [`until`] with a deadline of its own.
async fn until_within<F, Fut>(what: &str, wait: Duration, mut ok: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + wait;
    while !ok().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// The three-node cluster, its URLs, and a client given all of them.
async fn start_cluster() -> (NatsCluster, Vec<String>, Bus) {
    let cluster = NatsCluster::start();
    let urls = cluster.urls();
    let client = Bus::connect(NatsOptions {
        servers: urls.clone(),
        reconnect_delay: Duration::from_millis(100),
        ..Default::default()
    })
    .await
    .unwrap();
    (cluster, urls, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_sigkilled_mid_burst_on_three_replicas_loses_and_duplicates_nothing() {
    let (mut cluster, urls, client) = start_cluster().await;
    let settings = StreamSettings {
        replicas: 3,
        ..StreamSettings::default()
    };
    // The meta leader is elected and the peers known a moment after the processes start.
    let js = client.nats_client().unwrap();
    let s = &settings;
    until("JetStream on three nodes", || async move {
        ensure_db_stream(js, s).await.is_ok()
    })
    .await;
    let info = ensure_db_stream(js, &settings).await.unwrap();
    assert_eq!(info.config.num_replicas, 3);

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cluster.db");
    let config = dir.path().join("db-service.json");
    std::fs::write(
        &config,
        serde_json::to_vec(&json!({
            "version": "2.0",
            "nats": {"url": urls, "jetstream": true, "reconnect_delay": 0.1,
                     "jetstream_options": {"replicas": 3}},
            "database": {"path": db},
            "logging": {"level": "warn"}
        }))
        .unwrap(),
    )
    .unwrap();
    let mut service = start_db_service(&client, &config, &db).await;

    // The bulk: the pipelined durable publisher (acks awaited, retried with the same id).
    let n = 30_000;
    let bulk = {
        let client = client.clone();
        tokio::spawn(async move {
            bench::publish_durable(
                client.nats_client().unwrap(),
                chat_events(n, "bulk", "clu"),
                "bulk",
                256,
                WAIT,
            )
            .await
        })
    };
    // Beside it, the bot's own durable outbox (batches what queues up).
    let m = 1_000;
    let stop = tokio_util::sync::CancellationToken::new();
    let (outbox, outbox_task) =
        rosey_bus::outbox::Outbox::start(js.clone(), settings.clone(), stop.clone());
    for (i, (subject, payload)) in chat_events(m, "bot", "clu").into_iter().enumerate() {
        outbox.push(subject, format!("bot-{i}"), payload);
    }

    wait_rows_at_least(&db, 8_000, "before the kill").await;
    let port = js.server_info().port;
    let node = cluster
        .node_of_port(port)
        .expect("connected to a cluster node");
    cluster.kill(node);
    let at_kill = counts(&db).0;
    assert!(
        at_kill < (n + m) as i64,
        "the kill must hit the middle ({at_kill} rows)"
    );
    // Publishing and storing carry on through another node while this one is down.
    wait_rows_at_least(&db, at_kill + 2_000, "publishing through another node").await;
    assert_ne!(
        js.server_info().port,
        port,
        "the client moved to another node"
    );
    cluster.start_node(node);

    let r = bulk.await.unwrap().expect("every bulk event acknowledged");
    assert_eq!(r.events, n);
    let stats = outbox.stats();
    until("the outbox delivered everything", || async move {
        stats.stored.load(Ordering::Relaxed) + stats.duplicates.load(Ordering::Relaxed) >= m as u64
    })
    .await;
    assert_exactly_stored(&client, &db, (n + m) as i64).await;
    assert!(
        service.try_wait().unwrap().is_none(),
        "the db-service survived the node's death"
    );
    assert_eq!(stats.overflow.load(Ordering::Relaxed), 0);
    stop.cancel();
    outbox_task.await.unwrap();
    common::sigterm_and_wait(&mut service, WAIT).await;
}

// ---- Bots sharing channels through leases ----

const CHANNELS: usize = 30;
const BOT_NAME: &str = "RoseyBot";
/// Short lease time for the test (the default is 15 s): key TTL 3 s, renewals every 0.6 s.
const LEASE_SECS: u64 = 6;
const BUCKET: &str = "rosey_leases";

fn channel(i: usize) -> String {
    format!("room{i}")
}

/// The devserver, with the bots' account.
async fn devserver() -> Arc<DevServer> {
    let server = DevServer::start(DevServerConfig::default().with_account(BOT_NAME, "botpw", 2.0))
        .await
        .unwrap();
    Arc::new(server)
}

/// The lease bucket's channel → holder map; empty when it cannot be read within 2 s (while
/// the bucket has no leader, a request waits for the client's whole request timeout, 10 s,
/// which would blur every time measured around an election).
async fn holders(client: &async_nats::Client) -> HashMap<String, String> {
    let read = rosey_bot::leases::holders(client, BUCKET);
    match tokio::time::timeout(Duration::from_secs(2), read).await {
        Ok(Ok(holders)) => holders,
        _ => HashMap::new(),
    }
}

/// Channels held per process (by pid), from the lease bucket.
async fn shares(client: &async_nats::Client) -> HashMap<u32, usize> {
    let mut per = HashMap::new();
    for holder in holders(client).await.values() {
        *per.entry(holder_pid(holder)).or_default() += 1;
    }
    per
}

/// Does every channel have exactly one bot in it (as the devserver sees it)?
fn every_channel_has_one_bot(server: &DevServer) -> bool {
    (0..CHANNELS).all(|i| bots_in(server, i) == 1)
}

/// Samples the devserver every 10 ms (the bots in each channel).
fn sampler(server: &Arc<DevServer>) -> Sampler {
    let server = server.clone();
    Sampler::start(move || (0..CHANNELS).map(|i| bots_in(&server, i)).collect())
}

/// The bots in channel `i`, as the devserver sees them.
fn bots_in(server: &DevServer, i: usize) -> usize {
    server
        .users(&channel(i))
        .iter()
        .filter(|u| u.name == BOT_NAME)
        .count()
}

/// Waits until process `gone` holds nothing and every channel has one bot again; returns
/// the time since `since`.
async fn taken_over(
    js: &async_nats::Client,
    server: &DevServer,
    gone: u32,
    since: Instant,
) -> Duration {
    until("the channels taken over", || async move {
        let s = shares(js).await;
        every_channel_has_one_bot(server)
            && !s.contains_key(&gone)
            && s.values().sum::<usize>() == CHANNELS
    })
    .await;
    since.elapsed()
}

/// A config for the bots: 30 channels, leases, the given `nats` section.
fn bots_config(dir: &Path, nats: Value, server: &DevServer, lease_secs: u64) -> PathBuf {
    let platforms: Vec<Value> = (0..CHANNELS)
        .map(|i| {
            json!({"type": "cytube", "name": format!("p{i}"), "enabled": true,
                   "domain": server.base_url(), "channel": channel(i),
                   "user": [BOT_NAME, "botpw"], "restart_delay": 1})
        })
        .collect();
    let path = dir.join("bots.json");
    std::fs::write(
        &path,
        serde_json::to_vec(&json!({
            "version": "2.0",
            "nats": nats,
            "platforms": platforms,
            "cluster": {"leases": true, "lease_time": lease_secs, "bucket": BUCKET},
            "logging": {"level": "warn"}
        }))
        .unwrap(),
    )
    .unwrap();
    path
}

/// What the lease tests on one NATS server share: the server, a client of it, the devserver
/// and the bots' configuration (lease time [`LEASE_SECS`]) in a temporary directory (keep
/// `dir` bound: dropping it deletes the configuration).
struct LeaseRig {
    nats: NatsServer,
    client: Bus,
    js: async_nats::Client,
    server: Arc<DevServer>,
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl LeaseRig {
    /// `nats` is the configuration's `nats` section without its `url`.
    async fn start(mut nats_section: Value) -> LeaseRig {
        let nats = NatsServer::start();
        let url = nats.url();
        let client = Bus::connect(NatsOptions::new(&url)).await.unwrap();
        let js = client.nats_client().unwrap().clone();
        let server = devserver().await;
        let dir = tempfile::tempdir().unwrap();
        nats_section["url"] = json!(url);
        let config = bots_config(dir.path(), nats_section, &server, LEASE_SECS);
        LeaseRig {
            nats,
            client,
            js,
            server,
            dir,
            config,
        }
    }
}

/// Sends line `tag-i` in every channel (one guest per channel) and waits until the database
/// holds `total` lines.
async fn chat_round(guests: &[rosey_cytube::CytubeHandle], tag: &str, db: &Path, total: i64) {
    for (i, g) in guests.iter().enumerate() {
        g.chat(&format!("{tag}-{i}")).unwrap();
    }
    wait_rows_at_least(db, total, &format!("{tag} lines stored")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_share_channels_take_over_after_sigkill_and_never_join_twice() {
    let LeaseRig {
        nats: _nats,
        client,
        js,
        server,
        dir,
        config,
    } = LeaseRig::start(json!({"jetstream": true, "reconnect_delay": 0.2})).await;
    let db = dir.path().join("bots.db");
    ensure_db_stream(&js, &StreamSettings::default())
        .await
        .unwrap();
    let mut service = start_db_service(&client, &config, &db).await;

    // At no point two bots in one channel: sampled all along.
    let sampler = sampler(&server);

    let cfg = config.to_str().unwrap();
    let (jsr, srv) = (&js, &*server);
    let mut bots: Vec<Child> = (0..3).map(|_| rosey(&["bot", cfg])).collect();
    let pids: Vec<u32> = bots.iter().map(|b| b.id().unwrap()).collect();
    let first_three = &pids;
    until("three bots sharing 30 channels fairly", || async move {
        let s = shares(jsr).await;
        every_channel_has_one_bot(srv)
            && s.values().sum::<usize>() == CHANNELS
            && first_three
                .iter()
                .all(|p| (1..=CHANNELS / 3 + 1).contains(s.get(p).unwrap_or(&0)))
    })
    .await;
    let mut guests = Vec::new();
    for i in 0..CHANNELS {
        guests.push(
            common::join_guest(&server.base_url(), &channel(i), &format!("g{i}"), WAIT).await,
        );
    }
    chat_round(&guests, "before", &db, CHANNELS as i64).await;

    // SIGKILL the first bot: its channels come back, each to one of the two others, within
    // the lease time.
    let killed = pids[0];
    bots[0].start_kill().unwrap();
    bots[0].wait().await.unwrap();
    let takeover = taken_over(&js, &server, killed, Instant::now()).await;
    eprintln!("taken over after SIGKILL in {takeover:?}");
    assert!(
        takeover <= Duration::from_secs(LEASE_SECS),
        "taken over in {takeover:?}, lease time {LEASE_SECS} s"
    );
    chat_round(&guests, "after-kill", &db, 2 * CHANNELS as i64).await;

    // A fourth process takes a fair share: with three alive, nobody above ⌈30/3⌉ + 1.
    bots.push(rosey(&["bot", cfg]));
    let newcomer = bots[3].id().unwrap();
    until("a fair share for the newcomer", || async move {
        let s = shares(jsr).await;
        every_channel_has_one_bot(srv)
            && s.values().sum::<usize>() == CHANNELS
            && s.len() == 3
            && s.get(&newcomer)
                .is_some_and(|&n| n >= CHANNELS - 2 * (CHANNELS / 3 + 1))
            && s.values().all(|&n| n <= CHANNELS / 3 + 1)
    })
    .await;
    chat_round(&guests, "after-join", &db, 3 * CHANNELS as i64).await;

    // A graceful stop hands over at once: well before a lease could have expired.
    let leaving = pids[1];
    let t0 = Instant::now();
    let status = common::sigterm_and_wait(&mut bots[1], WAIT).await;
    assert!(status.success(), "graceful exit: {status}");
    let handover = taken_over(&js, &server, leaving, t0).await;
    eprintln!("handed over after SIGTERM in {handover:?}");
    assert!(
        handover < Duration::from_secs(LEASE_SECS / 2),
        "handed over in {handover:?}, faster than a lease expiry"
    );
    chat_round(&guests, "after-stop", &db, 4 * CHANNELS as i64).await;

    assert_eq!(
        sampler.finish().await.most_anywhere(),
        1,
        "never two bots in a channel"
    );
    assert_eq!(server.kicks_sent(), 0, "no duplicate-login kick");
    let n = 4 * CHANNELS as i64;
    assert_exactly_stored(&client, &db, n).await;
    for bot in bots.iter_mut().filter(|b| b.id().is_some()) {
        common::sigterm_and_wait(bot, WAIT).await;
    }
    common::sigterm_and_wait(&mut service, WAIT).await;
}

/// The lease bucket on the three-node cluster, three replicas: the node leading the bucket's
/// stream is SIGKILLed (and started again) under three bots sharing 30 channels. Renewals
/// carry on through the other nodes once JetStream has a new leader: never two bots in a
/// channel, no duplicate-login kick, every channel held by exactly one bot at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_on_the_cluster_ride_out_the_death_of_the_lease_bucket_leader() {
    const LEASE: u64 = 10;
    let (mut cluster, urls, client) = start_cluster().await;
    let js = client.nats_client().unwrap().clone();
    let server = devserver().await;
    let dir = tempfile::tempdir().unwrap();
    let nats_section = json!({"url": urls, "reconnect_delay": 0.1,
                              "jetstream_options": {"replicas": 3}});
    let config = bots_config(dir.path(), nats_section, &server, LEASE);
    let sampler = sampler(&server);
    let cfg = config.to_str().unwrap();
    // The supervisor's own steps (acquired, handed over) are logged too: when the recovery
    // below times out, the log says what each bot did.
    let _bots: Vec<Child> = (0..3)
        .map(|_| rosey_logging(&["bot", cfg], Some("warn,rosey_bot::leases=info")))
        .collect();
    let (jsr, srv) = (&js, &*server);
    let all_held = || async move {
        let s = shares(jsr).await;
        every_channel_has_one_bot(srv) && s.values().sum::<usize>() == CHANNELS && s.len() == 3
    };
    until("three bots sharing 30 channels on the cluster", all_held).await;
    let leader_of_bucket = || async move {
        // Short: without a leader nobody answers (see `holders`).
        let m = tokio::time::timeout(
            Duration::from_millis(500),
            jsr.request(
                format!("$JS.API.STREAM.INFO.KV_{BUCKET}"),
                Vec::new().into(),
            ),
        )
        .await
        .ok()?
        .ok()?;
        let v: Value = serde_json::from_slice(&m.payload).ok()?;
        assert_eq!(v["config"]["num_replicas"], 3, "{v}");
        Some(v["cluster"]["leader"].as_str()?.to_owned())
    };
    let leader = leader_of_bucket().await.expect("the bucket has a leader");
    let node: usize = leader.trim_start_matches('n').parse::<usize>().unwrap() - 1;
    sampler.arm();
    cluster.kill(node);
    let t0 = Instant::now();
    let old = leader.as_str();
    // The bots leave their channels when the leases' validity runs out (3 s after the last
    // renewal) and join them again as soon as the stream has a new leader: nats-server's
    // election takes 5-8 s here, so a channel is left for 2-5 s (printed at the end). A
    // clean-clone CI run (cold builds on two cores) once took over 60 s: what this test
    // guards is "never two bots, no kick", so the recovery gets a longer deadline than the
    // other waits.
    until_within("a new leader", RECOVERY_WAIT, || async move {
        leader_of_bucket().await.is_some_and(|l| l != old)
    })
    .await;
    let elected = t0.elapsed();
    let deadline = Instant::now() + RECOVERY_WAIT;
    while !all_held().await {
        if Instant::now() > deadline {
            let bots: Vec<usize> = (0..CHANNELS)
                .map(|i| {
                    let users = server.users(&channel(i));
                    users.iter().filter(|u| u.name == BOT_NAME).count()
                })
                .collect();
            panic!(
                "timed out waiting for every channel held: leases per process {:?}, \
                 bots per channel {bots:?}",
                shares(jsr).await
            );
        }
        tokio::time::sleep(POLL).await;
    }
    eprintln!(
        "bucket leader {leader} killed; a new leader after {elected:?}, every channel held after {:?}",
        t0.elapsed()
    );
    cluster.start_node(node);
    until("every channel held after the restart", all_held).await;
    let seen = sampler.finish().await;
    let (most, gap) = (seen.most_anywhere(), seen.longest_empty);
    eprintln!("the longest a channel was left without a bot: {gap:?}");
    assert_eq!(most, 1, "never two bots in a channel");
    assert_eq!(server.kicks_sent(), 0, "no duplicate-login kick");
}

/// A lease the server never drops (the bucket's `max_age` switched off behind the bots' back,
/// as a server that failed to expire keys would behave) is still taken over once it has
/// stood unrenewed for longer than the key TTL: the holder was SIGKILLed, so without the
/// compare-and-set takeover its channels would stay without a bot for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_the_server_never_expires_is_taken_over_by_its_revision() {
    let LeaseRig {
        nats: _nats,
        js,
        server,
        config,
        dir: _dir,
        ..
    } = LeaseRig::start(json!({})).await;
    let sampler = sampler(&server);
    let cfg = config.to_str().unwrap();
    let (jsr, srv) = (&js, &*server);
    // Both bots open the bucket (each sets its max_age) before the expiry is switched off.
    let mut bots: Vec<Child> = (0..2).map(|_| rosey(&["bot", cfg])).collect();
    until("two bots sharing 30 channels", || async move {
        let s = shares(jsr).await;
        every_channel_has_one_bot(srv) && s.values().sum::<usize>() == CHANNELS && s.len() == 2
    })
    .await;
    let jetstream = async_nats::jetstream::new(js.clone());
    let mut stream = jetstream.get_stream(format!("KV_{BUCKET}")).await.unwrap();
    let mut never = stream.info().await.unwrap().config.clone();
    never.max_age = Duration::ZERO;
    jetstream.update_stream(never).await.unwrap();

    let killed = bots[0].id().unwrap();
    bots[0].start_kill().unwrap();
    bots[0].wait().await.unwrap();
    let survivor = bots[1].id().unwrap();
    let t0 = Instant::now();
    until("every channel held by the survivor", || async move {
        let s = shares(jsr).await;
        every_channel_has_one_bot(srv) && s.get(&survivor) == Some(&CHANNELS)
    })
    .await;
    eprintln!(
        "the leases of {killed}, never expired by the server, taken over after {:?}",
        t0.elapsed()
    );
    let most = sampler.finish().await.most_anywhere();
    assert_eq!(most, 1, "never two bots in a channel");
    assert_eq!(server.kicks_sent(), 0, "no duplicate-login kick");
}

/// The channels each process holds (by pid), from the lease bucket.
async fn held_channels(client: &async_nats::Client) -> HashMap<u32, BTreeSet<String>> {
    let mut per: HashMap<u32, BTreeSet<String>> = HashMap::new();
    for (key, holder) in holders(client).await {
        // `ch.<domain>/<channel>`, the `/` written `=2F`; the rooms are plain words.
        let channel = key.rsplit("=2F").next().unwrap().to_string();
        per.entry(holder_pid(&holder)).or_default().insert(channel);
    }
    per
}

/// What `rosey status --json` lists: the channels of every bot process that answered, each
/// set only of channels the bot says it is in.
async fn status_sets(url: &str) -> Vec<BTreeSet<String>> {
    let out = Command::new(env!("CARGO_BIN_EXE_rosey"))
        .args(["status", "--json", "--wait", "0.5", "--nats-url", url])
        .env_remove("NATS_URL")
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "rosey status: {out:?}");
    let processes: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut sets: Vec<BTreeSet<String>> = processes
        .iter()
        .filter(|p| p["name"] == "rosey-bot")
        .map(|p| {
            assert_eq!(p["metadata"]["leases"], "true", "{p}");
            p["data"]["channels"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["joined"] == true && c["state"] == "running")
                .map(|c| c["channel"].as_str().unwrap().to_string())
                .collect()
        })
        .collect();
    sets.sort();
    sets
}

/// The channels a process's `/metrics` shows connected (`rosey_bot_connected 1`), or `None`
/// when it does not answer or shows a channel not connected.
async fn metrics_set(port: u16) -> Option<BTreeSet<String>> {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let mut set = BTreeSet::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("rosey_bot_connected{"))
    {
        let channel = line.split('"').nth(1)?;
        if !line.ends_with(" 1") {
            return None;
        }
        set.insert(channel.to_string());
    }
    Some(set)
}

/// Does the process answer 200 on `/readyz` (every channel it holds joined)?
async fn ready(port: u16) -> bool {
    let r = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await;
    r.is_ok_and(|r| r.status() == 200)
}

/// Do the status service and the metrics of every process in `bots` (pid, metrics port)
/// show exactly the channels it holds, together every channel, each joined (and the process
/// ready)?
async fn status_follows_leases(js: &async_nats::Client, url: &str, bots: &[(u32, u16)]) -> bool {
    let held = held_channels(js).await;
    let all: BTreeSet<String> = held.values().flatten().cloned().collect();
    if all.len() != CHANNELS || held.len() != bots.len() {
        return false;
    }
    for (pid, port) in bots {
        if metrics_set(*port).await.as_ref() != held.get(pid) || !ready(*port).await {
            return false;
        }
    }
    let mut expected: Vec<BTreeSet<String>> = held.into_values().collect();
    expected.sort();
    status_sets(url).await == expected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_mode_serves_status_and_metrics_for_the_channels_held() {
    let LeaseRig {
        nats,
        js,
        server,
        config,
        dir: _dir,
        ..
    } = LeaseRig::start(json!({"reconnect_delay": 0.2})).await;
    let url = nats.url();
    let cfg = config.to_str().unwrap();
    let spawn = || {
        let port = rosey_testkit::free_port();
        let listen = format!("127.0.0.1:{port}");
        (rosey(&["bot", cfg, "--metrics-listen", &listen]), port)
    };
    let (jsr, u) = (&js, url.as_str());

    // Alone, the first process holds and shows every channel.
    let (mut first, first_port) = spawn();
    let one = [(first.id().unwrap(), first_port)];
    until("one process showing all channels", || {
        status_follows_leases(jsr, u, &one)
    })
    .await;

    // A second one: the first hands half over, and both show their own half.
    let (mut second, second_port) = spawn();
    let two = [one[0], (second.id().unwrap(), second_port)];
    until("two processes showing their halves", || async move {
        let s = shares(jsr).await;
        s.len() == 2
            && s.values().all(|&n| n == CHANNELS / 2)
            && status_follows_leases(jsr, u, &two).await
    })
    .await;

    // The first stops: the second takes over and shows everything.
    let status = common::sigterm_and_wait(&mut first, WAIT).await;
    assert!(status.success(), "graceful exit: {status}");
    let rest = [two[1]];
    until("the remaining process showing all channels", || {
        status_follows_leases(jsr, u, &rest)
    })
    .await;
    assert_eq!(server.kicks_sent(), 0, "no duplicate-login kick");
    common::sigterm_and_wait(&mut second, WAIT).await;
}
