//! The `plugins` section: how the bot routes chat commands to plugin processes and which
//! standard plugins `rosey plugins` runs. Rosey v0.5's own keys (`enabled`, `directory`,
//! `auto_reload`) are kept and not used; every other key here is Rosey's.
//!
//! ```json
//! "plugins": {
//!   "prefix": "!", "timeout": 2, "on_failure": "reply",
//!   "user_burst": 4, "user_interval": 2, "channel_burst": 20, "channel_interval": 0.5,
//!   "max_lines": 5, "max_chars": 1000,
//!   "channels": { "MyChannel": ["dice", "quotes"] },
//!   "standard": { "eightball": false },
//!   "media": { "autoplay": { "MyChannel": { "enabled": true } } }
//! }
//! ```
//!
//! `media` (the media history's commands and autoplay) is typed in [`crate::media`].

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::Config;

/// The command prefix.
pub const DEFAULT_PREFIX: &str = "!";
/// How long the bot waits for a plugin's answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Commands one user may send at once, then one per `user_interval`.
pub const DEFAULT_USER_BURST: u32 = 4;
pub const DEFAULT_USER_INTERVAL: Duration = Duration::from_secs(2);
/// Commands one channel may send at once, then one per `channel_interval`.
pub const DEFAULT_CHANNEL_BURST: u32 = 20;
pub const DEFAULT_CHANNEL_INTERVAL: Duration = Duration::from_millis(500);
/// Output budget of one command: lines and characters.
pub const DEFAULT_MAX_LINES: usize = 5;
pub const DEFAULT_MAX_CHARS: usize = 1000;
/// How often the bot looks for plugins on the bus (they also announce themselves).
pub const DEFAULT_DISCOVERY_INTERVAL: Duration = Duration::from_secs(10);

/// The Rosey v0.5 keys, kept and not used.
pub const V05_KEYS: &[&str] = &["enabled", "directory", "auto_reload"];

/// The section as written in a file: what its schema (and so its list of keys) is made from.
/// [`Config::plugins`](crate::Config) keeps the object itself; [`PluginsConfig`] is the
/// typed view with defaults.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[allow(dead_code)] // Read by `schemars` only.
pub struct PluginsSection {
    /// Rosey v0.5: plugins on or off (kept, not used).
    enabled: Option<bool>,
    /// Rosey v0.5: where its plugin files were (kept, not used).
    directory: Option<String>,
    /// Rosey v0.5: reload changed plugin files (kept, not used).
    auto_reload: Option<bool>,
    /// The command prefix (default `!`).
    prefix: Option<String>,
    /// Seconds the bot waits for a plugin's answer (default 2).
    timeout: Option<f64>,
    /// What the bot says when a plugin does not answer or is gone.
    on_failure: Option<OnFailure>,
    /// Commands one user may send at once (default 4) ...
    user_burst: Option<u32>,
    /// ... then one per this many seconds (default 2).
    user_interval: Option<f64>,
    /// Commands one channel may send at once (default 20) ...
    channel_burst: Option<u32>,
    /// ... then one per this many seconds (default 0.5).
    channel_interval: Option<f64>,
    /// Lines one command may send (default 5).
    max_lines: Option<u32>,
    /// Characters one command may send (default 1000).
    max_chars: Option<u32>,
    /// Seconds between looks for plugins on the bus (default 10).
    discovery_interval: Option<f64>,
    /// Per channel, the plugins enabled there (`"*"` = all); unlisted channels have all.
    channels: Option<BTreeMap<String, Vec<String>>>,
    /// Standard plugins switched on or off; unlisted ones are on.
    standard: Option<BTreeMap<String, bool>>,
    /// The media history's commands and autoplay (checked key by key in [`crate::media`]).
    media: Option<serde_json::Map<String, serde_json::Value>>,
}

/// What the bot does when a plugin does not answer or is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// A short line: "dice did not answer" / "dice is unavailable".
    Reply,
    /// Nothing.
    Silent,
}

/// The typed `plugins` section.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginsConfig {
    pub prefix: String,
    pub timeout: Duration,
    pub on_failure: OnFailure,
    pub user_burst: u32,
    pub user_interval: Duration,
    pub channel_burst: u32,
    pub channel_interval: Duration,
    pub max_lines: usize,
    pub max_chars: usize,
    pub discovery_interval: Duration,
    /// Per channel, the plugins enabled there; a channel not listed has every plugin.
    pub channels: BTreeMap<String, Vec<String>>,
    /// Standard plugins switched on (`true`) or off (`false`); unlisted ones are on.
    pub standard: BTreeMap<String, bool>,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            prefix: DEFAULT_PREFIX.into(),
            timeout: DEFAULT_TIMEOUT,
            on_failure: OnFailure::Reply,
            user_burst: DEFAULT_USER_BURST,
            user_interval: DEFAULT_USER_INTERVAL,
            channel_burst: DEFAULT_CHANNEL_BURST,
            channel_interval: DEFAULT_CHANNEL_INTERVAL,
            max_lines: DEFAULT_MAX_LINES,
            max_chars: DEFAULT_MAX_CHARS,
            discovery_interval: DEFAULT_DISCOVERY_INTERVAL,
            channels: BTreeMap::new(),
            standard: BTreeMap::new(),
        }
    }
}

impl PluginsConfig {
    /// Is `plugin` enabled in `channel`?
    pub fn enabled_in(&self, channel: &str, plugin: &str) -> bool {
        self.channels
            .get(channel)
            .is_none_or(|list| list.iter().any(|p| p == plugin || p == "*"))
    }

    /// Is the standard plugin `name` switched on?
    pub fn standard_on(&self, name: &str) -> bool {
        self.standard.get(name).copied().unwrap_or(true)
    }
}

impl Config {
    /// The `plugins` section, typed, with defaults for what it does not say. (The section
    /// is validated on load; a value of the wrong type here falls back to its default.)
    pub fn plugins_config(&self) -> PluginsConfig {
        let mut c = PluginsConfig::default();
        let Some(m) = &self.plugins else {
            return c;
        };
        let secs = |k: &str| m.get(k).and_then(Value::as_f64).filter(|s| *s >= 0.0);
        let whole = |k: &str| m.get(k).and_then(Value::as_u64);
        if let Some(p) = m.get("prefix").and_then(Value::as_str) {
            c.prefix = p.to_string();
        }
        if let Some(s) = secs("timeout") {
            c.timeout = Duration::from_secs_f64(s);
        }
        if let Some(v) = m.get("on_failure").cloned()
            && let Ok(f) = serde_json::from_value(v)
        {
            c.on_failure = f;
        }
        if let Some(n) = whole("user_burst") {
            c.user_burst = n as u32;
        }
        if let Some(s) = secs("user_interval") {
            c.user_interval = Duration::from_secs_f64(s);
        }
        if let Some(n) = whole("channel_burst") {
            c.channel_burst = n as u32;
        }
        if let Some(s) = secs("channel_interval") {
            c.channel_interval = Duration::from_secs_f64(s);
        }
        if let Some(n) = whole("max_lines") {
            c.max_lines = n as usize;
        }
        if let Some(n) = whole("max_chars") {
            c.max_chars = n as usize;
        }
        if let Some(s) = secs("discovery_interval") {
            c.discovery_interval = Duration::from_secs_f64(s);
        }
        if let Some(v) = m.get("channels").cloned() {
            c.channels = serde_json::from_value(v).unwrap_or_default();
        }
        if let Some(v) = m.get("standard").cloned() {
            c.standard = serde_json::from_value(v).unwrap_or_default();
        }
        c
    }
}

/// Problems of the keys the generic checks do not cover: `prefix` (no white space; an
/// empty one is the generic string check's),
/// `on_failure`, `channels` (object of name lists), `standard` (object of booleans).
pub fn problems(m: &Map<String, Value>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(Value::String(p)) = m.get("prefix")
        && p.chars().any(char::is_whitespace)
    {
        out.push((
            "plugins.prefix".into(),
            "expected a prefix without white space, like \"!\"".into(),
        ));
    }
    if let Some(v) = m.get("on_failure")
        && serde_json::from_value::<OnFailure>(v.clone()).is_err()
    {
        out.push((
            "plugins.on_failure".into(),
            format!("expected \"reply\" or \"silent\", got {v}"),
        ));
    }
    if let Some(v) = m.get("channels")
        && serde_json::from_value::<BTreeMap<String, Vec<String>>>(v.clone()).is_err()
    {
        out.push((
            "plugins.channels".into(),
            "expected an object of channel name → list of plugin names".into(),
        ));
    }
    if let Some(v) = m.get("standard")
        && serde_json::from_value::<BTreeMap<String, bool>>(v.clone()).is_err()
    {
        out.push((
            "plugins.standard".into(),
            "expected an object of plugin name → true or false".into(),
        ));
    }
    if let Some(v) = m.get("media") {
        out.extend(crate::media::problems(v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_overrides_and_channel_lists() {
        let cfg = Config::from_value(json!({
            "version": "2.0",
            "plugins": {"enabled": true, "prefix": "?", "timeout": 0.5, "on_failure": "silent",
                        "channels": {"a": ["dice"]}, "standard": {"eightball": false}}
        }))
        .unwrap();
        let p = cfg.plugins_config();
        assert_eq!(p.prefix, "?");
        assert_eq!(p.timeout, Duration::from_millis(500));
        assert_eq!(p.on_failure, OnFailure::Silent);
        assert_eq!(p.user_burst, DEFAULT_USER_BURST);
        assert!(p.enabled_in("a", "dice") && !p.enabled_in("a", "quotes"));
        assert!(p.enabled_in("b", "quotes"));
        assert!(!p.standard_on("eightball") && p.standard_on("dice"));
        assert_eq!(Config::default().plugins_config(), PluginsConfig::default());
    }

    #[test]
    fn validation_reports_every_bad_key_with_its_path() {
        let problems = crate::validate(&json!({
            "version": "2.0",
            "plugins": {"enabled": true, "timeout": 0, "user_burst": -1, "max_lines": 1.5,
                        "prefix": "", "on_failure": "loud", "channels": [], "tiemout": 1}
        }));
        let mut paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        paths.sort_unstable();
        assert_eq!(
            paths,
            [
                "plugins.channels",
                "plugins.max_lines",
                "plugins.on_failure",
                "plugins.prefix",
                "plugins.tiemout",
                "plugins.timeout",
                "plugins.user_burst",
            ],
            "{problems:?}"
        );
        let ok = json!({"version": "2.0", "plugins": {"prefix": "?", "timeout": 1.5,
            "on_failure": "silent", "channels": {"c": ["dice"]}, "standard": {"poll": false}}});
        assert!(crate::validate(&ok).is_empty());
    }

    #[test]
    fn bad_values_are_named() {
        let m = json!({"prefix": "! ", "on_failure": "shout", "channels": {"a": "dice"},
                       "standard": {"dice": "yes"}});
        let paths: Vec<String> = problems(m.as_object().unwrap())
            .into_iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(
            paths,
            vec![
                "plugins.prefix",
                "plugins.on_failure",
                "plugins.channels",
                "plugins.standard"
            ]
        );
    }
}
