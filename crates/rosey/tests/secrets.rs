//! No secret in any log line, at the most verbose level: the CyTube account password, the
//! NATS token and the NATS password, given through the environment, never appear on stdout
//! or stderr of `rosey run` (joined, chatting, stopped) — nor on its command line, nor in
//! the JSON log file `logging.file` + `logging.format: json` writes instead.

use std::{process::Stdio, time::Duration};

use rosey_devserver::{Account, DevServer, DevServerConfig};
use serde_json::json;

mod common;

const WAIT: Duration = Duration::from_secs(20);
const CYTUBE_PASSWORD: &str = "cytube-pw-Zq81";
const NATS_TOKEN: &str = "nats-token-Kx42";

/// What one `rosey run` at trace level wrote: stdout, stderr, and the log file if any.
struct Output {
    stdout: String,
    stderr: String,
    file: Option<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_is_logged_even_at_trace_level() {
    let out = run_at_trace_level(json!({})).await;
    assert!(
        out.stderr.lines().count() > 20,
        "trace logging was on: {}",
        out.stderr
    );
    assert_no_secret(&[("stdout", &out.stdout), ("stderr", &out.stderr)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_a_json_log_file_at_trace_level() {
    let out = run_at_trace_level(json!({
        "format": "json", "file": {"path": "logs/rosey.log", "rotate": "size", "keep": 2}
    }))
    .await;
    let file = out.file.expect("the log file was written");
    let lines: Vec<&str> = file.lines().collect();
    assert!(lines.len() > 20, "trace logging went to the file: {file}");
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
    }
    // The log went to the file, not to stderr.
    assert!(
        out.stderr.lines().count() < 5,
        "stderr holds only the start-up note: {}",
        out.stderr
    );
    assert!(out.stderr.contains("logging to"), "{}", out.stderr);
    assert_no_secret(&[
        ("stdout", &out.stdout),
        ("stderr", &out.stderr),
        ("log file", &file),
    ]);
}

fn assert_no_secret(outputs: &[(&str, &String)]) {
    for secret in [CYTUBE_PASSWORD, NATS_TOKEN] {
        for (name, text) in outputs {
            let leaks: Vec<_> = text.lines().filter(|l| l.contains(secret)).collect();
            assert!(leaks.is_empty(), "{secret} in {name}: {leaks:#?}");
        }
    }
}

/// Runs `rosey run` at trace level with the secrets in its environment until the bot has
/// logged in, then stops it. `logging` is the config's `logging` section (paths relative to
/// the config's directory, which is the working directory).
async fn run_at_trace_level(logging: serde_json::Value) -> Output {
    let nats = rosey_testkit::NatsServer::start_with_config(&format!(
        "authorization {{ token: \"{NATS_TOKEN}\" }}\n"
    ));
    let mut server_cfg = DevServerConfig::default();
    server_cfg.accounts.push(Account {
        name: "SecretBot".into(),
        password: CYTUBE_PASSWORD.into(),
        rank: 2.0,
    });
    let server = DevServer::start(server_cfg).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        serde_json::to_vec(&json!({
            "version": "2.0",
            "nats": {"url": nats.url()},
            "database": {"path": dir.path().join("s.db"), "run_as_service": true},
            "platforms": [{"type": "cytube", "name": "main", "domain": server.base_url(),
                           "channel": "secrets", "user": ["SecretBot"]}],
            "logging": logging,
        }))
        .unwrap(),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rosey"))
        .arg("run")
        .arg(&config)
        .current_dir(dir.path())
        .env("RUST_LOG", "trace")
        .env("ROSEY_PASSWORD", CYTUBE_PASSWORD)
        .env("ROSEY_NATS_TOKEN", NATS_TOKEN)
        .env_remove("NATS_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Drain both pipes while it runs (trace output would fill them and block it).
    let drain = |pipe: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| {
        tokio::spawn(async move {
            let mut text = String::new();
            if let Some(mut p) = pipe {
                use tokio::io::AsyncReadExt;
                let _ = p.read_to_string(&mut text).await;
            }
            text
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    assert!(
        server.wait_for_user("secrets", "SecretBot", WAIT).await,
        "the bot logs in with the password from the environment"
    );
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id().unwrap())).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline);
    assert!(!cmdline.contains(CYTUBE_PASSWORD) && !cmdline.contains(NATS_TOKEN));
    let status = common::sigterm_and_wait(&mut child, WAIT).await;
    assert!(status.success());
    let (stdout, stderr) = (stdout.await.unwrap(), stderr.await.unwrap());
    let file = std::fs::read_to_string(dir.path().join("logs/rosey.log")).ok();
    Output {
        stdout,
        stderr,
        file,
    }
}
