//! Decides at build time whether the interop test with the official JavaScript
//! socket.io client can run here, so that elsewhere it shows as *ignored* (with the reason)
//! instead of passing without having run. Under `CI=true` the test is always built to run:
//! a missing Node.js or `npm ci` is then a failure, never a silent skip.
//!
//! (A build script because Rust's test harness only knows skips decided at compile time.)

use std::path::Path;
use std::process::{Command, Stdio};

fn main() {
    println!("cargo::rustc-check-cfg=cfg(js_client_ready)");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-changed=js/node_modules/socket.io-client/package.json");
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let client = Path::new("js/node_modules/socket.io-client/package.json").is_file();
    if ci || (node && client) {
        println!("cargo::rustc-cfg=js_client_ready");
    }
}
