//! The database service on PostgreSQL (issue 15), with real components: nats-server (one
//! per service, so each sees every event), PostgreSQL on 127.0.0.1:5432 (a fresh database
//! per test) and SQLite on disk.
//!
//! - A 20,000-event `message.log` burst and a mixed burst land whole in PostgreSQL, and every
//!   query of SPEC §3.2 answers the same as the SQLite service fed the same events.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rosey_bench::dbbench;
use rosey_bus::{Bus, NatsOptions};
use rosey_dbservice::{DbService, DbServiceConfig};
use rosey_model::subjects;
use rosey_store::StoreTarget;
use rosey_testkit::NatsServer;
use rosey_testkit::pg::PgTestDb;

const CH: &str = "pgchan";
const TIMEOUT: Duration = Duration::from_secs(120);

/// `n` chat lines from 100 users with explicit times (so both backends store the same).
fn timed_messages(n: usize, channel: &str) -> Vec<(&'static str, Bytes)> {
    (0..n)
        .map(|i| {
            let p = format!(
                r#"{{"username":"user{}","message":"burst line {i}","channel":"{channel}","ts":{}}}"#,
                i % 100,
                1_700_100_000 + (i / 1000) as i64
            );
            (subjects::MESSAGE_LOG, Bytes::from(p))
        })
        .collect()
}

struct Side {
    _nats: NatsServer,
    bus: Bus,
    service: Option<rosey_dbservice::DbServiceHandle>,
    target: StoreTarget,
}

async fn side(target: StoreTarget) -> Side {
    let nats = NatsServer::start();
    let bus = Bus::connect(NatsOptions::new(nats.url())).await.unwrap();
    let service = DbService::start(bus.clone(), DbServiceConfig::new(target.clone(), CH))
        .await
        .unwrap();
    Side {
        _nats: nats,
        bus,
        service: Some(service),
        target,
    }
}

async fn publish(bus: &Bus, events: &[(&'static str, Bytes)]) {
    for (subject, payload) in events {
        bus.publish(subject, payload.clone()).await.unwrap();
    }
    bus.flush().await.unwrap();
}

async fn ask(bus: &Bus, subject: &str, body: &str) -> serde_json::Value {
    let reply = bus
        .request(
            subject,
            Bytes::from(body.to_string()),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    serde_json::from_slice(&reply.payload).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_land_whole_on_postgres_and_every_query_answers_as_on_sqlite() {
    let pg = PgTestDb::create("bursts");
    let dir = tempfile::tempdir().unwrap();
    let sides = [
        side(StoreTarget::Postgres(pg.url())).await,
        side(StoreTarget::Sqlite(dir.path().join("bot_data.db"))).await,
    ];
    let messages = timed_messages(20_000, CH);
    let mixed_channel = "pgmixed";
    let (mixed, expect) = dbbench::mixed_burst(20_000, mixed_channel);
    for s in &sides {
        let start = Instant::now();
        publish(&s.bus, &messages).await;
        dbbench::wait_rows(s.target.clone(), "recent_chat", 20_000, start, TIMEOUT)
            .await
            .unwrap();
        publish(&s.bus, &mixed).await;
        let reader = dbbench::open_reader(s.target.clone()).await.unwrap();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match dbbench::check_mixed(&reader, mixed_channel, &expect).await {
                Ok(()) => break,
                Err(e) if Instant::now() > deadline => panic!("{}: {e}", s.target.backend()),
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        // Counted in the database itself.
        let totals = reader.call(|s| s.channel_totals(CH)).await.unwrap();
        assert_eq!((totals.chat_rows, totals.chat_lines), (20_000, 20_000));
        assert_eq!(totals.open_sessions, 0);
    }

    // The outbound queue: the same enqueues, the same failures.
    for s in &sides {
        for m in ["one", "two", "three"] {
            let r = ask(
                &s.bus,
                subjects::OUTBOUND_ENQUEUE,
                &format!(r#"{{"message":"{m}","channel":"{CH}"}}"#),
            )
            .await;
            assert_eq!(r["success"], true, "{r}");
        }
        publish(
            &s.bus,
            &[(
                subjects::OUTBOUND_MARK_SENT,
                Bytes::from(r#"{"message_id":2}"#),
            )],
        )
        .await;
        s.service.as_ref().unwrap().flush().await.unwrap();
    }

    let mut requests: Vec<(&str, String)> = vec![
        (
            subjects::RECENT_CHAT_GET,
            format!(r#"{{"channel":"{CH}"}}"#),
        ),
        (
            subjects::RECENT_CHAT_GET,
            format!(r#"{{"channel":"{mixed_channel}","limit":10000}}"#),
        ),
        (
            subjects::QUERY_CHANNEL_STATS,
            format!(r#"{{"channel":"{CH}"}}"#),
        ),
        (
            subjects::QUERY_CHANNEL_STATS,
            format!(r#"{{"channel":"{mixed_channel}"}}"#),
        ),
        (
            subjects::QUERY_USER_COUNT_HISTORY,
            format!(r#"{{"channel":"{mixed_channel}","hours":100000}}"#),
        ),
        (subjects::OUTBOUND_GET, format!(r#"{{"channel":"{CH}"}}"#)),
        (
            subjects::QUERY_USER_STATS,
            r#"{"username":"nobody"}"#.into(),
        ),
    ];
    for u in [0, 1, 42, 99] {
        for ch in [CH, mixed_channel] {
            requests.push((
                subjects::QUERY_USER_STATS,
                format!(r#"{{"username":"user{u}","channel":"{ch}"}}"#),
            ));
        }
    }
    for (subject, body) in &requests {
        let pg_answer = ask(&sides[0].bus, subject, body).await;
        let sqlite_answer = ask(&sides[1].bus, subject, body).await;
        assert_ne!(pg_answer, serde_json::json!([]), "{subject} {body}: empty");
        assert_eq!(pg_answer, sqlite_answer, "{subject} {body}");
    }
    for mut s in sides {
        let report = s.service.take().unwrap().shutdown().await.unwrap();
        assert_eq!(
            report.stats.rejected("store_error"),
            0,
            "{}",
            s.target.backend()
        );
        assert_eq!(report.stats.applied, 40_000 + 1, "{}", s.target.backend());
    }
}
