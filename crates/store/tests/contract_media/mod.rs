//! The media history's storage contract (`rosey_store::media::MediaStore` and the
//! `media.played` / `media.ended` effects), part of `contract.rs` (its `Db`, helpers and
//! `contract!` macro): 50 plays of 12 media by 4 adders with every kind of ending, and the
//! history, every per-media total and every answer checked against counts made in plain
//! Rust (`rosey_testkit::media`) — on SQLite and PostgreSQL.

use rosey_model::media::{END_PLAYED, END_REASONS, END_REMOVED, MediaCount};
use rosey_store::EventKind;
use rosey_store::storage::Storage;
use rosey_testkit::media::{Play, expected_adders, expected_stats};

use super::{CH, Db, ev};

const ADDERS: [&str; 4] = ["alice", "Bob", "carol", "dave"];

/// 50 plays, 100 s apart from t = 10 000: media `i*7 % 12`, every ending in turn; the
/// fifth of each ten never ends (the bot restarted), and half the endings leave the
/// seconds played to the store.
fn script() -> Vec<Play> {
    (0..50)
        .map(|i: i64| {
            let m = (i * 7) % 12;
            let start = 10_000 + 100 * i;
            let duration = 30 + 10 * m;
            let reason = END_REASONS[(i as usize) % 4];
            let end = (i % 10 != 4).then(|| {
                let at = if reason == END_PLAYED {
                    start + duration
                } else {
                    start + (i % 7) * 3
                };
                (reason.to_string(), at, (at - start).min(duration))
            });
            Play {
                media_type: if m % 3 == 0 { "vi" } else { "yt" }.into(),
                media_id: format!("m{m:02}"),
                title: format!(
                    "Song number {m} {}",
                    if m % 2 == 0 { "Live" } else { "Studio" }
                ),
                duration,
                queued_by: (i % 9 != 8).then(|| ADDERS[(i as usize * 3) % 4].to_string()),
                start,
                end,
            }
        })
        .collect()
}

fn apply_script(s: &mut Box<dyn Storage>, plays: &[Play]) {
    for (i, p) in plays.iter().enumerate() {
        s.apply(&ev(
            p.start,
            EventKind::MediaPlayed {
                media_type: p.media_type.clone(),
                media_id: p.media_id.clone(),
                title: p.title.clone(),
                duration: p.duration,
                queued_by: p.queued_by.clone(),
            },
        ))
        .unwrap();
        if let Some((reason, at, played)) = &p.end {
            s.apply(&ev(
                *at,
                EventKind::MediaEnded {
                    media_type: p.media_type.clone(),
                    media_id: p.media_id.clone(),
                    reason: reason.clone(),
                    played: (i % 2 == 0).then_some(*played),
                    started: (i % 3 == 0).then_some(p.start),
                },
            ))
            .unwrap();
        }
    }
}

fn fifty_plays_give_exact_history_and_totals(db: &Db) {
    let plays = script();
    let mut s = db.open();
    apply_script(&mut s, &plays);
    // An end for something never played, and a second end of an ended play: no effect.
    for kind in [
        EventKind::MediaEnded {
            media_type: "yt".into(),
            media_id: "never".into(),
            reason: END_REMOVED.into(),
            played: Some(5),
            started: None,
        },
        EventKind::MediaEnded {
            media_type: plays[49].media_type.clone(),
            media_id: plays[49].media_id.clone(),
            reason: END_REMOVED.into(),
            played: Some(999),
            started: None,
        },
    ] {
        s.apply(&ev(20_000, kind)).unwrap();
    }
    drop(s);
    let mut s = db.open(); // everything is on disk
    let stats = expected_stats(&plays);
    assert_eq!(stats.len(), 12);
    assert_eq!(s.count_rows("media_history").unwrap(), 50);
    assert_eq!(s.count_rows("media_stats").unwrap(), 12);

    // The history, newest first, with how each play ended.
    let recent = s.media_recent(CH, None, 100).unwrap();
    assert_eq!(recent.len(), 50);
    for (row, p) in recent.iter().zip(plays.iter().rev()) {
        assert_eq!(
            (
                &row.media_type,
                &row.media_id,
                row.timestamp,
                &row.queued_by
            ),
            (&p.media_type, &p.media_id, p.start, &p.queued_by)
        );
        let end = p.end.as_ref();
        assert_eq!(row.end_reason.as_deref(), end.map(|e| e.0.as_str()));
        assert_eq!(row.ended_at, end.map(|e| e.1));
        assert_eq!(row.played, end.map(|e| e.2));
    }
    assert_eq!(
        s.media_recent(CH, Some(10_000 + 100 * 45), 100)
            .unwrap()
            .len(),
        5
    );

    // Every media's totals.
    for ((t, id), want) in &stats {
        let (got, adders, rows) = s.media_item(CH, t, id, 100).unwrap();
        assert_eq!(got.as_ref(), Some(want), "{t}:{id}");
        assert_eq!(rows.len() as i64, want.plays);
        let from_rows = plays
            .iter()
            .filter(|p| &p.media_type == t && &p.media_id == id);
        assert_eq!(
            adders.iter().map(|a| a.plays).sum::<i64>(),
            from_rows.filter(|p| p.queued_by.is_some()).count() as i64
        );
    }
    assert_eq!(s.media_item(CH, "yt", "nope", 10).unwrap().0, None);

    // Most played of all time: the totals table, in order.
    let mut want: Vec<MediaCount> = stats
        .values()
        .map(|m| MediaCount {
            media_type: m.media_type.clone(),
            media_id: m.media_id.clone(),
            title: m.title.clone(),
            plays: m.plays,
            last_played: m.last_played,
        })
        .collect();
    want.sort_by(|a, b| {
        (b.plays, b.last_played, &a.media_type, &a.media_id).cmp(&(
            a.plays,
            a.last_played,
            &b.media_type,
            &b.media_id,
        ))
    });
    assert_eq!(s.media_most_played(CH, None, 100).unwrap(), want);
    assert_eq!(s.media_most_played(CH, None, 3).unwrap(), want[..3]);
    // A window: only the last 20 plays count.
    let since = plays[30].start;
    let window = expected_stats(&plays[30..]);
    let got = s.media_most_played(CH, Some(since), 100).unwrap();
    assert_eq!(got.len(), window.len());
    for g in &got {
        let w = &window[&(g.media_type.clone(), g.media_id.clone())];
        assert_eq!((g.plays, g.last_played), (w.plays, w.last_played));
    }

    // Adders: all time and in the window.
    assert_eq!(
        s.media_top_adders(CH, None, 100).unwrap(),
        expected_adders(&plays)
    );
    assert_eq!(
        s.media_top_adders(CH, Some(since), 100).unwrap(),
        expected_adders(&plays[30..])
    );
    let (rows, total) = s.media_user_adds(CH, "Bob", 5).unwrap();
    let bobs = plays
        .iter()
        .filter(|p| p.queued_by.as_deref() == Some("Bob"))
        .count();
    assert_eq!((rows.len(), total), (5.min(bobs), bobs as i64));
    assert!(rows.iter().all(|r| r.queued_by.as_deref() == Some("Bob")));
    assert_eq!(
        s.media_user_adds(CH, "bob", 5).unwrap().1,
        0,
        "names are exact"
    );

    // Title search: every word, any case; `%` is literal.
    let live = s.media_search(CH, "number LIVE", 100).unwrap();
    assert_eq!(live.len(), 6);
    assert!(
        live.iter()
            .all(|m| m.title.as_deref().unwrap().contains("Live"))
    );
    assert!(
        live.windows(2)
            .all(|w| w[0].last_played >= w[1].last_played)
    );
    assert_eq!(s.media_search(CH, "number 11", 100).unwrap().len(), 1);
    assert!(s.media_search(CH, "100%", 100).unwrap().is_empty());
    assert!(s.media_search(CH, "   ", 100).unwrap().is_empty());

    // Candidates: not played since a time, most played first.
    let cands = s.media_candidates(CH, plays[40].start, 100).unwrap();
    let recent_keys: Vec<_> = plays[40..]
        .iter()
        .map(|p| (&p.media_type, &p.media_id))
        .collect();
    assert!(!cands.is_empty());
    assert!(
        cands
            .iter()
            .all(|c| !recent_keys.contains(&(&c.media_type, &c.media_id)))
    );
    assert!(cands.windows(2).all(|w| w[0].plays >= w[1].plays));
    assert_eq!(
        cands.len()
            + stats
                .keys()
                .filter(|k| recent_keys.contains(&(&k.0, &k.1)))
                .count(),
        12
    );

    // Other channels see nothing.
    assert!(s.media_recent("elsewhere", None, 10).unwrap().is_empty());
    assert!(
        s.media_most_played("elsewhere", None, 10)
            .unwrap()
            .is_empty()
    );
}

/// An end closes the newest unfinished play of its media that started before it.
fn an_end_applies_to_the_newest_unfinished_play_only(db: &Db) {
    let mut s = db.open();
    let played = |ts| {
        ev(
            ts,
            EventKind::MediaPlayed {
                media_type: "yt".into(),
                media_id: "x".into(),
                title: "X".into(),
                duration: 100,
                queued_by: None,
            },
        )
    };
    let ended = |ts, reason: &str| {
        ev(
            ts,
            EventKind::MediaEnded {
                media_type: "yt".into(),
                media_id: "x".into(),
                reason: reason.into(),
                played: None,
                started: None,
            },
        )
    };
    s.apply_batch(&[played(100), played(1000), ended(1500, END_PLAYED)])
        .unwrap();
    let rows = s.media_recent(CH, None, 10).unwrap();
    assert_eq!(rows[0].end_reason.as_deref(), Some(END_PLAYED));
    assert_eq!(rows[0].played, Some(100), "capped at the duration");
    assert_eq!(rows[1].end_reason, None);
    // The next end closes the older unfinished one; an end before any start does nothing.
    s.apply_batch(&[ended(150, END_REMOVED), ended(50, END_REMOVED)])
        .unwrap();
    let rows = s.media_recent(CH, None, 10).unwrap();
    assert_eq!(
        (rows[1].end_reason.as_deref(), rows[1].played),
        (Some(END_REMOVED), Some(50))
    );
    let (stats, _, _) = s.media_item(CH, "yt", "x", 10).unwrap();
    let st = stats.unwrap();
    assert_eq!(
        (
            st.plays,
            st.total_played,
            st.played_out,
            st.removals,
            st.skips
        ),
        (2, 150, 1, 1, 0)
    );
    assert_eq!((st.first_played, st.last_played), (100, 1000));
}

contract!(
    fifty_plays_give_exact_history_and_totals,
    an_end_applies_to_the_newest_unfinished_play_only,
);
