//! The plugin key-value store on the wire (`rosey.db.kv.<plugin>.<op>`), through a real NATS
//! server and the database service, on SQLite and on PostgreSQL: set/get/delete/list,
//! namespaces bound to the subject (a payload naming another plugin is refused), the limits,
//! and bad requests answered with `{success:false, error}` and counted.

use std::time::Duration;

use rosey_bus::{Bus, NatsOptions};
use rosey_dbservice::{DbService, DbServiceConfig};
use rosey_model::subjects::{
    self, KV_OP_DELETE as DELETE, KV_OP_GET as GET, KV_OP_LIST as LIST, KV_OP_SET as SET,
    kv_subject,
};
use rosey_store::StoreTarget;
use rosey_testkit::NatsServer;
use rosey_testkit::pg::PgTestDb;
use serde_json::{Value, json};

/// [`rosey_testkit::bus_db::ask`] with this file's wait.
async fn ask(bus: &Bus, subject: &str, body: Value) -> Value {
    rosey_testkit::bus_db::ask(bus, subject, body, Duration::from_secs(5)).await
}

async fn round_trip(target: StoreTarget) {
    let nats = NatsServer::start();
    let bus = Bus::connect(NatsOptions::new(nats.url())).await.unwrap();
    let service = DbService::start(bus.clone(), DbServiceConfig::new(target.clone(), "c"))
        .await
        .unwrap();
    let set = |key: &str, value: Value| json!({"key": key, "value": value});
    let quote = |op: &str| kv_subject("quote", op);
    let tell = |op: &str| kv_subject("tell", op);
    for (k, v) in [
        ("c/2", json!({"text": "two"})),
        ("c/1", json!("one")),
        ("c#last", json!(2)),
    ] {
        assert_eq!(
            ask(&bus, &quote(SET), set(k, v)).await,
            json!({"success": true})
        );
    }
    // Older clients still name the namespace in the payload: the subject's.
    let other = json!({"plugin": "tell", "key": "c/1", "value": [1, 2]});
    assert_eq!(ask(&bus, &tell(SET), other).await["success"], true);
    assert_eq!(
        ask(&bus, &quote(GET), json!({"key": "c/2"})).await,
        json!({"success": true, "found": true, "value": {"text": "two"}})
    );
    assert_eq!(
        ask(&bus, &quote(GET), json!({"key": "zzz"})).await,
        json!({"success": true, "found": false, "value": null})
    );
    assert_eq!(
        ask(&bus, &quote(LIST), json!({"prefix": "c/"})).await,
        json!({"success": true, "entries": [{"key": "c/1", "value": "one"},
                                            {"key": "c/2", "value": {"text": "two"}}]})
    );
    assert_eq!(
        ask(&bus, &quote(DELETE), json!({"key": "c/1"})).await,
        json!({"success": true, "deleted": true})
    );
    assert_eq!(
        ask(&bus, &quote(DELETE), json!({"key": "c/1"})).await["deleted"],
        false
    );
    // Another plugin's namespace is untouched, and no payload reaches into it.
    let r = ask(&bus, &quote(GET), json!({"plugin": "tell", "key": "c/1"})).await;
    assert_eq!(r["success"], false, "{r}");
    assert!(r["error"].as_str().unwrap().contains("plugin"), "{r}");
    assert_eq!(
        ask(&bus, &tell(GET), json!({"key": "c/1"})).await["value"],
        json!([1, 2])
    );

    // Bad requests: answered, named, counted; the service keeps serving.
    let big = "x".repeat(rosey_model::kv::MAX_VALUE_BYTES);
    let bad = [
        (quote(SET), set("k", json!(big))),
        (
            kv_subject(&"p".repeat(65), SET),
            json!({"key": "k", "value": 1}),
        ),
        (quote(GET), json!({"key": "k".repeat(300)})),
        (quote(GET), json!({})),
        (quote(LIST), json!({"limit": 0})),
        (quote(DELETE), json!({"plugin": "tell", "key": "c/1"})),
        // The retired subjects name the new ones.
        (
            format!("{}.{SET}", subjects::KV_PREFIX),
            json!({"plugin": "quote", "key": "k", "value": 1}),
        ),
    ];
    for (subject, body) in &bad {
        let r = ask(&bus, subject, body.clone()).await;
        assert_eq!(r["success"], false, "{subject} {r}");
        assert!(!r["error"].as_str().unwrap().is_empty());
    }
    let r = ask(&bus, &quote(SET), set("k", json!(big))).await;
    assert!(r["error"].as_str().unwrap().contains("value"), "{r}");
    let stats = service.stats();
    // + the big value again, + the cross-namespace get above.
    assert_eq!(stats.query_errors, bad.len() as u64 + 2, "{stats:?}");
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
        ask(&bus, &quote(GET), json!({"key": "c#last"})).await["value"],
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
