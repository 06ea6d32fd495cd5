//! A second build with nothing changed is a no-op: the crates with a build script compile
//! nothing again when `CI` is switched on or off, when `PATH` changes, and whether or not
//! the test tools' `node_modules/` exist. (Build scripts that probed those made every
//! `cargo build --release` rebuild devserver, web, bench and `rosey` where `npm ci` had not
//! run, and a `CI` toggle rebuild a dozen crates; tests now look for their tools when they
//! run: `rosey_testkit::tools`.)
//!
//! It builds every library of the workspace (with its unit tests, as the suite does) in the
//! test's own profile, so within a suite run everything is already built; it does not build
//! the `rosey` binary, which other tests run while this one builds. Every build script in
//! the workspace, `rosey`'s included, is held to the same rules by reading it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One `cargo test --no-run --workspace --lib --message-format json`: every library and its
/// unit-test binary, with the features the suite's own build resolved (dev-dependencies
/// included), so that within a suite run everything is already built. `ci` sets or removes
/// `CI`, `extra_path` is put in front of `PATH`. Returns cargo's JSON messages. (No binary:
/// cargo would link `target/debug/rosey` again while other tests run it.)
fn build(ci: bool, extra_path: Option<&Path>) -> Vec<Value> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace()).args([
        "test",
        "--no-run",
        "--workspace",
        "--lib",
        "--locked",
        "--message-format",
        "json",
    ]);
    // What cargo and nextest set for this test is not the developer's environment, and
    // some build scripts watch such variables (ring: CARGO_PKG_NAME, CARGO_MANIFEST_DIR,
    // OUT_DIR…): left in, they alone would make cargo rebuild.
    for (name, _) in std::env::vars_os() {
        if set_for_this_test(&name.to_string_lossy()) {
            cmd.env_remove(&name);
        }
    }
    if ci {
        cmd.env("CI", "true");
    } else {
        cmd.env_remove("CI");
    }
    if let Some(dir) = extra_path {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let joined = std::env::join_paths(
            std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&path)),
        )
        .unwrap();
        cmd.env("PATH", joined);
    }
    let out = cmd.output().expect("run cargo");
    assert!(
        out.status.success(),
        "cargo build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Variables cargo or nextest set for a test process, not there when a developer builds.
fn set_for_this_test(name: &str) -> bool {
    const PREFIXES: [&str; 7] = [
        "CARGO_PKG_",
        "CARGO_MANIFEST_",
        "CARGO_CRATE_",
        "CARGO_BIN_",
        "CARGO_CFG_",
        "NEXTEST",
        "__NEXTEST",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p))
        || matches!(
            name,
            "CARGO_PRIMARY_PACKAGE" | "CARGO_TARGET_TMPDIR" | "CARGO_RUSTC_CURRENT_DIR" | "OUT_DIR"
        )
}

/// The artifacts cargo compiled again (not `fresh`), by target name.
fn rebuilt(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m["reason"] == "compiler-artifact" && m["fresh"] != true)
        .map(|m| m["target"]["name"].as_str().unwrap_or("?").to_string())
        .collect()
}

#[test]
fn a_second_build_is_fresh_across_ci_toggles_and_path_changes() {
    // Whatever the test binaries were built with, bring the libraries up to date once.
    let first = build(false, None);
    assert!(
        first.iter().any(|m| m["reason"] == "compiler-artifact"),
        "cargo reported no artifacts"
    );
    let again = build(false, None);
    assert_eq!(rebuilt(&again), Vec::<String>::new(), "nothing changed");

    let empty = tempfile::tempdir().unwrap();
    let ci = build(true, Some(empty.path()));
    assert_eq!(
        rebuilt(&ci),
        Vec::<String>::new(),
        "CI=true and another PATH rebuilt crates"
    );
    let back = build(false, None);
    assert_eq!(
        rebuilt(&back),
        Vec::<String>::new(),
        "CI unset rebuilt crates"
    );
}

/// Asserts one build script's directives watch no test-tool state.
fn check_directives(output: &str, package: &Path) {
    for line in output.lines() {
        let line = line.replace("cargo::", "cargo:");
        if let Some(var) = line.strip_prefix("cargo:rerun-if-env-changed=") {
            assert!(
                !matches!(var, "CI" | "PATH"),
                "{}: a build script watches {var}",
                package.display()
            );
        }
        if let Some(file) = line.strip_prefix("cargo:rerun-if-changed=") {
            assert!(
                !file.contains("node_modules") && package.join(file).exists(),
                "{}: a build script watches {file}, which is test tooling or missing",
                package.display()
            );
        }
    }
}

/// Every build script in the workspace (including `rosey`'s, not built here) is free of
/// test-tool probes.
#[test]
fn no_build_script_probes_test_tools_or_ci() {
    for entry in std::fs::read_dir(workspace().join("crates")).unwrap() {
        let script = entry.unwrap().path().join("build.rs");
        let Ok(source) = std::fs::read_to_string(&script) else {
            continue;
        };
        for probe in [
            "rerun-if-env-changed=CI",
            "rerun-if-env-changed=PATH",
            "node_modules",
            "rustc-cfg=",
        ] {
            assert!(
                !source.contains(probe),
                "{} contains {probe}: test tools are looked for when the tests run",
                script.display()
            );
        }
    }
    // `rosey`'s own (the commit it is built from) watches only files that exist.
    let rosey = workspace().join("crates/rosey");
    let source = std::fs::read_to_string(rosey.join("build.rs")).unwrap();
    check_directives(&build_script_directives(&source), &rosey);
}

/// The literal `cargo::rerun-if-…` lines a build script prints (those with a fixed value).
fn build_script_directives(source: &str) -> String {
    source
        .lines()
        .filter_map(|l| l.split('"').nth(1))
        .filter(|s| s.starts_with("cargo::rerun-if") && !s.contains('{'))
        .collect::<Vec<_>>()
        .join("\n")
}
