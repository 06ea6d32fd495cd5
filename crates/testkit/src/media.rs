//! The media history's expected answers, computed from a list of plays in plain Rust (no
//! SQL), so a test can compare every aggregate the store keeps with an independent count:
//! the store contract (both backends) and the end-to-end tests over the devserver.

use std::collections::BTreeMap;

use rosey_model::media::{
    AdderCount, END_PLAYED, END_REMOVED, END_SKIPPED, END_VOTESKIPPED, MediaStats,
};

/// One play as a test made it happen.
#[derive(Debug, Clone, PartialEq)]
pub struct Play {
    pub media_type: String,
    pub media_id: String,
    pub title: String,
    pub duration: i64,
    pub queued_by: Option<String>,
    /// Start, Unix seconds.
    pub start: i64,
    /// How and when it ended, and the seconds played (`None`: never ended).
    pub end: Option<(String, i64, i64)>,
}

/// Every media's totals, keyed by (type, id), as the store must report them.
pub fn expected_stats(plays: &[Play]) -> BTreeMap<(String, String), MediaStats> {
    let mut out: BTreeMap<(String, String), MediaStats> = BTreeMap::new();
    for p in plays {
        let key = (p.media_type.clone(), p.media_id.clone());
        let s = out.entry(key).or_insert_with(|| MediaStats {
            media_type: p.media_type.clone(),
            media_id: p.media_id.clone(),
            title: Some(p.title.clone()),
            duration: p.duration,
            plays: 0,
            first_played: p.start,
            last_played: p.start,
            last_queued_by: p.queued_by.clone(),
            total_played: 0,
            played_out: 0,
            skips: 0,
            vote_skips: 0,
            removals: 0,
        });
        s.plays += 1;
        s.first_played = s.first_played.min(p.start);
        if p.start >= s.last_played {
            s.last_played = p.start;
            s.title = Some(p.title.clone());
            s.duration = p.duration;
            s.last_queued_by = p.queued_by.clone();
        }
        if let Some((reason, _, played)) = &p.end {
            s.total_played += played;
            match reason.as_str() {
                END_PLAYED => s.played_out += 1,
                END_SKIPPED => s.skips += 1,
                END_VOTESKIPPED => {
                    s.skips += 1;
                    s.vote_skips += 1
                }
                END_REMOVED => s.removals += 1,
                _ => {}
            }
        }
    }
    out
}

/// Users by plays of what they queued, most first, then by name (byte order).
pub fn expected_adders(plays: &[Play]) -> Vec<AdderCount> {
    let mut n: BTreeMap<String, i64> = BTreeMap::new();
    for p in plays {
        if let Some(q) = p.queued_by.as_ref().filter(|q| !q.is_empty()) {
            *n.entry(q.clone()).or_default() += 1;
        }
    }
    let mut v: Vec<AdderCount> = n
        .into_iter()
        .map(|(username, plays)| AdderCount { username, plays })
        .collect();
    v.sort_by(|a, b| b.plays.cmp(&a.plays).then(a.username.cmp(&b.username)));
    v
}
