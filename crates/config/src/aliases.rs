//! Other spellings of v2 keys, as Rosey v0.5's documents print them, rewritten to the
//! documented key before validation:
//!
//! | written | read as |
//! |---|---|
//! | `nats.timeout` | `nats.connection_timeout` |
//! | `platforms[i].server` of a CyTube entry (no `type`, or `"cytube"`) | `platforms[i].domain` (the server's URL) |
//!
//! Writing both spellings is a problem at the alias. A problem with the value is reported at
//! the key the file used ([`Renamed::report_at_alias`]), so the message points at the line
//! to fix.

use serde_json::{Map, Value};

use crate::{defaults as d, validate::Problem};

/// One key read under its documented name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renamed {
    /// The path as written (`nats.timeout`).
    pub from: String,
    /// The documented path (`nats.connection_timeout`).
    pub to: String,
}

impl Renamed {
    /// Moves `problem` back to the alias when it is about the renamed key.
    pub fn report_at_alias(&self, problem: &mut Problem) {
        if problem.path == self.to {
            problem.path.clone_from(&self.from);
        }
    }
}

/// Rewrites the aliases in a v2 value in place. Returns what was renamed and the conflicts
/// (both spellings written).
pub fn apply(value: &mut Value) -> (Vec<Renamed>, Vec<Problem>) {
    let mut renamed = Vec::new();
    let mut problems = Vec::new();
    let Value::Object(top) = value else {
        return (renamed, problems);
    };
    if let Some(Value::Object(nats)) = top.get_mut("nats") {
        rename(
            nats,
            "nats",
            ("timeout", "connection_timeout"),
            &mut renamed,
            &mut problems,
        );
    }
    if let Some(Value::Array(platforms)) = top.get_mut("platforms") {
        for (i, item) in platforms.iter_mut().enumerate() {
            let Value::Object(platform) = item else {
                continue;
            };
            let cytube = match platform.get("type") {
                None | Some(Value::Null) => true,
                Some(t) => t.as_str() == Some(d::PLATFORM_TYPE),
            };
            if cytube {
                let parent = format!("platforms[{i}]");
                let pair = ("server", "domain");
                rename(platform, &parent, pair, &mut renamed, &mut problems);
            }
        }
    }
    (renamed, problems)
}

/// Renames `alias` to `key` in `map` (at `parent`) unless `key` is written too.
fn rename(
    map: &mut Map<String, Value>,
    parent: &str,
    (alias, key): (&str, &str),
    renamed: &mut Vec<Renamed>,
    problems: &mut Vec<Problem>,
) {
    let Some(value) = map.remove(alias) else {
        return;
    };
    let from = format!("{parent}.{alias}");
    let to = format!("{parent}.{key}");
    if map.get(key).is_some_and(|v| !v.is_null()) {
        problems.push(Problem::new(
            from,
            format!("another name for {to}, which is set too; keep one"),
        ));
        // Kept out of the value: the conflict is the one problem to report.
        return;
    }
    map.insert(key.to_owned(), value);
    renamed.push(Renamed { from, to });
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn timeout_and_a_cytube_server_are_read_as_their_documented_keys() {
        let mut v = json!({
            "nats": {"timeout": 3},
            "platforms": [
                {"name": "cytube", "server": "https://cytu.be", "channel": "c"},
                {"type": "irc", "name": "libera", "server": "irc.libera.chat", "channel": "#c"}
            ]
        });
        let (renamed, problems) = apply(&mut v);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(v["nats"], json!({"connection_timeout": 3}));
        assert_eq!(v["platforms"][0]["domain"], "https://cytu.be");
        assert!(v["platforms"][0].get("server").is_none());
        // An IRC entry's server is its own key.
        assert_eq!(v["platforms"][1]["server"], "irc.libera.chat");
        assert_eq!(renamed.len(), 2);
    }

    #[test]
    fn both_spellings_are_one_problem_at_the_alias() {
        let mut v = json!({"nats": {"timeout": 3, "connection_timeout": 4}});
        let (_, problems) = apply(&mut v);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path, "nats.timeout");
        assert_eq!(v["nats"], json!({"connection_timeout": 4}));
    }
}
