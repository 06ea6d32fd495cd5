//! Replays every kept fuzz input — `fuzz/corpus/<target>/*` and `fuzz/regressions/<target>/*`
//! — through its target's entry point on the stable toolchain, without a fuzzer: each must
//! return (no panic) within a time bound. A crash the fuzzer found stays fixed this way.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rosey_fuzzing::TARGETS;

/// Generous for an unoptimised build on a busy machine; a hang is minutes, not this.
const PER_INPUT: Duration = Duration::from_secs(10);

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable folder").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `f` on `data` in a thread; fails when it panics or outlives [`PER_INPUT`].
fn run_bounded(target: &str, path: &Path, f: fn(&[u8]), data: Vec<u8>) {
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    std::thread::spawn(move || {
        let outcome = std::panic::catch_unwind(|| f(&data));
        let _ = tx.send(outcome.is_ok());
    });
    match rx.recv_timeout(PER_INPUT) {
        Ok(true) => {}
        Ok(false) => panic!("{target}: {} panicked", path.display()),
        Err(_) => panic!(
            "{target}: {} did not return within {PER_INPUT:?} (started {:?} ago)",
            path.display(),
            start.elapsed()
        ),
    }
}

fn replay(target: &str) -> usize {
    let (_, f) = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a known target");
    let mut count = 0;
    for kind in ["corpus", "regressions"] {
        for path in inputs(&fuzz_dir().join(kind).join(target)) {
            let data = std::fs::read(&path).expect("readable input");
            run_bounded(target, &path, *f, data);
            count += 1;
        }
    }
    count
}

#[test]
fn every_target_has_a_corpus_and_a_fuzz_target() {
    for (name, _) in TARGETS {
        let corpus = inputs(&fuzz_dir().join("corpus").join(name));
        assert!(
            !corpus.is_empty(),
            "{name}: no seed inputs in fuzz/corpus/{name}"
        );
        let source = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        assert!(source.is_file(), "{name}: no {}", source.display());
    }
}

macro_rules! replay_tests {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            assert!(replay(stringify!($name)) > 0, "nothing replayed");
        }
    )*};
}

replay_tests!(
    cytube_frames,
    cytube_socketconfig,
    irc_lines,
    matrix_sync,
    db_payload,
    plugin_reply,
    config_json,
    config_yaml,
    web_request,
);

#[test]
fn every_target_is_replayed_by_a_test() {
    // The macro above names each target once; a target added to TARGETS must be added there.
    let tested = [
        "cytube_frames",
        "cytube_socketconfig",
        "irc_lines",
        "matrix_sync",
        "db_payload",
        "plugin_reply",
        "config_json",
        "config_yaml",
        "web_request",
    ];
    let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, tested);
}
