//! The media panels in a real browser (issue 28): "Played today", "Most played" over each
//! period, the media search and an item's page, against the database service holding a
//! history of known plays (on the embedded bus: the panels read only the database
//! service). Driven by `tests/browser/media.mjs` in Debian's chromium through
//! playwright-core; the expectations come from this file, counted by hand from the plays
//! below, never from the API the page itself reads.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rosey_bus::Bus;
use rosey_dbservice::{DbService, DbServiceConfig};
use rosey_model::subjects;
use rosey_testkit::eventually;
use serde_json::{Value, json};

const CH: &str = "tunes";
const WAIT: Duration = Duration::from_secs(10);
const HOUR: f64 = 3600.0;
const DAY: f64 = 24.0 * HOUR;

/// One play: media id, title, who queued it, how long ago it started, how it ended and
/// the seconds that played.
type Play = (
    &'static str,
    &'static str,
    &'static str,
    f64,
    &'static str,
    i64,
);

/// Newest first. Today: alpha ×3, beta ×2, gamma ×1; three days ago gamma ×3; ten days
/// ago delta ×5 — so each period's ranking has no ties.
const PLAYS: [Play; 14] = [
    ("alpha", "Alpha Song", "alice", 600.0, "played", 200),
    ("beta", "Beta Tune", "bob", 1200.0, "skipped", 30),
    ("gamma", "Gamma Ray", "carol", 1800.0, "removed", 10),
    ("alpha", "Alpha Song", "bob", 2400.0, "voteskipped", 50),
    ("beta", "Beta Tune", "bob", 3000.0, "played", 180),
    ("alpha", "Alpha Song", "alice", 3600.0, "played", 200),
    ("gamma", "Gamma Ray", "carol", 3.0 * DAY, "played", 240),
    (
        "gamma",
        "Gamma Ray",
        "carol",
        3.0 * DAY + HOUR,
        "played",
        240,
    ),
    (
        "gamma",
        "Gamma Ray",
        "carol",
        3.0 * DAY + 2.0 * HOUR,
        "played",
        240,
    ),
    ("delta", "Delta Blues", "dave", 10.0 * DAY, "played", 300),
    (
        "delta",
        "Delta Blues",
        "dave",
        10.0 * DAY + HOUR,
        "played",
        300,
    ),
    (
        "delta",
        "Delta Blues",
        "dave",
        10.0 * DAY + 2.0 * HOUR,
        "played",
        300,
    ),
    (
        "delta",
        "Delta Blues",
        "dave",
        10.0 * DAY + 3.0 * HOUR,
        "played",
        300,
    ),
    (
        "delta",
        "Delta Blues",
        "dave",
        10.0 * DAY + 4.0 * HOUR,
        "played",
        300,
    ),
];

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// What each panel must show.
fn expected() -> Value {
    json!({
        // [title, how it ended, who queued it], newest first: the plays of the last 24 h.
        "today": PLAYS.iter().filter(|p| p.3 < DAY).map(|p| json!([p.1, p.4, p.2])).collect::<Vec<_>>(),
        "most": {
            "day": ["Alpha Song · 3 plays", "Beta Tune · 2 plays", "Gamma Ray · 1 play"],
            "week": ["Gamma Ray · 4 plays", "Alpha Song · 3 plays", "Beta Tune · 2 plays"],
            "all": ["Delta Blues · 5 plays", "Gamma Ray · 4 plays", "Alpha Song · 3 plays", "Beta Tune · 2 plays"],
        },
        "search": {"q": "song", "titles": ["Alpha Song"]},
        // Alpha Song: three plays, two played out (200 s each), one vote-skipped after 50 s.
        "item": {"title": "Alpha Song", "plays": "3", "out": "2", "skips": "1 (1 by vote)",
                 "removed": "0", "time": "7:30", "adders": "alice ×2, bob ×1"},
        // An old item is found too, and its page is its own.
        "old": {"q": "blues", "title": "Delta Blues", "plays": "5", "adders": "dave ×5"},
    })
}

async fn publish(bus: &Bus, subject: &str, v: Value) {
    bus.publish(subject, serde_json::to_vec(&v).unwrap())
        .await
        .unwrap();
}

/// [`rosey_testkit::bus_db::ask`] with this file's wait.
async fn ask(bus: &Bus, subject: &str, body: Value) -> Value {
    rosey_testkit::bus_db::ask(bus, subject, body, WAIT).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_media_panels_show_the_history_in_a_real_browser() {
    if !rosey_testkit::browser::ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let bus = Bus::embedded();
    let db = DbService::start(
        bus.clone(),
        DbServiceConfig::new(tmp.path().join("m.db"), CH),
    )
    .await
    .unwrap();
    let t = now();
    // Oldest first, each end right after its start, as the bot and the tracker send them.
    for &(id, title, by, ago, reason, played) in PLAYS.iter().rev() {
        let started = t - ago;
        publish(
            &bus,
            subjects::MEDIA_PLAYED,
            json!({"type": "yt", "media_id": id, "title": title, "duration": 300,
                   "queued_by": by, "channel": CH, "ts": started}),
        )
        .await;
        publish(
            &bus,
            subjects::MEDIA_ENDED,
            json!({"type": "yt", "media_id": id, "reason": reason, "played": played,
                   "started": started, "channel": CH, "ts": started + played as f64}),
        )
        .await;
    }
    // Applied in order: once the newest play's end shows, all of it has.
    eventually("the history stored", WAIT, || async {
        let recent = ask(
            &bus,
            subjects::QUERY_MEDIA_RECENT,
            json!({"channel": CH, "since": 0, "limit": 50}),
        )
        .await;
        let plays = recent["plays"].as_array()?;
        (plays.len() == PLAYS.len() && plays[0]["end_reason"] == "played").then_some(())
    })
    .await;

    let cfg = rosey_web::WebConfig::new("127.0.0.1:0".parse().unwrap(), vec![CH.to_string()]);
    let web = rosey_web::start(bus.clone(), cfg).await.unwrap();
    let stdout = rosey_testkit::browser::run(
        "media.mjs",
        &[("DASH_URL", web.url()), ("EXPECT", expected().to_string())],
        Duration::from_secs(90),
    )
    .await;
    for check in [
        "ok - played today",
        "ok - most played over day",
        "ok - most played over week",
        "ok - most played over all",
        "ok - the search finds",
        "ok - the item's page",
        "ok - an old item",
    ] {
        assert!(stdout.contains(check), "missing `{check}`:\n{stdout}");
    }
    web.shutdown().await;
    db.shutdown().await.unwrap();
}
