//! The soak's report: the accounting, the faults, each process's resources, and the samples;
//! written as `soak-report.json` and `soak-report.html` (self-contained: the bench report's
//! page with the dashboard's chart code; `assets/soak.js` draws the fault timeline over
//! throughput, backlog, memory and coverage).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;

use serde::Serialize;

use crate::crowd::Crowd;
use crate::db::StoreCounts;
use crate::faults::Applied;
use crate::sample::Sample;
use crate::viewers::Seen;
use crate::{SoakError, SoakOptions};

pub const JSON_FILE: &str = "soak-report.json";
pub const HTML_FILE: &str = "soak-report.html";
const SOAK_JS: &str = include_str!("../assets/soak.js");
const SOAK_CSS: &str = ".charts { display: grid; gap: .8rem; }\n.fault { stroke: #d55; stroke-width: 1; stroke-dasharray: 3 3; }\n.charts h3 { margin: 0 0 .3rem; font-size: .95rem; }";

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One database against what the crowd saw.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct DbAccounting {
    /// The service (`db-a`, `db-b`) and its store (`sqlite`, `postgres`).
    pub name: String,
    pub kind: String,
    /// Broadcast lines stored exactly once, more than once, never.
    pub stored_once: u64,
    pub stored_twice: u64,
    pub missing: u64,
    pub missing_sample: Vec<String>,
    /// Tagged lines stored that no sender saw echoed (a sender gone before the echo).
    pub stored_unseen: u64,
    /// Every broadcast line stored exactly once.
    pub exact: bool,
    /// `pm_command` audit rows.
    pub pm_audit_rows: u64,
    /// Abusive lines broadcast with exactly one moderation decision, several, none.
    pub abuse_decided_once: u64,
    pub abuse_decided_twice: u64,
    pub abuse_undecided: u64,
    /// Media starts the DJs saw with one `media_history` row, several, none; of the
    /// missing, those that started while the channel had no bot (nobody to record them).
    pub plays_recorded_once: u64,
    pub plays_recorded_twice: u64,
    pub plays_missing: u64,
    pub plays_missing_without_bot: u64,
}

/// Every broadcast line against the databases.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Accounting {
    /// Chat lines the devserver broadcast (echoed to their sender).
    pub broadcast: u64,
    /// Of those: stored exactly once in every database; more than once in some; missing
    /// from some (per database in `databases`).
    pub stored_once: u64,
    pub stored_twice: u64,
    pub missing: u64,
    /// A few of the missing lines, for a look in the logs.
    pub missing_sample: Vec<String>,
    /// Tagged lines stored that no sender saw echoed (a sender gone before the echo).
    pub stored_unseen: u64,
    /// True when every broadcast line is stored exactly once in every database.
    pub exact: bool,
    /// The database drained (it had everything broadcast) before counting.
    pub drained: bool,
    /// Shell PMs the server delivered, answered by the bot, and audit rows written.
    pub pm_delivered: u64,
    pub pm_answered: u64,
    pub pm_audit_rows: u64,
    /// Lines each viewer never saw (broadcast after it first connected), summed and worst.
    pub viewer_missed_total: u64,
    pub viewer_missed_max: u64,
    pub viewer_reconnects: u64,
    /// The longest any channel was without a bot, seconds, and per channel.
    pub longest_gap_s: f64,
    pub gaps_s: BTreeMap<String, f64>,
    /// Guests who left and came back.
    pub leaves: u64,
    /// The abusive part's lines broadcast, and the warnings (PMs) it received.
    pub abuse_broadcast: u64,
    pub abuse_warnings: u64,
    /// Media the DJs added, the starts they saw, and of those the starts while the channel
    /// had no bot.
    pub media_added: u64,
    pub plays_started: u64,
    pub plays_started_without_bot: u64,
    /// Each database on its own.
    pub databases: Vec<DbAccounting>,
}

/// How many of `keys` a database holds once, more than once, not at all.
fn once_twice_missing<'a>(
    keys: impl Iterator<Item = &'a String>,
    held: &std::collections::HashMap<String, u64>,
) -> (u64, u64, Vec<&'a String>) {
    let (mut once, mut twice, mut missing) = (0, 0, Vec::new());
    for k in keys {
        match held.get(k).copied().unwrap_or(0) {
            0 => missing.push(k),
            1 => once += 1,
            _ => twice += 1,
        }
    }
    (once, twice, missing)
}

impl DbAccounting {
    fn build(
        db: &crate::db::Database,
        counts: &StoreCounts,
        lines: &[String],
        abuse: &[String],
        plays: &[(String, String, bool)],
    ) -> DbAccounting {
        let (stored_once, stored_twice, missing) = once_twice_missing(lines.iter(), &counts.lines);
        let said: HashSet<&str> = lines.iter().map(String::as_str).collect();
        let mut missing_sample: Vec<String> =
            missing.iter().take(20).map(|s| (*s).clone()).collect();
        missing_sample.sort();
        let (abuse_decided_once, abuse_decided_twice, undecided) =
            once_twice_missing(abuse.iter(), &counts.decisions);
        let (plays_recorded_once, plays_recorded_twice, unrecorded) =
            once_twice_missing(plays.iter().map(|p| &p.0), &counts.plays);
        let without_bot: HashSet<&str> = plays
            .iter()
            .filter(|p| !p.2)
            .map(|p| p.0.as_str())
            .collect();
        DbAccounting {
            name: db.name.to_string(),
            kind: db.kind().to_string(),
            stored_once,
            stored_twice,
            missing: missing.len() as u64,
            missing_sample,
            stored_unseen: counts
                .lines
                .keys()
                .filter(|l| !said.contains(l.as_str()))
                .count() as u64,
            exact: missing.is_empty() && stored_twice == 0,
            pm_audit_rows: counts.pm_audits,
            abuse_decided_once,
            abuse_decided_twice,
            abuse_undecided: undecided.len() as u64,
            plays_recorded_once,
            plays_recorded_twice,
            plays_missing: unrecorded.len() as u64,
            plays_missing_without_bot: unrecorded
                .iter()
                .filter(|id| without_bot.contains(id.as_str()))
                .count() as u64,
        }
    }
}

/// The machine's one-minute load average over the run (it is shared with other work).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Load {
    pub first: f64,
    pub mean: f64,
    pub max: f64,
    pub last: f64,
}

impl Load {
    fn of(samples: &[Sample]) -> Load {
        let v: Vec<f64> = samples.iter().map(|s| s.load1).collect();
        Load {
            first: v.first().copied().unwrap_or(0.0),
            mean: v.iter().sum::<f64>() / v.len().max(1) as f64,
            max: v.iter().copied().fold(0.0, f64::max),
            last: v.last().copied().unwrap_or(0.0),
        }
    }
}

/// One process's figures over the run.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessResources {
    pub role: String,
    pub restarts: u32,
    pub rss_kib_first: Option<u64>,
    pub rss_kib_last: Option<u64>,
    pub rss_kib_max: Option<u64>,
    pub fds_last: Option<u64>,
    pub threads_last: Option<u64>,
    /// Samples of its last instance after the run's warm-up and the instance's first
    /// minute (what the slopes are fitted to).
    pub steady_samples: usize,
    /// Least-squares slopes after warm-up, per minute (a leak shows as growth).
    pub rss_kib_per_min: Option<f64>,
    pub fds_per_min: Option<f64>,
    pub threads_per_min: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub started_unix: u64,
    pub seed: u64,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub channels: usize,
    pub chatters_per_channel: usize,
    pub rate_lines_per_s: f64,
    pub viewers_per_channel: usize,
    /// The second database service's store (`sqlite`, `postgres`).
    pub second_database: String,
    pub load_average: Load,
    pub accounting: Accounting,
    pub faults: Vec<Applied>,
    pub fault_counts: BTreeMap<String, u64>,
    pub processes: Vec<ProcessResources>,
    pub samples: Vec<Sample>,
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        opts: &SoakOptions,
        started_unix: u64,
        crowd: &Crowd,
        seen: &Seen,
        dbs: &[crate::db::Database],
        counts: Vec<StoreCounts>,
        drained: bool,
        faults: Vec<Applied>,
        samples: Vec<Sample>,
        processes: Vec<ProcessResources>,
    ) -> Report {
        let broadcast = crowd.broadcast();
        let lines: Vec<String> = broadcast.iter().map(|(l, _, _)| l.clone()).collect();
        let abuse = crowd.abuse();
        let plays = crowd.plays();
        let databases: Vec<DbAccounting> = dbs
            .iter()
            .zip(&counts)
            .map(|(db, c)| DbAccounting::build(db, c, &lines, &abuse, &plays))
            .collect();
        let mut a = Accounting {
            broadcast: lines.len() as u64,
            drained,
            ..Accounting::default()
        };
        for line in &lines {
            let n: Vec<u64> = counts
                .iter()
                .map(|c| c.lines.get(line).copied().unwrap_or(0))
                .collect();
            if n.iter().all(|&n| n == 1) {
                a.stored_once += 1;
            }
            if n.iter().any(|&n| n > 1) {
                a.stored_twice += 1;
            }
            if n.contains(&0) {
                a.missing += 1;
                if a.missing_sample.len() < 20 {
                    a.missing_sample.push(line.clone());
                }
            }
        }
        a.missing_sample.sort();
        a.stored_unseen = databases.iter().map(|d| d.stored_unseen).max().unwrap_or(0);
        a.exact = databases.iter().all(|d| d.exact) && a.missing == 0 && a.stored_twice == 0;
        a.abuse_broadcast = abuse.len() as u64;
        a.abuse_warnings = crowd.warnings.load(Relaxed);
        a.media_added = crowd.media_added.load(Relaxed);
        a.plays_started = plays.len() as u64;
        a.plays_started_without_bot = plays.iter().filter(|p| !p.2).count() as u64;
        a.databases = databases;
        a.pm_delivered = crowd.pm_delivered.load(Relaxed);
        a.pm_answered = crowd.pm_answered.load(Relaxed);
        a.pm_audit_rows = a.databases.first().map_or(0, |d| d.pm_audit_rows);
        let missed = seen.missed(&broadcast);
        a.viewer_missed_total = missed.iter().sum();
        a.viewer_missed_max = missed.iter().copied().max().unwrap_or(0);
        a.viewer_reconnects = seen.reconnects.load(Relaxed);
        a.gaps_s = crowd.longest_gaps().into_iter().collect();
        a.longest_gap_s = a.gaps_s.values().copied().fold(0.0, f64::max);
        a.leaves = crowd.leaves.load(Relaxed);
        let mut fault_counts = BTreeMap::new();
        for f in &faults {
            *fault_counts
                .entry(f.fault.kind.name().to_string())
                .or_insert(0) += 1;
        }
        Report {
            started_unix,
            seed: opts.seed,
            duration_s: opts.duration.as_secs_f64(),
            warmup_s: opts.warmup.as_secs_f64(),
            channels: opts.channels,
            chatters_per_channel: opts.chatters,
            rate_lines_per_s: opts.rate,
            viewers_per_channel: opts.viewers,
            second_database: dbs.get(1).map_or("", |d| d.kind()).to_string(),
            load_average: Load::of(&samples),
            accounting: a,
            faults,
            fault_counts,
            processes,
            samples,
        }
    }

    /// Writes the JSON and the HTML page into `dir`; returns their paths.
    pub fn write(&self, dir: &Path) -> Result<(PathBuf, PathBuf), SoakError> {
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            std::fs::create_dir_all(dir)
                .and_then(|_| std::fs::write(&path, text))
                .map_err(|source| SoakError::Write {
                    path: path.clone(),
                    source,
                })?;
            Ok::<_, SoakError>(path)
        };
        let json = write(
            JSON_FILE,
            serde_json::to_string_pretty(self).unwrap_or_default(),
        )?;
        let html = write(HTML_FILE, self.html())?;
        Ok((json, html))
    }

    pub fn html(&self) -> String {
        let body = "<header class=\"top\"><h1>Rosey soak</h1><span id=\"run\" class=\"muted\"></span></header>\n\
             <main>\n<section class=\"panel span2\"><h2>Accounting</h2><table class=\"outbound\"><tbody id=\"accounting\"></tbody></table></section>\n\
             <section class=\"panel span2\"><h2>Faults</h2><table class=\"outbound\"><thead><tr><th>At (s)</th><th>Fault</th><th>Target</th><th>Recovered after (s)</th></tr></thead><tbody id=\"faults\"></tbody></table></section>\n\
             <section class=\"panel span2\"><h2>Processes</h2><table class=\"outbound\"><thead><tr><th>Process</th><th>Restarts</th><th>RSS first/last/max (MiB)</th><th>RSS slope after warm-up (KiB/min)</th><th>Open files (slope/min)</th><th>Threads (slope/min)</th></tr></thead><tbody id=\"processes\"></tbody></table></section>\n\
             <div id=\"charts\" class=\"charts\"></div>\n</main>";
        rosey_bench::history::page("Rosey soak report", body, SOAK_CSS, self, SOAK_JS)
    }

    /// The summary `rosey soak` prints.
    pub fn summary(&self) -> String {
        let a = &self.accounting;
        let mut s = format!(
            "soak: seed {}, {:.0} s, {} faults ({})\n\
             lines broadcast {}, stored once {}, twice {}, missing {} → {}\n\
             viewers missed {} (worst {}), PMs delivered {} answered {} audited rows {}\n\
             longest gap without a bot {:.1} s\n",
            self.seed,
            self.duration_s,
            self.faults.len(),
            self.fault_counts
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", "),
            a.broadcast,
            a.stored_once,
            a.stored_twice,
            a.missing,
            if a.exact { "exact" } else { "NOT exact" },
            a.viewer_missed_total,
            a.viewer_missed_max,
            a.pm_delivered,
            a.pm_answered,
            a.pm_audit_rows,
            a.longest_gap_s,
        );
        for d in &a.databases {
            s.push_str(&format!(
                "  {} ({}): once {}, twice {}, missing {}; abusive lines decided once {} twice {} \
                 never {}; plays recorded once {} twice {} missing {} ({} without a bot); \
                 PM audit rows {}\n",
                d.name,
                d.kind,
                d.stored_once,
                d.stored_twice,
                d.missing,
                d.abuse_decided_once,
                d.abuse_decided_twice,
                d.abuse_undecided,
                d.plays_recorded_once,
                d.plays_recorded_twice,
                d.plays_missing,
                d.plays_missing_without_bot,
                d.pm_audit_rows,
            ));
        }
        s.push_str(&format!(
            "abusive lines {} (warnings received {}); media added {}, started {} ({} without a bot)\n\
             load average: first {:.1}, mean {:.1}, max {:.1}, last {:.1}\n",
            a.abuse_broadcast,
            a.abuse_warnings,
            a.media_added,
            a.plays_started,
            a.plays_started_without_bot,
            self.load_average.first,
            self.load_average.mean,
            self.load_average.max,
            self.load_average.last,
        ));
        for p in &self.processes {
            s.push_str(&format!(
                "  {:<10} restarts {}, RSS last {} KiB, slope {} KiB/min, fds {}, threads {}\n",
                p.role,
                p.restarts,
                p.rss_kib_last.map_or("-".into(), |v| v.to_string()),
                p.rss_kib_per_min.map_or("-".into(), |v| format!("{v:.1}")),
                p.fds_last.map_or("-".into(), |v| v.to_string()),
                p.threads_last.map_or("-".into(), |v| v.to_string()),
            ));
        }
        s
    }
}
