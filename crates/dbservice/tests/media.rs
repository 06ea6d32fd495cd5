//! The media history on the wire: `rosey.db.media.played` / `rosey.db.media.ended` events
//! through a real NATS server into the database service, and every
//! `rosey.db.query.media.*` request answered from them, on SQLite and PostgreSQL; bad
//! requests get `{success:false, error}`.

use std::time::Duration;

use rosey_bus::{Bus, NatsOptions};
use rosey_dbservice::{DbService, DbServiceConfig};
use rosey_model::subjects;
use rosey_store::StoreTarget;
use rosey_testkit::pg::PgTestDb;
use rosey_testkit::{NatsServer, eventually};
use serde_json::{Value, json};

/// [`rosey_testkit::bus_db::ask`] with this file's wait.
async fn ask(bus: &Bus, subject: &str, body: Value) -> Value {
    rosey_testkit::bus_db::ask(bus, subject, body, Duration::from_secs(5)).await
}

async fn publish(bus: &Bus, subject: &str, body: Value) {
    bus.publish(
        subject,
        bytes::Bytes::from(serde_json::to_vec(&body).unwrap()),
    )
    .await
    .unwrap();
}

async fn round_trip(target: StoreTarget) {
    let nats = NatsServer::start();
    let bus = Bus::connect(NatsOptions::new(nats.url())).await.unwrap();
    let service = DbService::start(bus.clone(), DbServiceConfig::new(target, "c"))
        .await
        .unwrap();
    let now = rosey_store::now_secs();
    // a (by ann) played out, b (by bob) skipped, a (by bob) removed, c (by ann) playing.
    let plays = [
        ("a", "Alpha song", "ann", 0, Some(("played", 200, None))),
        (
            "b",
            "Beta song",
            "bob",
            200,
            Some(("skipped", 230, Some(30))),
        ),
        ("a", "Alpha song", "bob", 230, Some(("removed", 240, None))),
        ("c", "Gamma", "ann", 240, None),
    ];
    for (id, title, by, start, end) in plays {
        let ts = (now - 1000 + start) as f64;
        publish(
            &bus,
            subjects::MEDIA_PLAYED,
            json!({"type": "yt", "media_id": id, "title": title, "duration": 200,
                   "queued_by": by, "ts": ts}),
        )
        .await;
        if let Some((reason, at, played)) = end {
            let mut e = json!({"type": "yt", "media_id": id, "reason": reason,
                               "ts": (now - 1000 + at) as f64});
            if let Some(p) = played {
                e["played"] = json!(p);
            }
            publish(&bus, subjects::MEDIA_ENDED, e).await;
        }
    }
    // An unknown ending is refused (counted), not stored.
    publish(
        &bus,
        subjects::MEDIA_ENDED,
        json!({"type": "yt", "media_id": "c", "reason": "exploded"}),
    )
    .await;
    let recent =
        |b: Bus| async move { ask(&b, subjects::QUERY_MEDIA_RECENT, json!({"limit": 10})).await };
    let r = eventually("all four plays recorded", Duration::from_secs(10), || {
        let b = bus.clone();
        async move {
            let r = recent(b).await;
            (r["plays"].as_array().map(Vec::len) == Some(4)).then_some(r)
        }
    })
    .await;
    let reasons: Vec<&Value> = r["plays"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["end_reason"])
        .collect();
    assert_eq!(
        reasons,
        [
            &json!(null),
            &json!("removed"),
            &json!("skipped"),
            &json!("played")
        ]
    );
    let most = ask(
        &bus,
        subjects::QUERY_MEDIA_MOST_PLAYED,
        json!({"period": "day"}),
    )
    .await;
    assert_eq!(most["period"], "day");
    assert_eq!(most["items"][0]["media_id"], "a");
    assert_eq!(most["items"][0]["plays"], 2);
    let adders = ask(&bus, subjects::QUERY_MEDIA_TOP_ADDERS, json!({})).await;
    assert_eq!(
        adders["adders"],
        json!([{"username": "ann", "plays": 2}, {"username": "bob", "plays": 2}])
    );
    let bob = ask(
        &bus,
        subjects::QUERY_MEDIA_USER_ADDS,
        json!({"username": "bob", "limit": 1}),
    )
    .await;
    assert_eq!(
        (bob["total"].clone(), bob["plays"].as_array().unwrap().len()),
        (json!(2), 1)
    );
    let item = ask(
        &bus,
        subjects::QUERY_MEDIA_ITEM,
        json!({"type": "yt", "media_id": "a"}),
    )
    .await;
    assert_eq!(item["found"], true);
    let st = &item["stats"];
    assert_eq!(
        (
            &st["plays"],
            &st["total_played"],
            &st["played_out"],
            &st["removals"],
            &st["skips"]
        ),
        (&json!(2), &json!(210), &json!(1), &json!(1), &json!(0))
    );
    assert_eq!(item["adders"].as_array().unwrap().len(), 2);
    let found = ask(&bus, subjects::QUERY_MEDIA_SEARCH, json!({"words": "SONG"})).await;
    assert_eq!(found["items"].as_array().unwrap().len(), 2);
    let cands = ask(
        &bus,
        subjects::QUERY_MEDIA_CANDIDATES,
        json!({"played_before": now - 1000 + 225}),
    )
    .await;
    let ids: Vec<&Value> = cands["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["media_id"])
        .collect();
    assert_eq!(ids, [&json!("b")]);
    for (subject, body, field) in [
        (subjects::QUERY_MEDIA_RECENT, json!({"limit": 0}), "limit"),
        (
            subjects::QUERY_MEDIA_MOST_PLAYED,
            json!({"period": "year"}),
            "period",
        ),
        (subjects::QUERY_MEDIA_USER_ADDS, json!({}), "username"),
        (
            subjects::QUERY_MEDIA_SEARCH,
            json!({"words": "  "}),
            "words",
        ),
        (
            subjects::QUERY_MEDIA_ITEM,
            json!({"type": "yt"}),
            "media_id",
        ),
    ] {
        let r = ask(&bus, subject, body).await;
        assert_eq!(r["success"], false, "{subject}: {r}");
        assert!(
            r["error"].as_str().unwrap().contains(field),
            "{subject}: {r}"
        );
    }
    drop(service);
}

#[tokio::test]
async fn media_history_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    round_trip(StoreTarget::Sqlite(dir.path().join("m.db"))).await;
}

#[tokio::test]
async fn media_history_on_postgres() {
    let pg = PgTestDb::create("dbservice_media");
    round_trip(StoreTarget::Postgres(pg.url())).await;
}
