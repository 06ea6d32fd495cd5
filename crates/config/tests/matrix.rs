//! `"type": "matrix"` platform entries: what they need (a homeserver URL, the bot's user id,
//! a room alias or id), what they may have (`op_rank`, `state_file`), and the typed result.

use rosey_config::{Config, PlatformKind, validate};
use serde_json::{Value, json};

fn with_platform(p: Value) -> Value {
    json!({"version": "2.0", "platforms": [p]})
}

fn problems(p: Value) -> Vec<String> {
    validate(&with_platform(p))
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_full_matrix_entry_is_valid_and_typed() {
    let p = json!({"type": "matrix", "name": "home", "homeserver": "https://matrix.example.org",
                   "user": ["@rosey:example.org", "pw"], "channel": "#lobby:example.org",
                   "op_rank": 3, "state_file": "/var/lib/rosey/matrix.json"});
    assert!(problems(p.clone()).is_empty(), "{:?}", problems(p.clone()));
    let cfg = Config::from_value(with_platform(p)).unwrap();
    let m = &cfg.platforms[0];
    assert_eq!(m.kind, PlatformKind::Matrix);
    assert_eq!(m.homeserver.as_deref(), Some("https://matrix.example.org"));
    assert_eq!(m.channel.name, "#lobby:example.org");
    assert_eq!(m.op_rank, Some(3.0));
    assert_eq!(
        m.state_file.as_deref(),
        Some(std::path::Path::new("/var/lib/rosey/matrix.json"))
    );
    // An access token instead of a password: only the user id in the file.
    let token = json!({"type": "matrix", "name": "t", "homeserver": "http://127.0.0.1:8008",
                       "user": ["@rosey:localhost"], "channel": "!abc:localhost"});
    assert!(problems(token.clone()).is_empty(), "{:?}", problems(token));
    assert_eq!(
        rosey_config::env::platform_token_var("my-home"),
        "ROSEY_MY_HOME_ACCESS_TOKEN"
    );
}

#[test]
fn a_matrix_entry_needs_a_homeserver_a_user_id_and_a_room() {
    assert_eq!(
        problems(json!({"type": "matrix", "name": "x", "channel": "lobby"})),
        vec![
            "platforms[0].homeserver: missing",
            "platforms[0].user: missing: a Matrix entry needs the bot's user id",
            "platforms[0].channel: a Matrix room is an alias #room:server or an id !id:server, got \"lobby\"",
        ]
    );
    assert_eq!(
        problems(
            json!({"type": "matrix", "name": "x", "homeserver": "matrix.org",
                        "user": ["rosey"], "channel": "#lobby:matrix.org", "op_rank": "high"})
        ),
        vec![
            "platforms[0].homeserver: expected a URL starting with http:// or https://, got \"matrix.org\"",
            "platforms[0].op_rank: expected a number ≥ 0, got \"high\"",
            "platforms[0].user: a Matrix user id looks like @name:server, got \"rosey\"",
        ]
    );
}
