//! Criterion micro-benchmarks of the hot paths: what every chat line costs on its way from the
//! CyTube socket to SQLite.
//!
//! - `payload_decode`: a `rosey.db.message.log` payload → `MessageLog` (the database service,
//!   once per event).
//! - `packet_decode`: a websocket text frame carrying a `chatMsg` → Engine.IO packet →
//!   socket.io packet, and → typed `ServerEvent` (the bot, once per frame).
//! - `batch_write`: `Store::apply_batch` of a full batch of chat events on a file (the
//!   database service's writer, once per batch).
//!
//! `cargo bench -p rosey-bench` runs them.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rosey_cytube::ServerEvent;
use rosey_cytube::codec::{EngineIoPacket, SocketIoPacket};
use rosey_model::payload::MessageLog;
use rosey_store::{EventKind, Store, StoreEvent, StoreOptions};

/// A chat line as the bot publishes it.
const MESSAGE_LOG: &[u8] = br#"{"username":"alice","message":"hello there, how is everyone doing tonight?","channel":"bench","ts":1700000000,"id":"0b5e6c1e-4b7a-4f5e-9d6f-2f1f3c9a7e10"}"#;

/// A `chatMsg` frame as CyTube sends it.
const CHAT_FRAME: &str = r#"42["chatMsg",{"username":"alice","msg":"hello there, how is <strong>everyone</strong> doing tonight?","meta":{"modflair":2},"time":1700000000123}]"#;

/// Events per batch (the database service's default `batch_max`).
const BATCH: usize = rosey_dbservice::config::DEFAULT_BATCH_MAX;

fn payload_decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("payload_decode");
    g.throughput(Throughput::Elements(1));
    g.bench_function("message_log", |b| {
        b.iter(|| rosey_model::decode::<MessageLog>(black_box(MESSAGE_LOG)).expect("decodes"))
    });
    g.finish();
}

fn decode_frame(frame: &str) -> SocketIoPacket {
    match EngineIoPacket::decode(frame).expect("engine.io packet") {
        EngineIoPacket::Message(text) => SocketIoPacket::decode(&text).expect("socket.io packet"),
        other => panic!("not a message: {other:?}"),
    }
}

fn packet_decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("packet_decode");
    g.throughput(Throughput::Elements(1));
    g.bench_function("chat_msg_frame", |b| {
        b.iter(|| decode_frame(black_box(CHAT_FRAME)))
    });
    g.bench_function("chat_msg_frame_to_event", |b| {
        b.iter(|| match decode_frame(black_box(CHAT_FRAME)) {
            SocketIoPacket::Event { name, args, .. } => ServerEvent::decode(&name, args),
            other => panic!("not an event: {other:?}"),
        })
    });
    g.finish();
}

/// A batch of chat events; `ids`: with event ids (durable mode, and the bot's plain
/// publishes), which adds a `processed_events` row per event for de-duplication.
fn chat_batch(offset: usize, ids: bool) -> Vec<StoreEvent> {
    (0..BATCH)
        .map(|i| StoreEvent {
            channel: "bench".to_string(),
            // Monotonic, as in service: the (channel, timestamp) index grows at its end. (A
            // timestamp repeated in every batch would insert all over an index larger than
            // the page cache and measure random I/O instead.)
            ts: 1_700_000_000 + (offset + i) as i64,
            id: ids.then(|| format!("ev-{}", offset + i)),
            kind: EventKind::Message {
                username: format!("user{}", i % 100),
                message: format!("batch line {i}"),
                bot: false,
            },
        })
        .collect()
}

fn batch_write(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut store =
        Store::open(dir.path().join("bench.db"), &StoreOptions::default()).expect("open store");
    let mut g = c.benchmark_group("batch_write");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(30);
    let mut offset = 0;
    for (name, ids) in [
        ("apply_batch_2048_messages", false),
        ("apply_batch_2048_messages_with_ids", true),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    offset += BATCH;
                    chat_batch(offset, ids)
                },
                |events| {
                    let outcome = store.apply_batch(&events).expect("batch");
                    assert_eq!(outcome.applied, BATCH);
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, payload_decode, packet_decode, batch_write);
criterion_main!(benches);
