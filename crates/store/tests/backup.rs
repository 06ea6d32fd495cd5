//! `backup` while a writer commits event after event: the copy holds one committed state —
//! a prefix of what was written — and passes `check`.

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

use rosey_store::{EventKind, SCHEMA_VERSION, Store, StoreEvent, StoreOptions, backup};

const CH: &str = "chan";
const EVENTS: u64 = 20_000;

fn line(i: u64) -> StoreEvent {
    StoreEvent {
        channel: CH.into(),
        ts: 1_000_000 + i as i64,
        id: None,
        kind: EventKind::Message {
            username: "alice".into(),
            message: i.to_string(),
            bot: false,
        },
    }
}

#[test]
fn a_backup_taken_during_writes_is_a_consistent_prefix_and_checks_ok() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bot_data.db");
    let mut store = Store::open(&path, &StoreOptions::with_channel(CH)).unwrap();
    let written = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (written, stop) = (written.clone(), stop.clone());
        std::thread::spawn(move || {
            // Small transactions, as the service commits under a steady stream.
            for chunk in (0..EVENTS).collect::<Vec<_>>().chunks(50) {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let batch: Vec<_> = chunk.iter().map(|&i| line(i)).collect();
                store.apply_batch(&batch).unwrap();
                written.store(chunk[chunk.len() - 1] + 1, Ordering::Release);
            }
        })
    };
    // Back up once the writer is well under way, while it keeps going.
    while written.load(Ordering::Acquire) < EVENTS / 4 {
        std::thread::yield_now();
    }
    let copy = dir.path().join("backup.db");
    let bytes = backup::backup(&path, &copy).unwrap();
    let after = written.load(Ordering::Acquire);
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(bytes > 0);

    let report = backup::check(&copy).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.schema_version, SCHEMA_VERSION);
    let count = |t: &str| report.rows.iter().find(|(n, _)| n == t).map(|(_, c)| *c);
    let k = count("recent_chat").unwrap() as u64;
    assert!(
        k >= EVENTS / 4,
        "the copy holds what was committed before it began ({k})"
    );
    // (A batch may be committed a moment before `written` says so.)
    assert!(
        k <= after + 50,
        "nothing after the backup returned: {k} > {after}"
    );

    // One committed state: lines 0..k, in order, and the counter agrees with them.
    assert_eq!(
        rosey_testkit::assert_numbered_chat_prefix(&copy, "alice"),
        k
    );
}

#[test]
fn backup_refuses_to_overwrite_and_check_reports_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bot_data.db");
    drop(Store::open(&path, &StoreOptions::with_channel(CH)).unwrap());
    let copy = dir.path().join("b.db");
    std::fs::write(&copy, b"precious").unwrap();
    let e = backup::backup(&path, &copy).unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    assert_eq!(std::fs::read(&copy).unwrap(), b"precious");
    let e = backup::check(&dir.path().join("missing.db")).unwrap_err();
    assert!(e.to_string().contains("missing.db"), "{e}");
}
