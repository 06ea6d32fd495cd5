//! `rosey demo` shows a whole dashboard: within 30 s of opening the page, every panel shows
//! something real — the demo notice, a demo playlist playing and advancing, users, chat, top
//! chatters, user-count samples and the chat-per-hour chart with labelled axes. Checked in
//! Debian's chromium through playwright-core (`crates/web/tests/browser/demo.mjs`).
//!
//! With `ROSEY_WRITE_SCREENSHOTS=1` the page's screenshot goes to `docs/dashboard-demo.png`.

use std::{path::Path, process::Stdio, time::Duration};

use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_of_the_demo_dashboard_fills_within_30_seconds() {
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/tests/browser");
    let playwright = browser_dir.join("node_modules/playwright-core/package.json");
    if !rosey_testkit::tools::chromium() || !rosey_testkit::tools::node_package(&playwright) {
        return;
    }
    let mut demo = tokio::process::Command::new(env!("CARGO_BIN_EXE_rosey"))
        .args(["demo", "--seconds", "120", "--web-listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(demo.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("dashboard: ") {
                return url.trim().to_owned();
            }
        }
        panic!("the demo ended without a dashboard address");
    })
    .await
    .expect("the demo printed its dashboard address");
    // Keep reading so the demo never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let shot = std::env::var_os("ROSEY_WRITE_SCREENSHOTS")
        .map(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/dashboard-demo.png"));
    let mut script = tokio::process::Command::new("node");
    script
        .arg(browser_dir.join("demo.mjs"))
        .current_dir(&browser_dir)
        .env("DASH_URL", &url)
        .env(
            "CHROMIUM",
            std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into()),
        )
        .kill_on_drop(true);
    if let Some(shot) = &shot {
        script.env("SHOT", shot);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), script.output())
        .await
        .expect("the browser script finished")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ok - the playlist advances"), "{stdout}");
    demo.kill().await.ok();
}
