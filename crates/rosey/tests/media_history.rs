//! The media history end to end (issue 28): a real `nats-server`, the devserver playing
//! items to their end at a high playback speed, the bot, the database service (SQLite or
//! PostgreSQL) and the standard plugins with their media services (the media-ending
//! tracker, the blocklist's guard, autoplay), all on the bus. A moderator and guests are
//! CyTube clients over real sockets.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rosey_bot::{Bot, BotConfig, ChannelSpec};
use rosey_bus::Bus;
use rosey_config::media::{AutoplayConfig, MediaConfig};
use rosey_config::plugins::PluginsConfig;
use rosey_cytube::{
    CytubeEvent, CytubeHandle, EventStream, Login, QueuePosition, QueueRequest, ServerEvent,
};
use rosey_dbservice::{DbService, DbServiceConfig, DbServiceHandle};
use rosey_devserver::playlist::invented_seconds;
use rosey_devserver::{DevServer, DevServerConfig};
use rosey_model::media::{
    END_PLAYED, END_REMOVED, END_SKIPPED, END_VOTESKIPPED, MediaItemReply, PlayRow, PlaysReply,
    TopAddersReply,
};
use rosey_model::subjects;
use rosey_store::StoreTarget;
use rosey_testkit::media::{Play, expected_adders, expected_stats};
use rosey_testkit::pg::PgTestDb;
use rosey_testkit::{NatsServer, cytube};
use serde_json::{Value, json};

const CH: &str = "mediachan";
const MOD: &str = "moddy";
const MOD_PW: &str = "mod-pw";
const WAIT: Duration = Duration::from_secs(20);

struct Rig {
    _nats: NatsServer,
    server: DevServer,
    bus: Bus,
    db: Option<DbServiceHandle>,
    bot: Option<Bot>,
    plugins: Option<rosey_stdplugins::Running>,
}

fn settings() -> PluginsConfig {
    PluginsConfig {
        timeout: Duration::from_secs(2),
        discovery_interval: Duration::from_secs(1),
        user_burst: 0,
        channel_burst: 0,
        max_lines: 12,
        ..PluginsConfig::default()
    }
}

async fn rig(speed: Option<f64>, target: StoreTarget, media: MediaConfig) -> Rig {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("rosey_stdplugins=debug")
        .with_test_writer()
        .try_init();
    let nats = NatsServer::start();
    let mut cfg = DevServerConfig::default()
        .with_account(cytube::BOT, cytube::BOT_PW, 3.0)
        .with_account(MOD, MOD_PW, 2.0);
    cfg.playback_speed = speed;
    let server = DevServer::start(cfg).await.expect("devserver starts");
    let bus = cytube::bus(&nats).await;
    let mut db_cfg = DbServiceConfig::new(target, CH);
    db_cfg.batch_delay = Duration::from_millis(5);
    let db = DbService::start(bus.clone(), db_cfg)
        .await
        .expect("database service starts");
    let client = bus.nats_client().unwrap().clone();
    let plugins = rosey_stdplugins::start_with_media(&client, &settings(), &media)
        .await
        .expect("standard plugins start");
    let spec = ChannelSpec::cytube(
        CH,
        CH,
        cytube::client_config(&server, CH, cytube::bot_login()),
    );
    let mut bot_cfg = BotConfig::new(vec![spec]);
    bot_cfg.plugins = Some(settings());
    let bot = Bot::start(bus.clone(), bot_cfg);
    assert!(
        server.wait_for_user(CH, cytube::BOT, WAIT).await,
        "the bot joins"
    );
    Rig {
        _nats: nats,
        server,
        bus,
        db: Some(db),
        bot: Some(bot),
        plugins: Some(plugins),
    }
}

impl Rig {
    async fn ask(&self, subject: &str, body: Value) -> Value {
        let m = self
            .bus
            .request(subject, serde_json::to_vec(&body).unwrap(), WAIT)
            .await
            .expect("the database service answers");
        serde_json::from_slice(&m.payload).unwrap()
    }

    async fn stop(mut self) {
        if let Some(p) = self.plugins.take() {
            p.stop().await;
        }
        if let Some(bot) = self.bot.take() {
            bot.shutdown().await;
        }
        if let Some(db) = self.db.take() {
            db.shutdown().await.unwrap();
        }
    }
}

async fn moderator(server: &DevServer) -> (CytubeHandle, EventStream) {
    cytube::join(
        server,
        CH,
        Login::Registered {
            name: MOD.into(),
            password: MOD_PW.into(),
        },
    )
    .await
}

fn queue(user: &CytubeHandle, id: &str, temp: bool) {
    user.queue(QueueRequest {
        id: id.into(),
        media_type: "yt".into(),
        pos: QueuePosition::End,
        temp,
        title: None,
        duration: None,
    })
    .unwrap();
}

/// `n` media ids whose invented lengths lie in `range` seconds.
fn ids_lasting(n: usize, range: std::ops::RangeInclusive<u64>, tag: &str) -> Vec<String> {
    (0..)
        .map(|i| format!("{tag}{i}"))
        .filter(|id| range.contains(&invented_seconds(id)))
        .take(n)
        .collect()
}

/// The next `changeMedia` the client sees: (media id, uid of `setCurrent` before it).
async fn next_change(events: &mut EventStream, current: &mut Option<u64>) -> (String, u64) {
    tokio::time::timeout(WAIT, async {
        while let Some(e) = events.recv().await {
            match e {
                CytubeEvent::Server(ServerEvent::SetCurrent(uid)) => *current = Some(uid),
                CytubeEvent::Server(ServerEvent::ChangeMedia(c)) => {
                    return (c.media.id.clone(), current.unwrap_or_default());
                }
                _ => {}
            }
        }
        panic!("event stream ended")
    })
    .await
    .expect("the next item starts")
}

/// How the test ends each play: by skipping it (`playNext`), by a vote-skip (the
/// moderator's vote is enough: two users, ratio 0.5), by deleting it (then queued again), or
/// by letting it play out.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    Skip,
    Voteskip,
    Remove,
    PlayOut,
}

impl Fate {
    /// Play `i`'s fate: of every five, one skip, one vote-skip, one removal, two played out.
    fn of(i: usize) -> Fate {
        match i % 5 {
            0 => Fate::Skip,
            1 => Fate::Voteskip,
            2 => Fate::Remove,
            _ => Fate::PlayOut,
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Fate::Skip => END_SKIPPED,
            Fate::Voteskip => END_VOTESKIPPED,
            Fate::Remove => END_REMOVED,
            Fate::PlayOut => END_PLAYED,
        }
    }
}

/// 50 plays — skipped, vote-skipped, removed (and queued again) or played to their end by
/// the server — then the history and every total, exactly.
async fn fifty_plays(target: StoreTarget) -> Rig {
    let speed = 300.0;
    let media = MediaConfig {
        time_scale: speed,
        ..MediaConfig::default()
    };
    let rig = rig(Some(speed), target, media).await;
    let (m, mut events) = moderator(&rig.server).await;
    // 8 media of 60..=120 s (0.2..0.4 s each here), permanent so the list keeps them.
    let ids = ids_lasting(8, 60..=120, "h");
    let mut current = None;
    for id in &ids {
        queue(&m, id, false);
    }
    let mut script: Vec<(String, &str)> = Vec::new();
    let (mut playing, mut uid) = next_change(&mut events, &mut current).await;
    for i in 0..50 {
        let fate = Fate::of(i);
        match fate {
            Fate::Skip => m.play_next().unwrap(),
            Fate::Voteskip => m.voteskip().unwrap(),
            Fate::Remove => m.delete(uid).unwrap(),
            Fate::PlayOut => {}
        }
        script.push((playing.clone(), fate.reason()));
        let (next, next_uid) = next_change(&mut events, &mut current).await;
        if fate == Fate::Remove {
            queue(&m, &playing, false);
        }
        (playing, uid) = (next, next_uid);
    }
    // Every end is recorded: 51 plays, the first 50 ended as scripted.
    let plays: Vec<PlayRow> = rosey_testkit::eventually("51 plays, 50 ended", WAIT, || async {
        let r = rig
            .ask(subjects::QUERY_MEDIA_RECENT, json!({"limit": 100}))
            .await;
        let r: PlaysReply = serde_json::from_value(r).unwrap();
        let ended = r.plays.iter().filter(|p| p.end_reason.is_some()).count();
        (r.plays.len() == 51 && ended == 50).then_some(r.plays)
    })
    .await;
    let mut plays = plays;
    plays.reverse();
    let current_play = plays.pop().unwrap();
    assert_eq!(current_play.media_id, playing);
    for (i, (p, (id, how))) in plays.iter().zip(&script).enumerate() {
        assert_eq!(
            (p.media_id.as_str(), p.end_reason.as_deref()),
            (id.as_str(), Some(*how)),
            "play {i}"
        );
        assert_eq!(p.queued_by.as_deref(), Some(MOD));
        let played = p.played.unwrap();
        if *how == END_PLAYED {
            assert_eq!(played, p.duration, "play {i} played out");
        } else {
            assert!(played < p.duration, "play {i}: {played} of {}", p.duration);
        }
    }
    let counted = |how: &str| script.iter().filter(|s| s.1 == how).count();
    assert_eq!(
        (
            counted(END_PLAYED),
            counted(END_SKIPPED),
            counted(END_VOTESKIPPED),
            counted(END_REMOVED)
        ),
        (20, 10, 10, 10)
    );
    // Every total, against a count made from the recorded plays.
    let as_plays: Vec<Play> = plays
        .iter()
        .chain(std::iter::once(&current_play))
        .map(|p| Play {
            media_type: p.media_type.clone(),
            media_id: p.media_id.clone(),
            title: p.title.clone().unwrap_or_default(),
            duration: p.duration,
            queued_by: p.queued_by.clone(),
            start: p.timestamp,
            end: p
                .end_reason
                .clone()
                .map(|r| (r, p.ended_at.unwrap(), p.played.unwrap())),
        })
        .collect();
    let want = expected_stats(&as_plays);
    assert_eq!(want.len(), ids.len());
    let vote_skips: i64 = want.values().map(|s| s.vote_skips).sum();
    assert_eq!(vote_skips, 10);
    for ((t, id), stats) in &want {
        let r = rig
            .ask(
                subjects::QUERY_MEDIA_ITEM,
                json!({"type": t, "media_id": id, "limit": 100}),
            )
            .await;
        let r: MediaItemReply = serde_json::from_value(r).unwrap();
        assert_eq!(r.stats.as_ref(), Some(stats), "{t}:{id}");
        assert_eq!(r.plays.len() as i64, stats.plays);
    }
    let adders: TopAddersReply =
        serde_json::from_value(rig.ask(subjects::QUERY_MEDIA_TOP_ADDERS, json!({})).await).unwrap();
    assert_eq!(adders.adders, expected_adders(&as_plays));
    assert_eq!(adders.adders[0].plays, 51);
    rig
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_plays_on_sqlite_then_copied_to_postgres_give_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("media.db");
    let rig = fifty_plays(StoreTarget::Sqlite(path.clone())).await;
    rig.stop().await;
    // `rosey db copy`: the history, the totals and every answer, identical on PostgreSQL.
    let pg = PgTestDb::create("media_copy");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rosey"))
        .args(["db", "copy", "--from"])
        .arg(&path)
        .args(["--to", &pg.url()])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    // The blocking PostgreSQL client runs on a thread of its own.
    let url = pg.url();
    std::thread::spawn(move || compare_copy(path, url))
        .join()
        .unwrap();
}

fn compare_copy(path: std::path::PathBuf, url: String) {
    let opts = rosey_store::StoreOptions::with_channel(CH);
    let mut src = rosey_store::storage::open(&StoreTarget::Sqlite(path), &opts).unwrap();
    let mut dst = rosey_store::storage::open(&StoreTarget::Postgres(url), &opts).unwrap();
    assert_eq!(dst.count_rows("media_history").unwrap(), 51);
    assert_eq!(
        src.media_recent(CH, None, 100).unwrap(),
        dst.media_recent(CH, None, 100).unwrap()
    );
    assert_eq!(
        src.media_most_played(CH, None, 100).unwrap(),
        dst.media_most_played(CH, None, 100).unwrap()
    );
    for m in src.media_most_played(CH, None, 100).unwrap() {
        assert_eq!(
            src.media_item(CH, &m.media_type, &m.media_id, 100).unwrap(),
            dst.media_item(CH, &m.media_type, &m.media_id, 100).unwrap()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_plays_on_postgres() {
    let pg = PgTestDb::create("media_fifty");
    let rig = fifty_plays(StoreTarget::Postgres(pg.url())).await;
    rig.stop().await;
}

/// `!random` queues a played item; a blocked item queued by a guest is removed within a
/// second and the guest told why; `!history`, `!mostplayed`, `!lastplayed` answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_adds_a_played_item_and_a_blocked_item_is_removed_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let rig = rig(
        None,
        StoreTarget::Sqlite(dir.path().join("m.db")),
        MediaConfig::default(),
    )
    .await;
    let (m, _m_events) = moderator(&rig.server).await;
    // History: three media played an hour ago (published as the bot publishes them).
    let now = rosey_store::now_secs();
    let played = ["old1", "old2", "old3"];
    for (i, id) in played.iter().enumerate() {
        let body = json!({"type": "yt", "media_id": id, "title": format!("Oldie {id}"),
                          "duration": 100, "queued_by": "ann", "channel": CH,
                          "ts": (now - 3600 + i as i64 * 100) as f64});
        rig.bus
            .publish(
                subjects::MEDIA_PLAYED,
                bytes::Bytes::from(serde_json::to_vec(&body).unwrap()),
            )
            .await
            .unwrap();
    }
    let (guest, mut guest_events) = cytube::join(&rig.server, CH, Login::Guest("gus".into())).await;
    let line = cytube::first_answer(&rig.server, CH, &guest, "!random", "Random pick").await;
    assert!(line.starts_with("Random pick for gus: Oldie old"), "{line}");
    let list = rig.server.playlist(CH);
    assert_eq!(list.len(), 1);
    assert!(played.contains(&list[0].id.as_str()), "{list:?}");
    assert_eq!(list[0].queueby, cytube::BOT);

    let from = rig.server.chat_log(CH).len();
    guest.chat("!history").unwrap();
    let h = cytube::bot_line_where(&rig.server, CH, from, WAIT, |l| l.starts_with("Last "))
        .await
        .expect("!history answers");
    assert!(h.starts_with("Last 4 played:"), "{h}");
    let from = rig.server.chat_log(CH).len();
    // One the pick did not play again (a play takes the server's title: "YouTube <id>").
    let other = played.iter().rev().find(|id| **id != list[0].id).unwrap();
    guest
        .chat(&format!("!lastplayed oldie {}", other.to_uppercase()))
        .unwrap();
    let l = cytube::bot_line_where(&rig.server, CH, from, WAIT, |l| l.contains("last played"))
        .await
        .unwrap_or_else(|| {
            panic!(
                "!lastplayed answers: {:?}",
                cytube::bot_lines(&rig.server, CH, from)
            )
        });
    let ago = if *other == "old3" { "56m" } else { "58m" };
    assert!(
        l.starts_with(&format!("Oldie {other} was last played {ago}")),
        "{l}"
    );
    let from = rig.server.chat_log(CH).len();
    guest.chat("!mostplayed week").unwrap();
    let l = cytube::bot_line_where(&rig.server, CH, from, WAIT, |l| {
        l.starts_with("Most played")
    })
    .await
    .expect("!mostplayed answers");
    assert!(l.starts_with("Most played this week: 1. "), "{l}");

    // Guests may not edit the blocklist; the moderator may.
    let from = rig.server.chat_log(CH).len();
    m.chat("!blacklist add yt:bad0 too loud").unwrap();
    cytube::bot_line_where(&rig.server, CH, from, WAIT, |l| l == "Blocked yt:bad0.")
        .await
        .expect("the moderator blocks an item");
    queue(&guest, "bad0", true);
    let queued = Instant::now();
    let pm = cytube::next_pm(&mut guest_events, WAIT).await;
    assert!(
        pm.contains("was removed from the playlist: it is on this channel's blocklist"),
        "{pm}"
    );
    let gone = rig.server.playlist(CH).iter().all(|i| i.id != "bad0");
    assert!(
        gone && queued.elapsed() < Duration::from_secs(1),
        "{:?}",
        queued.elapsed()
    );
    let from = rig.server.chat_log(CH).len();
    m.chat("!blacklist list").unwrap();
    cytube::bot_line_where(&rig.server, CH, from, WAIT, |l| l == "Blocked (1): yt:bad0")
        .await
        .expect("the list");
    // `!random` never picks a blocked item.
    let from = rig.server.chat_log(CH).len();
    m.chat("!blacklist add yt:old1").unwrap();
    m.chat("!blacklist add yt:old2").unwrap();
    m.chat("!blacklist add yt:old3").unwrap();
    cytube::bot_line_where(&rig.server, CH, from, WAIT, |l| l == "Blocked yt:old3.")
        .await
        .expect("three more blocked");
    let from = rig.server.chat_log(CH).len();
    guest.chat("!random").unwrap();
    let l = cytube::bot_line_where(&rig.server, CH, from, WAIT, |l| l.starts_with("Nothing"))
        .await
        .expect("!random has nothing left");
    assert_eq!(l, "Nothing has played here yet to pick from.");
    rig.stop().await;
}

/// Autoplay keeps a 3-item floor for 10 minutes of simulated time, repeats nothing inside
/// its window, and adds nothing while a user's item is on the list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autoplay_keeps_a_floor_repeats_nothing_and_yields_to_people() {
    // 60× : a simulated minute per real second; items of 60..=120 s last 1..2 s.
    let speed = 60.0;
    let avoid_hours = 0.1; // 6 simulated minutes = 6 real seconds
    let mut media = MediaConfig {
        time_scale: speed,
        ..MediaConfig::default()
    };
    media.autoplay.insert(
        CH.into(),
        AutoplayConfig {
            enabled: true,
            min_items: 3,
            avoid_hours,
            max_per_hour: 1000,
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let rig = rig(
        Some(speed),
        StoreTarget::Sqlite(dir.path().join("a.db")),
        media,
    )
    .await;
    // A history of 12 short media, played half a day ago.
    let now = rosey_store::now_secs();
    let ids = ids_lasting(12, 60..=120, "ap");
    for (i, id) in ids.iter().enumerate() {
        let body = json!({"type": "yt", "media_id": id, "title": format!("Tune {id}"),
                          "duration": invented_seconds(id), "channel": CH,
                          "ts": (now - 43_200 + i as i64) as f64});
        rig.bus
            .publish(
                subjects::MEDIA_PLAYED,
                bytes::Bytes::from(serde_json::to_vec(&body).unwrap()),
            )
            .await
            .unwrap();
    }
    // The bot's first playlist event (any change) starts autoplay; nobody has added.
    let (m, _events) = moderator(&rig.server).await;
    rosey_testkit::eventually("autoplay fills the list", WAIT, || async {
        (rig.server.playlist(CH).len() >= 3).then_some(())
    })
    .await;
    // Ten simulated minutes: sample the list every 20 ms.
    let mut adds: Vec<(String, Instant)> = Vec::new();
    let mut seen: BTreeSet<u64> = BTreeSet::new();
    let (mut below, mut samples, mut longest_dip) = (0usize, 0usize, Duration::ZERO);
    let mut dip_since: Option<Instant> = None;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        let list = rig.server.playlist(CH);
        for item in &list {
            if seen.insert(item.uid) {
                assert_eq!(item.queueby, cytube::BOT, "only autoplay adds");
                assert!(item.temp, "autoplay adds temporary items");
                adds.push((item.id.clone(), Instant::now()));
            }
        }
        samples += 1;
        if list.len() < 3 {
            below += 1;
            let since = *dip_since.get_or_insert_with(Instant::now);
            longest_dip = longest_dip.max(since.elapsed());
        } else {
            dip_since = None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        adds.len() >= 5,
        "{} adds in 10 simulated minutes",
        adds.len()
    );
    assert!(
        longest_dip < Duration::from_millis(500),
        "the list stayed below 3 for {longest_dip:?} ({below} of {samples} samples)"
    );
    let window = Duration::from_secs_f64(avoid_hours * 3600.0 / speed);
    for (i, (id, at)) in adds.iter().enumerate() {
        for (id2, at2) in &adds[i + 1..] {
            assert!(
                id != id2 || at2.duration_since(*at) >= window,
                "{id} added twice inside the window"
            );
        }
    }
    // A user adds a long item: autoplay adds nothing while it is on the list.
    let long = ids_lasting(1, 500..=600, "long").remove(0);
    queue(&m, &long, true);
    rosey_testkit::eventually("the user's item is queued", WAIT, || async {
        rig.server
            .playlist(CH)
            .iter()
            .any(|i| i.id == long)
            .then_some(())
    })
    .await;
    let bot_items = |rig: &Rig| -> BTreeSet<u64> {
        rig.server
            .playlist(CH)
            .iter()
            .filter(|i| i.queueby == cytube::BOT)
            .map(|i| i.uid)
            .collect()
    };
    // An add autoplay decided before the user's may land just after it: half a second
    // of grace, then nothing new.
    let mut known: BTreeSet<u64> = seen.clone();
    let grace = Instant::now() + Duration::from_millis(500);
    while Instant::now() < grace {
        known.extend(bot_items(&rig));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let until = Instant::now() + Duration::from_secs(4);
    let mut dropped_below = false;
    while Instant::now() < until {
        let list = rig.server.playlist(CH);
        dropped_below |= list.len() < 3;
        assert!(
            bot_items(&rig).is_subset(&known),
            "autoplay added while a user's item was queued: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(dropped_below, "the list fell below the floor meanwhile");
    rig.stop().await;
}
