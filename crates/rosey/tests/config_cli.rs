//! `rosey config check|migrate` run as the real binary on temporary files: exit codes,
//! what lands on stdout and stderr, and what happens to the files.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `rosey` with a clean environment (so the developer's NATS_URL and friends cannot
/// change the outcome) plus `env`. Never a panic, whatever the input.
fn run(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rosey"));
    cmd.args(args).env_clear();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the rosey binary runs");
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked") && !run.stderr.contains("stack backtrace"),
        "{}",
        run.stderr
    );
    run
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, text).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const GOOD: &str = r#"{
  "version": "2.0",
  "platforms": [{"type": "cytube", "name": "primary", "domain": "https://cytu.be",
                 "channel": "Chan", "user": ["Bot", "file-secret"]}]
}"#;

const BROKEN: &str = r#"{
  "version": "2.0",
  "nats": {"url": "nats://localhost:4222", "reconnect_delay": "two"},
  "platforms": [{"name": "primary", "channel": "Chan"}],
  "logging": {"format": "xml"}
}"#;

const V1: &str = "{\n  \"domain\": \"https://cytu.be\",\n  \"channel\": \"Chan\",\n  \"user\": [\"Bot\", \"pw\"],\n  \"shell\": null,\n  \"db\": \"old.db\",\n  \"log_level\": \"info\",\n  \"favourite_colour\": \"green\"\n}\n";

#[test]
fn check_accepts_a_good_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "c.json", GOOD);
    let r = run(&["config", "check", s(&path)], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout.starts_with(&format!("{}: OK", path.display())),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("platform primary: https://cytu.be/r/Chan as Bot"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("file-secret"));
}

#[test]
fn check_lists_every_problem_of_a_broken_file_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "c.json", BROKEN);
    let r = run(&["config", "check", s(&path)], &[]);
    assert_eq!(r.code, Some(1));
    assert_eq!(
        r.stderr,
        format!(
            "{}: 3 problems\n  nats.reconnect_delay: expected a number ≥ 0, got \"two\"\n  platforms[0].domain: missing\n  logging.format: expected \"text\" or \"json\", got \"xml\"\n",
            path.display()
        )
    );
    assert!(r.stdout.is_empty());
}

#[test]
fn check_points_a_v1_file_at_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "old.json", V1);
    let r = run(&["config", "check", s(&path)], &[]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr
            .contains(&format!("rosey config migrate {} --backup", path.display())),
        "{}",
        r.stderr
    );
}

#[test]
fn check_reports_syntax_errors_and_missing_files_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "c.json",
        "{\n  \"version\": \"2.0\",\n  oops\n}",
    );
    let r = run(&["config", "check", s(&path)], &[]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("invalid JSON at line 3, column 3"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);

    let r = run(&["config", "check", s(&dir.path().join("none.json"))], &[]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.starts_with("cannot read "), "{}", r.stderr);
}

#[test]
fn check_print_shows_the_effective_config_with_env_overrides_and_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "c.json", GOOD);
    let r = run(
        &["config", "check", s(&path), "--print"],
        &[
            ("NATS_URL", "nats://user:url-secret@bus:4222"),
            ("ROSEY_PRIMARY_PASSWORD", "env-secret"),
            ("DATABASE_PATH", "/srv/rosey.db"),
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let printed: serde_json::Value = serde_json::from_str(&r.stdout).expect("stdout is JSON");
    assert_eq!(printed["nats"]["url"], "nats://user:<redacted>@bus:4222");
    assert_eq!(printed["database"]["path"], "/srv/rosey.db");
    assert_eq!(
        printed["platforms"][0]["user"],
        serde_json::json!(["Bot", "<redacted>"])
    );
    assert_eq!(printed["version"], "2.0");
    for secret in ["url-secret", "env-secret", "file-secret"] {
        assert!(
            !r.stdout.contains(secret) && !r.stderr.contains(secret),
            "{secret} leaked"
        );
    }
    assert!(
        r.stderr
            .contains("from the environment: database.path ← DATABASE_PATH"),
        "{}",
        r.stderr
    );
}

#[test]
fn check_reports_a_bad_environment_value_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "c.json", GOOD);
    let r = run(
        &["config", "check", s(&path)],
        &[("ROSEY_LOG_LEVEL", "loud")],
    );
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("logging.level: expected one of"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("(set by ROSEY_LOG_LEVEL)"),
        "{}",
        r.stderr
    );
}

#[test]
fn migrate_with_backup_then_again_then_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "config.json", V1);
    let r = run(&["config", "migrate", s(&path), "--backup"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout.contains("domain → platforms[0].domain"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("db → database.path"), "{}", r.stdout);
    assert!(r.stdout.contains("Kept under `legacy`"), "{}", r.stdout);
    assert!(r.stdout.contains("favourite_colour"), "{}", r.stdout);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    let bak = dir.path().join("config.json.bak");
    assert_eq!(fs::read(&bak).unwrap(), V1.as_bytes());

    let migrated = fs::read(&path).unwrap();
    let v2: serde_json::Value = serde_json::from_slice(&migrated).unwrap();
    assert_eq!(v2["legacy"]["favourite_colour"], "green");
    assert_eq!(v2["shell"]["enabled"], false);

    let again = run(&["config", "migrate", s(&path), "--backup"], &[]);
    assert_eq!(again.code, Some(0));
    assert!(again.stdout.contains("already v2"), "{}", again.stdout);
    assert_eq!(fs::read(&path).unwrap(), migrated);
    assert_eq!(fs::read(&bak).unwrap(), V1.as_bytes());

    let check = run(&["config", "check", s(&path)], &[]);
    assert_eq!(check.code, Some(0), "{}", check.stderr);
}

#[test]
fn migrate_to_another_file_leaves_the_input_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "config.json", V1);
    let out = dir.path().join("config.yaml");
    let r = run(&["config", "migrate", s(&path), "--output", s(&out)], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(fs::read_to_string(&path).unwrap(), V1);
    assert!(!dir.path().join("config.json.bak").exists());
    let check = run(&["config", "check", s(&out)], &[]);
    assert_eq!(check.code, Some(0), "{}", check.stderr);
}

#[test]
fn migrate_rejects_invalid_json_with_line_and_column_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let text = "{\n  \"domain\": \"https://cytu.be\"\n  \"channel\": \"x\"\n}";
    let path = write(dir.path(), "config.json", text);
    let r = run(&["config", "migrate", s(&path), "--backup"], &[]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("invalid JSON at line 3, column 3"),
        "{}",
        r.stderr
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), text);
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn migrate_reports_what_the_v1_file_lacked() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "config.json", r#"{"channel": "x"}"#);
    let r = run(&["config", "migrate", s(&path)], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr.contains("platforms[0].domain: missing"),
        "{}",
        r.stderr
    );
}

#[test]
fn migrate_missing_file_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &["config", "migrate", s(&dir.path().join("nope.json"))],
        &[],
    );
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.starts_with("rosey config migrate: cannot read "),
        "{}",
        r.stderr
    );
}

#[test]
fn the_example_configs_pass_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for name in ["config.example.json", "config.example.yaml"] {
        let r = run(&["config", "check", s(&root.join(name))], &[]);
        assert_eq!(r.code, Some(0), "{name}: {}", r.stderr);
    }
}

/// The v2 file Rosey v0.5 shipped (`config.json.dist`, every key SPEC §6.1 lists for it).
fn v05_dist() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/tests/fixtures/v0.5-config.json.dist")
}

#[test]
fn check_accepts_the_v05_dist_file_and_lists_what_it_does_not_use() {
    let r = run(&["config", "check", s(&v05_dist())], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains("kept but not used by Rosey"))
        .unwrap_or_else(|| panic!("no unused-keys line in {}", r.stdout));
    for key in [
        "shell.host",
        "shell.port",
        "plugins.enabled",
        "plugins.directory",
        "plugins.auto_reload",
        "llm",
    ] {
        assert!(line.contains(key), "{key} missing from: {line}");
    }
    // Listed once, and the LLM keys stay secret in the printed configuration.
    assert_eq!(r.stdout.matches("kept but not used").count(), 1);
    let printed = run(&["config", "check", "--print", s(&v05_dist())], &[]);
    assert_eq!(printed.code, Some(0), "{}", printed.stderr);
    assert!(
        printed.stdout.contains("\"auto_reload\": false"),
        "{}",
        printed.stdout
    );
    assert!(
        !printed.stdout.contains("sk-your-openai-key"),
        "{}",
        printed.stdout
    );
}

#[test]
fn a_key_no_version_ever_had_is_still_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(v05_dist())
        .unwrap()
        .replace("\"auto_reload\"", "\"auto_reloda\"")
        .replace("\"port\": 5555", "\"prot\": 5555");
    let path = write(dir.path(), "typo.json", &text);
    let r = run(&["config", "check", s(&path)], &[]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("plugins.auto_reloda: unknown key"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("shell.prot: unknown key"), "{}", r.stderr);
}

/// Rosey v0.5's documents' shapes: a v2 file with a platform `server` URL and
/// `nats.timeout` passes `config check`; a v1 file with `platform`/`server` migrates to a
/// file `config check` accepts.
#[test]
fn the_v05_documents_shapes_pass_check_and_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let v2 = write(
        dir.path(),
        "docs.json",
        r#"{"version": "2.0", "nats": {"url": "nats://localhost:4222", "timeout": 5},
            "platforms": [{"name": "cytube", "server": "https://cytu.be",
                           "channel": "MyChannel", "user": ["MyBot", "pw"]}]}"#,
    );
    let r = run(&["config", "check", s(&v2)], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout.contains("https://cytu.be/r/MyChannel as MyBot"),
        "{}",
        r.stdout
    );

    let v1 = write(
        dir.path(),
        "v1.json",
        r#"{"platform": "cytube", "server": "https://cytu.be", "channel": "MyChannel",
            "user": ["MyBot", "pw"]}"#,
    );
    let m = run(&["config", "migrate", s(&v1)], &[]);
    assert_eq!(m.code, Some(0), "{}", m.stderr);
    assert!(
        m.stdout.contains("server → platforms[0].domain"),
        "{}",
        m.stdout
    );
    let check = run(&["config", "check", s(&v1)], &[]);
    assert_eq!(check.code, Some(0), "{}", check.stderr);
}
