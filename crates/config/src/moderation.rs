//! The `moderation` section: the automated moderator's rule sets (`rosey moderator`).
//! Off unless `enabled` is true; a channel is moderated only when it is listed under
//! `channels`, with its rules written over `defaults` (objects merged key by key).
//!
//! ```json
//! "moderation": {
//!   "enabled": true,
//!   "defaults": { "ladder": ["warn", "smute 5m", "kick", "ban 1d"],
//!                 "words": { "words": ["free nitro"] } },
//!   "channels": { "MyChannel": { "dry_run": true, "links": { "allow": ["youtube.com"] } } }
//! }
//! ```
//!
//! Validation (`rosey config check`) types every rule set the same way the service does, so
//! an error names its path (`moderation.channels.MyChannel.flood.lines`); patterns are
//! compiled and ladder steps parsed here as well.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::Config;

/// The actions a ladder step may name (`warn` is a private message; the others are the
/// bot's `moderate` actions).
pub const STEP_ACTIONS: &[&str] = &["warn", "redact", "mute", "smute", "kick", "ban"];

/// The default name the moderator acts under (the `by` of its actions).
pub const DEFAULT_NAME: &str = "automod";
/// The default JetStream key-value bucket of pending lifts.
pub const DEFAULT_BUCKET: &str = "rosey-moderation";

/// The whole `moderation` section, typed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModerationConfig {
    /// The service runs (and `rosey run` starts it) only when true.
    pub enabled: bool,
    /// The name actions are taken under.
    pub name: String,
    /// The key-value bucket holding the timed mutes and bans still to lift.
    pub bucket: String,
    /// Seconds between looks for lifts that are due.
    pub lift_interval: f64,
    /// Seconds to wait for the bot's answer to an action.
    pub action_timeout: f64,
    /// The rule set every channel starts from (an object; see [`RuleSet`]).
    pub defaults: Value,
    /// Moderated channels, each with what it changes in `defaults`.
    pub channels: BTreeMap<String, Value>,
}

impl Default for ModerationConfig {
    fn default() -> Self {
        ModerationConfig {
            enabled: false,
            name: DEFAULT_NAME.into(),
            bucket: DEFAULT_BUCKET.into(),
            lift_interval: 1.0,
            action_timeout: 5.0,
            defaults: Value::Object(Map::new()),
            channels: BTreeMap::new(),
        }
    }
}

impl ModerationConfig {
    /// The typed rule set of `channel`: `defaults` with the channel's keys written over it.
    /// `None` when the channel is not listed. Errors name the path of the bad key.
    pub fn rules_for(&self, channel: &str) -> Option<Result<RuleSet, String>> {
        let own = self.channels.get(channel)?;
        let mut merged = self.defaults.clone();
        merge(&mut merged, own);
        Some(typed(&merged).map_err(|(path, msg)| {
            let path = if path.is_empty() {
                format!("moderation.channels.{channel}")
            } else {
                format!("moderation.channels.{channel}.{path}")
            };
            format!("{path}: {msg}")
        }))
    }

    /// Every listed channel's rule set, or every problem found.
    pub fn all_rules(&self) -> Result<BTreeMap<String, RuleSet>, Vec<String>> {
        let mut out = BTreeMap::new();
        let mut errors = Vec::new();
        for channel in self.channels.keys() {
            match self.rules_for(channel) {
                Some(Ok(r)) => {
                    out.insert(channel.clone(), r);
                }
                Some(Err(e)) => errors.push(e),
                None => {}
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }

    pub fn lift_interval(&self) -> Duration {
        Duration::from_secs_f64(self.lift_interval.clamp(0.05, 3600.0))
    }

    pub fn action_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.action_timeout.clamp(0.1, 600.0))
    }
}

/// Writes `over` onto `base`: objects merge key by key, anything else replaces.
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// One channel's rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleSet {
    /// False: this channel is listed but not moderated.
    pub enabled: bool,
    /// Decide and record, act on nothing.
    pub dry_run: bool,
    /// Users of this rank or above are never acted on.
    pub moderator_rank: f64,
    /// Users never acted on (case-insensitive).
    pub exempt: Vec<String>,
    /// Seconds an offence counts towards the next step of the ladder.
    pub window: f64,
    /// The steps, in order, for every rule that has no ladder of its own.
    pub ladder: Vec<Step>,
    /// The warning sent by private message (`{user}`, `{reason}` are filled in).
    pub warning: String,
    pub new_users: NewUsers,
    pub flood: Flood,
    pub repeats: Repeats,
    pub caps: Caps,
    pub links: Links,
    pub words: Words,
    pub mentions: Mentions,
    pub length: Length,
}

impl Default for RuleSet {
    fn default() -> Self {
        RuleSet {
            enabled: true,
            dry_run: false,
            moderator_rank: 2.0,
            exempt: Vec::new(),
            window: 3600.0,
            ladder: vec![
                Step::new("warn", None),
                Step::new("smute", Some(300)),
                Step::new("kick", None),
                Step::new("ban", Some(86_400)),
            ],
            warning: "{user}, please stop ({reason}); the next time the bot acts.".into(),
            new_users: NewUsers::default(),
            flood: Flood::default(),
            repeats: Repeats::default(),
            caps: Caps::default(),
            links: Links::default(),
            words: Words::default(),
            mentions: Mentions::default(),
            length: Length::default(),
        }
    }
}

/// Stricter limits for users first seen less than `minutes` ago: the line counts of flood,
/// repeats, mentions and length are multiplied by `factor` (at least 1 is kept).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewUsers {
    pub minutes: f64,
    pub factor: f64,
}

impl Default for NewUsers {
    fn default() -> Self {
        NewUsers {
            minutes: 10.0,
            factor: 0.5,
        }
    }
}

/// More than `lines` lines in `seconds` from one user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Flood {
    pub enabled: bool,
    pub lines: u32,
    pub seconds: f64,
    pub ladder: Option<Vec<Step>>,
}

impl Default for Flood {
    fn default() -> Self {
        Flood {
            enabled: true,
            lines: 5,
            seconds: 5.0,
            ladder: None,
        }
    }
}

/// The same line `count` times in `seconds` from one user; from `raid_users` different
/// users in `seconds` it is a raid. Lines shorter than `min_chars` (once normalised) are
/// not compared ("lol", "hi").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Repeats {
    pub enabled: bool,
    pub count: u32,
    pub seconds: f64,
    pub raid_users: u32,
    pub min_chars: usize,
    pub ladder: Option<Vec<Step>>,
}

impl Default for Repeats {
    fn default() -> Self {
        Repeats {
            enabled: true,
            count: 3,
            seconds: 60.0,
            raid_users: 5,
            min_chars: 10,
            ladder: None,
        }
    }
}

/// Capitals above `ratio` of the letters, in a line with at least `min_letters` letters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Caps {
    pub enabled: bool,
    pub ratio: f64,
    pub min_letters: usize,
    pub ladder: Option<Vec<Step>>,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            enabled: true,
            ratio: 0.8,
            min_letters: 16,
            ladder: None,
        }
    }
}

/// Links: allowed from users of `min_rank` or above, and to the `allow`ed domains (and
/// their subdomains) from anyone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Links {
    pub enabled: bool,
    pub min_rank: f64,
    pub allow: Vec<String>,
    pub ladder: Option<Vec<Step>>,
}

impl Default for Links {
    fn default() -> Self {
        Links {
            enabled: true,
            min_rank: 1.0,
            allow: Vec::new(),
            ladder: None,
        }
    }
}

/// Banned words (matched on word boundaries of the normalised line) and patterns (regular
/// expressions, case-insensitive, on the normalised line with its punctuation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Words {
    pub enabled: bool,
    pub words: Vec<String>,
    pub patterns: Vec<String>,
    pub ladder: Option<Vec<Step>>,
}

impl Default for Words {
    fn default() -> Self {
        Words {
            enabled: true,
            words: Vec::new(),
            patterns: Vec::new(),
            ladder: None,
        }
    }
}

/// More than `max` users of the channel named in one line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mentions {
    pub enabled: bool,
    pub max: u32,
    pub ladder: Option<Vec<Step>>,
}

impl Default for Mentions {
    fn default() -> Self {
        Mentions {
            enabled: true,
            max: 5,
            ladder: None,
        }
    }
}

/// Lines longer than `max_chars` characters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Length {
    pub enabled: bool,
    pub max_chars: usize,
    pub ladder: Option<Vec<Step>>,
}

impl Default for Length {
    fn default() -> Self {
        Length {
            enabled: true,
            max_chars: 350,
            ladder: None,
        }
    }
}

/// One step of a ladder: an action and, for `mute`, `smute` and `ban`, how long (none =
/// until lifted by hand). Written as `"warn"`, `"smute 5m"`, `"ban 1d"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub action: String,
    pub seconds: Option<u64>,
}

impl Step {
    pub fn new(action: &str, seconds: Option<u64>) -> Self {
        Step {
            action: action.into(),
            seconds,
        }
    }

    /// Parses `"<action> [<duration>]"` (durations as `30s`, `5m`, `1h 30m`, `2d`).
    pub fn parse(text: &str) -> Result<Step, String> {
        let text = text.trim();
        let (action, rest) = text.split_once(' ').unwrap_or((text, ""));
        if !STEP_ACTIONS.contains(&action) {
            return Err(format!(
                "expected one of {} (then a duration for mute, smute, ban), got \"{text}\"",
                STEP_ACTIONS.join(", ")
            ));
        }
        let rest = rest.trim();
        let seconds = if rest.is_empty() {
            None
        } else {
            if !matches!(action, "mute" | "smute" | "ban") {
                return Err(format!("\"{action}\" takes no duration, got \"{text}\""));
            }
            let d = humantime::parse_duration(rest)
                .map_err(|e| format!("bad duration \"{rest}\" in \"{text}\": {e}"))?;
            if d.as_secs() == 0 {
                return Err(format!("the duration in \"{text}\" must be at least 1s"));
            }
            Some(d.as_secs())
        };
        Ok(Step {
            action: action.into(),
            seconds,
        })
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seconds {
            Some(s) => write!(
                f,
                "{} {}",
                self.action,
                humantime::format_duration(Duration::from_secs(s))
            ),
            None => f.write_str(&self.action),
        }
    }
}

impl Serialize for Step {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Step::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Types a merged rule set and checks what types cannot say. Err: (path inside the rule
/// set, message).
fn typed(value: &Value) -> Result<RuleSet, (String, String)> {
    let rules: RuleSet = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        (path, e.into_inner().to_string())
    })?;
    check(&rules)?;
    Ok(rules)
}

fn check(r: &RuleSet) -> Result<(), (String, String)> {
    let bad = |path: &str, msg: String| Err((path.to_string(), msg));
    let positive = [
        ("window", r.window),
        ("flood.seconds", r.flood.seconds),
        ("repeats.seconds", r.repeats.seconds),
    ];
    for (path, v) in positive {
        if !(v > 0.0 && v <= 1e9) {
            return bad(path, format!("expected seconds above 0, got {v}"));
        }
    }
    if !(0.0..=1.0).contains(&r.caps.ratio) {
        return bad(
            "caps.ratio",
            format!("expected a ratio from 0 to 1, got {}", r.caps.ratio),
        );
    }
    if !(r.new_users.factor > 0.0 && r.new_users.factor <= 1.0) {
        return bad(
            "new_users.factor",
            format!(
                "expected a factor above 0, at most 1, got {}",
                r.new_users.factor
            ),
        );
    }
    if r.new_users.minutes < 0.0 {
        return bad(
            "new_users.minutes",
            format!("expected minutes ≥ 0, got {}", r.new_users.minutes),
        );
    }
    for (path, n) in [
        ("flood.lines", r.flood.lines),
        ("repeats.count", r.repeats.count),
        ("repeats.raid_users", r.repeats.raid_users),
    ] {
        if n < 2 {
            return bad(path, format!("expected a whole number ≥ 2, got {n}"));
        }
    }
    let ladders = [
        ("ladder", Some(&r.ladder)),
        ("flood.ladder", r.flood.ladder.as_ref()),
        ("repeats.ladder", r.repeats.ladder.as_ref()),
        ("caps.ladder", r.caps.ladder.as_ref()),
        ("links.ladder", r.links.ladder.as_ref()),
        ("words.ladder", r.words.ladder.as_ref()),
        ("mentions.ladder", r.mentions.ladder.as_ref()),
        ("length.ladder", r.length.ladder.as_ref()),
    ];
    for (path, ladder) in ladders {
        if ladder.is_some_and(Vec::is_empty) {
            return bad(path, "expected at least one step".into());
        }
    }
    for (i, d) in r.links.allow.iter().enumerate() {
        if d.is_empty() || d.contains(['/', ' ', ':']) {
            return bad(
                &format!("links.allow[{i}]"),
                format!("expected a domain like youtube.com, got \"{d}\""),
            );
        }
    }
    for (i, w) in r.words.words.iter().enumerate() {
        if w.trim().is_empty() {
            return bad(
                &format!("words.words[{i}]"),
                "expected a word, got \"\"".into(),
            );
        }
    }
    for (i, p) in r.words.patterns.iter().enumerate() {
        if let Err(e) = regex::Regex::new(p) {
            return bad(
                &format!("words.patterns[{i}]"),
                format!("not a valid pattern: {}", last_line(&e.to_string())),
            );
        }
    }
    Ok(())
}

/// The last non-empty line of a (multi-line) regex error: the one that says what is wrong.
fn last_line(s: &str) -> String {
    s.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .to_string()
}

/// Every problem of a `moderation` value (paths start with `moderation`).
pub fn problems(value: &Value) -> Vec<(String, String)> {
    let cfg: ModerationConfig = match serde_path_to_error::deserialize(value) {
        Ok(c) => c,
        Err(e) => {
            let path = e.path().to_string();
            let path = if path == "." {
                "moderation".to_string()
            } else {
                format!("moderation.{path}")
            };
            return vec![(path, e.into_inner().to_string())];
        }
    };
    let mut out = Vec::new();
    if !cfg.defaults.is_object() {
        out.push((
            "moderation.defaults".into(),
            "expected an object (a rule set)".into(),
        ));
        return out;
    }
    if let Err((path, msg)) = typed(&cfg.defaults) {
        let path = if path.is_empty() {
            "moderation.defaults".to_string()
        } else {
            format!("moderation.defaults.{path}")
        };
        out.push((path, msg));
        return out;
    }
    for (name, own) in &cfg.channels {
        if !own.is_object() {
            out.push((
                format!("moderation.channels.{name}"),
                "expected an object (what the channel changes in defaults)".into(),
            ));
            continue;
        }
        if let Some(Err(e)) = cfg.rules_for(name) {
            let (path, msg) = e.split_once(": ").unwrap_or((&e, ""));
            out.push((path.to_string(), msg.to_string()));
        }
    }
    for (key, v) in [
        ("lift_interval", cfg.lift_interval),
        ("action_timeout", cfg.action_timeout),
    ] {
        if !(v > 0.0 && v <= 3600.0) {
            out.push((
                format!("moderation.{key}"),
                format!("expected seconds above 0, at most 3600, got {v}"),
            ));
        }
    }
    if cfg.bucket.is_empty()
        || !cfg
            .bucket
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        out.push((
            "moderation.bucket".into(),
            format!("expected letters, digits, - or _, got \"{}\"", cfg.bucket),
        ));
    }
    out
}

impl Config {
    /// The `moderation` section, typed; the default (off) when absent. The section was
    /// validated on load, so this does not fail for a loaded configuration.
    pub fn moderation_config(&self) -> Result<ModerationConfig, String> {
        match &self.moderation {
            None => Ok(ModerationConfig::default()),
            Some(m) => serde_json::from_value(Value::Object(m.clone()))
                .map_err(|e| format!("moderation: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn steps_parse_and_print() {
        assert_eq!(Step::parse("warn").unwrap(), Step::new("warn", None));
        assert_eq!(
            Step::parse("smute 5m").unwrap(),
            Step::new("smute", Some(300))
        );
        assert_eq!(Step::parse("ban 2s").unwrap().to_string(), "ban 2s");
        assert!(Step::parse("kick 5m").is_err());
        assert!(Step::parse("explode").is_err());
        assert!(Step::parse("mute soon").is_err());
    }

    #[test]
    fn channels_merge_over_defaults() {
        let cfg: ModerationConfig = serde_json::from_value(json!({
            "enabled": true,
            "defaults": {"flood": {"lines": 8}, "words": {"words": ["spam"]}},
            "channels": {"a": {"dry_run": true, "flood": {"seconds": 2}}, "b": {}}
        }))
        .unwrap();
        let a = cfg.rules_for("a").unwrap().unwrap();
        assert!(a.dry_run);
        assert_eq!((a.flood.lines, a.flood.seconds), (8, 2.0));
        assert_eq!(a.words.words, ["spam"]);
        let b = cfg.rules_for("b").unwrap().unwrap();
        assert!(!b.dry_run);
        assert!(cfg.rules_for("c").is_none());
        assert_eq!(cfg.all_rules().unwrap().len(), 2);
    }

    #[test]
    fn problems_name_their_paths() {
        let p = problems(&json!({"enabled": true, "defaults": {"flood": {"lines": "six"}}}));
        assert_eq!(p[0].0, "moderation.defaults.flood.lines", "{p:?}");
        let p = problems(&json!({"channels": {
            "x": {"words": {"patterns": ["(unclosed"]}},
            "y": {"ladder": ["warn", "kick 5m"]},
            "z": {"caps": {"ratio": 2}},
            "w": {"colour": 1}
        }}));
        let paths: Vec<&str> = p.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "moderation.channels.w.colour",
                "moderation.channels.x.words.patterns[0]",
                "moderation.channels.y.ladder[1]",
                "moderation.channels.z.caps.ratio"
            ],
            "{p:?}"
        );
        let p = problems(&json!({"lift_interval": 0, "bucket": "a.b"}));
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(problems(&json!({"enabled": true, "channels": {"c": {}}})).is_empty());
    }

    #[test]
    fn a_config_file_carries_the_section() {
        let cfg = Config::from_value(json!({"version": "2.0",
            "moderation": {"enabled": true, "channels": {"c": {"dry_run": true}}}}))
        .unwrap();
        let m = cfg.moderation_config().unwrap();
        assert!(m.enabled);
        assert!(m.rules_for("c").unwrap().unwrap().dry_run);
        let e = Config::from_value(json!({"version": "2.0",
            "moderation": {"channels": {"c": {"flood": {"lines": 1}}}}}))
        .unwrap_err();
        assert!(
            e.to_string().contains("moderation.channels.c.flood.lines"),
            "{e}"
        );
        assert!(!Config::default().moderation_config().unwrap().enabled);
    }
}
