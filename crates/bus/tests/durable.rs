//! The durable-mode stream against a real nats-server with JetStream.

use std::time::Duration;

use async_nats::jetstream;
use rosey_bus::{
    Bus, BusError, NatsOptions,
    durable::{StreamSettings, ensure_db_stream, msg_id_headers},
};
use rosey_model::subjects;
use rosey_testkit::NatsServer;

#[tokio::test]
async fn stream_holds_event_subjects_only_and_drops_duplicates() {
    let server = NatsServer::start();
    let bus = Bus::connect(NatsOptions::new(server.url())).await.unwrap();
    let client = bus.nats_client().unwrap().clone();
    let settings = StreamSettings::default();
    let info = ensure_db_stream(&client, &settings).await.unwrap();
    let mut subjects_in_stream = info.config.subjects.clone();
    subjects_in_stream.sort();
    let mut expected: Vec<String> = subjects::DB_EVENT_SUBJECTS
        .iter()
        .chain([&subjects::DB_BATCH])
        .map(|s| s.to_string())
        .collect();
    expected.sort();
    assert_eq!(subjects_in_stream, expected);
    // Idempotent.
    ensure_db_stream(&client, &settings).await.unwrap();

    // A query subject is not captured: with no service running, a request gets "no
    // responders" instead of a publish ack from the stream.
    let e = bus
        .request(subjects::QUERY_CHANNEL_STATS, "{}", Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(matches!(e, BusError::NoResponders { .. }), "{e:?}");

    // The same event id twice is stored once.
    let js = jetstream::new(client.clone());
    let first = js
        .publish_with_headers(
            subjects::MESSAGE_LOG,
            msg_id_headers("ev-1"),
            r#"{"username":"a","message":"hi"}"#.into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let again = js
        .publish_with_headers(
            subjects::MESSAGE_LOG,
            msg_id_headers("ev-1"),
            r#"{"username":"a","message":"hi"}"#.into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(!first.duplicate);
    assert!(again.duplicate);
    let mut stream = js.get_stream(&settings.name).await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 1);
}
