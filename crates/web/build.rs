//! Whether the browser test can run here (`browser_ready`): Debian's `chromium`, `node`, and
//! `playwright-core` installed by `npm ci` in `tests/browser` (scripts/setup.sh does all
//! three). Elsewhere the test shows as ignored, with the reason; under `CI=true` it is always
//! built to run, so a missing tool is a failure there, never a silent skip. (A build script
//! because Rust's test harness only knows skips decided at compile time; the same pattern
//! as crates/rosey/build.rs.)

use std::path::Path;
use std::process::{Command, Stdio};

fn works(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn main() {
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-changed=tests/browser/node_modules/playwright-core/package.json");
    println!("cargo::rustc-check-cfg=cfg(browser_ready)");
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let playwright = Path::new("tests/browser/node_modules/playwright-core/package.json").exists();
    if ci || (works("chromium") && works("node") && playwright) {
        println!("cargo::rustc-cfg=browser_ready");
    }
}
