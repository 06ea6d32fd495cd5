//! Interop: the official JavaScript `socket.io-client` v4 (`js/client.js`) drives the
//! devserver: socketconfig, connect (polling, then websocket upgrade), password channel
//! with zero-argument events, join, guest login, chat echo.
//!
//! Needs Node.js and `npm ci` in `crates/devserver/js` (`bash scripts/test` does both). Where
//! they are missing the test is skipped when it runs, with the reason
//! (`rosey_testkit::tools`); under `CI=true` a missing tool fails it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use rosey_devserver::{DevServer, DevServerConfig};
use serde_json::{Value, json};

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js")
}

#[tokio::test]
async fn official_socket_io_client_can_join_login_and_chat() {
    let client = js_dir().join("node_modules/socket.io-client/package.json");
    if !rosey_testkit::tools::node_package(&client) {
        return;
    }
    let cfg = DevServerConfig {
        ping_timeout: Duration::from_secs(5),
        ..DevServerConfig::default()
    }
    .with_channel_password("jschan", "pw1");
    let server = DevServer::start(cfg).await.expect("devserver starts");

    let child = tokio::process::Command::new("node")
        .arg("client.js")
        .args([
            &server.base_url(),
            "jschan",
            "jsguest",
            "hi (from) <js> & co",
            "pw1",
        ])
        .current_dir(js_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("node client finishes within 30 s")
        .expect("node output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "node client failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );

    let events: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON array per line"))
        .collect();
    let find = |name: &str| {
        events
            .iter()
            .find(|e| e[0] == json!(name))
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
    };
    assert_eq!(
        find("#socketconfig")[1],
        json!({"servers": [{"url": server.base_url(), "secure": false}]})
    );
    assert_eq!(find("needPassword")[1], json!(false));
    // A zero-argument event reaches the JS client as an event with no arguments.
    assert_eq!(find("cancelNeedPassword"), &json!(["cancelNeedPassword"]));
    assert!(find("userlist")[1].is_array());
    assert_eq!(
        find("login")[1],
        json!({"success": true, "name": "jsguest", "guest": true})
    );
    assert_eq!(find("#done")[1], json!("hi (from) &lt;js&gt; &amp; co"));

    let log = server.chat_log("jschan");
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].username, "jsguest");
    assert_eq!(log[0].msg, "hi (from) <js> & co");
    server.shutdown().await;
}
