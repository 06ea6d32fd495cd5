//! The plugin key-value store on the wire (`rosey.db.kv.*`), through a real NATS server and
//! the database service, on SQLite and on PostgreSQL: set/get/delete/list, namespaces, the
//! limits, and bad requests answered with `{success:false, error}` and counted.

use std::time::Duration;

use rosey_bus::{Bus, NatsOptions};
use rosey_dbservice::{DbService, DbServiceConfig};
use rosey_model::subjects;
use rosey_store::StoreTarget;
use rosey_testkit::NatsServer;
use rosey_testkit::pg::PgTestDb;
use serde_json::{Value, json};

async fn ask(bus: &Bus, subject: &str, body: Value) -> Value {
    let m = bus
        .request(
            subject,
            serde_json::to_vec(&body).unwrap(),
            Duration::from_secs(5),
        )
        .await
        .expect("the database service answers");
    serde_json::from_slice(&m.payload).unwrap()
}

async fn round_trip(target: StoreTarget) {
    let nats = NatsServer::start();
    let bus = Bus::connect(NatsOptions::new(nats.url())).await.unwrap();
    let service = DbService::start(bus.clone(), DbServiceConfig::new(target.clone(), "c"))
        .await
        .unwrap();
    let set = |key: &str, value: Value| json!({"plugin": "quote", "key": key, "value": value});
    for (k, v) in [
        ("c/2", json!({"text": "two"})),
        ("c/1", json!("one")),
        ("c#last", json!(2)),
    ] {
        assert_eq!(
            ask(&bus, subjects::KV_SET, set(k, v)).await,
            json!({"success": true})
        );
    }
    let other = json!({"plugin": "tell", "key": "c/1", "value": [1, 2]});
    ask(&bus, subjects::KV_SET, other).await;
    assert_eq!(
        ask(
            &bus,
            subjects::KV_GET,
            json!({"plugin": "quote", "key": "c/2"})
        )
        .await,
        json!({"success": true, "found": true, "value": {"text": "two"}})
    );
    assert_eq!(
        ask(
            &bus,
            subjects::KV_GET,
            json!({"plugin": "quote", "key": "zzz"})
        )
        .await,
        json!({"success": true, "found": false, "value": null})
    );
    assert_eq!(
        ask(
            &bus,
            subjects::KV_LIST,
            json!({"plugin": "quote", "prefix": "c/"})
        )
        .await,
        json!({"success": true, "entries": [{"key": "c/1", "value": "one"},
                                            {"key": "c/2", "value": {"text": "two"}}]})
    );
    assert_eq!(
        ask(
            &bus,
            subjects::KV_DELETE,
            json!({"plugin": "quote", "key": "c/1"})
        )
        .await,
        json!({"success": true, "deleted": true})
    );
    assert_eq!(
        ask(
            &bus,
            subjects::KV_DELETE,
            json!({"plugin": "quote", "key": "c/1"})
        )
        .await["deleted"],
        false
    );
    // Another plugin's namespace is untouched.
    assert_eq!(
        ask(
            &bus,
            subjects::KV_GET,
            json!({"plugin": "tell", "key": "c/1"})
        )
        .await["value"],
        json!([1, 2])
    );

    // Bad requests: answered, named, counted; the service keeps serving.
    let big = "x".repeat(rosey_model::kv::MAX_VALUE_BYTES);
    let bad = [
        (subjects::KV_SET, set("k", json!(big))),
        (
            subjects::KV_SET,
            json!({"plugin": "", "key": "k", "value": 1}),
        ),
        (
            subjects::KV_GET,
            json!({"plugin": "quote", "key": "k".repeat(300)}),
        ),
        (subjects::KV_GET, json!({"plugin": "quote"})),
        (subjects::KV_LIST, json!({"plugin": "quote", "limit": 0})),
    ];
    for (subject, body) in &bad {
        let r = ask(&bus, subject, body.clone()).await;
        assert_eq!(r["success"], false, "{subject} {r}");
        assert!(!r["error"].as_str().unwrap().is_empty());
    }
    let r = ask(&bus, subjects::KV_SET, set("k", json!(big))).await;
    assert!(r["error"].as_str().unwrap().contains("value"), "{r}");
    let stats = service.stats();
    assert_eq!(stats.query_errors, bad.len() as u64 + 1, "{stats:?}");
    assert_eq!(
        stats.rejected("bad_request") + stats.rejected("bad_field"),
        stats.query_errors,
        "{stats:?}"
    );
    service.shutdown().await.unwrap();

    // Kept across a restart of the service.
    let service = DbService::start(bus.clone(), DbServiceConfig::new(target, "c"))
        .await
        .unwrap();
    assert_eq!(
        ask(
            &bus,
            subjects::KV_GET,
            json!({"plugin": "quote", "key": "c#last"})
        )
        .await["value"],
        2
    );
    service.shutdown().await.unwrap();
}

#[tokio::test]
async fn kv_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    round_trip(StoreTarget::Sqlite(dir.path().join("bot.db"))).await;
}

#[tokio::test]
async fn kv_on_postgres() {
    let pg = PgTestDb::create("kv_on_postgres");
    round_trip(StoreTarget::Postgres(pg.url())).await;
}
