//! The decision engine: one channel's members (ranks, when first seen), the recent lines
//! the history rules need (flood, repeats, raids), each user's offences in the ladder's
//! window, and [`Channel::observe`], which turns a chat line into decisions. Pure and
//! synchronous: time is the event's, so the corpus tests replay hours of chat in
//! milliseconds and the service feeds it the bus's events.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use rosey_config::moderation::Step;

use crate::normalize;
use crate::rules::{Compiled, Hit, LineView, Rule};

/// One decision: a rule hit a user, and the step of the ladder that answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub rule: Rule,
    pub user: String,
    pub reason: String,
    /// The line that was judged.
    pub evidence: String,
    /// The event id of the line (for `redact`).
    pub event_id: String,
    pub step: Step,
    /// Which offence of the user's in the window this is (1 = first).
    pub offence: usize,
    pub dry_run: bool,
    pub ts: f64,
    /// The warning to send, for a `warn` step (`{user}`, `{reason}` to fill in).
    pub warning: String,
}

/// A chat line to judge.
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    pub user: &'a str,
    pub text: &'a str,
    pub ts: f64,
    pub event_id: &'a str,
}

#[derive(Debug, Default)]
struct Member {
    rank: f64,
    /// When the user first joined while the moderator watched; `None` for users already
    /// there (from the user list), who are never "new".
    first_seen: Option<f64>,
    present: bool,
}

/// A line kept for the raid rule: who posted it, when, and its own text and event id (each
/// raider's decision names their own line, which `redact` needs).
#[derive(Debug)]
struct Posted {
    ts: f64,
    user: String,
    text: String,
    event_id: String,
}

#[derive(Debug, Default)]
struct History {
    /// Times of the user's recent lines (flood).
    times: VecDeque<f64>,
    /// The user's recent lines' skeletons (repeats).
    lines: VecDeque<(f64, String)>,
    /// Times of the user's offences inside the ladder's window.
    offences: VecDeque<f64>,
}

impl History {
    fn is_empty(&self) -> bool {
        self.times.is_empty() && self.lines.is_empty() && self.offences.is_empty()
    }
}

/// One moderated channel: its compiled rules and what it has seen.
#[derive(Debug)]
pub struct Channel {
    pub rules: Arc<Compiled>,
    members: HashMap<String, Member>,
    present: HashSet<String>,
    history: HashMap<String, History>,
    /// Recent lines by skeleton, from anyone — raids.
    shared: HashMap<String, VecDeque<Posted>>,
    /// Skeletons of raids in progress, with the time they stay active until.
    raids: HashMap<String, f64>,
    lines_seen: u64,
}

fn pop_older<T>(q: &mut VecDeque<T>, before: f64, ts: impl Fn(&T) -> f64) {
    while q.front().is_some_and(|x| ts(x) < before) {
        q.pop_front();
    }
}

impl Channel {
    pub fn new(rules: Arc<Compiled>) -> Channel {
        Channel {
            rules,
            members: HashMap::new(),
            present: HashSet::new(),
            history: HashMap::new(),
            shared: HashMap::new(),
            raids: HashMap::new(),
            lines_seen: 0,
        }
    }

    /// The user list on (re)joining: everyone there is known, none of them new.
    pub fn user_list<'a>(&mut self, users: impl IntoIterator<Item = (&'a str, f64)>) {
        self.present.clear();
        for m in self.members.values_mut() {
            m.present = false;
        }
        for (name, rank) in users {
            let key = name.to_lowercase();
            let m = self.members.entry(key.clone()).or_default();
            m.rank = rank;
            m.present = true;
            self.present.insert(key);
        }
    }

    /// Users the channel already holds, from the bot's status when the moderator started
    /// after the join: added when not known yet (never as new users), ranks updated.
    pub fn seed<'a>(&mut self, users: impl IntoIterator<Item = (&'a str, f64)>) {
        for (name, rank) in users {
            let key = name.to_lowercase();
            let m = self.members.entry(key.clone()).or_default();
            m.rank = rank;
            m.present = true;
            self.present.insert(key);
        }
    }

    /// A user joined at `ts`.
    pub fn join(&mut self, name: &str, rank: f64, ts: f64) {
        let key = name.to_lowercase();
        let m = self.members.entry(key.clone()).or_insert_with(|| Member {
            first_seen: Some(ts),
            ..Member::default()
        });
        m.rank = rank;
        m.present = true;
        self.present.insert(key);
    }

    pub fn leave(&mut self, name: &str) {
        let key = name.to_lowercase();
        if let Some(m) = self.members.get_mut(&key) {
            m.present = false;
        }
        self.present.remove(&key);
    }

    pub fn set_rank(&mut self, name: &str, rank: f64) {
        self.members.entry(name.to_lowercase()).or_default().rank = rank;
    }

    /// The rank the channel last said `name` has (0 when unknown).
    pub fn rank(&self, name: &str) -> f64 {
        self.members
            .get(&name.to_lowercase())
            .map_or(0.0, |m| m.rank)
    }

    /// Users with offences still inside the ladder's window: (name, offences).
    pub fn offenders(&self, now: f64) -> Vec<(String, usize)> {
        let since = now - self.rules.set.window;
        let mut out: Vec<(String, usize)> = self
            .history
            .iter()
            .map(|(u, h)| {
                (
                    u.clone(),
                    h.offences.iter().filter(|t| **t >= since).count(),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        out.sort();
        out
    }

    /// The times of `user`'s offences counted by the ladder now, oldest first (its place on
    /// the ladder, for storing).
    pub fn offences_of(&self, user: &str) -> Vec<f64> {
        self.history
            .get(&user.to_lowercase())
            .map(|h| h.offences.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Seconds an offence counts on the ladder.
    pub fn window(&self) -> f64 {
        self.rules.set.window
    }

    /// Puts back `user`'s offences (stored before a restart), oldest first; those already
    /// out of the window at `now` are left out.
    pub fn restore_offences(&mut self, user: &str, offences: &[f64], now: f64) {
        let since = now - self.rules.set.window;
        let h = self.history.entry(user.to_lowercase()).or_default();
        let mut all: Vec<f64> = h.offences.iter().copied().collect();
        all.extend(offences.iter().copied().filter(|t| *t >= since));
        all.sort_by(f64::total_cmp);
        all.dedup();
        h.offences = all.into();
    }

    /// Judges one chat line; decisions for the speaker and, when the line completes a raid,
    /// for everyone who posted it.
    pub fn observe(&mut self, line: Line<'_>) -> Vec<Decision> {
        let rules = Arc::clone(&self.rules);
        let set = &rules.set;
        if !set.enabled {
            return Vec::new();
        }
        self.lines_seen += 1;
        if self.lines_seen.is_multiple_of(4096) {
            self.sweep(line.ts);
        }
        let key = line.user.to_lowercase();
        let member = self.members.get(&key);
        let rank = member.map_or(0.0, |m| m.rank);
        if rules.is_exempt(&key, rank) {
            return Vec::new();
        }
        let is_new = member
            .and_then(|m| m.first_seen)
            .is_some_and(|f| line.ts - f < set.new_users.minutes * 60.0);
        let factor = if is_new { set.new_users.factor } else { 1.0 };
        let scale = |n: f64| (n * factor).floor().max(1.0);
        let folded = normalize::fold(line.text);
        let skeleton = normalize::skeleton_of_folded(&folded);
        let comparable = skeleton.chars().count() >= set.repeats.min_chars;

        // History first, so every line counts whatever is decided about it.
        let h = self.history.entry(key.clone()).or_default();
        h.times.push_back(line.ts);
        pop_older(&mut h.times, line.ts - set.flood.seconds, |t| *t);
        if comparable {
            h.lines.push_back((line.ts, skeleton.clone()));
        }
        pop_older(&mut h.lines, line.ts - set.repeats.seconds, |x| x.0);

        let mut out = Vec::new();
        if set.repeats.enabled && comparable {
            out.extend(self.raid(&line, &skeleton));
        }
        if out.is_empty() {
            let view = LineView {
                text: line.text,
                folded: &folded,
                skeleton: &skeleton,
                user_lower: &key,
                rank,
            };
            let hit = rules
                .check_line(&view, &self.present, scale)
                .or_else(|| self.history_rules(&key, &skeleton, comparable, scale));
            if let Some(hit) = hit {
                out.push(self.decide(hit, line.user, &line));
            }
        }
        out
    }

    /// Repeats of the user's own and flood.
    fn history_rules(
        &mut self,
        key: &str,
        skeleton: &str,
        comparable: bool,
        scale: impl Fn(f64) -> f64,
    ) -> Option<Hit> {
        let set = &self.rules.set;
        let h = self.history.get_mut(key)?;
        if set.repeats.enabled && comparable {
            let same = h.lines.iter().filter(|(_, s)| s == skeleton).count();
            // A repeat needs two lines, however new the user.
            let limit = scale(set.repeats.count as f64).max(2.0);
            if same as f64 >= limit {
                h.lines.retain(|(_, s)| s != skeleton);
                return Some(Hit::new(
                    Rule::Repeats,
                    format!("the same line {same} times in {}s", set.repeats.seconds),
                ));
            }
        }
        if set.flood.enabled {
            let n = h.times.len();
            let limit = scale(set.flood.lines as f64);
            if n as f64 > limit {
                h.times.clear();
                return Some(Hit::new(
                    Rule::Flood,
                    format!("{n} lines in {}s", set.flood.seconds),
                ));
            }
        }
        None
    }

    /// The same line from `raid_users` different users inside `repeats.seconds`: everyone
    /// who posted it is answered, and the line stays a raid for another window.
    fn raid(&mut self, line: &Line<'_>, skeleton: &str) -> Vec<Decision> {
        let set = &self.rules.set;
        let window = set.repeats.seconds;
        let reason = || format!("raid: the same line from many users in {window}s");
        if let Some(until) = self.raids.get_mut(skeleton)
            && line.ts <= *until
        {
            *until = line.ts + window;
            let hit = Hit::new(Rule::Raid, reason());
            return vec![self.decide(hit, line.user, line)];
        }
        let q = self.shared.entry(skeleton.to_string()).or_default();
        q.push_back(Posted {
            ts: line.ts,
            user: line.user.to_string(),
            text: line.text.to_string(),
            event_id: line.event_id.to_string(),
        });
        pop_older(q, line.ts - window, |p| p.ts);
        let mut distinct = 0;
        for (i, p) in q.iter().enumerate() {
            if !q
                .iter()
                .take(i)
                .any(|r| r.user.eq_ignore_ascii_case(&p.user))
            {
                distinct += 1;
            }
        }
        if distinct < set.repeats.raid_users as usize {
            return Vec::new();
        }
        // Each raider once, with their first line of it.
        let mut raiders: Vec<Posted> = Vec::new();
        for p in self.shared.remove(skeleton).into_iter().flatten() {
            if !raiders.iter().any(|r| r.user.eq_ignore_ascii_case(&p.user)) {
                raiders.push(p);
            }
        }
        self.raids.insert(skeleton.to_string(), line.ts + window);
        raiders
            .iter()
            .map(|p| {
                let own = Line {
                    user: &p.user,
                    text: &p.text,
                    ts: line.ts,
                    event_id: &p.event_id,
                };
                self.decide(Hit::new(Rule::Raid, reason()), &p.user, &own)
            })
            .collect()
    }

    /// The ladder's answer to `hit` on `user`: counts the offence, picks the step.
    fn decide(&mut self, hit: Hit, user: &str, line: &Line<'_>) -> Decision {
        let rules = Arc::clone(&self.rules);
        let h = self.history.entry(user.to_lowercase()).or_default();
        h.offences.push_back(line.ts);
        pop_older(&mut h.offences, line.ts - rules.set.window, |t| *t);
        let offence = h.offences.len();
        let ladder = rules.ladder(hit.rule);
        let step = ladder[offence.min(ladder.len()) - 1].clone();
        Decision {
            rule: hit.rule,
            user: user.to_string(),
            reason: hit.reason,
            evidence: line.text.to_string(),
            event_id: line.event_id.to_string(),
            offence,
            dry_run: rules.set.dry_run,
            ts: line.ts,
            warning: if step.action == "warn" {
                rules.set.warning.clone()
            } else {
                String::new()
            },
            step,
        }
    }

    /// Forgets what has aged out of every window (bounded memory on a busy channel).
    fn sweep(&mut self, now: f64) {
        let set = &self.rules.set;
        let keep = set.flood.seconds.max(set.repeats.seconds);
        for h in self.history.values_mut() {
            pop_older(&mut h.times, now - keep, |t| *t);
            pop_older(&mut h.lines, now - keep, |x| x.0);
            pop_older(&mut h.offences, now - set.window, |t| *t);
        }
        self.history.retain(|_, h| !h.is_empty());
        self.shared.retain(|_, q| {
            pop_older(q, now - set.repeats.seconds, |p| p.ts);
            !q.is_empty()
        });
        self.raids.retain(|_, until| *until >= now);
    }

    /// Swaps in new rules (a reload); members and history are kept.
    pub fn set_rules(&mut self, rules: Arc<Compiled>) {
        self.rules = rules;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rosey_config::moderation::RuleSet;

    fn channel(f: impl FnOnce(&mut RuleSet)) -> Channel {
        let mut set = RuleSet::default();
        f(&mut set);
        Channel::new(Arc::new(Compiled::new(set).unwrap()))
    }

    fn say(c: &mut Channel, user: &str, text: &str, ts: f64) -> Vec<Decision> {
        c.observe(Line {
            user,
            text,
            ts,
            event_id: "e",
        })
    }

    fn steps(ds: &[Decision]) -> Vec<String> {
        ds.iter()
            .map(|d| format!("{}:{}:{}", d.user, d.rule.name(), d.step))
            .collect()
    }

    #[test]
    fn flood_climbs_the_ladder() {
        let mut c = channel(|s| {
            s.flood.lines = 3;
            s.flood.seconds = 2.0;
        });
        c.user_list([("spammer", 0.0)]);
        let mut got = Vec::new();
        for i in 0..16 {
            got.extend(steps(&say(
                &mut c,
                "spammer",
                &format!("line {i}"),
                i as f64 * 0.1,
            )));
        }
        assert_eq!(
            got,
            [
                "spammer:flood:warn",
                "spammer:flood:smute 5m",
                "spammer:flood:kick",
                "spammer:flood:ban 1day"
            ]
        );
    }

    #[test]
    fn slow_talkers_are_not_flooders() {
        let mut c = channel(|_| {});
        c.user_list([("talker", 0.0)]);
        for i in 0..200 {
            assert!(
                say(
                    &mut c,
                    "talker",
                    &format!("thought number {i}"),
                    i as f64 * 1.5
                )
                .is_empty()
            );
        }
    }

    #[test]
    fn moderators_and_listed_users_are_never_touched() {
        let mut c = channel(|s| {
            s.flood.lines = 2;
            s.exempt = vec!["Friend".into()];
        });
        c.user_list([("mod", 2.0), ("friend", 0.0)]);
        for i in 0..50 {
            assert!(
                say(
                    &mut c,
                    "mod",
                    "SPAM SPAM SPAM SPAM SPAM SPAM",
                    i as f64 * 0.01
                )
                .is_empty()
            );
            assert!(
                say(
                    &mut c,
                    "Friend",
                    "SPAM SPAM SPAM SPAM SPAM SPAM",
                    i as f64 * 0.01
                )
                .is_empty()
            );
        }
    }

    #[test]
    fn repeats_from_one_user() {
        let mut c = channel(|_| {});
        c.user_list([("parrot", 0.0)]);
        assert!(say(&mut c, "parrot", "buy my thing please", 0.0).is_empty());
        assert!(say(&mut c, "parrot", "Buy my thing please!!", 10.0).is_empty());
        let d = say(&mut c, "parrot", "buy my thiiing please", 20.0);
        assert_eq!(steps(&d), ["parrot:repeats:warn"]);
        // Short lines are never compared.
        for i in 0..5 {
            assert!(say(&mut c, "parrot", "lol", 100.0 + i as f64 * 3.0).is_empty());
        }
    }

    #[test]
    fn a_raid_answers_everyone_who_posted_the_line() {
        let mut c = channel(|s| s.repeats.raid_users = 4);
        let users: Vec<String> = (0..10).map(|i| format!("guest{i}")).collect();
        for u in &users {
            c.join(u, 0.0, 0.0);
        }
        let mut hit = Vec::new();
        for (i, u) in users.iter().enumerate() {
            let text = format!("this channel is DEAD, come to ours{}", "!".repeat(i));
            let d = c.observe(Line {
                user: u,
                text: &text,
                ts: 100.0 + i as f64,
                event_id: &format!("ev-{u}"),
            });
            for d in &d {
                // Each raider's decision names their own line.
                assert_eq!(d.event_id, format!("ev-{}", d.user));
                assert!(d.evidence.starts_with("this channel is DEAD"), "{d:?}");
            }
            hit.extend(d.into_iter().map(|d| (d.user, d.rule)));
        }
        assert_eq!(hit.len(), 10, "{hit:?}");
        assert!(hit.iter().all(|(_, r)| *r == Rule::Raid));
        let mut names: Vec<String> = hit.into_iter().map(|(u, _)| u).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 10);
    }

    #[test]
    fn new_users_have_stricter_limits() {
        let mut c = channel(|s| {
            s.flood.lines = 6;
            s.new_users.factor = 0.5;
            s.new_users.minutes = 10.0;
        });
        c.user_list([("old", 0.0)]);
        c.join("newbie", 0.0, 0.0);
        let burst = |c: &mut Channel, who: &str, t0: f64| {
            (0..4)
                .flat_map(|i| say(c, who, &format!("hello {i}"), t0 + i as f64 * 0.1))
                .count()
        };
        assert_eq!(burst(&mut c, "old", 10.0), 0);
        assert_eq!(burst(&mut c, "newbie", 10.0), 1);
        // Twenty minutes later the newcomer is a regular.
        assert_eq!(burst(&mut c, "newbie", 1200.0), 0);
    }

    /// A channel where three quick lines are a flood and offences count for a minute, with
    /// `u` in it.
    fn flood_channel() -> Channel {
        let mut c = channel(|s| {
            s.flood.lines = 2;
            s.window = 60.0;
        });
        c.user_list([("u", 0.0)]);
        c
    }

    /// Three quick lines from `u` from `t0`: the steps they drew.
    fn flood(c: &mut Channel, t0: f64) -> Vec<String> {
        (0..3)
            .flat_map(|i| say(c, "u", &format!("x {i}"), t0 + i as f64 * 0.1))
            .map(|d| d.step.to_string())
            .collect()
    }

    #[test]
    fn offences_age_out_of_the_window() {
        let mut c = flood_channel();
        assert_eq!(flood(&mut c, 0.0), ["warn"]);
        assert_eq!(flood(&mut c, 10.0), ["smute 5m"]);
        assert_eq!(flood(&mut c, 200.0), ["warn"]);
        assert_eq!(c.offenders(200.0), [("u".to_string(), 1)]);
    }

    #[test]
    fn restored_offences_put_a_user_back_on_the_ladder() {
        let mut c = flood_channel();
        assert_eq!(flood(&mut c, 0.0), ["warn"]);
        let stored = c.offences_of("U");
        assert_eq!(stored.len(), 1);
        // A new engine (a restart) with the stored position: the next offence is the second.
        let mut again = flood_channel();
        again.restore_offences("u", &stored, 10.0);
        assert_eq!(flood(&mut again, 10.0), ["smute 5m"]);
        // Offences already out of the window are not restored.
        let mut late = channel(|s| s.window = 60.0);
        late.restore_offences("u", &stored, 100.0);
        assert!(late.offences_of("u").is_empty());
    }

    #[test]
    fn dry_run_still_decides() {
        let mut c = channel(|s| {
            s.dry_run = true;
            s.flood.lines = 2;
        });
        let d: Vec<Decision> = (0..3)
            .flat_map(|i| say(&mut c, "u", &format!("x {i}"), i as f64 * 0.1))
            .collect();
        assert_eq!(d.len(), 1);
        assert!(d[0].dry_run);
    }
}
