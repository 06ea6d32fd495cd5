//! `"type": "irc"` platform entries: what they need, what they may have, and what the typed
//! configuration makes of them.

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
fn a_full_irc_entry_is_valid_and_typed() {
    let p = json!({"type": "irc", "name": "libera", "enabled": true, "server": "irc.libera.chat",
                   "port": 6697, "tls": true, "tls_ca": "/etc/ssl/private-ca.pem", "nick": "RoseyBot",
                   "channel": ["#rosey", "key"], "user": ["rosey", "pw"], "sasl": true, "op_rank": 3});
    assert!(problems(p.clone()).is_empty(), "{:?}", problems(p.clone()));
    let cfg = Config::from_value(with_platform(p)).unwrap();
    let irc = &cfg.platforms[0];
    assert_eq!(irc.kind, PlatformKind::Irc);
    assert_eq!(irc.server.as_deref(), Some("irc.libera.chat"));
    assert_eq!(
        (irc.port, irc.tls, irc.sasl),
        (Some(6697), Some(true), Some(true))
    );
    assert_eq!(irc.nick.as_deref(), Some("RoseyBot"));
    assert_eq!(irc.channel.name, "#rosey");
    assert_eq!(irc.op_rank, Some(3.0));
    assert!(irc.domain.is_empty());
    // It round-trips without a `domain`.
    let written = serde_json::to_value(&cfg).unwrap();
    assert!(written["platforms"][0].get("domain").is_none(), "{written}");
}

#[test]
fn an_irc_entry_needs_a_server_a_nick_and_an_irc_channel() {
    assert_eq!(
        problems(json!({"type": "irc", "name": "x", "channel": "rosey"})),
        vec![
            "platforms[0].server: missing",
            "platforms[0].nick: missing",
            "platforms[0].channel: an IRC channel starts with # or &, got \"rosey\"",
        ]
    );
    assert_eq!(
        problems(
            json!({"type": "irc", "name": "x", "server": "s", "nick": "9bot", "channel": "#c",
                        "port": 70000, "tls": "yes"})
        ),
        vec![
            "platforms[0].nick: \"9bot\" is not a valid IRC nick",
            "platforms[0].port: expected a port number from 0 to 65535, got 70000",
            "platforms[0].tls: expected true or false, got \"yes\"",
        ]
    );
}
