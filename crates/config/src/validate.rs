//! Validation of a parsed v2 file: every rule of the configuration, reporting every problem
//! at once, each with its field path and what was expected.
//!
//! This works on the untyped `serde_json::Value` so that one wrong field does not hide the
//! others (typed deserialisation stops at the first error). It must stay in step with
//! [`crate::model`]: anything accepted here must deserialise there.

use std::{
    collections::{HashMap, HashSet},
    fmt,
};

use serde_json::{Map, Value};

use crate::{
    env,
    model::LogLevel,
    schema,
    source::{self, Generation},
};

/// One thing wrong with a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: `platforms[0].domain`, `nats.tls.key`; empty for the file as a whole.
    pub path: String,
    /// What is wrong and what was expected: `missing`, `expected a number ≥ 0, got "two"`.
    pub message: String,
}

impl Problem {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

// Which keys each object may hold comes from the schema generated from the serde types
// ([`crate::schema::keys`]); the rules below check values only.

/// `web`'s caps.
const WEB_CAPS: &[&str] = &[
    "max_connections",
    "max_connections_per_client",
    "max_streams",
    "max_streams_per_client",
];
const NATS_SCHEMES: &[&str] = &["nats", "tls", "ws", "wss"];

/// Longest duration accepted, in seconds (about 31 years): far above any sensible setting,
/// far below what `Duration` can hold, so typing never fails.
const MAX_SECONDS: f64 = 1e9;

/// Checks a parsed v2 file (comment keys may or may not have been stripped; they are
/// ignored) and returns every problem found, in file order. Empty = valid.
pub fn validate(value: &Value) -> Vec<Problem> {
    let mut v = Validator::default();
    let Value::Object(top) = value else {
        v.report("", format!("expected an object, got {}", describe(value)));
        return v.problems;
    };
    match source::generation(value) {
        Generation::V2 => {}
        Generation::V1 => {
            v.report(
                "",
                format!(
                    "this is a v1 (legacy) configuration; {}",
                    source::migrate_hint("FILE")
                ),
            );
            return v.problems;
        }
        Generation::Unknown(ver) => {
            v.report(
                "version",
                format!("expected \"2.0\" or 2, got {}", describe(&ver)),
            );
        }
        Generation::Unversioned => v.report("version", "missing (expected \"2.0\" or 2)"),
    }
    v.keys(top, "");
    v.nats(top);
    v.database(top);
    v.platforms(top);
    v.shell(top);
    v.logging(top);
    v.metrics(top);
    v.web(top);
    v.cluster(top);
    v.plugins(top);
    if let Some(m) = top.get("moderation") {
        for (path, message) in crate::moderation::problems(m) {
            v.report(path, message);
        }
    }
    for key in ["llm", "legacy"] {
        match top.get(key) {
            None | Some(Value::Null) | Some(Value::Object(_)) => {}
            Some(other) => v.report(key, format!("expected an object, got {}", describe(other))),
        }
    }
    v.unknown_keys_elsewhere(value, "");
    v.problems
}

/// A number rule: bounds and whether it must be an integer, with its description.
struct Num {
    min: f64,
    min_exclusive: bool,
    max: Option<f64>,
    integer: bool,
    expected: &'static str,
}

const SECONDS_AT_LEAST_0: Num = Num {
    min: 0.0,
    min_exclusive: false,
    max: Some(MAX_SECONDS),
    integer: false,
    expected: "a number ≥ 0",
};
const SECONDS_ABOVE_0: Num = Num {
    min: 0.0,
    min_exclusive: true,
    max: Some(MAX_SECONDS),
    integer: false,
    expected: "a number > 0",
};
const COUNT_OR_FOREVER: Num = Num {
    min: -1.0,
    min_exclusive: false,
    max: None,
    integer: true,
    expected: "an integer ≥ -1 (-1 = forever)",
};
const WHOLE_AT_LEAST_0: Num = Num {
    min: 0.0,
    min_exclusive: false,
    max: None,
    integer: true,
    expected: "an integer ≥ 0",
};
const WHOLE_ABOVE_0: Num = Num {
    min: 0.0,
    min_exclusive: true,
    max: None,
    integer: true,
    expected: "an integer ≥ 1",
};
const RANK: Num = Num {
    min: 0.0,
    min_exclusive: false,
    max: None,
    integer: false,
    expected: "a number ≥ 0",
};
const PORT: Num = Num {
    min: 0.0,
    min_exclusive: false,
    max: Some(65_535.0),
    integer: true,
    expected: "a port number from 0 to 65535",
};
const REPLICAS: Num = Num {
    min: 1.0,
    min_exclusive: false,
    max: Some(crate::defaults::JETSTREAM_MAX_REPLICAS as f64),
    integer: true,
    expected: "an integer from 1 to 5",
};

#[derive(Default)]
struct Validator {
    problems: Vec<Problem>,
    /// Objects whose keys have been checked (by path), so the final sweep skips them.
    checked: HashSet<String>,
}

impl Validator {
    fn report(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::new(path, message));
    }

    /// Reports keys of the object at `path` that are neither in the schema nor comments.
    /// Objects the schema leaves open (`llm`, `legacy`) hold any key.
    fn keys(&mut self, map: &Map<String, Value>, path: &str) {
        let known = schema::keys(&schema_path(path));
        self.checked.insert(path.to_owned());
        if known.is_empty() {
            return;
        }
        for key in map.keys() {
            let own_schema = path.is_empty() && key == schema::SCHEMA_KEY;
            if known.contains(&key.as_str()) || source::is_comment_key(key) || own_schema {
                continue;
            }
            let message = match closest(key, &known) {
                Some(near) => format!("unknown key; did you mean \"{near}\"?"),
                None => format!("unknown key (expected one of: {})", known.join(", ")),
            };
            self.report(join(path, key), message);
        }
    }

    /// Checks the keys of every object the section rules did not visit (a section or field
    /// added to the types needs no rule here for its unknown keys to be reported).
    fn unknown_keys_elsewhere(&mut self, value: &Value, path: &str) {
        match value {
            Value::Object(map) => {
                if !self.checked.contains(path) && schema::is_closed(&schema_path(path)) {
                    self.keys(map, path);
                }
                let known = schema::keys(&schema_path(path));
                for (key, child) in map {
                    if known.contains(&key.as_str()) {
                        self.unknown_keys_elsewhere(child, &join(path, key));
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.unknown_keys_elsewhere(item, &format!("{path}[{i}]"));
                }
            }
            _ => {}
        }
    }

    /// An optional sub-object: `None` when absent, reported when not an object.
    fn section<'a>(
        &mut self,
        parent: &'a Map<String, Value>,
        parent_path: &str,
        key: &str,
    ) -> Option<&'a Map<String, Value>> {
        let path = join(parent_path, key);
        match parent.get(key)? {
            Value::Object(map) => {
                self.keys(map, &path);
                Some(map)
            }
            other => {
                self.report(path, format!("expected an object, got {}", describe(other)));
                None
            }
        }
    }

    fn number(
        &mut self,
        map: &Map<String, Value>,
        parent: &str,
        key: &str,
        rule: &Num,
    ) -> Option<f64> {
        let value = present(map, key)?;
        let path = join(parent, key);
        let expected = || format!("expected {}, got {}", rule.expected, describe(value));
        let Value::Number(n) = value else {
            self.report(path, expected());
            return None;
        };
        if rule.integer && n.as_i64().is_none() {
            self.report(path, expected());
            return None;
        }
        let x = n.as_f64()?;
        let below = if rule.min_exclusive {
            x <= rule.min
        } else {
            x < rule.min
        };
        if below {
            self.report(path, expected());
            return None;
        }
        if let Some(max) = rule.max
            && x > max
        {
            // Integer ranges name their maximum in `expected`; open-ended ones do not.
            if rule.integer {
                self.report(path, expected());
            } else {
                self.report(path, format!("too large: at most {max}, got {x}"));
            }
            return None;
        }
        Some(x)
    }

    fn boolean(&mut self, map: &Map<String, Value>, parent: &str, key: &str) {
        if let Some(value) = present(map, key)
            && !value.is_boolean()
        {
            self.report(
                join(parent, key),
                format!("expected true or false, got {}", describe(value)),
            );
        }
    }

    /// An optional (or, with `required`, mandatory) non-empty string.
    fn string<'a>(
        &mut self,
        map: &'a Map<String, Value>,
        parent: &str,
        key: &str,
        required: bool,
    ) -> Option<&'a str> {
        let path = join(parent, key);
        let Some(value) = present(map, key) else {
            if required {
                self.report(path, "missing");
            }
            return None;
        };
        match value.as_str() {
            Some(s) if !s.trim().is_empty() => Some(s),
            _ => {
                self.report(
                    path,
                    format!("expected a non-empty string, got {}", describe(value)),
                );
                None
            }
        }
    }

    fn one_of(
        &mut self,
        map: &Map<String, Value>,
        parent: &str,
        key: &str,
        choices: &[&str],
        ignore_case: bool,
    ) {
        let Some(value) = present(map, key) else {
            return;
        };
        let ok = value.as_str().is_some_and(|s| {
            choices.iter().any(|c| {
                if ignore_case {
                    c.eq_ignore_ascii_case(s.trim())
                } else {
                    *c == s
                }
            })
        });
        if !ok {
            self.report(
                join(parent, key),
                format!(
                    "expected {}, got {}",
                    alternatives(choices),
                    describe(value)
                ),
            );
        }
    }

    fn nats(&mut self, top: &Map<String, Value>) {
        let Some(nats) = self.section(top, "", "nats") else {
            return;
        };
        let p = "nats";
        match present(nats, "url") {
            None => {}
            Some(Value::String(s)) => self.nats_url(s, "nats.url", true),
            Some(Value::Array(items)) if items.is_empty() => {
                self.report("nats.url", "expected at least one URL, got an empty list");
            }
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let path = format!("nats.url[{i}]");
                    match item.as_str() {
                        Some(s) => self.nats_url(s, &path, false),
                        None => self.report(
                            path,
                            format!("expected a URL string, got {}", describe(item)),
                        ),
                    }
                }
            }
            Some(other) => self.report(
                "nats.url",
                format!(
                    "expected \"embedded\", a URL or a list of URLs, got {}",
                    describe(other)
                ),
            ),
        }
        self.number(nats, p, "connection_timeout", &SECONDS_ABOVE_0);
        self.number(nats, p, "max_reconnect_attempts", &COUNT_OR_FOREVER);
        self.number(nats, p, "reconnect_delay", &SECONDS_AT_LEAST_0);
        let user = self.string(nats, p, "user", false).is_some();
        let password = self.string(nats, p, "password", false).is_some();
        let token = self.string(nats, p, "token", false).is_some();
        let creds = self.string(nats, p, "credentials", false).is_some();
        let nkey = self.string(nats, p, "nkey", false).is_some();
        if user && !password {
            self.report("nats.password", "missing (needed with nats.user)");
        }
        if password && !user {
            self.report("nats.user", "missing (needed with nats.password)");
        }
        let methods: Vec<&str> = [
            (user || password, "user/password"),
            (token, "token"),
            (creds, "credentials"),
            (nkey, "nkey"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        if methods.len() > 1 {
            self.report(
                p,
                format!(
                    "choose one authentication method, found {}",
                    methods.join(" and ")
                ),
            );
        }
        if let Some(prefix) = self.string(nats, p, "inbox_prefix", false)
            && !prefix
                .split('.')
                .all(|t| !t.is_empty() && t != "*" && t != ">" && !t.contains(char::is_whitespace))
        {
            self.report(
                "nats.inbox_prefix",
                format!(
                    "`{prefix}` is not a subject (dot-separated tokens, no wildcards or spaces)"
                ),
            );
        }
        if let Some(tls) = self.section(nats, p, "tls") {
            let tp = "nats.tls";
            self.string(tls, tp, "ca", false);
            let cert = self.string(tls, tp, "cert", false).is_some();
            let key = self.string(tls, tp, "key", false).is_some();
            self.boolean(tls, tp, "required");
            if cert && !key {
                self.report("nats.tls.key", "missing (needed with nats.tls.cert)");
            }
            if key && !cert {
                self.report("nats.tls.cert", "missing (needed with nats.tls.key)");
            }
        }
        self.boolean(nats, p, "jetstream");
        if let Some(js) = self.section(nats, p, "jetstream_options") {
            let jp = "nats.jetstream_options";
            for key in ["stream", "consumer"] {
                if let Some(name) = self.string(js, jp, key, false)
                    && name
                        .chars()
                        .any(|c| c.is_whitespace() || ".*>/\\".contains(c))
                {
                    self.report(
                        join(jp, key),
                        format!(
                            "expected a name without spaces, '.', '*', '>', '/' or '\\', got {}",
                            describe(&Value::String(name.to_owned()))
                        ),
                    );
                }
            }
            let max_age = self.number(js, jp, "max_age", &SECONDS_AT_LEAST_0);
            if let Some(value) = present(js, "max_bytes")
                && !value.as_i64().is_some_and(|b| b == -1 || b > 0)
            {
                self.report(
                    join(jp, "max_bytes"),
                    format!(
                        "expected a positive integer or -1 (unlimited), got {}",
                        describe(value)
                    ),
                );
            }
            let window = self.number(js, jp, "duplicate_window", &SECONDS_AT_LEAST_0);
            let age = max_age.unwrap_or(crate::defaults::JETSTREAM_MAX_AGE_SECS);
            if let Some(w) = window
                && age > 0.0
                && w > age
            {
                // The NATS server refuses a stream whose window exceeds its max age.
                self.report(
                    join(jp, "duplicate_window"),
                    format!("must not exceed max_age ({age} s), got {w}"),
                );
            }
            self.one_of(js, jp, "storage", &["file", "memory"], false);
            self.number(js, jp, "replicas", &REPLICAS);
        }
    }

    fn nats_url(&mut self, s: &str, path: &str, alone: bool) {
        let s = s.trim();
        if s == crate::defaults::NATS_URL_EMBEDDED {
            if !alone {
                self.report(
                    path,
                    "\"embedded\" is not a server URL; write nats.url = \"embedded\" on its own",
                );
            }
            return;
        }
        let shown = describe(&Value::String(s.to_owned()));
        let (scheme, rest) = match s.split_once("://") {
            Some((scheme, rest)) => (Some(scheme), rest),
            None => (None, s),
        };
        let scheme_ok =
            scheme.is_none_or(|sc| NATS_SCHEMES.contains(&sc.to_ascii_lowercase().as_str()));
        let host = rest.rsplit('@').next().unwrap_or("");
        if s.is_empty() || s.chars().any(char::is_whitespace) || !scheme_ok || host.is_empty() {
            self.report(
                path,
                format!(
                    "expected \"embedded\" or a URL like \"nats://host:4222\" (scheme nats, tls, ws or wss), got {shown}"
                ),
            );
        }
    }

    fn database(&mut self, top: &Map<String, Value>) {
        let Some(db) = self.section(top, "", "database") else {
            return;
        };
        self.string(db, "database", "path", false);
        if let Some(url) = self.string(db, "database", "url", false)
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            self.report(
                "database.url".to_string(),
                "expected a PostgreSQL URL like \"postgres://user@host:5432/db\"",
            );
        }
        self.boolean(db, "database", "run_as_service");
        if let Some(r) = self.section(db, "database", "retention") {
            for key in schema::keys("database.retention") {
                self.number(r, "database.retention", key, &WHOLE_AT_LEAST_0);
            }
        }
    }

    fn platforms(&mut self, top: &Map<String, Value>) {
        let items = match present(top, "platforms") {
            None => return,
            Some(Value::Array(items)) => items,
            Some(other) => {
                self.report(
                    "platforms",
                    format!("expected a list of platforms, got {}", describe(other)),
                );
                return;
            }
        };
        // name → index, and password variable → index, to catch clashes.
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut vars: HashMap<String, usize> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            let p = format!("platforms[{i}]");
            let Value::Object(map) = item else {
                self.report(p, format!("expected an object, got {}", describe(item)));
                continue;
            };
            self.keys(map, &p);
            self.one_of(
                map,
                &p,
                "type",
                &[
                    crate::defaults::PLATFORM_TYPE,
                    crate::defaults::PLATFORM_TYPE_IRC,
                    crate::defaults::PLATFORM_TYPE_MATRIX,
                ],
                false,
            );
            if let Some(name) = self.string(map, &p, "name", true) {
                let name_path = join(&p, "name");
                let var = env::platform_password_var(name);
                if let Some(first) = names.insert(name, i) {
                    self.report(
                        &name_path,
                        format!("\"{name}\" is already the name of platforms[{first}]"),
                    );
                } else if let Some(first) = vars.insert(var.clone(), i) {
                    self.report(
                        &name_path,
                        format!(
                            "\"{name}\" and platforms[{first}].name both map to the variable {var}; rename one"
                        ),
                    );
                } else if env::RESERVED_VARS.contains(&var.as_str()) {
                    self.report(
                        &name_path,
                        format!(
                            "\"{name}\" would make {var} this platform's password variable, but that variable is already used for another setting; rename it"
                        ),
                    );
                }
            }
            self.boolean(map, &p, "enabled");
            let irc =
                map.get("type").and_then(Value::as_str) == Some(crate::defaults::PLATFORM_TYPE_IRC);
            let matrix = map.get("type").and_then(Value::as_str)
                == Some(crate::defaults::PLATFORM_TYPE_MATRIX);
            if irc {
                self.irc_platform(map, &p);
            } else if matrix {
                self.matrix_platform(map, &p);
            } else if let Some(domain) = self.string(map, &p, "domain", true) {
                let d = domain.trim();
                let host = d
                    .strip_prefix("https://")
                    .or_else(|| d.strip_prefix("http://"))
                    .map(|rest| rest.trim_end_matches('/'));
                if host.is_none_or(|h| h.is_empty() || h.chars().any(char::is_whitespace)) {
                    self.report(
                        join(&p, "domain"),
                        format!(
                            "expected a URL starting with http:// or https://, got {}",
                            describe(&Value::String(domain.to_owned()))
                        ),
                    );
                }
            }
            match present(map, "channel") {
                None => self.report(join(&p, "channel"), "missing"),
                Some(c) => {
                    if !name_and_secret_ok(c, true) {
                        self.report(
                            join(&p, "channel"),
                            format!(
                                "expected a channel name or [name, password], got {}",
                                describe(c)
                            ),
                        );
                    }
                }
            }
            if let Some(u) = present(map, "user")
                && !name_and_secret_ok(u, false)
            {
                self.report(
                    join(&p, "user"),
                    format!(
                        "expected [name, password] or [name] (a guest), got {}",
                        describe(u)
                    ),
                );
            }
            self.number(map, &p, "response_timeout", &SECONDS_ABOVE_0);
            self.number(map, &p, "restart_delay", &SECONDS_AT_LEAST_0);
            self.string(map, &p, "proxy", false);
            self.number(map, &p, "retry", &COUNT_OR_FOREVER);
            self.number(map, &p, "retry_delay", &SECONDS_AT_LEAST_0);
        }
    }

    /// The keys of a `"type": "irc"` entry (its `channel` and `user` are checked as for
    /// CyTube; `user` is the SASL account, its password from the file or the environment).
    fn irc_platform(&mut self, map: &Map<String, Value>, p: &str) {
        self.string(map, p, "server", true);
        if let Some(nick) = self.string(map, p, "nick", true)
            && (nick.contains(char::is_whitespace)
                || nick.starts_with(|c: char| c.is_ascii_digit()))
        {
            self.report(
                join(p, "nick"),
                format!("\"{nick}\" is not a valid IRC nick"),
            );
        }
        self.number(map, p, "port", &PORT);
        self.boolean(map, p, "tls");
        self.boolean(map, p, "sasl");
        self.string(map, p, "tls_ca", false);
        self.number(map, p, "op_rank", &RANK);
        let channel = match present(map, "channel") {
            Some(Value::String(s)) => Some(s.as_str()),
            Some(Value::Array(v)) => v.first().and_then(Value::as_str),
            _ => None,
        };
        if let Some(c) = channel
            && !c.starts_with(['#', '&'])
        {
            self.report(
                join(p, "channel"),
                format!("an IRC channel starts with # or &, got \"{c}\""),
            );
        }
    }

    /// The keys of a `"type": "matrix"` entry: `homeserver` (an http(s) URL), `user` (the
    /// user id, `@name:server`; its password from the file or the environment, or an access
    /// token in `ROSEY_<NAME>_ACCESS_TOKEN`), `channel` (a room alias `#room:server` or id
    /// `!id:server`), `op_rank`, `state_file`.
    fn matrix_platform(&mut self, map: &Map<String, Value>, p: &str) {
        if let Some(url) = self.string(map, p, "homeserver", true) {
            let u = url.trim();
            let host = u
                .strip_prefix("https://")
                .or_else(|| u.strip_prefix("http://"))
                .map(|rest| rest.trim_end_matches('/'));
            if host.is_none_or(|h| h.is_empty() || h.chars().any(char::is_whitespace)) {
                self.report(
                    join(p, "homeserver"),
                    format!("expected a URL starting with http:// or https://, got \"{url}\""),
                );
            }
        }
        self.number(map, p, "op_rank", &RANK);
        self.string(map, p, "state_file", false);
        let first = |key: &str| match present(map, key) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Array(v)) => v.first().and_then(Value::as_str).map(str::to_string),
            _ => None,
        };
        match first("user") {
            None => self.report(
                join(p, "user"),
                "missing: a Matrix entry needs the bot's user id",
            ),
            Some(u) if !(u.starts_with('@') && u.contains(':')) => self.report(
                join(p, "user"),
                format!("a Matrix user id looks like @name:server, got \"{u}\""),
            ),
            Some(_) => {}
        }
        if let Some(c) = first("channel")
            && !(c.starts_with(['#', '!']) && c.contains(':'))
        {
            self.report(
                join(p, "channel"),
                format!("a Matrix room is an alias #room:server or an id !id:server, got \"{c}\""),
            );
        }
    }

    fn shell(&mut self, top: &Map<String, Value>) {
        if let Some(shell) = self.section(top, "", "shell") {
            self.boolean(shell, "shell", "enabled");
            self.number(shell, "shell", "min_rank", &RANK);
            self.string(shell, "shell", "host", false);
            self.number(shell, "shell", "port", &PORT);
        }
    }

    fn plugins(&mut self, top: &Map<String, Value>) {
        if let Some(plugins) = self.section(top, "", "plugins") {
            self.boolean(plugins, "plugins", "enabled");
            self.string(plugins, "plugins", "directory", false);
            self.boolean(plugins, "plugins", "auto_reload");
            self.string(plugins, "plugins", "prefix", false);
            for key in ["timeout", "discovery_interval"] {
                self.number(plugins, "plugins", key, &SECONDS_ABOVE_0);
            }
            for key in ["user_interval", "channel_interval"] {
                self.number(plugins, "plugins", key, &SECONDS_AT_LEAST_0);
            }
            for key in ["user_burst", "channel_burst", "max_lines", "max_chars"] {
                self.number(plugins, "plugins", key, &WHOLE_AT_LEAST_0);
            }
            for (path, message) in crate::plugins::problems(plugins) {
                self.report(path, message);
            }
        }
    }

    fn metrics(&mut self, top: &Map<String, Value>) {
        let Some(m) = self.section(top, "", "metrics") else {
            return;
        };
        if let Some(listen) = self.string(m, "metrics", "listen", false)
            && listen.parse::<std::net::SocketAddr>().is_err()
        {
            self.report(
                "metrics.listen",
                format!("expected an address like 127.0.0.1:9464, got \"{listen}\""),
            );
        }
        self.one_of(
            m,
            "metrics",
            "ready_when",
            &["all_channels", "any_channel"],
            false,
        );
    }

    fn web(&mut self, top: &Map<String, Value>) {
        let Some(w) = self.section(top, "", "web") else {
            return;
        };
        if let Some(listen) = self.string(w, "web", "listen", false)
            && listen.parse::<std::net::SocketAddr>().is_err()
        {
            self.report(
                "web.listen",
                format!("expected an address like 127.0.0.1:8080, got \"{listen}\""),
            );
        }
        self.boolean(w, "web", "secure_cookies");
        for key in ["header_timeout", "idle_timeout"] {
            self.number(w, "web", key, &SECONDS_ABOVE_0);
        }
        for key in WEB_CAPS {
            self.number(w, "web", key, &WHOLE_ABOVE_0);
        }
        match present(w, "trusted_proxies") {
            None => {}
            Some(Value::Array(list)) => {
                for (i, v) in list.iter().enumerate() {
                    if !v.as_str().is_some_and(is_network) {
                        self.report(
                            format!("web.trusted_proxies[{i}]"),
                            format!(
                                "expected an IP address or network like 10.0.0.0/8, got {}",
                                describe(v)
                            ),
                        );
                    }
                }
            }
            Some(other) => self.report(
                "web.trusted_proxies",
                format!("expected a list of addresses, got {}", describe(other)),
            ),
        }
    }

    fn cluster(&mut self, top: &Map<String, Value>) {
        if let Some(c) = self.section(top, "", "cluster") {
            self.boolean(c, "cluster", "leases");
            self.number(c, "cluster", "lease_time", &SECONDS_ABOVE_0);
            self.string(c, "cluster", "bucket", false);
        }
    }

    fn logging(&mut self, top: &Map<String, Value>) {
        let Some(log) = self.section(top, "", "logging") else {
            return;
        };
        self.one_of(log, "logging", "level", LogLevel::ACCEPTED, true);
        self.one_of(log, "logging", "format", &["text", "json"], false);
        self.string(log, "logging", "chat_log_file", false);
        self.string(log, "logging", "media_log_file", false);
        if let Some(file) = self.section(log, "logging", "file") {
            let p = "logging.file";
            self.string(file, p, "path", true);
            self.one_of(file, p, "rotate", &["daily", "size", "never"], false);
            self.number(file, p, "max_bytes", &WHOLE_ABOVE_0);
            self.number(file, p, "keep", &WHOLE_ABOVE_0);
        }
    }
}

/// `name`, `[name]` (only when `bare_name_ok` allows the bare string as well) or
/// `[name, secret]`, with a non-empty name and a non-empty secret.
fn name_and_secret_ok(v: &Value, bare_name_ok: bool) -> bool {
    let non_empty = |x: &Value| x.as_str().is_some_and(|s| !s.trim().is_empty());
    match v {
        Value::String(_) => bare_name_ok && non_empty(v),
        Value::Array(items) => {
            matches!(items.len(), 1 | 2)
                && non_empty(&items[0])
                && items
                    .get(1)
                    .is_none_or(|pw| pw.as_str().is_some_and(|s| !s.is_empty()))
        }
        _ => false,
    }
}

/// A key's value, treating `null` like absence (optional settings may be written as null).
fn present<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

/// A problem path as a schema path: list indexes become `[]` (`platforms[2].x` →
/// `platforms[].x`).
fn schema_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push('[');
            }
            ']' => {
                in_index = false;
                out.push(']');
            }
            _ if in_index => {}
            c => out.push(c),
        }
    }
    out
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// `"a"`, `"a" or "b"`, `one of "a", "b", "c"`.
fn alternatives(choices: &[&str]) -> String {
    let quoted: Vec<String> = choices.iter().map(|c| format!("\"{c}\"")).collect();
    match quoted.as_slice() {
        [one] => one.clone(),
        [a, b] => format!("{a} or {b}"),
        many => format!("one of {}", many.join(", ")),
    }
}

/// How a wrong value is shown in a message: scalars as written, containers by kind,
/// long strings shortened so one bad field cannot flood the report.
pub(crate) fn describe(v: &Value) -> String {
    const MAX_CHARS: usize = 40;
    match v {
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "an object".to_owned(),
        Value::String(s) if s.chars().count() > MAX_CHARS => {
            let head: String = s.chars().take(MAX_CHARS).collect();
            format!("{}…", Value::String(head))
        }
        other => other.to_string(),
    }
}

/// The known key nearest to a misspelt one, when it is near enough to be a typo.
fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(dist, k)| *dist <= 1.max(k.len() / 3))
        .min_by_key(|(dist, _)| *dist)
        .map(|(_, k)| k)
}

/// Levenshtein distance over chars (keys are short; the quadratic cost does not matter).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// `10.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`.
fn is_network(s: &str) -> bool {
    let (addr, bits) = s.split_once('/').map_or((s, None), |(a, b)| (a, Some(b)));
    let Ok(addr) = addr.parse::<std::net::IpAddr>() else {
        return false;
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    bits.is_none_or(|b| b.parse::<u8>().is_ok_and(|b| b <= max))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A section or field added to the types gets unknown-key detection from the schema alone:
    /// the final sweep checks every object no section rule visited, at any depth.
    #[test]
    fn the_sweep_checks_objects_no_rule_visited() {
        let mut v = Validator::default();
        let value = json!({
            "logging": {"file": {"path": "x.log", "kep": 3}},
            "platforms": [{"name": "a", "chanel": "c"}],
            "llm": {"anything": {"goes": 1}},
        });
        v.unknown_keys_elsewhere(&value, "");
        let paths: Vec<&str> = v.problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["logging.file.kep", "platforms[0].chanel"]);
        assert_eq!(v.problems[0].message, "unknown key; did you mean \"keep\"?");
    }

    #[test]
    fn schema_paths_drop_list_indexes() {
        assert_eq!(schema_path("platforms[12].x"), "platforms[].x");
        assert_eq!(schema_path(""), "");
    }
}
