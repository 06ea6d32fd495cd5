//! `rosey --version` says the release, the commit it was built from and the build date.

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
