//! One channel's rule set, compiled ([`Compiled`]), and the rules that look at one line on
//! its own: banned words and patterns, links, length, mentions, caps. The rules that need
//! history (flood, repeats, raids) and the ladder live in [`crate::engine`].

use std::collections::HashSet;

use linkify::{LinkFinder, LinkKind};
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use rosey_config::moderation::{RuleSet, Step};

use crate::normalize;

/// The rules, as counted in metrics and stored with each decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    Flood,
    Repeats,
    Raid,
    Caps,
    Links,
    Words,
    Mentions,
    Length,
}

impl Rule {
    pub const ALL: [Rule; 8] = [
        Rule::Flood,
        Rule::Repeats,
        Rule::Raid,
        Rule::Caps,
        Rule::Links,
        Rule::Words,
        Rule::Mentions,
        Rule::Length,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Rule::Flood => "flood",
            Rule::Repeats => "repeats",
            Rule::Raid => "raid",
            Rule::Caps => "caps",
            Rule::Links => "links",
            Rule::Words => "words",
            Rule::Mentions => "mentions",
            Rule::Length => "length",
        }
    }

    /// Position in [`Rule::ALL`].
    pub fn index(self) -> usize {
        Rule::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// What a rule found: which rule and, for people, why.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub rule: Rule,
    pub reason: String,
}

impl Hit {
    pub fn new(rule: Rule, reason: impl Into<String>) -> Self {
        Hit {
            rule,
            reason: reason.into(),
        }
    }
}

/// A rule set ready to evaluate: patterns compiled, names folded.
#[derive(Debug)]
pub struct Compiled {
    pub set: RuleSet,
    /// The banned words' skeletons, as one alternation on word boundaries.
    words: Option<Regex>,
    patterns: Option<RegexSet>,
    exempt: HashSet<String>,
    allow: Vec<String>,
    links: LinkFinder,
}

impl Compiled {
    /// Compiles a rule set (already validated; an error here still names the pattern).
    pub fn new(set: RuleSet) -> Result<Compiled, String> {
        let words: Vec<String> = set
            .words
            .words
            .iter()
            .map(|w| normalize::skeleton(w))
            .filter(|w| !w.is_empty())
            .map(|w| regex::escape(&w))
            .collect();
        let words = if words.is_empty() {
            None
        } else {
            let alternation = format!(r"\b(?:{})\b", words.join("|"));
            Some(
                RegexBuilder::new(&alternation)
                    .size_limit(1 << 24)
                    .build()
                    .map_err(|e| format!("words: {e}"))?,
            )
        };
        let patterns = if set.words.patterns.is_empty() {
            None
        } else {
            Some(
                RegexSetBuilder::new(&set.words.patterns)
                    .case_insensitive(true)
                    .size_limit(1 << 24)
                    .build()
                    .map_err(|e| format!("words.patterns: {e}"))?,
            )
        };
        let mut links = LinkFinder::new();
        links.kinds(&[LinkKind::Url]);
        links.url_must_have_scheme(false);
        Ok(Compiled {
            exempt: set.exempt.iter().map(|u| u.to_lowercase()).collect(),
            allow: set
                .links
                .allow
                .iter()
                .map(|d| d.trim_start_matches('.').to_lowercase())
                .collect(),
            words,
            patterns,
            links,
            set,
        })
    }

    /// Never acted on: a moderator (by rank) or a listed user.
    pub fn is_exempt(&self, user_lower: &str, rank: f64) -> bool {
        rank >= self.set.moderator_rank || self.exempt.contains(user_lower)
    }

    /// The ladder of `rule`: its own, else the rule set's.
    pub fn ladder(&self, rule: Rule) -> &[Step] {
        let s = &self.set;
        let own = match rule {
            Rule::Flood => s.flood.ladder.as_ref(),
            Rule::Repeats | Rule::Raid => s.repeats.ladder.as_ref(),
            Rule::Caps => s.caps.ladder.as_ref(),
            Rule::Links => s.links.ladder.as_ref(),
            Rule::Words => s.words.ladder.as_ref(),
            Rule::Mentions => s.mentions.ladder.as_ref(),
            Rule::Length => s.length.ladder.as_ref(),
        };
        own.unwrap_or(&s.ladder)
    }

    /// The rules that judge a line on its own, first hit wins: words, links, length,
    /// mentions, caps. `scale` makes a limit stricter for new users.
    pub fn check_line(
        &self,
        line: &LineView<'_>,
        present: &HashSet<String>,
        scale: impl Fn(f64) -> f64,
    ) -> Option<Hit> {
        let s = &self.set;
        if s.words.enabled {
            if let Some(re) = &self.words
                && let Some(m) = re.find(line.skeleton)
            {
                return Some(Hit::new(
                    Rule::Words,
                    format!("banned word \"{}\"", m.as_str()),
                ));
            }
            if let Some(set) = &self.patterns
                && let Some(i) = set.matches(line.folded).iter().next()
            {
                return Some(Hit::new(
                    Rule::Words,
                    format!("banned pattern `{}`", s.words.patterns[i]),
                ));
            }
        }
        if s.links.enabled
            && line.rank < s.links.min_rank
            && let Some(host) = self.refused_link(line.text)
        {
            return Some(Hit::new(Rule::Links, format!("link to {host}")));
        }
        if s.length.enabled {
            let max = scale(s.length.max_chars as f64);
            let n = line.text.chars().count();
            if n as f64 > max {
                return Some(Hit::new(
                    Rule::Length,
                    format!("{n} characters (at most {max})"),
                ));
            }
        }
        if s.mentions.enabled {
            let max = scale(s.mentions.max as f64);
            let n = mentions(line.text, line.user_lower, present);
            if n as f64 > max {
                return Some(Hit::new(
                    Rule::Mentions,
                    format!("{n} users named (at most {max})"),
                ));
            }
        }
        if s.caps.enabled
            && let Some(ratio) = caps_ratio(line.text, s.caps.min_letters)
            && ratio > s.caps.ratio
        {
            return Some(Hit::new(
                Rule::Caps,
                format!("{:.0}% capitals", ratio * 100.0),
            ));
        }
        None
    }

    /// The host of the first link in `text` that is not to an allowed domain.
    fn refused_link(&self, text: &str) -> Option<String> {
        for link in self.links.links(text) {
            let raw = link.as_str();
            let has_scheme = raw.contains("://");
            let parsed = if has_scheme {
                url::Url::parse(raw)
            } else {
                url::Url::parse(&format!("http://{raw}"))
            };
            let Some(host) = parsed
                .ok()
                .and_then(|u| u.host_str().map(str::to_lowercase))
            else {
                continue;
            };
            // Without a scheme, only a name ending in a real-looking top-level domain is a
            // link ("e.g", "v1.2" and "file.txt"-like words are common chat).
            if !has_scheme && !plausible_domain(&host) {
                continue;
            }
            let allowed = self
                .allow
                .iter()
                .any(|d| host == *d || host.ends_with(&format!(".{d}")));
            if !allowed {
                return Some(host);
            }
        }
        None
    }
}

/// The common top-level domains a bare `name.tld` is taken as a link for.
const BARE_TLDS: &[&str] = &[
    "com", "net", "org", "io", "gg", "tv", "me", "co", "xyz", "ru", "info", "biz", "to", "ly",
    "be", "de", "uk", "fr", "us", "app", "dev", "site", "online", "club", "link", "live", "top",
    "cc", "ws", "su", "cn", "tk", "ml", "ga", "cf",
];

fn plausible_domain(host: &str) -> bool {
    let tld = host.rsplit('.').next().unwrap_or("");
    host.contains('.') && BARE_TLDS.contains(&tld)
}

/// A line and what the engine knows about it.
#[derive(Debug, Clone, Copy)]
pub struct LineView<'a> {
    pub text: &'a str,
    pub folded: &'a str,
    pub skeleton: &'a str,
    pub user_lower: &'a str,
    pub rank: f64,
}

/// How many users present in the channel (other than the speaker) a line names.
fn mentions(text: &str, speaker: &str, present: &HashSet<String>) -> usize {
    let mut seen: HashSet<String> = HashSet::new();
    for word in text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-')) {
        if word.is_empty() {
            continue;
        }
        let w = word.to_lowercase();
        if w != speaker && present.contains(&w) {
            seen.insert(w);
        }
    }
    seen.len()
}

/// Capitals over cased letters, when the line has at least `min_letters` of them.
fn caps_ratio(text: &str, min_letters: usize) -> Option<f64> {
    let (mut letters, mut upper) = (0usize, 0usize);
    for c in text.chars() {
        if c.is_uppercase() {
            letters += 1;
            upper += 1;
        } else if c.is_lowercase() {
            letters += 1;
        }
    }
    (letters >= min_letters && letters > 0).then(|| upper as f64 / letters as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiled(f: impl FnOnce(&mut RuleSet)) -> Compiled {
        let mut set = RuleSet::default();
        f(&mut set);
        Compiled::new(set).unwrap()
    }

    fn check(c: &Compiled, text: &str, rank: f64) -> Option<Hit> {
        let folded = normalize::fold(text);
        let skeleton = normalize::skeleton_of_folded(&folded);
        let present: HashSet<String> = ["alice", "bob", "carol", "dave", "erin", "frank", "gina"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        c.check_line(
            &LineView {
                text,
                folded: &folded,
                skeleton: &skeleton,
                user_lower: "zed",
                rank,
            },
            &present,
            |n| n,
        )
    }

    fn rule(c: &Compiled, text: &str, rank: f64) -> Option<Rule> {
        check(c, text, rank).map(|h| h.rule)
    }

    #[test]
    fn banned_words_on_word_boundaries_after_normalising() {
        let c = compiled(|s| {
            s.words.words = vec!["free nitro".into(), "scam".into()];
            s.words.patterns = vec![r"discord\.gg/\w+".into()];
        });
        for bad in [
            "get FREE NITRO now",
            "f r e e nitro",
            "ＦＲＥＥ ｎｉｔｒｏ",
            "fr\u{0435}e nitro",
            "freeeee nitroooo",
            "this is a sc\u{200b}am",
        ] {
            assert_eq!(rule(&c, bad, 0.0), Some(Rule::Words), "{bad:?}");
        }
        for fine in ["scampi for dinner", "freedom nitrogen", "free time"] {
            assert_eq!(rule(&c, fine, 0.0), None, "{fine:?}");
        }
        let hit = check(&c, "join Discord.GG/abc", 0.0).unwrap();
        assert_eq!(hit.rule, Rule::Words);
        assert!(hit.reason.contains("pattern"), "{hit:?}");
    }

    #[test]
    fn links_by_rank_and_domain() {
        let c = compiled(|s| {
            s.links.min_rank = 2.0;
            s.links.allow = vec!["youtube.com".into()];
        });
        assert_eq!(
            check(&c, "see https://evil.example/x", 0.0).unwrap().reason,
            "link to evil.example"
        );
        assert_eq!(rule(&c, "go to spam.xyz now", 0.0), Some(Rule::Links));
        assert_eq!(rule(&c, "see https://evil.example/x", 2.0), None);
        assert_eq!(rule(&c, "https://www.youtube.com/watch?v=1", 0.0), None);
        assert_eq!(rule(&c, "youtube.com/watch?v=1", 0.0), None);
        assert_eq!(rule(&c, "e.g. this, or v1.2 of file.txt", 0.0), None);
    }

    #[test]
    fn caps_length_and_mentions() {
        let c = compiled(|s| {
            s.length.max_chars = 40;
            s.mentions.max = 3;
        });
        assert_eq!(rule(&c, "THIS IS ALL SHOUTING NOW", 0.0), Some(Rule::Caps));
        assert_eq!(rule(&c, "LOL", 0.0), None);
        assert_eq!(rule(&c, "OMG YES!!", 0.0), None);
        assert_eq!(rule(&c, "I love NASA and the ESA", 0.0), None);
        assert_eq!(rule(&c, &"a".repeat(41), 0.0), Some(Rule::Length));
        assert_eq!(rule(&c, &"é".repeat(40), 0.0), None);
        assert_eq!(
            rule(&c, "alice bob carol dave hi", 0.0),
            Some(Rule::Mentions)
        );
        assert_eq!(rule(&c, "alice, bob and carol: hi", 0.0), None);
        assert_eq!(rule(&c, "alice alice alice alice", 0.0), None);
    }

    #[test]
    fn exemptions() {
        let c = compiled(|s| s.exempt = vec!["Trusted".into()]);
        assert!(c.is_exempt("trusted", 0.0));
        assert!(c.is_exempt("anyone", 2.0));
        assert!(!c.is_exempt("anyone", 1.0));
    }

    #[test]
    fn rules_switch_off() {
        let c = compiled(|s| s.caps.enabled = false);
        assert_eq!(rule(&c, "THIS IS ALL SHOUTING NOW", 0.0), None);
    }
}
