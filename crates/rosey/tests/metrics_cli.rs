//! `/metrics`, `/healthz`, `/readyz` of the real processes (issue 12): exact counters after a
//! known workload on `rosey run`, the exposition checked by `promtool`, every metric of the
//! Grafana dashboard present in a scrape, `/readyz` following the NATS connection of
//! `rosey db-service`, and a real Prometheus server scraping `rosey run` + `rosey db-service`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rosey_cytube::{ClientConfig, CytubeEvent, CytubeHandle, Login};
use rosey_devserver::{DevServer, DevServerConfig};
use rosey_testkit::eventually;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0";

/// A child process killed (SIGTERM, then waited for) when the test ends, pass or fail.
struct Proc(Option<Child>);

impl Proc {
    fn spawn(cmd: &mut Command) -> Proc {
        Proc(Some(cmd.stdin(Stdio::null()).spawn().expect("spawn")))
    }

    /// SIGTERM and the exit status.
    fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.0.take().expect("running");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        child.wait().expect("wait")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn rosey() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rosey"))
}

fn write_config(dir: &Path, name: &str, value: Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
    path
}

async fn get(url: &str, accept: Option<&str>) -> Option<(u16, String)> {
    let client = reqwest::Client::new();
    let mut req = client.get(url).timeout(Duration::from_secs(2));
    if let Some(a) = accept {
        req = req.header("Accept", a);
    }
    let resp = req.send().await.ok()?;
    let status = resp.status().as_u16();
    Some((status, resp.text().await.ok()?))
}

async fn readyz(base: &str, want: u16) -> String {
    let url = format!("{base}/readyz");
    eventually(&format!("/readyz {want}"), WAIT, || async {
        get(&url, None)
            .await
            .filter(|(s, _)| *s == want)
            .map(|(_, b)| b)
    })
    .await
}

/// The value of one series (`name{labels}` exactly as exposed) in a text exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split(' ').next()?.parse().ok())
}

/// Every sample name in an exposition.
fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// A tool the test needs. Tests that call this first ask `rosey_testkit::tools` whether it
/// is here (skipped locally, a failure under `CI=true` when it is not).
fn tool(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| panic!("{name} is not installed (apt-get install -y prometheus)"))
}

/// `promtool check metrics` on a Prometheus-text exposition: it must parse (lint remarks
/// are printed, a parse error fails).
fn promtool_check(text: &str) {
    let promtool = tool("promtool");
    use std::io::Write;
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool check metrics: {said}\n{text}"
    );
}

async fn guest(server: &DevServer, channel: &str, name: &str) -> CytubeHandle {
    let mut cfg = ClientConfig::new(server.base_url(), channel, Login::Guest(name.into()));
    cfg.backoff.base = Duration::from_millis(50);
    let (handle, mut events) = rosey_cytube::connect(cfg);
    tokio::time::timeout(WAIT, async {
        while let Some(e) = events.recv().await {
            if matches!(e, CytubeEvent::Joined { .. }) {
                break;
            }
        }
    })
    .await
    .expect("guest joins");
    // Keep draining so the client never blocks on a full event stream.
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    handle
}

fn dashboard_metric_names() -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/grafana/rosey.json");
    let dashboard: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let mut exprs = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr", Value::String(s)) => out.push(s.clone()),
                        _ => walk(v, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&dashboard, &mut exprs);
    assert!(exprs.len() >= 8, "the dashboard has its panels: {exprs:?}");
    exprs
        .iter()
        .flat_map(|e| {
            e.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .filter(|t| t.starts_with("rosey_") || t.starts_with("process_"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_exports_exact_counts_and_every_dashboard_metric() {
    if !rosey_testkit::tools::promtool() {
        return;
    }
    let nats = rosey_testkit::NatsServer::start();
    let server = DevServer::start(DevServerConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = rosey_testkit::free_port();
    let config = write_config(
        dir.path(),
        "run.json",
        json!({
            "version": "2.0",
            "nats": {"url": nats.url(), "reconnect_delay": 0.2},
            "database": {"path": dir.path().join("run.db"), "run_as_service": true},
            "platforms": [{"type": "cytube", "name": "e2e", "enabled": true,
                           "domain": server.base_url(), "channel": "e2e",
                           "user": ["RoseyMetrics"], "restart_delay": 1}],
            "logging": {"level": "warn"},
            "metrics": {"listen": format!("127.0.0.1:{port}")}
        }),
    );
    let mut run = Proc::spawn(rosey().arg("run").arg(&config));
    let base = format!("http://127.0.0.1:{port}");
    let ready = readyz(&base, 200).await;
    let ready: Value = serde_json::from_str(&ready).unwrap();
    assert_eq!(ready["ready"], true, "{ready}");
    let (status, live) = get(&format!("{base}/healthz"), None).await.unwrap();
    assert_eq!(status, 200, "{live}");

    // The workload: a guest says 30 lines.
    let chatter = guest(&server, "e2e", "chatty").await;
    for i in 0..30 {
        chatter.chat(&format!("line {i}")).unwrap();
    }
    let url = format!("{base}/metrics");
    let text = eventually("30 messages applied", WAIT, || async {
        let (_, text) = get(&url, Some(OPENMETRICS)).await?;
        (sample(&text, "rosey_db_events_applied_total{kind=\"message\"}") == Some(30.0))
            .then_some(text)
    })
    .await;
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    let exact = [
        (
            "rosey_bot_cytube_events_total{channel=\"e2e\",kind=\"chat\"}",
            30.0,
        ),
        ("rosey_db_events_received_total{kind=\"message\"}", 30.0),
        ("rosey_db_events_applied_total{kind=\"message\"}", 30.0),
        ("rosey_bot_connected{channel=\"e2e\"}", 1.0),
        (
            "rosey_bot_channel_state{channel=\"e2e\",state=\"running\"}",
            1.0,
        ),
        (
            "rosey_bot_channel_state{channel=\"e2e\",state=\"reconnecting\"}",
            0.0,
        ),
        (
            "rosey_bot_db_breaker_state{channel=\"e2e\",state=\"closed\"}",
            1.0,
        ),
        ("rosey_nats_connected", 1.0),
        (
            "rosey_db_events_rejected_total{reason=\"malformed_json\"}",
            0.0,
        ),
    ];
    for (series, want) in exact {
        assert_eq!(sample(&text, series), Some(want), "{series}\n{text}");
    }
    assert!(
        sample(&text, "rosey_bot_users_chat{channel=\"e2e\"}").unwrap() >= 2.0,
        "the bot and the guest are in the user list"
    );
    assert!(sample(&text, "process_resident_memory_bytes").unwrap() > 0.0);
    assert!(sample(&text, "rosey_db_store_size_bytes").unwrap() > 0.0);
    assert!(
        text.lines()
            .any(|l| l.starts_with("rosey_build_info{") && l.contains("process=\"run\"")),
        "{text}"
    );
    assert!(!text.contains("chatty"), "no user name in a label");

    // The Prometheus text format (what curl and promtool get) parses.
    let (_, plain) = get(&url, None).await.unwrap();
    assert!(!plain.contains("# EOF"));
    assert_eq!(
        sample(
            &plain,
            "rosey_bot_cytube_events_total{channel=\"e2e\",kind=\"chat\"}"
        ),
        Some(30.0)
    );
    promtool_check(&plain);

    // Every metric the Grafana dashboard queries is exported.
    let exported = sample_names(&text);
    let missing: Vec<_> = dashboard_metric_names()
        .into_iter()
        .filter(|n| !exported.contains(n))
        .collect();
    assert!(
        missing.is_empty(),
        "dashboard names unexported metrics: {missing:?}"
    );

    // `rosey status` finds both parts of the process on the bus.
    let out = rosey()
        .args(["status", "--json", "--nats-url", &nats.url()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let procs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let by_name = |n: &str| procs.iter().find(|p| p["name"] == n).cloned();
    let db = by_name("rosey-db").unwrap_or_else(|| panic!("no rosey-db in {procs:?}"));
    assert_eq!(
        db["data"]["applied"].as_u64().map(|n| n >= 30),
        Some(true),
        "{db}"
    );
    assert!(db["uptime_seconds"].is_u64(), "{db}");
    let bot = by_name("rosey-bot").unwrap_or_else(|| panic!("no rosey-bot in {procs:?}"));
    let ch = &bot["data"]["channels"][0];
    assert_eq!(ch["channel"], "e2e", "{bot}");
    assert_eq!(ch["state"], "running", "{bot}");
    assert_eq!(ch["joined"], true, "{bot}");
    let table = rosey()
        .args(["status", "--nats-url", &nats.url()])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("rosey-bot") && table.contains("rosey-db"),
        "{table}"
    );
    assert!(
        table.contains("channel e2e") && table.contains("running"),
        "{table}"
    );
    // Every process says its version and the commit it was built from.
    let commit = bot["metadata"]["commit"].as_str().unwrap_or_default();
    assert!(!commit.is_empty(), "{bot}");
    assert_eq!(db["metadata"]["commit"], commit, "{db}");
    let version = format!("{} ({commit})", env!("CARGO_PKG_VERSION"));
    for name in ["rosey-bot", "rosey-db"] {
        assert!(
            table
                .lines()
                .any(|l| l.starts_with(name) && l.contains(&version)),
            "{name} without {version}:\n{table}"
        );
    }
    let build_info = format!(
        "rosey_build_info{{version=\"{}\",commit=\"{commit}\",process=\"run\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    assert!(text.contains(&build_info), "{build_info}\n{text}");

    chatter.shutdown().await;
    assert!(run.stop().success(), "rosey run exits 0 on SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_the_nats_connection() {
    let mut nats = rosey_testkit::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let port = rosey_testkit::free_port();
    let config = write_config(
        dir.path(),
        "db.json",
        json!({
            "version": "2.0",
            "nats": {"url": nats.url(), "reconnect_delay": 0.2},
            "database": {"path": dir.path().join("db.db")},
            "logging": {"level": "warn"}
        }),
    );
    let mut db = Proc::spawn(
        rosey()
            .arg("db-service")
            .arg(&config)
            .args(["--metrics-listen", &format!("127.0.0.1:{port}")]),
    );
    let base = format!("http://127.0.0.1:{port}");
    readyz(&base, 200).await;

    nats.stop();
    let down: Value = serde_json::from_str(&readyz(&base, 503).await).unwrap();
    assert_eq!(down["ready"], false, "{down}");
    let nats_check = down["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "nats")
        .cloned()
        .unwrap_or_default();
    assert_eq!(nats_check["ok"], false, "{down}");
    // Alive all the same.
    assert_eq!(get(&format!("{base}/healthz"), None).await.unwrap().0, 200);

    nats.start_again();
    let up: Value = serde_json::from_str(&readyz(&base, 200).await).unwrap();
    assert_eq!(up["ready"], true, "{up}");
    let (_, text) = get(&format!("{base}/metrics"), None).await.unwrap();
    assert!(
        sample(&text, "rosey_nats_reconnects_total").unwrap() >= 1.0,
        "{text}"
    );
    assert!(db.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_run_and_db_service() {
    if !rosey_testkit::tools::prometheus() {
        return;
    }
    let prometheus = tool("prometheus");
    let nats = rosey_testkit::NatsServer::start();
    let server = DevServer::start(DevServerConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (db_port, run_port, prom_port) = (
        rosey_testkit::free_port(),
        rosey_testkit::free_port(),
        rosey_testkit::free_port(),
    );
    let db_config = write_config(
        dir.path(),
        "db.json",
        json!({
            "version": "2.0",
            "nats": {"url": nats.url()},
            "database": {"path": dir.path().join("prom.db")},
            "logging": {"level": "warn"},
            "metrics": {"listen": format!("127.0.0.1:{db_port}")}
        }),
    );
    let run_config = write_config(
        dir.path(),
        "run.json",
        json!({
            "version": "2.0",
            "nats": {"url": nats.url()},
            "database": {"run_as_service": false},
            "platforms": [{"type": "cytube", "name": "prom", "enabled": true,
                           "domain": server.base_url(), "channel": "prom",
                           "user": ["RoseyProm"], "restart_delay": 1}],
            "logging": {"level": "warn"},
            "metrics": {"listen": format!("127.0.0.1:{run_port}")}
        }),
    );
    let mut db = Proc::spawn(rosey().arg("db-service").arg(&db_config));
    let mut run = Proc::spawn(rosey().arg("run").arg(&run_config));
    readyz(&format!("http://127.0.0.1:{db_port}"), 200).await;
    readyz(&format!("http://127.0.0.1:{run_port}"), 200).await;

    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: rosey\n    static_configs:\n      - targets: \
             ['127.0.0.1:{db_port}', '127.0.0.1:{run_port}']\n"
        ),
    )
    .unwrap();
    let _prom = Proc::spawn(
        Command::new(prometheus)
            .arg(format!("--config.file={}", prom_config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let api = format!("http://127.0.0.1:{prom_port}/api/v1/query");
    let query = |q: &'static str| {
        let api = api.clone();
        async move {
            let resp = reqwest::Client::new()
                .get(&api)
                .query(&[("query", q)])
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .ok()?;
            let v: Value = resp.json().await.ok()?;
            (v["status"] == "success").then(|| v["data"]["result"].clone())
        }
    };
    eventually("both targets up", WAIT, || async {
        let up = query("sum(up{job=\"rosey\"})").await?;
        (up[0]["value"][1] == "2").then_some(())
    })
    .await;

    // Chat flows while Prometheus scrapes; the rate of applied events becomes positive.
    let chatter = guest(&server, "prom", "talker").await;
    let rate = eventually(
        "rate(rosey_db_events_applied_total[1m]) > 0",
        WAIT,
        || async {
            chatter.chat("scrape me").ok();
            let r = query("sum(rate(rosey_db_events_applied_total{kind=\"message\"}[1m]))").await?;
            let v: f64 = r[0]["value"][1].as_str()?.parse().ok()?;
            (v > 0.0).then_some(v)
        },
    )
    .await;
    assert!(rate > 0.0);
    // The bot's side is scraped too.
    let bot = query("rosey_bot_connected{channel=\"prom\"}")
        .await
        .unwrap();
    assert_eq!(bot[0]["value"][1], "1", "{bot}");

    chatter.shutdown().await;
    assert!(run.stop().success());
    assert!(db.stop().success());
}
