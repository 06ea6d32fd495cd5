//! Loading files end to end: formats, defaults, v1 detection, environment overrides,
//! redaction and the helpers other crates use.

use std::{collections::HashMap, path::Path, time::Duration};

use rosey_config::{
    Config, ConfigError, Format, LogFormat, LogLevel, NatsUrl, StorageKind, defaults as d,
    load::load_file, redact::REDACTED,
};

const JSON: &str = r#"{
  "_comment": "a real channel",
  "version": "2.0",
  "nats": {"url": "nats://file:4222", "token": "file-token"},
  "database": {"path": "file.db"},
  "platforms": [
    {"type": "cytube", "name": "primary", "domain": "https://cytu.be",
     "channel": ["Main", "chanpw"], "user": ["Rosey", "file-pw"]},
    {"type": "cytube", "name": "side-room", "enabled": false, "domain": "https://cytu.be",
     "channel": "Side", "user": ["Rosey"]}
  ],
  "logging": {"level": "debug"}
}"#;

const YAML: &str = r#"
_comment: a real channel
version: 2.0
nats:
  url: nats://file:4222
  token: file-token
database:
  path: file.db
platforms:
  - type: cytube
    name: primary
    domain: https://cytu.be
    channel: [Main, chanpw]
    user: [Rosey, file-pw]
  - type: cytube
    name: side-room
    enabled: false
    domain: https://cytu.be
    channel: Side
    user: [Rosey]
logging:
  level: debug
"#;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k| map.get(k).cloned()
}

fn file(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn json_and_yaml_give_the_same_config() {
    let dir = tempfile::tempdir().unwrap();
    let a = Config::from_path(&file(dir.path(), "c.json", JSON)).unwrap();
    let b = Config::from_path(&file(dir.path(), "c.yml", YAML)).unwrap();
    assert_eq!(a, b);
    assert_eq!(a, Config::from_str_with_format(YAML, Format::Yaml).unwrap());
}

#[test]
fn missing_settings_take_the_named_defaults() {
    let cfg = Config::from_str_with_format(JSON, Format::Json).unwrap();
    assert_eq!(
        cfg.nats.connection_timeout,
        Duration::from_secs_f64(d::NATS_CONNECTION_TIMEOUT_SECS)
    );
    assert_eq!(
        cfg.nats.max_reconnect_attempts,
        d::NATS_MAX_RECONNECT_ATTEMPTS
    );
    assert_eq!(cfg.nats.max_reconnects(), None);
    assert_eq!(
        cfg.nats.reconnect_delay,
        Duration::from_secs_f64(d::NATS_RECONNECT_DELAY_SECS)
    );
    assert!(!cfg.nats.jetstream);
    let js = &cfg.nats.jetstream_options;
    assert_eq!(js.stream, d::JETSTREAM_STREAM);
    assert_eq!(
        js.max_age,
        Duration::from_secs_f64(d::JETSTREAM_MAX_AGE_SECS)
    );
    assert_eq!(js.max_bytes, d::JETSTREAM_MAX_BYTES);
    assert_eq!(js.storage, StorageKind::File);
    assert!(cfg.database.run_as_service);
    assert_eq!(
        cfg.database.retention.recent_chat(),
        Some(Duration::from_secs(d::RETENTION_RECENT_CHAT_HOURS * 3600))
    );
    let p = &cfg.platforms[0];
    assert!(p.enabled);
    assert_eq!(
        p.response_timeout,
        Duration::from_secs_f64(d::PLATFORM_RESPONSE_TIMEOUT_SECS)
    );
    assert_eq!(
        p.restart_delay,
        Duration::from_secs_f64(d::PLATFORM_RESTART_DELAY_SECS)
    );
    assert_eq!(cfg.shell.min_rank, d::SHELL_MIN_RANK);
    assert!(cfg.shell.enabled);
    assert_eq!(cfg.logging.format, LogFormat::Text);
}

#[test]
fn a_minimal_file_means_the_embedded_bus() {
    let cfg = Config::from_str_with_format(r#"{"version": 2}"#, Format::Json).unwrap();
    assert!(cfg.nats.is_embedded());
    assert!(cfg.nats.server_urls().is_empty());
    assert_eq!(cfg.database.path, Path::new(d::DATABASE_PATH));
    assert_eq!(cfg.logging.level, LogLevel::Info);
    assert_eq!(cfg.default_channel(), d::DEFAULT_CHANNEL);
    assert_eq!(cfg, Config::default());
}

#[test]
fn helpers_for_the_bot() {
    let cfg = Config::from_str_with_format(JSON, Format::Json).unwrap();
    let enabled: Vec<&str> = cfg.enabled_platforms().map(|p| p.name.as_str()).collect();
    assert_eq!(enabled, ["primary"]);
    assert_eq!(cfg.default_channel(), "Main");
    assert_eq!(cfg.nats.server_urls(), ["nats://file:4222"]);
    let side = cfg.platform("side-room").unwrap();
    assert_eq!(side.password_env_var(), "ROSEY_SIDE_ROOM_PASSWORD");
    assert_eq!(side.user.as_ref().unwrap().password, None);
    assert_eq!(
        cfg.platforms[0].channel.password.as_ref().unwrap().expose(),
        "chanpw"
    );
}

#[test]
fn environment_overrides_win_over_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(dir.path(), "c.json", JSON);
    let env = env_of(&[
        ("ROSEY_NATS_URL", "nats://env-a:4222,nats://env-b:4222"),
        ("NATS_URL", "nats://ignored:4222"),
        ("DATABASE_PATH", "/var/lib/rosey/env.db"),
        ("ROSEY_NATS_TOKEN", "env-token"),
        ("ROSEY_PASSWORD", "env-generic"),
        ("ROSEY_SIDE_ROOM_PASSWORD", "env-side"),
        ("ROSEY_LOG_LEVEL", "warn"),
    ]);
    let loaded = load_file(&path, env).unwrap();
    let cfg = &loaded.config;
    assert_eq!(
        cfg.nats.url,
        NatsUrl::Servers(vec!["nats://env-a:4222".into(), "nats://env-b:4222".into()])
    );
    assert_eq!(cfg.database.path, Path::new("/var/lib/rosey/env.db"));
    assert_eq!(cfg.nats.token.as_ref().unwrap().expose(), "env-token");
    let pw = |i: usize| cfg.platforms[i].user.as_ref().unwrap().password.clone();
    assert_eq!(pw(0).unwrap().expose(), "env-generic");
    assert_eq!(pw(1).unwrap().expose(), "env-side");
    assert_eq!(cfg.logging.level, LogLevel::Warn);
    let vars: Vec<&str> = loaded.overrides.iter().map(|o| o.var.as_str()).collect();
    assert_eq!(
        vars,
        [
            "ROSEY_NATS_URL",
            "ROSEY_NATS_TOKEN",
            "DATABASE_PATH",
            "ROSEY_LOG_LEVEL",
            "ROSEY_PASSWORD",
            "ROSEY_SIDE_ROOM_PASSWORD"
        ]
    );
    // Without the environment, the file's values stand.
    let plain = Config::from_path(&path).unwrap();
    assert_eq!(plain.nats.server_urls(), ["nats://file:4222"]);
}

#[test]
fn embedded_can_be_chosen_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(dir.path(), "c.json", JSON);
    let cfg = Config::load_with_env(&path, env_of(&[("NATS_URL", "embedded")])).unwrap();
    assert!(cfg.nats.is_embedded());
}

#[test]
fn a_bad_value_from_the_environment_names_the_variable() {
    let err = Config::from_str_with_format(JSON, Format::Json)
        .unwrap()
        .apply_env(env_of(&[
            ("ROSEY_LOG_LEVEL", "chatty"),
            ("ROSEY_NATS_URL", "http://x"),
        ]))
        .unwrap_err();
    let found: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].starts_with("nats.url: expected"), "{found:?}");
    assert!(found[0].ends_with("(set by ROSEY_NATS_URL)"), "{found:?}");
    assert!(found[1].starts_with("logging.level: expected"), "{found:?}");
    assert!(
        found[1].ends_with("got \"chatty\" (set by ROSEY_LOG_LEVEL)"),
        "{found:?}"
    );
}

#[test]
fn environment_alone_configures_a_file_less_command() {
    let mut cfg = Config::default();
    let applied = cfg
        .apply_env(env_of(&[
            ("NATS_URL", "nats://prod:4222"),
            ("DATABASE_PATH", "/data/bot.db"),
        ]))
        .unwrap();
    assert_eq!(applied.len(), 2);
    assert_eq!(cfg.nats.server_urls(), ["nats://prod:4222"]);
    assert_eq!(cfg.database.path, Path::new("/data/bot.db"));
}

#[test]
fn a_v1_file_is_refused_with_the_migrate_command() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(
        dir.path(),
        "old.json",
        r#"{"domain": "https://cytu.be", "channel": "c"}"#,
    );
    let err = Config::from_path(&path).unwrap_err();
    assert!(matches!(err, ConfigError::LegacyV1 { .. }), "{err:?}");
    let shown = err.to_string();
    assert!(
        shown.contains(&format!("rosey config migrate {} --backup", path.display())),
        "{shown}"
    );
}

#[test]
fn syntax_and_read_errors_are_one_clear_line() {
    let err = Config::from_str_with_format("{\"version\": 2,,}", Format::Json).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("<config>: invalid JSON at line 1, column 15: "),
        "{err}"
    );
    let err = Config::from_path(Path::new("/nonexistent/rosey.json")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot read /nonexistent/rosey.json: "),
        "{err}"
    );
}

#[test]
fn invalid_error_lists_one_problem_per_line() {
    let err = Config::from_str_with_format(
        r#"{"version": 2, "nats": {"reconnect_delay": "two"}, "platforms": [{"name": "a", "channel": "c"}]}"#,
        Format::Json,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "<config>: 2 problems\n  nats.reconnect_delay: expected a number ≥ 0, got \"two\"\n  platforms[0].domain: missing"
    );
}

#[test]
fn secrets_never_show_in_print_or_debug() {
    let mut cfg = Config::from_str_with_format(JSON, Format::Json).unwrap();
    // A password can also hide in a server URL's user info.
    cfg.nats.url = NatsUrl::Servers(vec!["nats://me:urlpw@host:4222".into()]);
    let printed = cfg.to_redacted_json();
    let debugged = format!("{cfg:?}");
    for secret in ["file-token", "file-pw", "chanpw", "urlpw"] {
        assert!(!printed.contains(secret), "{secret} in {printed}");
        assert!(!debugged.contains(secret), "{secret} in {debugged}");
    }
    assert!(printed.contains(REDACTED));
    assert!(
        printed.contains("nats://me:<redacted>@host:4222"),
        "{printed}"
    );
    // What is printed is itself a loadable v2 file (with placeholders for secrets).
    let reparsed = Config::from_str_with_format(&printed, Format::Json).unwrap();
    assert_eq!(reparsed.platforms.len(), 2);
}

#[test]
fn the_effective_config_round_trips_through_its_own_output() {
    let cfg = Config::from_str_with_format(YAML, Format::Yaml).unwrap();
    let again = Config::from_value(cfg.to_value()).unwrap();
    assert_eq!(cfg, again);
}

#[test]
fn the_example_configs_are_valid_and_say_the_same() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let json = Config::from_path(&root.join("config.example.json")).unwrap();
    let yaml = Config::from_path(&root.join("config.example.yaml")).unwrap();
    assert_eq!(json, yaml);
    assert_eq!(json.default_channel(), "MyChannel");
    assert!(json.nats.is_embedded());
}

#[test]
fn null_means_not_set_for_optional_settings() {
    let yaml = "version: 2\nnats:\n  connection_timeout:\n  url:\nplatforms:\n  - name: a\n    domain: https://x.org\n    channel: c\n    user:\n    restart_delay: null\nshell:\n  min_rank: .nan\nlogging:\n  level: ~\nllm:\n  key: null\n";
    let cfg = Config::from_str_with_format(yaml, Format::Yaml).unwrap();
    assert!(cfg.nats.is_embedded());
    assert_eq!(
        cfg.nats.connection_timeout,
        Duration::from_secs_f64(d::NATS_CONNECTION_TIMEOUT_SECS)
    );
    assert_eq!(cfg.platforms[0].user, None);
    assert_eq!(
        cfg.platforms[0].restart_delay,
        Duration::from_secs_f64(d::PLATFORM_RESTART_DELAY_SECS)
    );
    assert_eq!(cfg.shell.min_rank, d::SHELL_MIN_RANK);
    assert_eq!(cfg.logging.level, LogLevel::Info);
    // Free-form sections are kept exactly as written.
    assert_eq!(cfg.llm.unwrap()["key"], serde_json::Value::Null);
}
