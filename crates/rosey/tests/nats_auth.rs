//! NATS refusals and signals at start-up, with real processes: a wrong password fails at
//! once with a one-line reason that names the server (never the secret) and a non-zero
//! status — not a retry loop that hides it — and SIGTERM stops a command that is still
//! connecting.

use std::{process::Stdio, time::Duration};

use rosey_bus::{Bus, NatsOptions};
use rosey_model::subjects;
use tokio::io::{AsyncBufReadExt, BufReader};

/// A refusal must end the process at once, not after retries.
const FAIL_WITHIN: Duration = Duration::from_secs(5);
const STOP_WITHIN: Duration = Duration::from_secs(3);
const WAIT: Duration = Duration::from_secs(20);
const SECRET: &str = "correct-horse-battery";
const WRONG: &str = "wrong-password-123";

fn auth_server() -> rosey_testkit::NatsServer {
    rosey_testkit::NatsServer::start_with_config(&format!(
        "authorization {{ user: rosey, password: \"{SECRET}\" }}\n"
    ))
}

fn rosey(args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_rosey"));
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env_remove("NATS_URL")
        .env_remove("ROSEY_NATS_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// `rosey db-service` on `nats` as user `rosey` with `password`, given by the environment.
fn db_service_as_rosey(
    nats: &rosey_testkit::NatsServer,
    db: &std::path::Path,
    password: &str,
) -> tokio::process::Command {
    let mut cmd = rosey(&[
        "db-service",
        "--db-path",
        db.to_str().unwrap(),
        "--nats-url",
        &nats.url(),
    ]);
    cmd.env("ROSEY_NATS_USER", "rosey")
        .env("ROSEY_NATS_PASSWORD", password);
    cmd
}

#[tokio::test]
async fn a_wrong_nats_password_fails_at_once_with_one_clear_line() {
    let nats = auth_server();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("auth.db");
    let out = db_service_as_rosey(&nats, &db, WRONG).output();
    let out = tokio::time::timeout(FAIL_WITHIN, out)
        .await
        .expect("a refused database service exits at once")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("rosey: NATS at ")
            && last.contains(&format!("127.0.0.1:{}", nats.port()))
            && last.contains("refused")
            && last.contains("authorization violation"),
        "one line naming the server and the cause: {stderr}"
    );
    assert!(
        !stderr.contains(WRONG),
        "the password never shows: {stderr}"
    );
}

#[tokio::test]
async fn the_right_password_works_end_to_end() {
    let nats = auth_server();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("auth.db");
    let _service = db_service_as_rosey(&nats, &db, SECRET).spawn().unwrap();
    let mut options = NatsOptions::new(nats.url());
    options.user = Some("rosey".into());
    options.password = Some(SECRET.into());
    let client = Bus::connect(options).await.unwrap();
    let answered = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(r) = client
                .request(
                    subjects::QUERY_CHANNEL_STATS,
                    &b"{}"[..],
                    Duration::from_millis(200),
                )
                .await
            {
                return r;
            }
        }
    })
    .await
    .expect("the authenticated service answers");
    let v: serde_json::Value = serde_json::from_slice(&answered.payload).unwrap();
    assert_eq!(v["success"], true, "{v}");
}

/// A process still trying to reach NATS stops on SIGTERM, cleanly and at once.
async fn sigterm_while_connecting(args: &[&str]) {
    let port = rosey_testkit::free_port(); // nobody listens here
    let url = format!("nats://127.0.0.1:{port}");
    let mut child = rosey(args)
        .env("NATS_URL", &url)
        .env("RUST_LOG", "info")
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    tokio::time::timeout(WAIT, async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            if line.contains("NATS connect failed") {
                return;
            }
        }
        panic!("stderr ended before a connect attempt failed");
    })
    .await
    .expect("the process tries to connect");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id().unwrap() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = tokio::time::timeout(STOP_WITHIN, child.wait())
        .await
        .unwrap_or_else(|_| panic!("{args:?} ignored SIGTERM while connecting"))
        .unwrap();
    assert!(status.success(), "{args:?}: {status:?}");
}

#[tokio::test]
async fn db_service_stops_on_sigterm_while_nats_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    sigterm_while_connecting(&["db-service", "--db-path", db.to_str().unwrap()]).await;
}

#[tokio::test]
async fn bot_stops_on_sigterm_while_nats_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bot.json");
    std::fs::write(
        &config,
        r#"{"version": "2.0", "nats": {"url": "nats://127.0.0.1:1"},
            "platforms": [{"type": "cytube", "name": "p", "domain": "http://127.0.0.1:1",
                           "channel": "c", "user": ["Rosey"]}]}"#,
    )
    .unwrap();
    sigterm_while_connecting(&["bot", config.to_str().unwrap()]).await;
}

// ---- TLS and nkeys: the database service and `rosey stats` connect with each; an
// untrusted certificate or an unknown nkey fails at once. ----

/// A test CA and a server certificate for 127.0.0.1/localhost, as PEM files in `dir`:
/// (ca, cert, key).
fn test_pki(dir: &std::path::Path) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Rosey test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    (
        write("ca.pem", ca.pem()),
        write("server.pem", cert.pem()),
        write("server-key.pem", key.serialize_pem()),
    )
}

fn write_json(dir: &std::path::Path, name: &str, v: serde_json::Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Starts `rosey db-service CONFIG`; then `rosey stats --config CONFIG` must answer and
/// `rosey say --config CONFIG` must queue a line.
async fn service_and_stats_work(config: &str, db: &std::path::Path) {
    let _service = rosey(&["db-service", config, "--db-path", db.to_str().unwrap()])
        .spawn()
        .unwrap();
    let answered = tokio::time::timeout(WAIT, async {
        loop {
            let out = rosey(&["stats", "--config", config, "--json"])
                .stdout(Stdio::piped())
                .output()
                .await
                .unwrap();
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).into_owned();
            }
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("not running") || err.contains("did not answer"),
                "stats fails only while the service starts: {err}"
            );
        }
    })
    .await
    .expect("rosey stats gets an answer through the secured connection");
    assert!(answered.contains("\"success\":true"), "{answered}");
    let said = rosey(&["say", "--config", config, "through the secured bus"])
        .stdout(Stdio::piped())
        .output()
        .await
        .unwrap();
    assert!(
        said.status.success()
            && String::from_utf8_lossy(&said.stdout).starts_with("Queued message #"),
        "rosey say: {}",
        String::from_utf8_lossy(&said.stderr)
    );
}

/// Runs `rosey db-service CONFIG` expecting a refusal within [`FAIL_WITHIN`]; returns stderr.
async fn refused(config: &str, db: &std::path::Path) -> String {
    let out = rosey(&["db-service", config, "--db-path", db.to_str().unwrap()]).output();
    let out = tokio::time::timeout(FAIL_WITHIN, out)
        .await
        .expect("a refused connection ends the process at once")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("rosey: ")).count(),
        1,
        "{stderr}"
    );
    stderr
}

#[tokio::test]
async fn tls_with_user_and_password_works_and_an_untrusted_certificate_fails_at_once() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_pki(certs.path());
    let nats = rosey_testkit::NatsServer::start_with_config(&format!(
        "tls {{ cert_file: \"{cert}\", key_file: \"{key}\" }}\n\
         authorization {{ user: rosey, password: \"{SECRET}\" }}\n"
    ));
    let dir = tempfile::tempdir().unwrap();
    let nats_section = |tls: serde_json::Value| {
        serde_json::json!({"version": "2.0", "nats": {"url": nats.url(), "user": "rosey",
            "password": SECRET, "tls": tls}})
    };
    let good = write_json(
        dir.path(),
        "tls.json",
        nats_section(serde_json::json!({"ca": ca, "required": true})),
    );
    service_and_stats_work(&good, &dir.path().join("tls.db")).await;

    // Without our CA the server's certificate is not trusted.
    let untrusted = write_json(
        dir.path(),
        "untrusted.json",
        nats_section(serde_json::json!({"required": true})),
    );
    let err = refused(&untrusted, &dir.path().join("u.db")).await;
    let last = err.lines().last().unwrap();
    assert!(
        last.contains("refused") && last.contains("TLS") && last.contains(&nats.port().to_string()),
        "{err}"
    );
    assert!(!err.contains(SECRET), "{err}");
}

#[tokio::test]
async fn nkey_authentication_works_and_an_unknown_nkey_fails_at_once() {
    let user = nkeys::KeyPair::new_user();
    let stranger = nkeys::KeyPair::new_user();
    let nats = rosey_testkit::NatsServer::start_with_config(&format!(
        "authorization {{ users = [ {{ nkey: \"{}\" }} ] }}\n",
        user.public_key()
    ));
    let dir = tempfile::tempdir().unwrap();
    let config_for = |name: &str, kp: &nkeys::KeyPair| {
        let seed = dir.path().join(format!("{name}.nk"));
        std::fs::write(&seed, kp.seed().unwrap()).unwrap();
        write_json(
            dir.path(),
            &format!("{name}.json"),
            serde_json::json!({"version": "2.0", "nats": {"url": nats.url(), "nkey": seed}}),
        )
    };
    let good = config_for("user", &user);
    service_and_stats_work(&good, &dir.path().join("nk.db")).await;
    let bad = config_for("stranger", &stranger);
    let err = refused(&bad, &dir.path().join("s.db")).await;
    assert!(err.contains("authorization violation"), "{err}");
    assert!(
        !err.contains(&stranger.seed().unwrap()),
        "the seed never shows: {err}"
    );
}

// ---- Creds files (decentralized JWT auth): a valid one works, an expired one fails at
// once. The test plays operator: it signs the operator, account and user JWTs itself with
// nkeys, as `nsc` would. ----

fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64URL_NOPAD.encode(bytes)
}

/// A NATS JWT (`ed25519-nkey`) with `claims` (plus `jti`, `iat`, `iss`, `sub`) signed by
/// `issuer` for `subject`.
fn sign_jwt(issuer: &nkeys::KeyPair, subject: &str, mut claims: serde_json::Value) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    claims["jti"] = serde_json::json!(format!("ROSEYTEST{now}{n}"));
    claims["iat"] = serde_json::json!(now.saturating_sub(60));
    claims["iss"] = serde_json::json!(issuer.public_key());
    claims["sub"] = serde_json::json!(subject);
    let header = b64(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = b64(&serde_json::to_vec(&claims).unwrap());
    let signing_input = format!("{header}.{body}");
    let signature = issuer.sign(signing_input.as_bytes()).unwrap();
    format!("{signing_input}.{}", b64(&signature))
}

const NO_LIMITS: &str = r#"{"subs":-1,"data":-1,"payload":-1,"imports":-1,"exports":-1,"wildcards":true,"conn":-1,"leaf":-1}"#;

#[tokio::test]
async fn a_creds_file_works_and_an_expired_one_fails_at_once() {
    let operator = nkeys::KeyPair::new_operator();
    let account = nkeys::KeyPair::new_account();
    let operator_jwt = sign_jwt(
        &operator,
        &operator.public_key(),
        serde_json::json!({"name": "rosey-test-op", "nats": {"type": "operator", "version": 2}}),
    );
    let limits: serde_json::Value = serde_json::from_str(NO_LIMITS).unwrap();
    let account_jwt = sign_jwt(
        &operator,
        &account.public_key(),
        serde_json::json!({"name": "ROSEY", "nats": {"type": "account", "version": 2,
            "limits": limits}}),
    );
    // JetStream (on in every test server) needs a system account in operator mode.
    let system = nkeys::KeyPair::new_account();
    let system_jwt = sign_jwt(
        &operator,
        &system.public_key(),
        serde_json::json!({"name": "SYS", "nats": {"type": "account", "version": 2,
            "limits": serde_json::from_str::<serde_json::Value>(NO_LIMITS).unwrap()}}),
    );
    let nats = rosey_testkit::NatsServer::start_with_config(&format!(
        "operator: \"{operator_jwt}\"\nsystem_account: {sys}\nresolver: MEMORY\n\
         resolver_preload: {{\n  {acc}: \"{account_jwt}\"\n  {sys}: \"{system_jwt}\"\n}}\n",
        acc = account.public_key(),
        sys = system.public_key(),
    ));
    let dir = tempfile::tempdir().unwrap();
    let creds_config = |name: &str, exp: Option<u64>| {
        let user = nkeys::KeyPair::new_user();
        let mut claims = serde_json::json!({"name": name, "nats": {"type": "user", "version": 2,
            "subs": -1, "data": -1, "payload": -1}});
        if let Some(exp) = exp {
            claims["exp"] = serde_json::json!(exp);
        }
        let jwt = sign_jwt(&account, &user.public_key(), claims);
        let creds = format!(
            "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
             -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
            user.seed().unwrap()
        );
        let path = dir.path().join(format!("{name}.creds"));
        std::fs::write(&path, creds).unwrap();
        write_json(
            dir.path(),
            &format!("{name}.json"),
            serde_json::json!({"version": "2.0", "nats": {"url": nats.url(), "credentials": path}}),
        )
    };
    let good = creds_config("rosey", None);
    service_and_stats_work(&good, &dir.path().join("creds.db")).await;
    // Expired an hour ago.
    let hour_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 3600;
    let expired = creds_config("expired", Some(hour_ago));
    let err = refused(&expired, &dir.path().join("e.db")).await;
    assert!(err.contains("refused"), "{err}");
}
