//! The dashboard's checks in a real browser: Debian's chromium driven by playwright-core
//! from a Node.js script in `crates/web/tests/browser/` (where `npm ci` installs
//! playwright-core; no browser download). [`ready`] says whether both are here (a missing
//! one fails the test under `CI=true`, see [`crate::tools`]); [`run`] runs one script with
//! its environment and returns what it printed, failing the test when the script failed.
//! [`login`] logs in on a dashboard over HTTP as its page does (the tests of the page's
//! actions without a browser).

use std::{path::PathBuf, time::Duration};

/// `crates/web/tests/browser`: the scripts and their `node_modules`.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web/tests/browser")
}

/// Whether chromium and playwright-core are installed (see [`crate::tools`]).
pub fn ready() -> bool {
    let playwright = dir().join("node_modules/playwright-core/package.json");
    crate::tools::chromium() && crate::tools::node_package(&playwright)
}

/// Runs `script` (a file of [`dir`]) with `env` and `CHROMIUM` (the browser binary:
/// `$CHROMIUM`, else `/usr/bin/chromium`), at most `within`; prints its output and fails
/// the test unless it exits 0. Returns its standard output (one `ok - …` line per check).
pub async fn run(script: &str, env: &[(&str, String)], within: Duration) -> String {
    let mut node = tokio::process::Command::new("node");
    node.arg(dir().join(script))
        .current_dir(dir())
        .env(
            "CHROMIUM",
            std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into()),
        )
        .kill_on_drop(true);
    for (k, v) in env {
        node.env(k, v);
    }
    let out = tokio::time::timeout(within, node.output())
        .await
        .unwrap_or_else(|_| panic!("the browser script {script} finishes within {within:?}"))
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "browser checks failed:\n{stdout}");
    stdout
}

/// Logs in on the dashboard at `base` (`http://addr`) with the API token `token`, as the
/// page does (`POST /ui/login`): the session cookie (`name=value`) and the CSRF token.
pub async fn login(http: &reqwest::Client, base: &str, token: &str) -> (String, String) {
    let r = http
        .post(format!("{base}/ui/login"))
        .json(&serde_json::json!({"token": token}))
        .send()
        .await
        .expect("the dashboard answers");
    assert_eq!(r.status(), reqwest::StatusCode::OK, "login");
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let body: serde_json::Value = r.json().await.unwrap();
    (cookie, body["csrf"].as_str().unwrap().to_string())
}
