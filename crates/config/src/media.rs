//! `plugins.media`: the media history's commands and the autoplay service of the standard
//! plugins (`rosey plugins`). Everything is optional; autoplay is off unless a channel
//! turns it on.
//!
//! ```json
//! "plugins": {
//!   "media": {
//!     "random_min_rank": 0, "blacklist_min_rank": 2, "time_scale": 1,
//!     "autoplay": {
//!       "MyChannel": { "enabled": true, "min_items": 3, "avoid_hours": 4,
//!                      "max_per_hour": 10 }
//!     }
//!   }
//! }
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::Config;

/// The keys `plugins.media` may hold.
pub const KEYS: &[&str] = &[
    "random_min_rank",
    "blacklist_min_rank",
    "time_scale",
    "autoplay",
];
/// The keys of one channel's `autoplay` entry.
pub const AUTOPLAY_KEYS: &[&str] = &["enabled", "min_items", "avoid_hours", "max_per_hour"];

/// Who may use `!random` by default: everyone, as on an unlocked CyTube playlist
/// (`oplaylistadd` -1); a channel with a locked playlist raises it.
pub const DEFAULT_RANDOM_MIN_RANK: f64 = 0.0;
/// Who may edit the blocklist by default: moderators.
pub const DEFAULT_BLACKLIST_MIN_RANK: f64 = 2.0;

/// One channel's autoplay.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutoplayConfig {
    pub enabled: bool,
    /// Add when the playlist holds fewer items than this.
    pub min_items: u32,
    /// Never add what played (or was added) in the last so many hours.
    pub avoid_hours: f64,
    /// Never add more than this many items per hour.
    pub max_per_hour: u32,
}

impl Default for AutoplayConfig {
    fn default() -> Self {
        AutoplayConfig {
            enabled: false,
            min_items: 3,
            avoid_hours: 4.0,
            max_per_hour: 10,
        }
    }
}

/// The typed `plugins.media` section.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaConfig {
    pub random_min_rank: f64,
    pub blacklist_min_rank: f64,
    /// Media seconds per real second, for the services that judge time (how long a play
    /// lasted, autoplay's hours): 1 in production; tests speed time up together with the
    /// devserver's `playback_speed`.
    pub time_scale: f64,
    /// Per channel; a channel not listed has no autoplay.
    pub autoplay: BTreeMap<String, AutoplayConfig>,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            random_min_rank: DEFAULT_RANDOM_MIN_RANK,
            blacklist_min_rank: DEFAULT_BLACKLIST_MIN_RANK,
            time_scale: 1.0,
            autoplay: BTreeMap::new(),
        }
    }
}

impl MediaConfig {
    /// The channels with autoplay switched on.
    pub fn autoplay_channels(&self) -> impl Iterator<Item = (&String, &AutoplayConfig)> {
        self.autoplay.iter().filter(|(_, a)| a.enabled)
    }
}

impl Config {
    /// `plugins.media`, typed, with defaults for what it does not say (validated on load).
    pub fn media_config(&self) -> MediaConfig {
        let m = self
            .plugins
            .as_ref()
            .and_then(|p| p.get("media"))
            .and_then(Value::as_object);
        m.map(typed).unwrap_or_default()
    }
}

fn typed(m: &Map<String, Value>) -> MediaConfig {
    let mut c = MediaConfig::default();
    if let Some(r) = m.get("random_min_rank").and_then(Value::as_f64) {
        c.random_min_rank = r;
    }
    if let Some(r) = m.get("blacklist_min_rank").and_then(Value::as_f64) {
        c.blacklist_min_rank = r;
    }
    if let Some(t) = m.get("time_scale").and_then(Value::as_f64) {
        c.time_scale = t;
    }
    if let Some(v) = m.get("autoplay").cloned() {
        c.autoplay = serde_json::from_value(v).unwrap_or_default();
    }
    c
}

/// Every problem of a `plugins.media` value, with its path.
pub fn problems(v: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(m) = v.as_object() else {
        return vec![("plugins.media".into(), "expected an object".into())];
    };
    for k in m.keys() {
        if !KEYS.contains(&k.as_str()) {
            out.push((format!("plugins.media.{k}"), "unknown key".into()));
        }
    }
    for k in ["random_min_rank", "blacklist_min_rank"] {
        if let Some(v) = m.get(k)
            && !v.as_f64().is_some_and(|r| (-1.0..=255.0).contains(&r))
        {
            out.push((
                format!("plugins.media.{k}"),
                format!("expected a rank between -1 and 255, got {v}"),
            ));
        }
    }
    if let Some(v) = m.get("time_scale")
        && !v.as_f64().is_some_and(|t| t.is_finite() && t > 0.0)
    {
        out.push((
            "plugins.media.time_scale".into(),
            format!("must be above 0, got {v}"),
        ));
    }
    match m.get("autoplay") {
        None => {}
        Some(Value::Object(channels)) => {
            for (ch, a) in channels {
                let path = format!("plugins.media.autoplay.{ch}");
                match serde_json::from_value::<AutoplayConfig>(a.clone()) {
                    Err(e) => out.push((path, format!("{e} (keys: {})", AUTOPLAY_KEYS.join(", ")))),
                    Ok(a) => {
                        if a.min_items == 0 {
                            out.push((format!("{path}.min_items"), "must be at least 1".into()));
                        }
                        if !(a.avoid_hours.is_finite() && a.avoid_hours >= 0.0) {
                            out.push((format!("{path}.avoid_hours"), "must be 0 or more".into()));
                        }
                    }
                }
            }
        }
        Some(other) => out.push((
            "plugins.media.autoplay".into(),
            format!("expected an object of channel name → settings, got {other}"),
        )),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_autoplay_per_channel() {
        assert_eq!(Config::default().media_config(), MediaConfig::default());
        let cfg = Config::from_value(json!({
            "version": "2.0",
            "plugins": {"media": {"random_min_rank": 1, "autoplay": {
                "a": {"enabled": true, "min_items": 5}, "b": {"max_per_hour": 2}}}}
        }))
        .unwrap();
        let m = cfg.media_config();
        assert_eq!(m.random_min_rank, 1.0);
        assert_eq!(m.blacklist_min_rank, DEFAULT_BLACKLIST_MIN_RANK);
        let on: Vec<_> = m
            .autoplay_channels()
            .map(|(c, a)| (c.as_str(), a.min_items))
            .collect();
        assert_eq!(on, [("a", 5)]);
        assert!(!m.autoplay["b"].enabled, "off by default");
    }

    #[test]
    fn problems_name_their_path() {
        let p = problems(
            &json!({"autoplay": {"a": {"enabled": "yes"}, "b": {"min_items": 0,
            "avoid_hours": -1}}, "random_min_rank": "x", "colour": 1, "time_scale": 0}),
        );
        let paths: Vec<&str> = p.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "plugins.media.colour",
                "plugins.media.random_min_rank",
                "plugins.media.time_scale",
                "plugins.media.autoplay.a",
                "plugins.media.autoplay.b.min_items",
                "plugins.media.autoplay.b.avoid_hours",
            ]
        );
        assert!(problems(&json!({})).is_empty());
    }
}
