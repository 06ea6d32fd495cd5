//! The soak's report: the accounting, the faults, each process's resources, and the samples;
//! written as `soak-report.json` and `soak-report.html` (self-contained: the bench report's
//! page with the dashboard's chart code; `assets/soak.js` draws the fault timeline over
//! throughput, backlog, memory and coverage).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;

use serde::Serialize;

use crate::crowd::Crowd;
use crate::faults::Applied;
use crate::sample::Sample;
use crate::viewers::Seen;
use crate::world::StoreCounts;
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

/// Every broadcast line against the database.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Accounting {
    /// Chat lines the devserver broadcast (echoed to their sender).
    pub broadcast: u64,
    /// Of those: stored exactly once, more than once, never.
    pub stored_once: u64,
    pub stored_twice: u64,
    pub missing: u64,
    /// A few of the missing lines, for a look in the logs.
    pub missing_sample: Vec<String>,
    /// Tagged lines stored that no sender saw echoed (a sender gone before the echo).
    pub stored_unseen: u64,
    /// True when every broadcast line is stored exactly once.
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
        counts: StoreCounts,
        drained: bool,
        faults: Vec<Applied>,
        samples: Vec<Sample>,
        processes: Vec<ProcessResources>,
    ) -> Report {
        let broadcast = crowd.broadcast();
        let mut a = Accounting {
            broadcast: broadcast.len() as u64,
            drained,
            ..Accounting::default()
        };
        let said: HashSet<&str> = broadcast.iter().map(|(l, _, _)| l.as_str()).collect();
        for (line, _, _) in &broadcast {
            match counts.lines.get(line).copied().unwrap_or(0) {
                0 => {
                    a.missing += 1;
                    if a.missing_sample.len() < 20 {
                        a.missing_sample.push(line.clone());
                    }
                }
                1 => a.stored_once += 1,
                _ => a.stored_twice += 1,
            }
        }
        a.missing_sample.sort();
        a.stored_unseen = counts
            .lines
            .keys()
            .filter(|l| !said.contains(l.as_str()))
            .count() as u64;
        a.exact = a.missing == 0 && a.stored_twice == 0;
        a.pm_delivered = crowd.pm_delivered.load(Relaxed);
        a.pm_answered = crowd.pm_answered.load(Relaxed);
        a.pm_audit_rows = counts.pm_audits;
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
