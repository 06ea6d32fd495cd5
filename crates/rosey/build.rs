//! Decides at build time whether the deployment-file checks that need an outside tool can run
//! here, so that elsewhere they show as *ignored* (with the reason) instead of passing without
//! having run: `systemd-analyze` (systemd units) and `kubernetes-validate` (PyPI; Kubernetes
//! manifests). Under `CI=true` the checks are always built to run: a missing tool is then a
//! failure, never a silent skip (`scripts/setup.sh` installs both).
//!
//! (A build script because Rust's test harness only knows skips decided at compile time.)

use std::process::{Command, Stdio};

/// `(cfg name, program, argument that makes it print its version and exit 0)`.
const TOOLS: &[(&str, &str, &str)] = &[
    ("systemd_analyze_ready", "systemd-analyze", "--version"),
    (
        "kubernetes_validate_ready",
        "kubernetes-validate",
        "--version",
    ),
];

fn main() {
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=PATH");
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    for (cfg, program, arg) in TOOLS {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        let present = Command::new(program)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ci || present {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
