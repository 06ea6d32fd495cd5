//! Every validation rule, each checked by the exact message an operator sees.

use rosey_config::{Config, validate};
use serde_json::{Value, json};

fn base() -> Value {
    json!({
        "version": "2.0",
        "nats": {"url": "nats://localhost:4222"},
        "platforms": [{
            "type": "cytube", "name": "primary", "enabled": true,
            "domain": "https://cytu.be", "channel": "Chan", "user": ["Bot", "pw"]
        }]
    })
}

/// Sets the value at a JSON pointer, creating the last key (and missing parent objects).
fn set(mut v: Value, pointer: &str, new: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let mut node = &mut v;
    for part in parent.split('/').skip(1) {
        node = match node {
            Value::Array(items) => &mut items[part.parse::<usize>().unwrap()],
            Value::Object(map) => map.entry(part).or_insert_with(|| json!({})),
            _ => panic!("cannot descend into {node}"),
        };
    }
    match node {
        Value::Array(items) => items[key.parse::<usize>().unwrap()] = new,
        Value::Object(map) => {
            map.insert(key.to_owned(), new);
        }
        _ => panic!("cannot set in {node}"),
    }
    v
}

fn remove(mut v: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    v.pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove(key);
    v
}

fn problems(v: &Value) -> Vec<String> {
    validate(v).iter().map(ToString::to_string).collect()
}

/// One change to the valid base must yield exactly these problems.
#[track_caller]
fn expect(v: Value, expected: &[&str]) {
    assert_eq!(problems(&v), expected, "for {v}");
}

#[test]
fn the_base_and_a_maximal_config_are_valid() {
    assert_eq!(problems(&base()), Vec::<String>::new());
    let full = json!({
        "_comment": "top", "version": 2,
        "nats": {
            "url": ["nats://a:4222", "tls://b:4222", "c:4222"], "connection_timeout": 2.5,
            "max_reconnect_attempts": 10, "reconnect_delay": 0, "user": "u", "password": "p",
            "tls": {"ca": "ca.pem", "cert": "c.pem", "key": "k.pem", "required": true},
            "jetstream": true,
            "jetstream_options": {"stream": "S", "consumer": "C", "max_age": 3600,
                "max_bytes": -1, "duplicate_window": 60, "storage": "memory", "replicas": 3}
        },
        "database": {"path": "x.db", "run_as_service": false,
            "retention": {"recent_chat_hours": 0, "user_count_history_days": 1, "sent_outbound_days": 2}},
        "platforms": [
            {"_note": "main", "name": "a", "domain": "http://localhost:8080/", "channel": ["C", "cpw"],
             "user": ["Guest"], "response_timeout": 0.1, "restart_delay": 0,
             "proxy": null, "retry": -1, "retry_delay": 1},
            {"name": "b", "enabled": false, "domain": "https://cytu.be", "channel": "D", "user": null}
        ],
        "shell": {"enabled": false, "min_rank": 1.5},
        "logging": {"level": "WARNING", "format": "json", "chat_log_file": "chat.log", "media_log_file": null},
        "llm": {"anything": [1, 2]},
        "legacy": {"shell": "localhost:1"}
    });
    assert_eq!(problems(&full), Vec::<String>::new());
    Config::from_value(full).expect("a valid value types");
}

#[test]
fn top_level_rules() {
    expect(json!([1, 2]), &["expected an object, got a list"]);
    expect(
        set(base(), "/version", json!("3")),
        &["version: expected \"2.0\" or 2, got \"3\""],
    );
    expect(
        remove(base(), "/version"),
        &["version: missing (expected \"2.0\" or 2)"],
    );
    expect(
        set(base(), "/nats_url", json!("x")),
        &[
            "nats_url: unknown key (expected one of: version, nats, database, platforms, shell, logging, plugins, llm, legacy, metrics, web, cluster, moderation)",
        ],
    );
    expect(
        set(base(), "/platfroms", json!([])),
        &["platfroms: unknown key; did you mean \"platforms\"?"],
    );
    expect(
        set(base(), "/llm", json!("x")),
        &["llm: expected an object, got \"x\""],
    );
    expect(
        set(base(), "/legacy", json!(5)),
        &["legacy: expected an object, got 5"],
    );
    // Comment keys are ignored at any depth.
    let commented = set(
        set(base(), "/_comment_1", json!("x")),
        "/platforms/0/_note",
        json!(1),
    );
    expect(commented, &[]);
}

#[test]
fn a_v1_file_is_recognised_and_the_fix_is_named() {
    let v1 = json!({"domain": "https://cytu.be", "channel": "c", "db": "bot.db"});
    let found = problems(&v1);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].starts_with("this is a v1 (legacy) configuration"),
        "{found:?}"
    );
    assert!(
        found[0].contains("rosey config migrate FILE --backup"),
        "{found:?}"
    );
}

#[test]
fn nats_url_rules() {
    expect(set(base(), "/nats/url", json!("embedded")), &[]);
    expect(
        set(base(), "/nats/url", json!(5)),
        &["nats.url: expected \"embedded\", a URL or a list of URLs, got 5"],
    );
    expect(
        set(base(), "/nats/url", json!([])),
        &["nats.url: expected at least one URL, got an empty list"],
    );
    expect(
        set(base(), "/nats/url", json!(["nats://a:1", 3])),
        &["nats.url[1]: expected a URL string, got 3"],
    );
    expect(
        set(base(), "/nats/url", json!(["embedded", "nats://a:1"])),
        &[
            "nats.url[0]: \"embedded\" is not a server URL; write nats.url = \"embedded\" on its own",
        ],
    );
    for bad in ["http://x:4222", "nats://", "nats://a b", ""] {
        expect(
            set(base(), "/nats/url", json!(bad)),
            &[&format!(
                "nats.url: expected \"embedded\" or a URL like \"nats://host:4222\" (scheme nats, tls, ws or wss), got {}",
                json!(bad)
            )],
        );
    }
    expect(
        set(base(), "/nats", json!("nats://x")),
        &["nats: expected an object, got \"nats://x\""],
    );
}

#[test]
fn nats_number_rules() {
    expect(
        set(base(), "/nats/reconnect_delay", json!("two")),
        &["nats.reconnect_delay: expected a number ≥ 0, got \"two\""],
    );
    expect(
        set(base(), "/nats/reconnect_delay", json!(-0.5)),
        &["nats.reconnect_delay: expected a number ≥ 0, got -0.5"],
    );
    expect(
        set(base(), "/nats/connection_timeout", json!(0)),
        &["nats.connection_timeout: expected a number > 0, got 0"],
    );
    expect(
        set(base(), "/nats/connection_timeout", json!(2e9)),
        &["nats.connection_timeout: too large: at most 1000000000, got 2000000000"],
    );
    for bad in [json!(-2), json!(1.5), json!("forever")] {
        expect(
            set(base(), "/nats/max_reconnect_attempts", bad.clone()),
            &[&format!(
                "nats.max_reconnect_attempts: expected an integer ≥ -1 (-1 = forever), got {bad}"
            )],
        );
    }
}

#[test]
fn nats_auth_rules() {
    expect(
        set(base(), "/nats/user", json!("u")),
        &["nats.password: missing (needed with nats.user)"],
    );
    expect(
        set(base(), "/nats/password", json!("p")),
        &["nats.user: missing (needed with nats.password)"],
    );
    expect(
        set(
            set(base(), "/nats/token", json!("t")),
            "/nats/credentials",
            json!("x.creds"),
        ),
        &["nats: choose one authentication method, found token and credentials"],
    );
    expect(
        set(base(), "/nats/token", json!("")),
        &["nats.token: expected a non-empty string, got \"\""],
    );
    expect(
        set(base(), "/nats/nkey", json!(7)),
        &["nats.nkey: expected a non-empty string, got 7"],
    );
}

#[test]
fn nats_tls_rules() {
    expect(
        set(base(), "/nats/tls", json!({"cert": "c.pem"})),
        &["nats.tls.key: missing (needed with nats.tls.cert)"],
    );
    expect(
        set(base(), "/nats/tls", json!({"key": "k.pem"})),
        &["nats.tls.cert: missing (needed with nats.tls.key)"],
    );
    expect(
        set(base(), "/nats/tls", json!({"required": "yes"})),
        &["nats.tls.required: expected true or false, got \"yes\""],
    );
    expect(
        set(base(), "/nats/tls", json!(true)),
        &["nats.tls: expected an object, got true"],
    );
    expect(
        set(base(), "/nats/tls", json!({"ca_file": "x"})),
        &["nats.tls.ca_file: unknown key (expected one of: ca, cert, key, required)"],
    );
}

#[test]
fn jetstream_rules() {
    expect(
        set(base(), "/nats/jetstream", json!("yes")),
        &["nats.jetstream: expected true or false, got \"yes\""],
    );
    let js = |key: &str, v: Value| set(base(), &format!("/nats/jetstream_options/{key}"), v);
    expect(
        js("stream", json!("rosey.db")),
        &[
            "nats.jetstream_options.stream: expected a name without spaces, '.', '*', '>', '/' or '\\', got \"rosey.db\"",
        ],
    );
    expect(
        js("consumer", json!("")),
        &["nats.jetstream_options.consumer: expected a non-empty string, got \"\""],
    );
    for bad in [json!(0), json!(-5), json!(1.5)] {
        expect(
            js("max_bytes", bad.clone()),
            &[&format!(
                "nats.jetstream_options.max_bytes: expected a positive integer or -1 (unlimited), got {bad}"
            )],
        );
    }
    expect(
        js("max_age", json!(-1)),
        &["nats.jetstream_options.max_age: expected a number ≥ 0, got -1"],
    );
    expect(
        set(
            js("max_age", json!(60)),
            "/nats/jetstream_options/duplicate_window",
            json!(120),
        ),
        &["nats.jetstream_options.duplicate_window: must not exceed max_age (60 s), got 120"],
    );
    // An unlimited age puts no bound on the window.
    expect(
        set(
            js("max_age", json!(0)),
            "/nats/jetstream_options/duplicate_window",
            json!(999),
        ),
        &[],
    );
    expect(
        js("storage", json!("disk")),
        &["nats.jetstream_options.storage: expected \"file\" or \"memory\", got \"disk\""],
    );
    expect(
        js("replicas", json!(7)),
        &["nats.jetstream_options.replicas: expected an integer from 1 to 5, got 7"],
    );
}

#[test]
fn database_rules() {
    expect(
        set(base(), "/database/path", json!(5)),
        &["database.path: expected a non-empty string, got 5"],
    );
    expect(
        set(base(), "/database/run_as_service", json!("yes")),
        &["database.run_as_service: expected true or false, got \"yes\""],
    );
    expect(
        set(base(), "/database/retention/recent_chat_hours", json!(-1)),
        &["database.retention.recent_chat_hours: expected an integer ≥ 0, got -1"],
    );
    expect(
        set(base(), "/database/retention/sent_outbound_days", json!(1.5)),
        &["database.retention.sent_outbound_days: expected an integer ≥ 0, got 1.5"],
    );
}

#[test]
fn platform_list_rules() {
    expect(
        set(base(), "/platforms", json!("x")),
        &["platforms: expected a list of platforms, got \"x\""],
    );
    expect(
        set(base(), "/platforms/0", json!(5)),
        &["platforms[0]: expected an object, got 5"],
    );
    expect(set(base(), "/platforms", json!([])), &[]);
    expect(remove(base(), "/platforms"), &[]);
}

#[test]
fn platform_name_rules() {
    expect(
        remove(base(), "/platforms/0/name"),
        &["platforms[0].name: missing"],
    );
    let second = |name: &str| {
        let mut v = base();
        let mut p = v["platforms"][0].clone();
        p["name"] = json!(name);
        v["platforms"].as_array_mut().unwrap().push(p);
        v
    };
    expect(
        second("primary"),
        &["platforms[1].name: \"primary\" is already the name of platforms[0]"],
    );
    expect(
        set(second("my chan"), "/platforms/0/name", json!("my-chan")),
        &[
            "platforms[1].name: \"my chan\" and platforms[0].name both map to the variable ROSEY_MY_CHAN_PASSWORD; rename one",
        ],
    );
    expect(
        set(base(), "/platforms/0/name", json!("nats")),
        &[
            "platforms[0].name: \"nats\" would make ROSEY_NATS_PASSWORD this platform's password variable, but that variable is already used for another setting; rename it",
        ],
    );
}

#[test]
fn platform_field_rules() {
    let p = |key: &str, v: Value| set(base(), &format!("/platforms/0/{key}"), v);
    expect(
        remove(base(), "/platforms/0/domain"),
        &["platforms[0].domain: missing"],
    );
    for bad in ["cytu.be", "https://", "ftp://cytu.be"] {
        expect(
            p("domain", json!(bad)),
            &[&format!(
                "platforms[0].domain: expected a URL starting with http:// or https://, got \"{bad}\""
            )],
        );
    }
    expect(
        p("type", json!("discord")),
        &["platforms[0].type: expected one of \"cytube\", \"irc\", \"matrix\", got \"discord\""],
    );
    expect(
        p("enabled", json!("yes")),
        &["platforms[0].enabled: expected true or false, got \"yes\""],
    );
    expect(
        remove(base(), "/platforms/0/channel"),
        &["platforms[0].channel: missing"],
    );
    for bad in [
        json!(5),
        json!(""),
        json!(["a", "b", "c"]),
        json!([]),
        json!(["", "pw"]),
    ] {
        expect(
            p("channel", bad.clone()),
            &[&format!(
                "platforms[0].channel: expected a channel name or [name, password], got {}",
                if bad.is_array() {
                    "a list".to_owned()
                } else {
                    bad.to_string()
                }
            )],
        );
    }
    expect(p("channel", json!(["Chan"])), &[]);
    for bad in [
        json!("bob"),
        json!([]),
        json!(["", "pw"]),
        json!(["bob", 5]),
    ] {
        expect(
            p("user", bad.clone()),
            &[&format!(
                "platforms[0].user: expected [name, password] or [name] (a guest), got {}",
                if bad.is_array() {
                    "a list".to_owned()
                } else {
                    bad.to_string()
                }
            )],
        );
    }
    expect(
        p("response_timeout", json!(0)),
        &["platforms[0].response_timeout: expected a number > 0, got 0"],
    );
    expect(
        p("restart_delay", json!("5")),
        &["platforms[0].restart_delay: expected a number ≥ 0, got \"5\""],
    );
    expect(
        p("retry", json!(-2)),
        &["platforms[0].retry: expected an integer ≥ -1 (-1 = forever), got -2"],
    );
    expect(
        p("retry_delay", json!(-1)),
        &["platforms[0].retry_delay: expected a number ≥ 0, got -1"],
    );
    expect(
        p("proxy", json!(5)),
        &["platforms[0].proxy: expected a non-empty string, got 5"],
    );
    expect(
        p("chanel", json!("x")),
        &["platforms[0].chanel: unknown key; did you mean \"channel\"?"],
    );
}

#[test]
fn shell_rules() {
    expect(
        set(base(), "/shell/min_rank", json!(-1)),
        &["shell.min_rank: expected a number ≥ 0, got -1"],
    );
    expect(
        set(base(), "/shell/enabled", json!("no")),
        &["shell.enabled: expected true or false, got \"no\""],
    );
    // v2 has no "null means off" shorthand: say what to write instead of guessing.
    expect(
        set(base(), "/shell", Value::Null),
        &["shell: expected an object, got null"],
    );
}

#[test]
fn logging_rules() {
    expect(
        set(base(), "/logging/level", json!("loud")),
        &[
            "logging.level: expected one of \"trace\", \"debug\", \"info\", \"warn\", \"warning\", \"error\", \"critical\", got \"loud\"",
        ],
    );
    expect(set(base(), "/logging/level", json!("DEBUG")), &[]);
    expect(
        set(base(), "/logging/format", json!("xml")),
        &["logging.format: expected \"text\" or \"json\", got \"xml\""],
    );
    expect(
        set(base(), "/logging/chat_log_file", json!("")),
        &["logging.chat_log_file: expected a non-empty string, got \"\""],
    );
}

#[test]
fn long_values_are_shortened_in_messages() {
    let long = "x".repeat(100);
    let found = problems(&set(base(), "/logging/format", json!(long)));
    assert_eq!(
        found,
        [format!(
            "logging.format: expected \"text\" or \"json\", got \"{}\"…",
            "x".repeat(40)
        )]
    );
}

#[test]
fn every_problem_is_reported_at_once_in_file_order() {
    let v = remove(
        set(
            set(base(), "/nats/reconnect_delay", json!("two")),
            "/shell/min_rank",
            json!("high"),
        ),
        "/platforms/0/domain",
    );
    expect(
        v,
        &[
            "nats.reconnect_delay: expected a number ≥ 0, got \"two\"",
            "platforms[0].domain: missing",
            "shell.min_rank: expected a number ≥ 0, got \"high\"",
        ],
    );
}

mod consistency {
    //! Whatever the validator accepts, the typed model must load: otherwise an operator
    //! would see an "internal" error instead of a message about their file.

    use proptest::prelude::*;
    use rosey_config::{Config, ConfigError};
    use serde_json::{Map, Value, json};

    /// Values that are right for some fields and wrong for others.
    fn pool() -> Vec<Value> {
        vec![
            Value::Null,
            json!(true),
            json!(false),
            json!(""),
            json!("x"),
            json!("https://cytu.be"),
            json!("nats://a:4222"),
            json!("embedded"),
            json!("file"),
            json!("json"),
            json!("WARNING"),
            json!("cytube"),
            json!(0),
            json!(-1),
            json!(1),
            json!(3),
            json!(2.5),
            json!(-0.5),
            json!(1e12),
            json!(u64::MAX),
            json!(["a"]),
            json!(["a", "b"]),
            json!(["nats://a:1", "nats://b:2"]),
            json!([]),
            json!({}),
        ]
    }

    /// An object with a random subset of `fields`, each mostly given one of its own valid
    /// values and now and then any value at all, so that both valid and invalid files
    /// come out often.
    fn object(fields: Vec<(&'static str, Vec<Value>)>) -> impl Strategy<Value = Value> {
        let per_field: Vec<_> = fields
            .into_iter()
            .map(|(key, valid)| {
                let value = prop_oneof![
                    12 => prop::sample::select(valid),
                    1 => prop::sample::select(pool()),
                ];
                (Just(key), prop::option::weighted(0.5, value))
            })
            .collect();
        per_field.prop_map(|pairs| {
            Value::Object(
                pairs
                    .into_iter()
                    .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
                    .collect(),
            )
        })
    }

    fn secs() -> Vec<Value> {
        vec![json!(0.5), json!(1), json!(30)]
    }

    fn text(values: &[&str]) -> Vec<Value> {
        values.iter().map(|v| json!(v)).collect()
    }

    fn config() -> impl Strategy<Value = Value> {
        let nats = (
            object(vec![
                (
                    "url",
                    vec![
                        json!("embedded"),
                        json!("nats://a:4222"),
                        json!(["tls://a:1", "b:2"]),
                    ],
                ),
                ("connection_timeout", secs()),
                (
                    "max_reconnect_attempts",
                    vec![json!(-1), json!(0), json!(10)],
                ),
                ("reconnect_delay", secs()),
                ("token", text(&["t"])),
                ("jetstream", vec![json!(true), json!(false)]),
            ]),
            object(vec![
                ("ca", text(&["ca.pem"])),
                ("required", vec![json!(true)]),
            ]),
            object(vec![
                ("stream", text(&["S"])),
                ("consumer", text(&["C"])),
                ("max_age", vec![json!(0), json!(3600)]),
                ("max_bytes", vec![json!(-1), json!(1024)]),
                ("duplicate_window", vec![json!(0), json!(60.5)]),
                ("storage", text(&["file", "memory"])),
                ("replicas", vec![json!(1), json!(5)]),
            ]),
        );
        let platform = object(vec![
            ("type", text(&["cytube"])),
            ("name", text(&["only"])),
            ("enabled", vec![json!(true), json!(false)]),
            (
                "domain",
                text(&["https://cytu.be", "http://localhost:8080/"]),
            ),
            ("channel", vec![json!("c"), json!(["c", "pw"])]),
            (
                "user",
                vec![json!(["bot"]), json!(["bot", "pw"]), Value::Null],
            ),
            ("response_timeout", secs()),
            ("restart_delay", secs()),
            ("proxy", vec![json!("h:1"), Value::Null]),
            ("retry", vec![json!(-1), json!(3)]),
            ("retry_delay", secs()),
        ]);
        (
            nats,
            object(vec![
                ("path", text(&["x.db"])),
                ("run_as_service", vec![json!(false)]),
            ]),
            object(vec![
                ("recent_chat_hours", vec![json!(0), json!(5)]),
                ("sent_outbound_days", vec![json!(1)]),
            ]),
            prop::collection::vec(platform, 0..2),
            object(vec![
                ("enabled", vec![json!(false)]),
                ("min_rank", vec![json!(0), json!(1.5)]),
            ]),
            object(vec![
                ("level", text(&["trace", "WARNING", "error"])),
                ("format", text(&["text", "json"])),
                ("chat_log_file", text(&["chat.log"])),
            ]),
        )
            .prop_map(
                |((mut nats, tls, js), mut db, retention, platforms, shell, logging)| {
                    nats["tls"] = tls;
                    nats["jetstream_options"] = js;
                    db["retention"] = retention;
                    let mut top = Map::new();
                    top.insert("version".into(), json!("2.0"));
                    top.insert("nats".into(), nats);
                    top.insert("database".into(), db);
                    top.insert("platforms".into(), Value::Array(platforms));
                    top.insert("shell".into(), shell);
                    top.insert("logging".into(), logging);
                    Value::Object(top)
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn what_validates_also_loads(v in config()) {
            let valid = rosey_config::validate(&v).is_empty();
            match Config::from_value(v.clone()) {
                Ok(_) => prop_assert!(valid),
                Err(ConfigError::Invalid { problems, .. }) => {
                    prop_assert!(!valid);
                    prop_assert!(
                        problems.iter().all(|p| !p.message.starts_with("internal")),
                        "{problems:?} for {v}"
                    );
                }
                Err(other) => prop_assert!(false, "{other}"),
            }
        }
    }
}

#[test]
fn metrics_section() {
    expect(
        set(
            base(),
            "/metrics",
            json!({"listen": "127.0.0.1:9464", "ready_when": "any_channel"}),
        ),
        &[],
    );
    expect(
        set(base(), "/metrics", json!({"listen": "localhost"})),
        &["metrics.listen: expected an address like 127.0.0.1:9464, got \"localhost\""],
    );
    expect(
        set(base(), "/metrics", json!({"port": 9464})),
        &["metrics.port: unknown key (expected one of: listen, ready_when)"],
    );
    let mut v = base();
    v["metrics"] = json!({"listen": "0.0.0.0:9464", "ready_when": "any_channel"});
    let cfg = Config::from_value(v).unwrap();
    assert_eq!(cfg.metrics.listen, Some("0.0.0.0:9464".parse().unwrap()));
    assert_eq!(cfg.metrics.ready_when, rosey_config::ReadyWhen::AnyChannel);
}

#[test]
fn web_section() {
    expect(
        set(
            base(),
            "/web",
            json!({"listen": "nowhere", "secure_cookies": "yes"}),
        ),
        &[
            "web.listen: expected an address like 127.0.0.1:8080, got \"nowhere\"",
            "web.secure_cookies: expected true or false, got \"yes\"",
        ],
    );
    let ok = set(base(), "/web", json!({"listen": "127.0.0.1:8080"}));
    assert_eq!(problems(&ok), Vec::<String>::new());
    let cfg = Config::from_value(ok).unwrap();
    assert_eq!(cfg.web.listen, Some("127.0.0.1:8080".parse().unwrap()));
    // The listener's caps and the trusted proxies.
    expect(
        set(
            base(),
            "/web",
            json!({"trusted_proxies": ["10.0.0.0/8", "proxy.local"], "max_streams": 0,
                   "header_timeout": -1}),
        ),
        &[
            "web.header_timeout: expected a number > 0, got -1",
            "web.max_streams: expected an integer ≥ 1, got 0",
            "web.trusted_proxies[1]: expected an IP address or network like 10.0.0.0/8, got \"proxy.local\"",
        ],
    );
    let ok = set(
        base(),
        "/web",
        json!({"trusted_proxies": ["10.0.0.0/8", "::1"], "max_connections_per_client": 8,
               "idle_timeout": 30}),
    );
    assert_eq!(problems(&ok), Vec::<String>::new());
    let cfg = Config::from_value(ok).unwrap();
    assert_eq!(cfg.web.trusted_proxies, ["10.0.0.0/8", "::1"]);
    assert_eq!(cfg.web.max_connections_per_client, Some(8));
    assert_eq!(
        cfg.web.idle_timeout,
        Some(std::time::Duration::from_secs(30))
    );
}

#[test]
fn cluster_section() {
    let with = |cluster: Value| {
        let mut v = base();
        v["cluster"] = cluster;
        v
    };
    expect(
        with(json!({"leases": true, "lease_time": 6, "bucket": "leases"})),
        &[],
    );
    let cfg = rosey_config::Config::from_value(with(json!({"leases": true}))).unwrap();
    assert!(cfg.cluster.leases);
    assert_eq!(cfg.cluster.lease_time, std::time::Duration::from_secs(15));
    assert_eq!(cfg.cluster.bucket, "rosey_leases");
    expect(
        with(json!({"leases": "yes", "lease_time": 0, "bucket": "", "lease": 1})),
        &[
            "cluster.lease: unknown key; did you mean \"leases\"?",
            "cluster.leases: expected true or false, got \"yes\"",
            "cluster.lease_time: expected a number > 0, got 0",
            "cluster.bucket: expected a non-empty string, got \"\"",
        ],
    );
}

#[test]
fn nats_inbox_prefix_is_a_subject_without_wildcards() {
    expect(set(base(), "/nats/inbox_prefix", json!("_INBOX_bot")), &[]);
    expect(set(base(), "/nats/inbox_prefix", json!("_INBOX.bot")), &[]);
    for bad in ["_INBOX.>", "a..b", "in box", "*"] {
        expect(
            set(base(), "/nats/inbox_prefix", json!(bad)),
            &[&format!(
                "nats.inbox_prefix: `{bad}` is not a subject (dot-separated tokens, no wildcards or spaces)"
            )],
        );
    }
    expect(
        set(base(), "/nats/inbox_prefix", json!(5)),
        &["nats.inbox_prefix: expected a non-empty string, got 5"],
    );
}
