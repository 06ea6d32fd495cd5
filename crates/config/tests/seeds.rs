//! The configuration shapes Rosey v0.5's documents print, accepted as they are written:
//! a platform entry named `cytube` with a `server` URL instead of `domain`, `nats.timeout`,
//! and a v1 (flat) file with `platform` and `server`, which migrates to a file that loads.

use std::time::Duration;

use rosey_config::{Config, ConfigError, PlatformKind, migrate::migrate_v1};
use serde_json::json;

#[test]
fn a_platform_with_a_server_url_takes_its_domain_from_it() {
    let config = Config::from_value(json!({
        "version": "2.0",
        "platforms": [{"name": "cytube", "server": "https://cytu.be", "channel": "MyChannel",
                       "user": ["MyBot", "secret"]}]
    }))
    .unwrap();
    let platform = &config.platforms[0];
    assert_eq!(platform.kind, PlatformKind::Cytube);
    assert_eq!(platform.name, "cytube");
    assert_eq!(platform.domain, "https://cytu.be");
}

#[test]
fn nats_timeout_is_the_connection_timeout() {
    let config = Config::from_value(json!({
        "version": "2.0",
        "nats": {"url": "nats://localhost:4222", "timeout": 7},
        "platforms": [{"name": "cytube", "server": "https://cytu.be", "channel": "c"}]
    }))
    .unwrap();
    assert_eq!(config.nats.connection_timeout, Duration::from_secs(7));
}

#[test]
fn a_bad_alias_is_reported_where_it_was_written_and_both_spellings_are_a_problem() {
    let problems = |value| match Config::from_value(value) {
        Err(ConfigError::Invalid { problems, .. }) => {
            problems.iter().map(ToString::to_string).collect::<Vec<_>>()
        }
        other => panic!("{other:?}"),
    };
    let bad = problems(json!({
        "version": "2.0",
        "nats": {"timeout": "soon"},
        "platforms": [{"name": "cytube", "server": "cytu.be", "channel": "c"}]
    }));
    assert_eq!(
        bad,
        [
            "nats.timeout: expected a number > 0, got \"soon\"",
            "platforms[0].server: expected a URL starting with http:// or https://, got \"cytu.be\"",
        ]
    );
    let both = problems(json!({
        "version": "2.0",
        "nats": {"timeout": 3, "connection_timeout": 4},
        "platforms": [{"name": "cytube", "domain": "https://cytu.be", "channel": "c"}]
    }));
    assert_eq!(
        both,
        ["nats.timeout: another name for nats.connection_timeout, which is set too; keep one"]
    );
}

#[test]
fn a_v1_file_with_platform_and_server_migrates_to_a_loadable_file() {
    let v1 = json!({
        "platform": "cytube",
        "server": "https://cytu.be",
        "channel": "MyChannel",
        "user": ["MyBot", "secret"],
        "log_level": "INFO"
    });
    let outcome = migrate_v1(&v1).unwrap();
    assert!(outcome.legacy_keys.is_empty(), "{:?}", outcome.legacy_keys);
    let config = Config::from_value(outcome.v2).unwrap();
    assert_eq!(config.platforms[0].kind, PlatformKind::Cytube);
    assert_eq!(config.platforms[0].domain, "https://cytu.be");
    assert_eq!(config.platforms[0].channel.name, "MyChannel");
}

#[test]
fn a_v1_irc_file_keeps_its_server() {
    let v1 = json!({"platform": "irc", "server": "irc.libera.chat", "channel": "#rosey",
                    "nick": "rosey"});
    let outcome = migrate_v1(&v1).unwrap();
    assert_eq!(outcome.v2["platforms"][0]["type"], "irc");
    assert_eq!(outcome.v2["platforms"][0]["server"], "irc.libera.chat");
}
