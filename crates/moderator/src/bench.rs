//! `rosey bench --moderation`: the cost of judging one line with a large rule set (the
//! default rules plus `patterns` banned words and patterns), over a generated chat of
//! ordinary and abusive lines from many users. Pure engine time, per line.

use std::sync::Arc;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rosey_config::moderation::RuleSet;

use crate::engine::{Channel, Line};
use crate::rules::Compiled;

/// What one run measured.
#[derive(Debug, Clone)]
pub struct BenchReport {
    pub lines: usize,
    pub patterns: usize,
    pub decisions: usize,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub lines_per_second: f64,
}

impl BenchReport {
    pub fn to_markdown(&self) -> String {
        format!(
            "## Moderation rules\n\n| lines | patterns | decisions | p50 µs/line | p99 µs/line | max µs | lines/s |\n\
             | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n\
             | {} | {} | {} | {:.1} | {:.1} | {:.0} | {:.0} |\n",
            self.lines,
            self.patterns,
            self.decisions,
            self.p50_us,
            self.p99_us,
            self.max_us,
            self.lines_per_second
        )
    }
}

const WORDS: &[&str] = &[
    "movie", "great", "tonight", "season", "watch", "music", "lol", "really", "think", "again",
    "what", "thanks", "everyone", "ending", "playlist", "next", "song", "chat", "welcome", "back",
];

/// Judges `lines` generated lines with the default rules and `patterns` banned entries
/// (half words, half regular expressions).
pub fn run(lines: usize, patterns: usize) -> BenchReport {
    let mut set = RuleSet::default();
    for i in 0..patterns {
        if i % 2 == 0 {
            set.words.words.push(format!("banned{i} phrase"));
        } else {
            set.words.patterns.push(format!(r"spam{i}\S*\.(com|net)"));
        }
    }
    let mut channel = Channel::new(Arc::new(
        Compiled::new(set).expect("generated patterns compile"),
    ));
    let users: Vec<String> = (0..200).map(|i| format!("user{i}")).collect();
    channel.user_list(users.iter().map(|u| (u.as_str(), 1.0)));
    let mut rng = StdRng::seed_from_u64(7);
    let mut times = Vec::with_capacity(lines);
    let mut decisions = 0;
    let mut t = 1_800_000_000.0;
    let started = Instant::now();
    for i in 0..lines {
        t += rng.random_range(0.05..0.5);
        let n = rng.random_range(2..14);
        let mut text: Vec<&str> = (0..n)
            .map(|_| WORDS[rng.random_range(0..WORDS.len())])
            .collect();
        let extra;
        if i % 97 == 0 {
            extra = format!(
                "banned{} phrase",
                rng.random_range(0..patterns.max(1)) / 2 * 2
            );
            text.push(&extra);
        }
        let line = text.join(" ");
        let user = &users[rng.random_range(0..users.len())];
        let one = Instant::now();
        decisions += channel
            .observe(Line {
                user,
                text: &line,
                ts: t,
                event_id: "",
            })
            .len();
        times.push(one.elapsed().as_secs_f64() * 1e6);
    }
    let total = started.elapsed().as_secs_f64();
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    BenchReport {
        lines,
        patterns,
        decisions,
        p50_us: at(0.5),
        p99_us: at(0.99),
        max_us: times.last().copied().unwrap_or(0.0),
        lines_per_second: lines as f64 / total,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_small_run_measures_and_catches_the_planted_words() {
        let r = super::run(2_000, 100);
        assert_eq!(r.lines, 2_000);
        assert!(r.decisions >= 10, "{r:?}");
        assert!(r.p99_us >= r.p50_us && r.p99_us > 0.0);
        assert!(r.to_markdown().contains("| 2000 | 100 |"));
    }

    /// The figures without the CLI: `cargo test --release -p rosey-moderator --lib
    /// bench::tests::figures -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn figures() {
        eprintln!("{}", super::run(200_000, 100).to_markdown());
    }
}
