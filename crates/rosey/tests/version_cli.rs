//! `rosey --version` says the release, the commit it was built from and the build date, and
//! `rosey status` shows each running process's version and commit; the lean `rosey-db` says
//! the same version and is named in `rosey status`.

use std::process::Command;

#[test]
fn version_names_the_release_the_commit_and_the_build_date() {
    let out = Command::new(env!("CARGO_BIN_EXE_rosey"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    let (name_version, rest) = line.trim().split_once(" (").expect("rosey X (…)");
    assert_eq!(name_version, format!("rosey {}", env!("CARGO_PKG_VERSION")));
    let inner = rest.strip_suffix(')').expect("closing parenthesis");
    let (commit, date) = inner.split_once(", built ").expect("commit, built date");
    // The checkout's HEAD, when the test runs in one (the binary was built from it).
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match head {
        Some(head) => assert_eq!(commit, format!("commit {head}"), "{line}"),
        None => assert!(commit.starts_with("commit "), "{line}"),
    }
    let ymd: Vec<&str> = date.split('-').collect();
    assert!(
        ymd.len() == 3 && ymd[0].len() == 4 && ymd.iter().all(|p| p.parse::<u32>().is_ok()),
        "{line}"
    );
    // A release version, not a placeholder.
    assert_ne!(env!("CARGO_PKG_VERSION"), "0.1.0");
}

/// `rosey status` shows a running database service's version with the commit it was built
/// from (the table's VERSION column and the JSON's metadata), and which executable runs it.
#[test]
fn status_shows_the_version_and_commit_of_a_running_process() {
    let line = status_line_of(env!("CARGO_BIN_EXE_rosey"), &["db-service"]);
    let version = format!("{} ({})", env!("CARGO_PKG_VERSION"), commit_of_the_binary());
    assert!(line.contains(&version), "{version} not in: {line}");
    assert!(line.contains("binary rosey,"), "{line}");
}

/// The lean `rosey-db` is the same service from the same build: its `--version` names the
/// same release and commit, and `rosey status` lists it as run by `rosey-db`.
#[test]
fn the_lean_binary_is_the_same_service_and_status_names_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_rosey-db"))
        .arg("--version")
        .output()
        .unwrap();
    let lean = String::from_utf8(out.stdout).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rosey"))
        .arg("--version")
        .output()
        .unwrap();
    let full = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        lean.strip_prefix("rosey-db "),
        full.strip_prefix("rosey "),
        "{lean} / {full}"
    );
    let line = status_line_of(env!("CARGO_BIN_EXE_rosey-db"), &[]);
    let version = format!("{} ({})", env!("CARGO_PKG_VERSION"), commit_of_the_binary());
    assert!(line.contains(&version), "{version} not in: {line}");
    assert!(line.contains("binary rosey-db,"), "{line}");
}

/// Runs a database service (`program lead… --nats-url …`) and returns its line in `rosey
/// status`.
fn status_line_of(program: &str, lead: &[&str]) -> String {
    let nats = rosey_testkit::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut db = Command::new(program)
        .args(lead)
        .args(["--nats-url", &nats.url(), "--log-level", "warn"])
        .arg("--db-path")
        .arg(dir.path().join("status.db"))
        .env_remove("NATS_URL")
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let version_line = || {
        let out = Command::new(env!("CARGO_BIN_EXE_rosey"))
            .args(["status", "--wait", "0.5", "--nats-url", &nats.url()])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.starts_with("rosey-db"))
            .map(str::to_string)
    };
    // Each status call waits half a second for answers; the service is up within a few.
    let line = (0..40).find_map(|_| version_line());
    let _ = db.kill();
    let _ = db.wait();
    line.expect("rosey status never listed the database service")
}

/// The commit `rosey --version` names.
fn commit_of_the_binary() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_rosey"))
        .arg("--version")
        .output()
        .unwrap();
    let line = String::from_utf8(out.stdout).unwrap();
    let start = line.find("(commit ").unwrap() + "(commit ".len();
    line[start..].split(',').next().unwrap().to_string()
}
