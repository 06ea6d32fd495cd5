//! Tests of the v1 → v2 migration: the mapping, losslessness, idempotence and the file
//! guarantees (backup, atomic replace, untouched v2 files).

use std::fs;

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::{Config, model::NatsUrl};

/// A v1 file using every v1 field, plus comments and keys v1 never had.
fn full_v1() -> Value {
    json!({
        "_comment": "my old bot",
        "domain": "https://cytu.be",
        "channel": ["Secret", "chanpw"],
        "user": ["Rosey", "hunter2"],
        "response_timeout": 0.5,
        "restart_delay": 7,
        "log_level": "WARNING",
        "chat_log_file": "chat.log",
        "media_log_file": "media.log",
        "shell": "localhost:5555",
        "db": "old.db",
        "llm": {"provider": "ollama", "model": "llama3", "api_key": "k"},
        "proxy": "127.0.0.1:1080",
        "retry": 3,
        "retry_delay": 2.5,
        "greeting": "hello",
        "custom": {"a": [1, 2]}
    })
}

/// The inverse of the migration, written independently of it from the SPEC §6.2 table:
/// if this rebuilds the v1 file exactly, nothing was dropped.
fn back_to_v1(v2: &Value) -> Value {
    let mut v1 = Map::new();
    let top = v2.as_object().unwrap();
    for (k, v) in top {
        if source::is_comment_key(k) {
            v1.insert(k.clone(), v.clone());
        }
    }
    let platform = v2["platforms"][0].as_object().unwrap();
    for k in PLATFORM_KEYS {
        if let Some(v) = platform.get(*k) {
            v1.insert((*k).to_owned(), v.clone());
        }
    }
    if let Some(logging) = top.get("logging") {
        for (from, to) in [
            ("level", "log_level"),
            ("chat_log_file", "chat_log_file"),
            ("media_log_file", "media_log_file"),
        ] {
            if let Some(v) = logging.get(from) {
                v1.insert(to.to_owned(), v.clone());
            }
        }
    }
    if let Some(path) = v2["database"].get("path") {
        v1.insert("db".into(), path.clone());
    }
    if let Some(llm) = top.get("llm") {
        v1.insert("llm".into(), llm.clone());
    }
    let legacy = top.get("legacy").and_then(Value::as_object);
    if top.contains_key("shell") {
        let shell = legacy.and_then(|l| l.get("shell")).cloned();
        v1.insert("shell".into(), shell.unwrap_or(Value::Null));
    }
    for (k, v) in legacy.into_iter().flatten() {
        if k != "shell" {
            v1.insert(k.clone(), v.clone());
        }
    }
    Value::Object(v1)
}

#[test]
fn every_v1_field_lands_where_the_spec_says() {
    let out = migrate_v1(&full_v1()).unwrap();
    let v2 = &out.v2;
    assert_eq!(v2["version"], json!("2.0"));
    let p = &v2["platforms"][0];
    assert_eq!(p["type"], json!("cytube"));
    assert_eq!(p["name"], json!("primary"));
    assert_eq!(p["enabled"], json!(true));
    assert_eq!(p["domain"], json!("https://cytu.be"));
    assert_eq!(p["channel"], json!(["Secret", "chanpw"]));
    assert_eq!(p["user"], json!(["Rosey", "hunter2"]));
    assert_eq!(p["response_timeout"], json!(0.5));
    assert_eq!(p["restart_delay"], json!(7));
    assert_eq!(p["proxy"], json!("127.0.0.1:1080"));
    assert_eq!(p["retry"], json!(3));
    assert_eq!(p["retry_delay"], json!(2.5));
    assert_eq!(v2["logging"]["level"], json!("WARNING"));
    assert_eq!(v2["logging"]["chat_log_file"], json!("chat.log"));
    assert_eq!(v2["logging"]["media_log_file"], json!("media.log"));
    assert_eq!(
        v2["database"],
        json!({"path": "old.db", "run_as_service": true})
    );
    assert_eq!(v2["shell"], json!({"enabled": true}));
    assert_eq!(v2["legacy"]["shell"], json!("localhost:5555"));
    assert_eq!(v2["llm"], full_v1()["llm"]);
    assert_eq!(v2["legacy"]["greeting"], json!("hello"));
    assert_eq!(v2["legacy"]["custom"], json!({"a": [1, 2]}));
    assert_eq!(v2["_comment"], json!("my old bot"));
    assert_eq!(
        v2["nats"],
        json!({"url": "embedded", "connection_timeout": 5, "max_reconnect_attempts": -1,
               "reconnect_delay": 2, "jetstream": false})
    );
    assert_eq!(out.legacy_keys, ["custom", "greeting"]);
    // Every v1 key (comments aside) is reported as moved somewhere.
    for key in full_v1().as_object().unwrap().keys() {
        if !source::is_comment_key(key) {
            assert!(
                out.moved.iter().any(|m| &m.from == key),
                "{key} not reported"
            );
        }
    }
}

#[test]
fn a_v1_file_with_every_field_round_trips_without_loss() {
    let out = migrate_v1(&full_v1()).unwrap();
    assert_eq!(back_to_v1(&out.v2), full_v1());
}

#[test]
fn migrated_file_is_a_valid_v2_config() {
    let out = migrate_v1(&full_v1()).unwrap();
    let cfg = Config::from_value(out.v2).unwrap();
    assert_eq!(cfg.nats.url, NatsUrl::Embedded);
    let p = &cfg.platforms[0];
    assert_eq!(p.channel.name, "Secret");
    assert_eq!(
        p.user.as_ref().unwrap().password.as_ref().unwrap().expose(),
        "hunter2"
    );
    assert_eq!(p.retry_delay, Some(std::time::Duration::from_millis(2500)));
    assert_eq!(cfg.logging.level, crate::model::LogLevel::Warn);
    assert_eq!(cfg.default_channel(), "Secret");
    assert!(cfg.shell.enabled);
    assert_eq!(cfg.legacy["greeting"], json!("hello"));
}

#[test]
fn shell_null_disables_the_shell_and_round_trips() {
    let v1 = json!({"domain": "https://cytu.be", "channel": "c", "shell": null});
    let out = migrate_v1(&v1).unwrap();
    assert_eq!(out.v2["shell"], json!({"enabled": false}));
    assert!(out.v2.get("legacy").is_none());
    assert_eq!(back_to_v1(&out.v2), v1);
}

#[test]
fn bare_user_name_becomes_a_guest_login() {
    let out =
        migrate_v1(&json!({"domain": "https://x.y", "channel": "c", "user": "Guesty"})).unwrap();
    assert_eq!(out.v2["platforms"][0]["user"], json!(["Guesty"]));
    assert!(out.notes.iter().any(|n| n.starts_with("user:")));
}

#[test]
fn migrating_twice_changes_nothing() {
    let once = migrate_v1(&full_v1()).unwrap().v2;
    assert!(matches!(
        migrate_v1(&once),
        Err(MigrateError::AlreadyV2 { .. })
    ));
}

#[test]
fn refuses_what_it_cannot_migrate_safely() {
    assert!(matches!(
        migrate_v1(&json!([1])),
        Err(MigrateError::NotAnObject { .. })
    ));
    assert!(matches!(
        migrate_v1(&json!({"version": "3.0"})),
        Err(MigrateError::UnknownVersion { .. })
    ));
    assert!(matches!(
        migrate_v1(&json!({"platforms": []})),
        Err(MigrateError::UnversionedV2 { .. })
    ));
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, text).unwrap();
    p
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Deliberately odd formatting, so "byte-identical" means something.
const V1_TEXT: &str = "{ \"domain\":\"https://cytu.be\",\n\t\"channel\" : \"Chan\",  \"user\": [\"Bot\", \"pw\"],\n \"shell\": null, \"db\": \"x.db\", \"zzz\": 1 }  \n";

#[test]
fn file_is_migrated_in_place_and_backup_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "config.json", V1_TEXT);
    let options = MigrateOptions {
        backup: true,
        output: None,
    };
    let MigrateReport::Migrated {
        backup,
        problems,
        outcome,
        ..
    } = migrate_file(&path, &options).unwrap()
    else {
        panic!("expected a migration");
    };
    let backup = backup.unwrap();
    assert_eq!(backup, dir.path().join("config.json.bak"));
    assert_eq!(fs::read(&backup).unwrap(), V1_TEXT.as_bytes());
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(outcome.legacy_keys, ["zzz"]);
    let cfg = Config::from_path(&path).unwrap();
    assert_eq!(cfg.database.path, PathBuf::from("x.db"));
    assert!(!cfg.shell.enabled);
    assert_eq!(names_in(dir.path()), ["config.json", "config.json.bak"]);
}

#[test]
fn migrating_a_file_twice_leaves_it_untouched_the_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "config.json", V1_TEXT);
    let options = MigrateOptions {
        backup: true,
        output: None,
    };
    migrate_file(&path, &options).unwrap();
    let after_first = fs::read(&path).unwrap();
    let second = migrate_file(&path, &options).unwrap();
    assert!(matches!(second, MigrateReport::AlreadyV2 { .. }));
    assert_eq!(fs::read(&path).unwrap(), after_first);
    assert_eq!(
        fs::read(dir.path().join("config.json.bak")).unwrap(),
        V1_TEXT.as_bytes()
    );
    assert_eq!(names_in(dir.path()), ["config.json", "config.json.bak"]);
}

#[test]
fn an_existing_different_backup_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "c.json", V1_TEXT);
    write(dir.path(), "c.json.bak", "precious");
    let report = migrate_file(
        &path,
        &MigrateOptions {
            backup: true,
            output: None,
        },
    )
    .unwrap();
    let MigrateReport::Migrated { backup, .. } = report else {
        panic!("expected a migration");
    };
    assert_eq!(backup.unwrap(), dir.path().join("c.json.bak.1"));
    assert_eq!(
        fs::read_to_string(dir.path().join("c.json.bak")).unwrap(),
        "precious"
    );
    assert_eq!(
        fs::read(dir.path().join("c.json.bak.1")).unwrap(),
        V1_TEXT.as_bytes()
    );
}

#[test]
fn an_interrupted_migration_leaves_the_original_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "config.json", V1_TEXT);
    let err = migrate_file_with(&path, &MigrateOptions::default(), |tmp| {
        // At the moment of the crash: the original is still whole, the new file complete
        // but under its temporary name.
        assert_eq!(fs::read(&path).unwrap(), V1_TEXT.as_bytes());
        let new: Value = serde_json::from_slice(&fs::read(tmp).unwrap()).unwrap();
        assert_eq!(new["version"], json!("2.0"));
        Err(io::Error::new(
            io::ErrorKind::Interrupted,
            "simulated crash",
        ))
    })
    .unwrap_err();
    assert!(matches!(err, MigrateError::Write { .. }));
    assert!(err.to_string().contains("unchanged"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), V1_TEXT.as_bytes());
    assert_eq!(names_in(dir.path()), ["config.json"]);
}

#[test]
fn a_v2_file_is_left_untouched_even_with_backup() {
    let dir = tempfile::tempdir().unwrap();
    let text = "{\"version\": 2, \"platforms\": []}";
    let path = write(dir.path(), "c.json", text);
    let report = migrate_file(
        &path,
        &MigrateOptions {
            backup: true,
            output: None,
        },
    )
    .unwrap();
    assert!(matches!(report, MigrateReport::AlreadyV2 { .. }));
    assert_eq!(fs::read_to_string(&path).unwrap(), text);
    assert_eq!(names_in(dir.path()), ["c.json"]);
}

#[test]
fn invalid_json_names_line_and_column_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let text = "{\n  \"domain\": \"https://cytu.be\",\n  \"channel\": ,\n}";
    let path = write(dir.path(), "c.json", text);
    let err = migrate_file(
        &path,
        &MigrateOptions {
            backup: true,
            output: None,
        },
    )
    .unwrap_err();
    let MigrateError::Syntax { error, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!((error.line, error.column), (3, 14));
    assert!(err.to_string().contains("line 3, column 14"), "{err}");
    assert_eq!(fs::read_to_string(&path).unwrap(), text);
    assert_eq!(names_in(dir.path()), ["c.json"]);
}

#[test]
fn output_elsewhere_leaves_the_input_alone_and_follows_the_output_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "c.json", V1_TEXT);
    let out = dir.path().join("new.yaml");
    let options = MigrateOptions {
        backup: false,
        output: Some(out.clone()),
    };
    migrate_file(&path, &options).unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), V1_TEXT);
    let yaml = fs::read_to_string(&out).unwrap();
    assert!(yaml.starts_with("version:"), "{yaml}");
    let cfg = Config::from_path(&out).unwrap();
    assert_eq!(cfg.platforms[0].channel.name, "Chan");
}

#[test]
fn problems_of_the_result_are_reported_not_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "c.json",
        "{\"channel\": \"c\", \"db\": \"x.db\"}",
    );
    let MigrateReport::Migrated { problems, .. } =
        migrate_file(&path, &MigrateOptions::default()).unwrap()
    else {
        panic!("expected a migration");
    };
    assert_eq!(problems, [Problem::new("platforms[0].domain", "missing")]);
}

#[cfg(unix)]
#[test]
fn a_symlinked_config_stays_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let real = write(dir.path(), "real.json", V1_TEXT);
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    migrate_file(&link, &MigrateOptions::default()).unwrap();
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(Config::from_path(&real).is_ok());
}

/// A scalar or small container, as v1 values may be anything.
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z0-9:./ ]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,6}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// v1 objects built from v1 keys (some of them) and arbitrary other keys.
fn any_v1() -> impl Strategy<Value = Value> {
    let known: Vec<&'static str> = source::V1_ONLY_KEYS
        .iter()
        .copied()
        .chain(["shell", "llm", "_comment"])
        .filter(|k| *k != "user")
        .collect();
    (
        prop::collection::btree_map(prop::sample::select(known), any_value(), 0..10),
        prop::collection::btree_map("x[a-z_]{0,8}", any_value(), 0..4),
    )
        .prop_map(|(known, extra)| {
            let mut m: Map<String, Value> =
                known.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            m.extend(extra);
            // Ensure it is recognisably v1 whatever else was drawn.
            m.insert("domain".into(), json!("https://example.org"));
            Value::Object(m)
        })
}

proptest! {
    #[test]
    fn any_v1_file_round_trips_and_migrates_once(v1 in any_v1()) {
        let out = migrate_v1(&v1).unwrap();
        prop_assert_eq!(back_to_v1(&out.v2), v1);
        let again = matches!(migrate_v1(&out.v2), Err(MigrateError::AlreadyV2 { .. }));
        prop_assert!(again, "second migration was not a no-op");
        // What is written is what was computed.
        let text = render(&out.v2, Format::Json);
        prop_assert_eq!(source::parse_text(&text, Format::Json).unwrap(), out.v2.clone());
        let yaml = render(&out.v2, Format::Yaml);
        prop_assert_eq!(source::parse_text(&yaml, Format::Yaml).unwrap(), out.v2);
    }
}
