// Whether the tests that need a real Matrix homeserver (Synapse from PyPI, in the venv that
// scripts/setup.sh makes at /opt/rosey-synapse, or ROSEY_SYNAPSE_VENV) can run here: the
// `synapse_ready` cfg is set when it is installed, and always under `CI=true` (a missing
// server is then a failure, never a silent skip). Elsewhere those tests show as ignored,
// with the reason.

use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=ROSEY_SYNAPSE_VENV");
    println!("cargo::rustc-check-cfg=cfg(synapse_ready)");
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let venv = std::env::var_os("ROSEY_SYNAPSE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/rosey-synapse"));
    let bin = venv.join("bin/synapse_homeserver");
    if ci || bin.is_file() {
        println!("cargo::rustc-cfg=synapse_ready");
    }
}
