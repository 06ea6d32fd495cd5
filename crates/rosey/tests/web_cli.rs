//! `rosey token` and `rosey web` as processes, with `rosey db-service` on a nats-server of
//! the test's own: a token made by the CLI is shown once, listed by prefix only, works on
//! the HTTP API of a separate `rosey web` process, and stops working once revoked.

mod common;

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const WAIT: Duration = Duration::from_secs(15);

async fn rosey(nats: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rosey"))
        .args(args)
        .env("NATS_URL", nats)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn tokens_from_the_cli_work_on_the_api_of_rosey_web() {
    let nats = rosey_testkit::NatsServer::start();
    let url = nats.url();
    let dir = tempfile::tempdir().unwrap();
    let mut db = Command::new(env!("CARGO_BIN_EXE_rosey"))
        .args(["db-service", "--log-level", "warn", "--db-path"])
        .arg(dir.path().join("web.db"))
        .env("NATS_URL", &url)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // `rosey token` fails while nobody answers; retry until the service is up.
    let created = tokio::time::timeout(WAIT, async {
        loop {
            let out = rosey(
                &url,
                &["token", "create", "--admin", "--description", "ops"],
            )
            .await;
            if out.status.success() {
                return out;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the database service answers");
    let token = String::from_utf8(created.stdout)
        .unwrap()
        .trim()
        .to_string();
    assert!(token.starts_with("ra_") && token.len() > 30, "{token}");
    assert!(String::from_utf8_lossy(&created.stderr).contains("cannot be shown again"));

    let list = rosey(&url, &["token", "list"]).await;
    assert!(list.status.success());
    let listed = String::from_utf8(list.stdout).unwrap();
    assert!(listed.contains(&token[..12]), "{listed}");
    assert!(!listed.contains(&token), "the list never shows a token");

    let port = rosey_testkit::free_port();
    let listen = format!("127.0.0.1:{port}");
    let metrics = format!("127.0.0.1:{}", rosey_testkit::free_port());
    let mut web = Command::new(env!("CARGO_BIN_EXE_rosey"))
        .args([
            "web",
            "--log-level",
            "warn",
            "--channel",
            "clichan",
            "--listen",
            &listen,
            "--metrics-listen",
            &metrics,
        ])
        .env("NATS_URL", &url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(web.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("rosey web prints its URL")
        .unwrap()
        .unwrap();
    assert_eq!(first, format!("Rosey dashboard: http://{listen}/"));

    let http = reqwest::Client::new();
    let say = |t: String| {
        http.post(format!("http://{listen}/api/say"))
            .header("X-API-Token", t)
            .json(&serde_json::json!({"message": "from the cli test"}))
            .send()
    };
    let r = say(token.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!("http://{listen}/api/tokens"))
        .header("X-API-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A page session opened with the token (ended by the revoke below).
    let r = http
        .post(format!("http://{listen}/ui/login"))
        .json(&serde_json::json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let csrf = r.json::<serde_json::Value>().await.unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_string();
    let page_say = || {
        http.post(format!("http://{listen}/ui/say"))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .json(&serde_json::json!({"message": "from the page"}))
            .send()
    };
    assert_eq!(page_say().await.unwrap().status(), 200);
    // The dashboard's listener counters are on its metrics endpoint.
    let exposed = http
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(exposed.contains("rosey_web_connections"), "{exposed}");
    assert!(exposed.contains("rosey_web_refused_total"), "{exposed}");

    let short = rosey(&url, &["token", "revoke", &token[..5]]).await;
    assert!(!short.status.success(), "fewer than 8 characters");
    let revoked = rosey(&url, &["token", "revoke", &token[..10]]).await;
    assert!(revoked.status.success(), "{revoked:?}");
    assert_eq!(say(token.clone()).await.unwrap().status(), 401);
    assert_eq!(page_say().await.unwrap().status(), 401, "the session ended");

    let status = common::sigterm_and_wait(&mut web, WAIT).await;
    assert!(status.success(), "rosey web exits 0 on SIGTERM: {status}");
    let status = common::sigterm_and_wait(&mut db, WAIT).await;
    assert!(status.success());
}

/// `rosey run` with `web.listen` serves the dashboard on its embedded bus: the page's live
/// state names the bot that joined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rosey_run_serves_the_dashboard_when_web_listen_is_set() {
    let server = rosey_devserver::DevServer::start(rosey_devserver::DevServerConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    let listen = format!("127.0.0.1:{}", rosey_testkit::free_port());
    std::fs::write(
        &config,
        serde_json::to_vec_pretty(&serde_json::json!({
            "version": "2.0",
            "database": {"path": dir.path().join("run.db"), "run_as_service": true},
            "platforms": [{"type": "cytube", "name": "web", "enabled": true,
                           "domain": server.base_url(), "channel": "webchan",
                           "user": ["RoseyWeb"], "restart_delay": 1}],
            "logging": {"level": "warn"},
            "web": {"listen": listen}
        }))
        .unwrap(),
    )
    .unwrap();
    let mut run = Command::new(env!("CARGO_BIN_EXE_rosey"))
        .arg("run")
        .arg(&config)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    assert!(
        server.wait_for_user("webchan", "RoseyWeb", WAIT).await,
        "the bot joins"
    );
    let http = reqwest::Client::new();
    // The dashboard started before the bot joined: its user list has the bot once it
    // shows in a snapshot (each request is a fresh snapshot).
    let found = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(r) = http.get(format!("http://{listen}/events")).send().await {
                let mut body = r;
                if let Ok(Some(chunk)) = body.chunk().await {
                    let text = String::from_utf8_lossy(&chunk).to_string();
                    if text.starts_with("event: snapshot") && text.contains("\"name\":\"RoseyWeb\"")
                    {
                        return text;
                    }
                }
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the dashboard of rosey run shows the bot");
    assert!(found.contains("\"channel\":\"webchan\""));
    let r = http
        .get(format!("http://{listen}/api/stats"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let status = common::sigterm_and_wait(&mut run, WAIT).await;
    assert!(status.success(), "{status}");
    server.shutdown().await;
}
