//! End-to-end tests of the bot with real components: a real `nats-server`, the database
//! service (on SQLite files), the devserver and CyTube clients over real sockets.

use std::{path::PathBuf, time::Duration};

use rosey_bot::{Bot, BotConfig, ChannelSpec, Intervals};
use rosey_bus::Bus;
use rosey_cytube::{CytubeEvent, CytubeHandle, EventStream, Login, ServerEvent};
use rosey_devserver::{DevServer, DevServerConfig};
use rosey_model::{
    decode, decode_list, encode,
    payload::{ChannelStatsReply, ChatRow, EnqueueReply, UserStatsReply},
    subjects,
};
use rosey_testkit::{
    cytube::{BOT, BOT_PW, Services, bot_login, client_config, db_service, join},
    eventually,
};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(15);
const MOD: &str = "moddy";
const MOD_PW: &str = "mod-pw";
/// A channel admin (rank 3, like the bot): the bot may not mute or ban it.
const BOSS: &str = "boss";

/// The shared [`Services`] (reached through `Deref`) and the bot.
struct Rig {
    services: Services,
    bot: Option<Bot>,
}

rosey_testkit::deref_services!(Rig);

fn intervals() -> Intervals {
    Intervals {
        user_count: Duration::from_millis(300),
        status: Duration::from_millis(200),
        pump: Duration::from_millis(200),
        pump_request_timeout: Duration::from_secs(1),
        shell_db_timeout: Duration::from_secs(1),
    }
}

async fn rig(channels: &[&str]) -> Rig {
    rig_with(channels, intervals(), &[]).await
}

/// A rig with these intervals; `queued` (channel, message) are queued for sending before the
/// bot starts.
async fn rig_with(channels: &[&str], intervals: Intervals, queued: &[(&str, &str)]) -> Rig {
    // Logs go to the test's captured output: shown only when a test fails.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            "rosey_bot=debug,rosey_cytube=debug,rosey_devserver=info,rosey_dbservice=info",
        )
        .with_test_writer()
        .try_init();
    let services = Services::start(
        DevServerConfig::default()
            .with_account(BOT, BOT_PW, 3.0)
            .with_account(MOD, MOD_PW, 2.0)
            .with_account(BOSS, "boss-pw", 3.0),
        channels[0],
    )
    .await;
    let (server, bus) = (&services.server, &services.bus);
    for (channel, message) in queued {
        request(
            bus,
            subjects::OUTBOUND_ENQUEUE,
            json!({"channel": channel, "message": message}),
        )
        .await;
    }
    let specs = channels
        .iter()
        .map(|ch| ChannelSpec::cytube(ch, ch, client_config(server, ch, bot_login())))
        .collect();
    let mut cfg = BotConfig::new(specs);
    cfg.intervals = intervals;
    // A short breaker cool-down: a test that restarts the service gets answers soon after.
    cfg.breaker.cooldown = Duration::from_millis(300);
    let bot = Bot::start(bus.clone(), cfg);
    for ch in channels {
        assert!(server.wait_for_user(ch, BOT, WAIT).await, "bot joins {ch}");
    }
    Rig {
        services,
        bot: Some(bot),
    }
}

impl Rig {
    /// Media ids of the server's playlist, in order.
    fn server_playlist_ids(&self, channel: &str) -> Vec<String> {
        self.server
            .playlist(channel)
            .into_iter()
            .map(|i| i.id)
            .collect()
    }

    async fn stop(mut self) {
        if let Some(bot) = self.bot.take() {
            bot.shutdown().await;
        }
        self.stop_db().await;
    }
}

/// Connects the moderator account and waits until it has joined.
async fn join_moderator(server: &DevServer, channel: &str) -> (CytubeHandle, EventStream) {
    join(
        server,
        channel,
        Login::Registered {
            name: MOD.into(),
            password: MOD_PW.into(),
        },
    )
    .await
}

/// The next PM addressed to this client (not its own echo), joined into one text.
async fn next_pm(events: &mut EventStream) -> String {
    rosey_testkit::cytube::next_pm(events, WAIT).await
}

/// PMs until one contains `needle`; returns every text seen.
async fn pm_containing(events: &mut EventStream, needle: &str) -> String {
    let mut seen = String::new();
    loop {
        let text = next_pm(events).await;
        seen.push_str(&text);
        seen.push('\n');
        if seen.contains(needle) {
            return seen;
        }
    }
}

/// Asks the bot for `playlist` until the listed titles satisfy `ok`; returns them in order.
async fn playlist_until(
    moderator: &CytubeHandle,
    events: &mut EventStream,
    ok: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    for _ in 0..100 {
        moderator.pm(BOT, "playlist").unwrap();
        let text = pm_containing(events, "Playlist (").await;
        // Lines arrive joined by " | "; items look like "1. Title [mm:ss]" (► marks the current).
        let items: Vec<String> = text
            .split(['|', '\n'])
            .map(|l| l.trim().trim_start_matches("► "))
            .filter_map(|l| l.split_once(". ").filter(|(n, _)| n.parse::<u32>().is_ok()))
            .map(|(_, rest)| {
                rest.rsplit_once(" [")
                    .map(|(t, _)| t)
                    .unwrap_or(rest)
                    .to_string()
            })
            .collect();
        if ok(&items) {
            return items;
        }
    }
    panic!("the playlist never reached the expected state");
}

async fn request(bus: &Bus, subject: &str, body: serde_json::Value) -> bytes::Bytes {
    bus.request(subject, encode(&body), Duration::from_secs(2))
        .await
        .expect("database service answers")
        .payload
}

async fn user_stats(bus: &Bus, channel: &str, name: &str) -> UserStatsReply {
    decode(
        &request(
            bus,
            subjects::QUERY_USER_STATS,
            json!({"channel": channel, "username": name}),
        )
        .await,
    )
    .expect("user_stats reply")
}

async fn channel_stats(bus: &Bus, channel: &str) -> ChannelStatsReply {
    decode(
        &request(
            bus,
            subjects::QUERY_CHANNEL_STATS,
            json!({"channel": channel}),
        )
        .await,
    )
    .expect("channel_stats reply")
}

async fn recent_chat(bus: &Bus, channel: &str) -> Vec<ChatRow> {
    decode_list(&request(bus, subjects::RECENT_CHAT_GET, json!({"channel": channel})).await)
        .expect("recent_chat reply")
}

fn audit_rows(db: &PathBuf) -> Vec<(String, String, String)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare("SELECT username, action_type, details FROM user_actions ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visit_is_recorded_and_moderators_get_real_figures() {
    let rig = rig(&["lobby"]).await;
    let bus = rig.bus.clone();
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;

    // A guest joins, chats (with HTML-significant characters), and leaves.
    let (guest, mut guest_events) =
        join(&rig.server, "lobby", Login::Guest("visitor".into())).await;
    guest.chat("hello <there> & welcome").unwrap();
    guest.chat("second line").unwrap();
    let rows = eventually("two chat rows", WAIT, || async {
        let rows = recent_chat(&bus, "lobby").await;
        (rows.iter().filter(|r| r.username == "visitor").count() == 2).then_some(rows)
    })
    .await;
    let mine: Vec<_> = rows
        .iter()
        .filter(|r| r.username == "visitor")
        .map(|r| r.message.as_str())
        .collect();
    assert_eq!(mine, vec!["hello <there> & welcome", "second line"]);

    // A moderator asks for the statistics and for the guest's figures.
    let (moderator, mut mod_events) = join_moderator(&rig.server, "lobby").await;
    // A non-moderator's command is neither answered nor executed.
    guest.pm(BOT, "stats").unwrap();
    moderator.pm(BOT, "!stats").unwrap();
    let stats = pm_containing(&mut mod_events, "Top Chatters").await;
    assert!(stats.contains("=== Channel Statistics ==="), "{stats}");
    assert!(stats.contains("1. visitor: 2 messages"), "{stats}");
    moderator.pm(BOT, "user visitor").unwrap();
    let user = pm_containing(&mut mod_events, "Chat messages").await;
    assert!(user.contains("Chat messages: 2"), "{user}");
    assert!(user.contains("Status: Currently connected"), "{user}");
    moderator.pm(BOT, "frobnicate").unwrap();
    let unknown = pm_containing(&mut mod_events, "Unknown command").await;
    assert!(unknown.contains("Unknown command: frobnicate"), "{unknown}");
    assert!(
        !rig.server
            .pm_log()
            .iter()
            .any(|p| p.from == BOT && p.to.eq_ignore_ascii_case("visitor")),
        "the guest must get no reply"
    );
    while let Ok(Some(e)) =
        tokio::time::timeout(Duration::from_millis(1), guest_events.recv()).await
    {
        assert!(
            !matches!(&e, CytubeEvent::Server(ServerEvent::Pm(pm)) if !pm.from_self),
            "guest received a PM: {e:?}"
        );
    }

    // The guest leaves: the session is closed and its time added.
    guest.shutdown().await;
    let finished = eventually("closed session", WAIT, || async {
        match user_stats(&bus, "lobby", "visitor").await {
            UserStatsReply::Found(u) if u.current_session_start.is_none() => Some(u),
            _ => None,
        }
    })
    .await;
    let ended = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert_eq!(finished.total_chat_lines, 2);
    assert!(finished.first_seen >= started - 1 && finished.last_seen <= ended + 1);
    assert!(finished.total_time_connected >= 0);
    assert!(finished.total_time_connected <= ended - started + 1);

    // High-water marks: bot + guest + moderator were in the channel together.
    let cs = channel_stats(&bus, "lobby").await;
    assert_eq!(cs.high_water_mark.users, 3, "{cs:?}");
    assert!(cs.high_water_connected.users >= 3, "{cs:?}");
    assert!(cs.total_users_seen >= 3);

    // The audit table has a pending and a final row for every accepted command, and none
    // for the guest.
    let audit = eventually("audit rows", WAIT, || async {
        let rows = audit_rows(&rig.db_path);
        (rows.len() >= 6).then_some(rows)
    })
    .await;
    assert!(
        audit.iter().all(|(u, t, _)| u == MOD && t == "pm_command"),
        "{audit:?}"
    );
    for cmd in ["stats", "user"] {
        assert!(audit.iter().any(
            |(_, _, d)| d.starts_with(&format!("cmd={cmd},")) && d.contains("result: pending")
        ));
        assert!(audit.iter().any(
            |(_, _, d)| d.starts_with(&format!("cmd={cmd},")) && d.contains("result: success")
        ));
    }
    assert!(
        audit
            .iter()
            .any(|(_, _, d)| d.starts_with("cmd=frobnicate,") && d.contains("result: error"))
    );
    moderator.shutdown().await;
    rig.stop().await;
}

/// The pump polls only every hour here: a queued message still goes out at once, because
/// the database service wakes the channel's pump after `outbound.enqueue`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_message_wakes_the_pump() {
    let rig = rig_with(
        &["wakechan", "otherchan"],
        Intervals {
            pump: Duration::from_secs(3600),
            ..intervals()
        },
        &[],
    )
    .await;
    let reply: EnqueueReply = decode(
        &request(
            &rig.bus,
            subjects::OUTBOUND_ENQUEUE,
            json!({"channel": "wakechan", "message": "right away"}),
        )
        .await,
    )
    .unwrap();
    assert!(reply.success);
    assert!(rig.server.wait_for_chat_count("wakechan", 1, WAIT).await);
    let log: Vec<_> = rig
        .server
        .chat_log("wakechan")
        .into_iter()
        .map(|c| c.msg)
        .collect();
    assert_eq!(log, vec!["right away"]);
    assert!(
        rig.server.chat_log("otherchan").is_empty(),
        "only the channel it was queued for"
    );
    rig.stop().await;
}

/// A message queued before the bot is in the channel (nobody to wake yet) goes out once it
/// has joined, although the pump polls only every hour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_queued_before_the_bot_joined_goes_out_after_the_join() {
    let rig = rig_with(
        &["earlychan"],
        Intervals {
            pump: Duration::from_secs(3600),
            ..intervals()
        },
        &[("earlychan", "queued early")],
    )
    .await;
    assert!(rig.server.wait_for_chat_count("earlychan", 1, WAIT).await);
    let log: Vec<_> = rig
        .server
        .chat_log("earlychan")
        .into_iter()
        .map(|c| c.msg)
        .collect();
    assert_eq!(log, vec!["queued early"]);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn say_reaches_the_channel_exactly_once() {
    let rig = rig(&["saychan"]).await;
    let reply: EnqueueReply = decode(
        &request(
            &rig.bus,
            subjects::OUTBOUND_ENQUEUE,
            json!({"channel": "saychan", "message": "hello from the queue"}),
        )
        .await,
    )
    .unwrap();
    assert!(reply.success && reply.id > 0);
    assert!(rig.server.wait_for_chat_count("saychan", 1, WAIT).await);
    // The service records it as sent; later pump rounds must not send it again.
    eventually("mark_sent applied", WAIT, || async {
        let conn = rusqlite::Connection::open_with_flags(
            &rig.db_path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .ok()?;
        let sent: i64 = conn
            .query_row(
                "SELECT sent FROM outbound_messages WHERE id = ?1",
                [reply.id],
                |r| r.get(0),
            )
            .ok()?;
        (sent == 1).then_some(())
    })
    .await;
    // A later message proves the pump kept running after the first one.
    request(
        &rig.bus,
        subjects::OUTBOUND_ENQUEUE,
        json!({"channel": "saychan", "message": "second"}),
    )
    .await;
    assert!(rig.server.wait_for_chat_count("saychan", 2, WAIT).await);
    let log: Vec<_> = rig
        .server
        .chat_log("saychan")
        .into_iter()
        .filter(|c| c.username == BOT)
        .map(|c| c.msg)
        .collect();
    assert_eq!(log, vec!["hello from the queue", "second"]);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_channels_in_one_process_do_not_mix() {
    let rig = rig(&["north", "south"]).await;
    let bus = rig.bus.clone();
    let (a, _ea) = join(&rig.server, "north", Login::Guest("nora".into())).await;
    let (b, _eb) = join(&rig.server, "south", Login::Guest("sam".into())).await;
    a.chat("only in the north").unwrap();
    b.chat("only in the south").unwrap();
    b.chat("south again").unwrap();
    let north = eventually("north chat", WAIT, || async {
        let r = recent_chat(&bus, "north").await;
        r.iter().any(|c| c.username == "nora").then_some(r)
    })
    .await;
    let south = eventually("south chat", WAIT, || async {
        let r = recent_chat(&bus, "south").await;
        (r.iter().filter(|c| c.username == "sam").count() == 2).then_some(r)
    })
    .await;
    assert!(north.iter().all(|c| c.username != "sam"), "{north:?}");
    assert!(south.iter().all(|c| c.username != "nora"), "{south:?}");
    match user_stats(&bus, "north", "sam").await {
        UserStatsReply::NotFound(_) => {}
        other => panic!("sam must be unknown in the north: {other:?}"),
    }
    match user_stats(&bus, "south", "sam").await {
        UserStatsReply::Found(u) => assert_eq!(u.total_chat_lines, 2),
        other => panic!("sam must be known in the south: {other:?}"),
    }
    assert_eq!(channel_stats(&bus, "north").await.high_water_mark.users, 2);
    assert_eq!(channel_stats(&bus, "south").await.high_water_mark.users, 2);
    a.shutdown().await;
    b.shutdown().await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_survives_the_database_service_going_away() {
    let mut rig = rig(&["sturdy"]).await;
    let (moderator, mut mod_events) = join_moderator(&rig.server, "sturdy").await;
    moderator.pm(BOT, "stats").unwrap();
    pm_containing(&mut mod_events, "=== Channel Statistics ===").await;

    // The service goes away: the bot stays in the channel and says the stats are unavailable.
    rig.db.take().unwrap().shutdown().await.unwrap();
    moderator.pm(BOT, "stats").unwrap();
    let down = pm_containing(&mut mod_events, "unavailable").await;
    // The plain answer, or the breaker's (the pump's failed queries may have opened it).
    assert!(
        down.contains("Stats unavailable (DatabaseService timeout - is it running?)")
            || down.contains("Stats unavailable: database unavailable, retrying in"),
        "{down}"
    );
    assert!(
        rig.server.users("sturdy").iter().any(|u| u.name == BOT),
        "bot left the channel"
    );

    // Back again: chat is stored and the shell answers with real figures.
    rig.db = Some(db_service(&rig.bus, &rig.db_path, "sturdy").await);
    moderator.chat("back online").unwrap();
    let bus = rig.bus.clone();
    eventually("chat stored after restart", WAIT, || async {
        recent_chat(&bus, "sturdy")
            .await
            .iter()
            .any(|c| c.message == "back online")
            .then_some(())
    })
    .await;
    // The breaker may still be open for its short cool-down: ask until it has closed.
    let mut up = String::new();
    for _ in 0..20 {
        moderator.pm(BOT, "stats").unwrap();
        up = pm_containing(&mut mod_events, "Stat").await;
        if up.contains("Top Chatters") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up.contains(&format!("1. {MOD}: 1 messages")), "{up}");
    moderator.shutdown().await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderators_edit_the_playlist_by_pm() {
    let rig = rig(&["tunes"]).await;
    let (moderator, mut mod_events) = join_moderator(&rig.server, "tunes").await;
    moderator.pm(BOT, "add yt:first11111 perm").unwrap();
    let added = pm_containing(&mut mod_events, "Added").await;
    assert!(
        added.contains("Added: yt:first11111 (permanent)"),
        "{added}"
    );
    moderator
        .pm(BOT, "add https://youtu.be/second2222")
        .unwrap();
    pm_containing(&mut mod_events, "(temporary)").await;
    moderator.pm(BOT, "add https://example.com/page").unwrap();
    let refused = pm_containing(&mut mod_events, "Unsupported").await;
    assert!(refused.contains("Unsupported media URL"), "{refused}");

    // Wait until the bot's view of the playlist has both items, then move the second first.
    let before = playlist_until(&moderator, &mut mod_events, |items| items.len() == 2).await;
    moderator.pm(BOT, "move 2 1").unwrap();
    pm_containing(&mut mod_events, "Moved item 2 to position 1").await;
    moderator.pm(BOT, "remove 9").unwrap();
    let range = pm_containing(&mut mod_events, "Position must be").await;
    assert!(
        range.contains("Position must be between 1 and 2"),
        "{range}"
    );
    // The server applied the move: the bot's `playlist` lists the items the other way round.
    let after = playlist_until(&moderator, &mut mod_events, |items| {
        items.first() == before.get(1)
    })
    .await;
    assert_eq!(after, vec![before[1].clone(), before[0].clone()]);
    // `pause` needs the bot to be leader; once it is, everyone sees the playback pause.
    moderator.assign_leader(BOT).unwrap();
    let mut saw_pause = false;
    for _ in 0..100 {
        moderator.pm(BOT, "pause").unwrap();
        let reply = tokio::time::timeout(WAIT, async {
            while let Some(e) = mod_events.recv().await {
                match e {
                    CytubeEvent::Server(ServerEvent::MediaUpdate { paused: true, .. }) => {
                        saw_pause = true
                    }
                    CytubeEvent::Server(ServerEvent::Pm(pm)) if !pm.from_self => return pm.text,
                    _ => {}
                }
            }
            panic!("event stream ended")
        })
        .await
        .expect("a reply to pause");
        if reply == "Paused" {
            break;
        }
        assert_eq!(reply, "I need to be leader to pause");
    }
    assert!(saw_pause, "the channel never saw the pause");
    assert_eq!(
        command(&moderator, &mut mod_events, "play").await,
        "Playing"
    );

    // A counted vote is answered with the server's own tally.
    moderator.pm(BOT, "voteskip").unwrap();
    let vote = pm_containing(&mut mod_events, "Voteskip:").await;
    let tally = vote
        .split("Voteskip: ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .unwrap_or_default();
    let (count, need) = tally
        .split_once('/')
        .unwrap_or_else(|| panic!("no tally in {vote}"));
    assert_eq!(count, "1", "{vote}");
    assert!(need.parse::<u32>().unwrap() >= 1, "{vote}");
    moderator.pm(BOT, "remove 1").unwrap();
    let removed = pm_containing(&mut mod_events, "Removed 1.").await;
    assert!(removed.contains(&after[0]), "{removed}");
    playlist_until(&moderator, &mut mod_events, |items| {
        items == [after[1].clone()]
    })
    .await;
    // Skipping with one item left plays it again from the start.
    let skipped = command(&moderator, &mut mod_events, "skip").await;
    assert_eq!(skipped, format!("Skipped to the next item: {}", after[1]));
    moderator.shutdown().await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_survives_nats_going_away() {
    let mut rig = rig(&["windy"]).await;
    let (moderator, mut mod_events) = join_moderator(&rig.server, "windy").await;
    moderator.pm(BOT, "stats").unwrap();
    pm_containing(&mut mod_events, "=== Channel Statistics ===").await;

    // NATS goes away: the bot stays in the channel, and the shell still answers.
    rig.nats.stop();
    moderator.pm(BOT, "stats").unwrap();
    let down = pm_containing(&mut mod_events, "unavailable").await;
    assert!(down.contains("Stats unavailable"), "{down}");
    moderator.pm(BOT, "users").unwrap();
    let users = pm_containing(&mut mod_events, "Users in channel").await;
    assert!(users.contains(MOD), "{users}");
    assert!(rig.server.users("windy").iter().any(|u| u.name == BOT));

    // NATS is back: the bot, the service and this test's client reconnect by themselves,
    // and chat is stored again.
    rig.nats.start_again();
    moderator.chat("the wind dropped").unwrap();
    let bus = rig.bus.clone();
    eventually("chat stored after NATS returned", WAIT, || async {
        let reply = bus
            .request(
                subjects::RECENT_CHAT_GET,
                encode(&json!({"channel": "windy"})),
                Duration::from_millis(500),
            )
            .await
            .ok()?;
        let rows: Vec<ChatRow> = decode_list(&reply.payload).ok()?;
        if rows.iter().any(|c| c.message == "the wind dropped") {
            return Some(());
        }
        // Plain mode is at-most-once: a line sent while the bot's connection was still
        // re-establishing may be lost, so keep talking until one arrives.
        moderator.chat("the wind dropped").ok();
        None
    })
    .await;
    moderator.pm(BOT, "stats").unwrap();
    pm_containing(&mut mod_events, "Top Chatters").await;
    moderator.shutdown().await;
    rig.stop().await;
}

/// Sends a command by PM and returns the bot's reply (one PM; multi-line replies arrive
/// joined in one message).
async fn command(moderator: &CytubeHandle, events: &mut EventStream, line: &str) -> String {
    moderator.pm(BOT, line).unwrap();
    next_pm(events).await
}

/// Waits until the audit table has a row whose details start with `details` (a final row
/// is `cmd=<command>, args: <args>, result: success|error[, error: <text>]`).
async fn audited(db: &PathBuf, details: &str) {
    eventually(&format!("audit row {details:?}"), WAIT, || async {
        audit_rows(db)
            .iter()
            .any(|(_, _, d)| d.starts_with(details))
            .then_some(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_replies_with_what_the_server_did() {
    let rig = rig(&["queue"]).await;
    let (moderator, mut events) = join_moderator(&rig.server, "queue").await;

    // Accepted: the reply comes after the server's `queue` (the moderator sees the
    // broadcast first), with the server's title and temp flag.
    moderator.pm(BOT, "add yt:dup11111 perm").unwrap();
    let reply = tokio::time::timeout(WAIT, async {
        let mut queued = false;
        while let Some(e) = events.recv().await {
            match e {
                CytubeEvent::Server(ServerEvent::Queue { item, .. })
                    if item.media.id == "dup11111" =>
                {
                    queued = true
                }
                CytubeEvent::Server(ServerEvent::Pm(pm)) if !pm.from_self => {
                    return (queued, pm.text);
                }
                _ => {}
            }
        }
        panic!("event stream ended")
    })
    .await
    .expect("a reply to add");
    assert!(
        reply.0,
        "the reply came before the server's queue: {}",
        reply.1
    );
    assert_eq!(reply.1, "Added: yt:dup11111 (permanent): YouTube dup11111");
    audited(
        &rig.db_path,
        "cmd=add, args: yt:dup11111 perm, result: success",
    )
    .await;

    // Refused: the server's words in the reply and in the audit row; nothing added.
    let dup = command(&moderator, &mut events, "add yt:dup11111").await;
    assert_eq!(
        dup,
        "Refused by the server: This item is already on the playlist"
    );
    audited(
        &rig.db_path,
        "cmd=add, args: yt:dup11111, result: error, error: This item is already on the playlist",
    )
    .await;
    let unknown = command(&moderator, &mut events, "add zz:what").await;
    assert_eq!(unknown, "Refused by the server: Unknown media type 'zz'");
    audited(
        &rig.db_path,
        "cmd=add, args: zz:what, result: error, error: Unknown media type 'zz'",
    )
    .await;

    // Lacking the rank for live media: the server's refusal, not "Added".
    rig.server.set_rank("queue", BOT, 1.0);
    let live = command(&moderator, &mut events, "add rtmp://example.com/live").await;
    assert_eq!(
        live,
        "Refused by the server: You don't have permission to add live media"
    );
    audited(
        &rig.db_path,
        "cmd=add, args: rtmp://example.com/live, result: error, error: You don't have permission to add live media",
    )
    .await;
    // A silent refusal (deleting needs rank 2): the reply says the server did not do it,
    // and why, from the channel's permission table.
    let silent = command(&moderator, &mut events, "remove 1").await;
    assert!(
        silent.starts_with("No answer from the server within 1s: the item was not removed"),
        "{silent}"
    );
    assert!(
        silent.contains("`playlistdelete` permission: rank 2 needed, I have 1"),
        "{silent}"
    );
    audited(
        &rig.db_path,
        "cmd=remove, args: 1, result: error, error: No answer from the server",
    )
    .await;
    let titles: Vec<_> = rig.server_playlist_ids("queue");
    assert_eq!(titles, vec!["dup11111".to_string()]);
    moderator.shutdown().await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderation_and_polls_report_the_servers_words() {
    let rig = rig(&["modroom"]).await;
    let (moderator, mut events) = join_moderator(&rig.server, "modroom").await;
    let (_guest, _guest_events) =
        join(&rig.server, "modroom", Login::Guest("visitor".into())).await;
    let (_stranger, _stranger_events) =
        join(&rig.server, "modroom", Login::Guest("stranger".into())).await;
    let (boss, mut boss_events) = join(
        &rig.server,
        "modroom",
        Login::Registered {
            name: BOSS.into(),
            password: "boss-pw".into(),
        },
    )
    .await;
    assert!(rig.server.wait_for_user("modroom", "visitor", WAIT).await);

    // Mutes: done, refused for an absent user and for an equal rank, lifted.
    assert_eq!(
        command(&moderator, &mut events, "mute visitor").await,
        "Muted visitor"
    );
    assert!(
        rig.server
            .users("modroom")
            .iter()
            .any(|u| u.name == "visitor" && u.muted)
    );
    assert_eq!(
        command(&moderator, &mut events, "mute nobody").await,
        "Refused by the server: /mute target nobody not present in channel."
    );
    audited(
        &rig.db_path,
        "cmd=mute, args: nobody, result: error, error: /mute target nobody not present in channel.",
    )
    .await;
    assert_eq!(
        command(&moderator, &mut events, "mute boss").await,
        "Refused: boss has rank 3, as high as yours (2) or higher; I do not mute anyone you \
         could not mute yourself."
    );
    assert_eq!(
        command(&moderator, &mut events, "unmute visitor").await,
        "Unmuted visitor"
    );
    assert!(
        rig.server
            .users("modroom")
            .iter()
            .any(|u| u.name == "visitor" && !u.muted)
    );
    assert_eq!(
        command(&moderator, &mut events, "unmute visitor").await,
        "Refused by the server: visitor is not muted."
    );
    assert_eq!(
        command(&moderator, &mut events, "smute visitor").await,
        "Shadow-muted visitor"
    );
    assert!(
        rig.server
            .users("modroom")
            .iter()
            .any(|u| u.name == "visitor" && u.shadow_muted)
    );

    // Kicks: an absent user is ignored by the server, and the reply says so.
    let absent = command(&moderator, &mut events, "kick nobody").await;
    assert!(absent.contains("nobody is not in the channel"), "{absent}");
    audited(&rig.db_path, "cmd=kick, args: nobody, result: error").await;

    // Polls.
    let opened = command(
        &moderator,
        &mut events,
        "poll Best snack?, tea, cake (large)",
    )
    .await;
    assert_eq!(opened, "Poll opened: Best snack? (tea / cake (large))");
    let poll = rig.server.poll("modroom").expect("the server has the poll");
    assert_eq!(poll.counts, vec![0, 0]);
    let closed = command(&moderator, &mut events, "endpoll").await;
    assert!(closed.starts_with("Poll closed: Best snack?"), "{closed}");
    assert!(closed.contains("cake (large): 0"), "{closed}");
    assert!(rig.server.poll("modroom").is_none());
    assert_eq!(
        command(&moderator, &mut events, "endpoll").await,
        "No poll is open"
    );

    // Bans: refused for a higher rank, done, listed, lifted.
    assert_eq!(
        command(&moderator, &mut events, "ban boss").await,
        "Refused: boss has rank 3, as high as yours (2) or higher; I do not ban anyone you \
         could not ban yourself."
    );
    assert_eq!(
        command(&moderator, &mut events, "ban visitor flooding").await,
        "Banned visitor: flooding"
    );
    assert!(
        rig.server
            .wait_for_user_gone("modroom", "visitor", WAIT)
            .await
    );
    assert_eq!(rig.server.bans("modroom")[0].name, "visitor");
    // An absent user's rank cannot be checked: a ban of one needs the bot's rank.
    assert!(
        command(&moderator, &mut events, "ban visitor")
            .await
            .starts_with("Refused: visitor is not in the channel")
    );
    assert_eq!(
        command(&boss, &mut boss_events, "ban visitor").await,
        "Refused by the server: visitor is already banned"
    );
    let list = command(&moderator, &mut events, "banlist").await;
    assert!(
        list.contains("Bans (1):") && list.contains(&format!("visitor (by {BOT}): flooding")),
        "{list}"
    );
    assert_eq!(
        command(&moderator, &mut events, "unban visitor").await,
        "Unbanned visitor"
    );
    assert!(rig.server.bans("modroom").is_empty());
    assert_eq!(
        command(&moderator, &mut events, "unban visitor").await,
        "visitor is not banned"
    );

    // Without the rank: the server's refusal where it gives one, else the silence explained.
    rig.server.set_rank("modroom", BOT, 1.0);
    assert_eq!(
        command(&moderator, &mut events, "ban visitor").await,
        "Refused by the server: You do not have ban permissions on this channel"
    );
    let kick = command(&moderator, &mut events, "kick stranger").await;
    assert!(
        kick.contains("`kick` permission: rank 1.5 needed, I have 1"),
        "{kick}"
    );
    audited(
        &rig.db_path,
        "cmd=ban, args: visitor, result: error, error: You do not have ban permissions on this channel",
    )
    .await;
    moderator.shutdown().await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_commands_reply_after_the_server_acted() {
    let rig = rig(&["chatty"]).await;
    let (moderator, mut events) = join_moderator(&rig.server, "chatty").await;

    assert_eq!(
        command(&moderator, &mut events, "afk on").await,
        "AFK status: On"
    );
    assert!(
        rig.server
            .users("chatty")
            .iter()
            .any(|u| u.name == BOT && u.afk)
    );
    assert_eq!(
        command(&moderator, &mut events, "afk on").await,
        "AFK status: On (unchanged)"
    );
    assert_eq!(
        command(&moderator, &mut events, "afk").await,
        "AFK status: Off"
    );
    assert_eq!(
        command(&moderator, &mut events, "say hello, channel").await,
        "Sent: hello, channel"
    );
    assert!(
        rig.server
            .chat_log("chatty")
            .iter()
            .any(|c| c.username == BOT && c.msg == "hello, channel")
    );
    assert_eq!(
        command(&moderator, &mut events, "pm nobody hi").await,
        "Refused by the server: PM failed: nobody isn't connected to this channel."
    );
    audited(
        &rig.db_path,
        "cmd=pm, args: nobody hi, result: error, error: PM failed: nobody isn't connected to this channel.",
    )
    .await;
    assert_eq!(
        command(&moderator, &mut events, "clear").await,
        "Chat cleared"
    );
    assert_eq!(
        command(&moderator, &mut events, "skip").await,
        "The playlist is empty"
    );

    // Without `chatclear` (rank 2) the server ignores `/clear`; the reply says why.
    rig.server.set_rank("chatty", BOT, 1.0);
    let clear = command(&moderator, &mut events, "clear").await;
    assert!(
        clear.starts_with("No answer from the server within 1s: the chat was not cleared"),
        "{clear}"
    );
    assert!(
        clear.contains("`chatclear` permission: rank 2 needed, I have 1"),
        "{clear}"
    );
    moderator.shutdown().await;
    rig.stop().await;
}

/// The bot's metrics as Prometheus text.
fn scrape(bot: &Bot) -> String {
    let metrics = rosey_metrics::Metrics::new(rosey_metrics::BuildInfo {
        version: "test".into(),
        commit: "test".into(),
        process: "bot".into(),
    });
    metrics.add_source(std::sync::Arc::new(bot.metrics_source()));
    metrics.encode_prometheus()
}

fn series(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_opens_on_a_hung_database_and_closes_when_it_returns() {
    let mut rig = rig(&["fuse"]).await;
    let (moderator, mut mod_events) = join_moderator(&rig.server, "fuse").await;
    moderator.pm(BOT, "stats").unwrap();
    pm_containing(&mut mod_events, "=== Channel Statistics ===").await;

    // The service hangs: something still takes the requests but never answers, so each
    // query costs the whole timeout (1 s) until the breaker opens.
    rig.db.take().unwrap().shutdown().await.unwrap();
    let mut hung = Vec::new();
    for subject in [subjects::QUERY_CHANNEL_STATS, subjects::OUTBOUND_GET] {
        hung.push(rig.bus.subscribe(subject).await.unwrap());
    }
    rig.bus.flush().await.unwrap();
    let mut opened = false;
    for _ in 0..10 {
        moderator.pm(BOT, "stats").unwrap();
        let reply = pm_containing(&mut mod_events, "unavailable").await;
        if reply.contains("retrying in") {
            opened = true;
            break;
        }
    }
    assert!(opened, "the breaker opens after consecutive timeouts");
    // While open, the shell answers at once instead of after the 1 s timeout.
    let asked = tokio::time::Instant::now();
    moderator.pm(BOT, "stats").unwrap();
    let reply = pm_containing(&mut mod_events, "unavailable").await;
    let took = asked.elapsed();
    eprintln!("shell answer while the breaker is open: {took:?}");
    assert!(
        reply.contains("Stats unavailable: database unavailable, retrying in"),
        "{reply}"
    );
    assert!(
        took < Duration::from_millis(50),
        "answered in {took:?} (a PM round trip through the devserver; the timeout is 1 s)"
    );
    let text = scrape(rig.bot.as_ref().unwrap());
    assert_eq!(
        series(
            &text,
            "rosey_bot_db_breaker_state{channel=\"fuse\",state=\"closed\"}"
        ),
        Some(0.0),
        "{text}"
    );
    assert!(
        series(
            &text,
            "rosey_bot_db_breaker_transitions_total{channel=\"fuse\",state=\"open\"}"
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        series(
            &text,
            "rosey_bot_db_breaker_rejected_total{channel=\"fuse\"}"
        )
        .unwrap()
            >= 1.0
    );

    // The service returns: after the cool-down a probe succeeds and the breaker closes.
    drop(hung);
    rig.db = Some(db_service(&rig.bus, &rig.db_path, "fuse").await);
    let mut up = String::new();
    for _ in 0..40 {
        moderator.pm(BOT, "stats").unwrap();
        up = pm_containing(&mut mod_events, "Stat").await;
        if up.contains("=== Channel Statistics ===") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up.contains("=== Channel Statistics ==="), "{up}");
    let text = scrape(rig.bot.as_ref().unwrap());
    assert_eq!(
        series(
            &text,
            "rosey_bot_db_breaker_state{channel=\"fuse\",state=\"closed\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        series(
            &text,
            "rosey_bot_db_breaker_transitions_total{channel=\"fuse\",state=\"closed\"}"
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        series(
            &text,
            "rosey_bot_shell_commands_total{channel=\"fuse\",command=\"stats\",outcome=\"success\"}"
        )
        .unwrap()
            >= 2.0
    );
    moderator.shutdown().await;
    rig.stop().await;
}

/// Asks `rosey.commands.<channel>.<action>` and decodes the reply.
async fn bus_command(
    bus: &Bus,
    channel: &str,
    action: &str,
    body: serde_json::Value,
) -> rosey_model::payload::CommandReply {
    decode(&request(bus, &subjects::command_subject(channel, action), body).await).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderate_and_remove_over_the_bus_answer_with_the_servers_words() {
    const CH: &str = "busmod";
    let rig = rig(&[CH]).await;
    let (_visitor, _visitor_events) = join(&rig.server, CH, Login::Guest("visitor".into())).await;
    let (_loud, _loud_events) = join(&rig.server, CH, Login::Guest("loud".into())).await;
    assert!(rig.server.wait_for_user(CH, "loud", WAIT).await);
    let moderate = |body| bus_command(&rig.bus, CH, subjects::COMMAND_MODERATE, body);

    // A kick removes the user; the reply is the server's outcome.
    let kick =
        moderate(json!({"action": "kick", "user": "visitor", "reason": "spam", "by": "automod"}))
            .await;
    assert_eq!(
        (kick.success, kick.message.as_deref()),
        (true, Some("Kicked visitor: spam"))
    );
    assert!(!rig.server.users(CH).iter().any(|u| u.name == "visitor"));
    audited(
        &rig.db_path,
        "cmd=kick, args: visitor spam, result: success",
    )
    .await;

    // A mute is answered once the server announced it.
    let mute = moderate(json!({"action": "mute", "user": "loud", "seconds": 60})).await;
    assert_eq!(
        (mute.success, mute.message.as_deref()),
        (true, Some("Muted loud"))
    );
    assert!(
        rig.server
            .users(CH)
            .iter()
            .any(|u| u.name == "loud" && u.muted)
    );
    // The server's refusal in its own words.
    let absent = moderate(json!({"action": "mute", "user": "nobody"})).await;
    assert!(!absent.success);
    assert_eq!(
        absent.error.as_deref(),
        Some("Refused by the server: /mute target nobody not present in channel.")
    );

    // Clear errors for what cannot be done.
    let unknown = moderate(json!({"action": "explode", "user": "loud"})).await;
    assert!(!unknown.success);
    assert_eq!(
        unknown.error.as_deref(),
        Some(
            "unknown moderation action `explode` (expected one of kick, mute, smute, unmute, \
             ban, unban, redact)"
        )
    );
    let redact = moderate(json!({"action": "redact", "user": "loud", "event_id": "$x"})).await;
    assert_eq!(
        redact.error.as_deref(),
        Some("redact: not supported on this platform")
    );
    let me = moderate(json!({"action": "kick", "user": BOT})).await;
    assert_eq!(me.error.as_deref(), Some("kick: I do not act on myself"));

    // `remove` of a uid deletes exactly that item.
    for url in ["yt:keep1111", "yt:gone2222"] {
        let added = bus_command(&rig.bus, CH, subjects::COMMAND_ADD, json!({"url": url})).await;
        assert!(added.success, "{added:?}");
    }
    let gone = rig
        .server
        .playlist(CH)
        .into_iter()
        .find(|i| i.id == "gone2222")
        .expect("the item is on the playlist");
    let removed = bus_command(
        &rig.bus,
        CH,
        subjects::COMMAND_REMOVE,
        json!({"uid": gone.uid, "by": "media"}),
    )
    .await;
    assert_eq!(
        (removed.success, removed.message.as_deref()),
        (true, Some("Removed 2. YouTube gone2222"))
    );
    assert_eq!(rig.server_playlist_ids(CH), vec!["keep1111".to_string()]);
    audited(
        &rig.db_path,
        &format!("cmd=remove, args: uid {}, result: success", gone.uid),
    )
    .await;
    let missing = bus_command(
        &rig.bus,
        CH,
        subjects::COMMAND_REMOVE,
        json!({"uid": 999_999}),
    )
    .await;
    assert_eq!(
        missing.error.as_deref(),
        Some("No playlist item with uid 999999")
    );
    rig.stop().await;
}
