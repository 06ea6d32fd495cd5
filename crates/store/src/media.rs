//! The media history: every play (`media_history`, one row per `media.played`), how it
//! ended (`media.ended` fills `ended_at`, `end_reason`, `played_seconds` of the newest
//! unfinished play of that media), and totals kept up to date on write — per media
//! (`media_stats`: plays, first and last played, time played, endings by kind) and per
//! adder (`media_adders`: plays of what each user queued) — so the "all time" questions
//! read one indexed table instead of counting the history.
//!
//! [`MediaStore`] is the read side, part of every [`crate::Storage`]. The statements are
//! written once, in SQLite's `?N` spelling, and used by PostgreSQL through
//! [`crate::pg`]'s placeholder translation: the two backends run the same SQL.
//! Time-windowed questions (the last day, the last week) read `media_history` through its
//! `(channel, timestamp)` index; nothing is recomputed over all time per query.

use rosey_model::media::{
    AdderCount, END_PLAYED, END_REMOVED, END_SKIPPED, END_VOTESKIPPED, MAX_SEARCH_WORDS,
    MediaCount, MediaStats, PlayRow,
};

use crate::{Store, StoreError, error::op};

/// Migration 6 on both backends (PostgreSQL reads ` INTEGER ` as ` BIGINT `). The totals of
/// plays recorded before it are built from the history here, once.
pub(crate) const MEDIA_TOTALS_SQL: &str = "
ALTER TABLE media_history ADD COLUMN ended_at INTEGER DEFAULT NULL;
ALTER TABLE media_history ADD COLUMN end_reason TEXT DEFAULT NULL;
ALTER TABLE media_history ADD COLUMN played_seconds INTEGER DEFAULT NULL;
CREATE INDEX idx_media_history_media ON media_history(channel, media_type, media_id, id);
CREATE INDEX idx_media_history_adder ON media_history(channel, queued_by, id);
CREATE TABLE media_stats (
    channel TEXT NOT NULL,
    media_type TEXT NOT NULL,
    media_id TEXT NOT NULL,
    title TEXT,
    duration INTEGER DEFAULT 0,
    plays INTEGER NOT NULL DEFAULT 0,
    first_played INTEGER NOT NULL,
    last_played INTEGER NOT NULL,
    last_queued_by TEXT,
    total_played INTEGER NOT NULL DEFAULT 0,
    played_out INTEGER NOT NULL DEFAULT 0,
    skips INTEGER NOT NULL DEFAULT 0,
    vote_skips INTEGER NOT NULL DEFAULT 0,
    removals INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (channel, media_type, media_id)
);
CREATE INDEX idx_media_stats_plays ON media_stats(channel, plays);
CREATE INDEX idx_media_stats_last ON media_stats(channel, last_played);
CREATE TABLE media_adders (
    channel TEXT NOT NULL,
    username TEXT NOT NULL,
    plays INTEGER NOT NULL DEFAULT 0,
    first_played INTEGER NOT NULL,
    last_played INTEGER NOT NULL,
    PRIMARY KEY (channel, username)
);
INSERT INTO media_stats (channel, media_type, media_id, title, duration, plays, first_played,
                         last_played, last_queued_by)
    SELECT channel, media_type, media_id,
           (SELECT h.title FROM media_history h WHERE h.channel = m.channel
              AND h.media_type = m.media_type AND h.media_id = m.media_id
            ORDER BY h.id DESC LIMIT 1),
           (SELECT h.duration FROM media_history h WHERE h.channel = m.channel
              AND h.media_type = m.media_type AND h.media_id = m.media_id
            ORDER BY h.id DESC LIMIT 1),
           count(*), min(timestamp), max(timestamp),
           (SELECT h.queued_by FROM media_history h WHERE h.channel = m.channel
              AND h.media_type = m.media_type AND h.media_id = m.media_id
            ORDER BY h.id DESC LIMIT 1)
    FROM media_history m GROUP BY channel, media_type, media_id;
INSERT INTO media_adders (channel, username, plays, first_played, last_played)
    SELECT channel, queued_by, count(*), min(timestamp), max(timestamp)
    FROM media_history WHERE queued_by IS NOT NULL AND queued_by <> ''
    GROUP BY channel, queued_by;
";

// --- Write side (used by both backends' ingest) --------------------------------------

/// `media.played`: the media's totals. ?1 channel, ?2 type, ?3 id, ?4 title, ?5 duration,
/// ?6 start, ?7 queued by. A play older than the newest one known (events applied out of
/// order) counts, but does not replace the newest title.
pub(crate) const SQL_STATS_PLAY: &str = "INSERT INTO media_stats (channel, media_type, media_id, \
     title, duration, plays, first_played, last_played, last_queued_by) \
     VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?6, ?7) \
     ON CONFLICT (channel, media_type, media_id) DO UPDATE SET \
       plays = media_stats.plays + 1, \
       first_played = CASE WHEN excluded.first_played < media_stats.first_played \
                           THEN excluded.first_played ELSE media_stats.first_played END, \
       title = CASE WHEN excluded.last_played >= media_stats.last_played \
                    THEN excluded.title ELSE media_stats.title END, \
       duration = CASE WHEN excluded.last_played >= media_stats.last_played \
                       THEN excluded.duration ELSE media_stats.duration END, \
       last_queued_by = CASE WHEN excluded.last_played >= media_stats.last_played \
                             THEN excluded.last_queued_by ELSE media_stats.last_queued_by END, \
       last_played = CASE WHEN excluded.last_played > media_stats.last_played \
                          THEN excluded.last_played ELSE media_stats.last_played END";

/// `media.played` with a `queued_by`: the adder's totals. ?1 channel, ?2 user, ?3 start.
pub(crate) const SQL_ADDER_PLAY: &str = "INSERT INTO media_adders (channel, username, plays, \
     first_played, last_played) VALUES (?1, ?2, 1, ?3, ?3) \
     ON CONFLICT (channel, username) DO UPDATE SET \
       plays = media_adders.plays + 1, \
       first_played = CASE WHEN excluded.first_played < media_adders.first_played \
                           THEN excluded.first_played ELSE media_adders.first_played END, \
       last_played = CASE WHEN excluded.last_played > media_adders.last_played \
                          THEN excluded.last_played ELSE media_adders.last_played END";

/// `media.ended`: closes the newest unfinished play of the media that started no later
/// than the end (and at ?7 when given), and returns the seconds it played. ?1 channel,
/// ?2 type, ?3 id, ?4 end, ?5 reason, ?6 seconds played (NULL: end − start, at most the
/// duration when known), ?7 start (NULL: any).
pub(crate) const SQL_END_PLAY: &str = "UPDATE media_history SET \
       ended_at = ?4, end_reason = ?5, \
       played_seconds = coalesce(CAST(?6 AS BIGINT), \
         CASE WHEN ?4 - timestamp < 0 THEN 0 \
              WHEN coalesce(duration, 0) > 0 AND ?4 - timestamp > duration THEN duration \
              ELSE ?4 - timestamp END) \
     WHERE id = (SELECT id FROM media_history WHERE channel = ?1 AND media_type = ?2 \
                 AND media_id = ?3 AND end_reason IS NULL AND timestamp <= ?4 \
                 AND (CAST(?7 AS BIGINT) IS NULL OR timestamp = ?7) \
                 ORDER BY id DESC LIMIT 1) \
     RETURNING played_seconds";

/// `media.ended`, after [`SQL_END_PLAY`] closed a play: the media's totals. ?1 channel,
/// ?2 type, ?3 id, ?4 seconds, ?5..?8 played out, skipped (any), vote-skipped, removed (0/1).
pub(crate) const SQL_STATS_END: &str = "UPDATE media_stats SET \
       total_played = total_played + ?4, played_out = played_out + ?5, skips = skips + ?6, \
       vote_skips = vote_skips + ?7, removals = removals + ?8 \
     WHERE channel = ?1 AND media_type = ?2 AND media_id = ?3";

/// The (played out, skipped, vote-skipped, removed) increments of an end reason.
pub(crate) fn end_flags(reason: &str) -> [i64; 4] {
    match reason {
        END_PLAYED => [1, 0, 0, 0],
        END_SKIPPED => [0, 1, 0, 0],
        END_VOTESKIPPED => [0, 1, 1, 0],
        END_REMOVED => [0, 0, 0, 1],
        _ => [0; 4],
    }
}

// --- Read side ----------------------------------------------------------------------------

/// The columns of a [`PlayRow`] (its [`FromCols`]).
macro_rules! play_columns {
    () => {
        "id, timestamp, media_type, media_id, title, coalesce(duration, 0), queued_by, \
         ended_at, end_reason, played_seconds"
    };
}

/// The columns of a [`MediaStats`] (its [`FromCols`]).
macro_rules! stats_columns {
    () => {
        "media_type, media_id, title, coalesce(duration, 0), plays, first_played, \
         last_played, last_queued_by, total_played, played_out, skips, vote_skips, removals"
    };
}

pub(crate) const SQL_RECENT: &str = concat!(
    "SELECT ",
    play_columns!(),
    " FROM media_history WHERE channel = ?1 AND timestamp >= ?2 ORDER BY id DESC LIMIT ?3"
);

pub(crate) const SQL_USER_ADDS: &str = concat!(
    "SELECT ",
    play_columns!(),
    " FROM media_history WHERE channel = ?1 AND queued_by = ?2 ORDER BY id DESC LIMIT ?3"
);

pub(crate) const SQL_ADDER_TOTAL: &str =
    "SELECT plays FROM media_adders WHERE channel = ?1 AND username = ?2";

pub(crate) const SQL_ITEM_PLAYS: &str = concat!(
    "SELECT ",
    play_columns!(),
    " FROM media_history WHERE channel = ?1 AND media_type = ?2 AND media_id = ?3 \
     ORDER BY id DESC LIMIT ?4"
);

pub(crate) const SQL_ITEM_ADDERS: &str = "SELECT queued_by, count(*) AS n FROM media_history \
     WHERE channel = ?1 AND media_type = ?2 AND media_id = ?3 \
       AND queued_by IS NOT NULL AND queued_by <> '' \
     GROUP BY queued_by ORDER BY n DESC, queued_by/*C*/ LIMIT 50";

pub(crate) const SQL_ITEM_STATS: &str = concat!(
    "SELECT ",
    stats_columns!(),
    " FROM media_stats WHERE channel = ?1 AND media_type = ?2 AND media_id = ?3"
);

pub(crate) const SQL_MOST_PLAYED_ALL: &str = "SELECT media_type, media_id, title, plays, \
     last_played FROM media_stats WHERE channel = ?1 \
     ORDER BY plays DESC, last_played DESC, media_type/*C*/, media_id/*C*/ LIMIT ?2";

pub(crate) const SQL_MOST_PLAYED_SINCE: &str = "SELECT h.media_type, h.media_id, s.title, h.n, \
     h.last FROM (SELECT media_type, media_id, count(*) AS n, max(timestamp) AS last \
                  FROM media_history WHERE channel = ?1 AND timestamp >= ?2 \
                  GROUP BY media_type, media_id) h \
     LEFT JOIN media_stats s ON s.channel = ?1 AND s.media_type = h.media_type \
                            AND s.media_id = h.media_id \
     ORDER BY h.n DESC, h.last DESC, h.media_type/*C*/, h.media_id/*C*/ LIMIT ?3";

pub(crate) const SQL_TOP_ADDERS_ALL: &str = "SELECT username, plays FROM media_adders \
     WHERE channel = ?1 ORDER BY plays DESC, username/*C*/ LIMIT ?2";

pub(crate) const SQL_TOP_ADDERS_SINCE: &str = "SELECT queued_by, count(*) AS n \
     FROM media_history WHERE channel = ?1 AND timestamp >= ?2 \
       AND queued_by IS NOT NULL AND queued_by <> '' \
     GROUP BY queued_by ORDER BY n DESC, queued_by/*C*/ LIMIT ?3";

/// Eight title patterns (unused ones are `%`), see [`search_patterns`].
pub(crate) const SQL_SEARCH: &str = concat!(
    "SELECT ",
    stats_columns!(),
    " FROM media_stats WHERE channel = ?1 \
       AND lower(coalesce(title, '')) LIKE ?2 ESCAPE '\\' \
       AND lower(coalesce(title, '')) LIKE ?3 ESCAPE '\\' \
       AND lower(coalesce(title, '')) LIKE ?4 ESCAPE '\\' \
       AND lower(coalesce(title, '')) LIKE ?5 ESCAPE '\\' \
       AND lower(coalesce(title, '')) LIKE ?6 ESCAPE '\\' \
       AND lower(coalesce(title, '')) LIKE ?7 ESCAPE '\\' \
       AND lower(coalesce(title, '')) LIKE ?8 ESCAPE '\\' \
       AND lower(coalesce(title, '')) LIKE ?9 ESCAPE '\\' \
     ORDER BY last_played DESC, media_type/*C*/, media_id/*C*/ LIMIT ?10"
);

pub(crate) const SQL_CANDIDATES: &str = concat!(
    "SELECT ",
    stats_columns!(),
    " FROM media_stats WHERE channel = ?1 AND last_played < ?2 \
     ORDER BY plays DESC, last_played DESC, media_type/*C*/, media_id/*C*/ LIMIT ?3"
);

/// The [`MAX_SEARCH_WORDS`] `LIKE` patterns of a title search: one `%word%` per word
/// (lower-cased, `%`, `_` and `\` escaped), the rest `%`. `None` when there is no word.
pub fn search_patterns(words: &str) -> Option<[String; MAX_SEARCH_WORDS]> {
    let words: Vec<String> = words
        .split_whitespace()
        .take(MAX_SEARCH_WORDS)
        .map(str::to_lowercase)
        .collect();
    if words.is_empty() {
        return None;
    }
    Some(std::array::from_fn(|i| match words.get(i) {
        Some(w) => format!("%{}", crate::web::like_prefix(w)),
        None => "%".to_string(),
    }))
}

/// Column access shared by both backends' rows, so each reply row is built once.
pub(crate) trait Cols {
    type E;
    fn int(&self, i: usize) -> Result<i64, Self::E>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>, Self::E>;
    fn text(&self, i: usize) -> Result<String, Self::E>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, Self::E>;
}

impl Cols for rusqlite::Row<'_> {
    type E = rusqlite::Error;
    fn int(&self, i: usize) -> rusqlite::Result<i64> {
        self.get(i)
    }
    fn opt_int(&self, i: usize) -> rusqlite::Result<Option<i64>> {
        self.get(i)
    }
    fn text(&self, i: usize) -> rusqlite::Result<String> {
        self.get(i)
    }
    fn opt_text(&self, i: usize) -> rusqlite::Result<Option<String>> {
        self.get(i)
    }
}

impl Cols for postgres::Row {
    type E = postgres::Error;
    fn int(&self, i: usize) -> Result<i64, postgres::Error> {
        self.try_get(i)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, postgres::Error> {
        self.try_get(i)
    }
    fn text(&self, i: usize) -> Result<String, postgres::Error> {
        self.try_get(i)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, postgres::Error> {
        self.try_get(i)
    }
}

/// A reply row, read from a row of either backend: the one row mapper of each shape.
pub(crate) trait FromCols: Sized {
    fn from_cols<R: Cols>(r: &R) -> Result<Self, R::E>;
}

/// A row of `play_columns!()`.
impl FromCols for PlayRow {
    fn from_cols<R: Cols>(r: &R) -> Result<PlayRow, R::E> {
        Ok(PlayRow {
            id: r.int(0)?,
            timestamp: r.int(1)?,
            media_type: r.text(2)?,
            media_id: r.text(3)?,
            title: r.opt_text(4)?,
            duration: r.int(5)?,
            queued_by: r.opt_text(6)?,
            ended_at: r.opt_int(7)?,
            end_reason: r.opt_text(8)?,
            played: r.opt_int(9)?,
        })
    }
}

/// A row of `stats_columns!()`.
impl FromCols for MediaStats {
    fn from_cols<R: Cols>(r: &R) -> Result<MediaStats, R::E> {
        Ok(MediaStats {
            media_type: r.text(0)?,
            media_id: r.text(1)?,
            title: r.opt_text(2)?,
            duration: r.int(3)?,
            plays: r.int(4)?,
            first_played: r.int(5)?,
            last_played: r.int(6)?,
            last_queued_by: r.opt_text(7)?,
            total_played: r.int(8)?,
            played_out: r.int(9)?,
            skips: r.int(10)?,
            vote_skips: r.int(11)?,
            removals: r.int(12)?,
        })
    }
}

/// A `(type, id, title, plays, last)` row.
impl FromCols for MediaCount {
    fn from_cols<R: Cols>(r: &R) -> Result<MediaCount, R::E> {
        Ok(MediaCount {
            media_type: r.text(0)?,
            media_id: r.text(1)?,
            title: r.opt_text(2)?,
            plays: r.int(3)?,
            last_played: r.int(4)?,
        })
    }
}

/// A `(username, plays)` row.
impl FromCols for AdderCount {
    fn from_cols<R: Cols>(r: &R) -> Result<AdderCount, R::E> {
        Ok(AdderCount {
            username: r.text(0)?,
            plays: r.int(1)?,
        })
    }
}

/// A single count.
impl FromCols for i64 {
    fn from_cols<R: Cols>(r: &R) -> Result<i64, R::E> {
        r.int(0)
    }
}

/// A parameter of the media reads, bound by either backend.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    Int(i64),
    Text(&'a str),
}

/// The one query helper each backend gives the media reads: `sql` (SQLite's spelling)
/// with `args`, every row read by `T`'s mapper. [`MediaStore`] is written once on top.
pub(crate) trait MediaRows {
    fn media_rows<T: FromCols>(
        &mut self,
        what: &'static str,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Vec<T>, StoreError>;
}

/// One media's page: its totals (if it ever played), its adders, its newest plays.
pub type MediaPage = (Option<MediaStats>, Vec<AdderCount>, Vec<PlayRow>);

/// The media history's reads, on both backends (a supertrait of [`crate::Storage`]).
/// `since`: Unix seconds; `None` = all time.
pub trait MediaStore {
    /// The newest plays (started at or after `since`), newest first.
    fn media_recent(
        &mut self,
        channel: &str,
        since: Option<i64>,
        limit: i64,
    ) -> Result<Vec<PlayRow>, StoreError>;
    /// Media by plays since `since`, most first.
    fn media_most_played(
        &mut self,
        channel: &str,
        since: Option<i64>,
        limit: i64,
    ) -> Result<Vec<MediaCount>, StoreError>;
    /// Users by plays of what they queued since `since`, most first.
    fn media_top_adders(
        &mut self,
        channel: &str,
        since: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AdderCount>, StoreError>;
    /// One user's queued plays, newest first, and how many there are in all.
    fn media_user_adds(
        &mut self,
        channel: &str,
        username: &str,
        limit: i64,
    ) -> Result<(Vec<PlayRow>, i64), StoreError>;
    /// One media's totals, its adders and its newest plays.
    fn media_item(
        &mut self,
        channel: &str,
        media_type: &str,
        media_id: &str,
        limit: i64,
    ) -> Result<MediaPage, StoreError>;
    /// Media whose title holds every word, most recently played first.
    fn media_search(
        &mut self,
        channel: &str,
        words: &str,
        limit: i64,
    ) -> Result<Vec<MediaStats>, StoreError>;
    /// Media last played before `played_before`, most played first.
    fn media_candidates(
        &mut self,
        channel: &str,
        played_before: i64,
        limit: i64,
    ) -> Result<Vec<MediaStats>, StoreError>;
}

/// The media reads, once for both backends.
impl<B: MediaRows> MediaStore for B {
    fn media_recent(
        &mut self,
        channel: &str,
        since: Option<i64>,
        limit: i64,
    ) -> Result<Vec<PlayRow>, StoreError> {
        let since = since.unwrap_or(i64::MIN);
        let args = [Arg::Text(channel), Arg::Int(since), Arg::Int(limit)];
        self.media_rows("media recent", SQL_RECENT, &args)
    }

    fn media_most_played(
        &mut self,
        channel: &str,
        since: Option<i64>,
        limit: i64,
    ) -> Result<Vec<MediaCount>, StoreError> {
        let (sql, args) = windowed(SQL_MOST_PLAYED_ALL, SQL_MOST_PLAYED_SINCE, channel, since);
        self.media_rows("most played", sql, &args.with(limit))
    }

    fn media_top_adders(
        &mut self,
        channel: &str,
        since: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AdderCount>, StoreError> {
        let (sql, args) = windowed(SQL_TOP_ADDERS_ALL, SQL_TOP_ADDERS_SINCE, channel, since);
        self.media_rows("top adders", sql, &args.with(limit))
    }

    fn media_user_adds(
        &mut self,
        channel: &str,
        username: &str,
        limit: i64,
    ) -> Result<(Vec<PlayRow>, i64), StoreError> {
        let user = [Arg::Text(channel), Arg::Text(username)];
        let plays = self.media_rows(
            "user adds",
            SQL_USER_ADDS,
            &[user[0], user[1], Arg::Int(limit)],
        )?;
        let total = self.media_rows("user adds", SQL_ADDER_TOTAL, &user)?;
        Ok((plays, total.first().copied().unwrap_or(0)))
    }

    fn media_item(
        &mut self,
        channel: &str,
        media_type: &str,
        media_id: &str,
        limit: i64,
    ) -> Result<MediaPage, StoreError> {
        let key = [
            Arg::Text(channel),
            Arg::Text(media_type),
            Arg::Text(media_id),
        ];
        let stats = self.media_rows("media item", SQL_ITEM_STATS, &key)?.pop();
        let adders = self.media_rows("media item", SQL_ITEM_ADDERS, &key)?;
        let plays = self.media_rows(
            "media item",
            SQL_ITEM_PLAYS,
            &[key[0], key[1], key[2], Arg::Int(limit)],
        )?;
        Ok((stats, adders, plays))
    }

    fn media_search(
        &mut self,
        channel: &str,
        words: &str,
        limit: i64,
    ) -> Result<Vec<MediaStats>, StoreError> {
        let Some(p) = search_patterns(words) else {
            return Ok(Vec::new());
        };
        let mut args = vec![Arg::Text(channel)];
        args.extend(p.iter().map(|w| Arg::Text(w)));
        args.push(Arg::Int(limit));
        self.media_rows("media search", SQL_SEARCH, &args)
    }

    fn media_candidates(
        &mut self,
        channel: &str,
        played_before: i64,
        limit: i64,
    ) -> Result<Vec<MediaStats>, StoreError> {
        let args = [Arg::Text(channel), Arg::Int(played_before), Arg::Int(limit)];
        self.media_rows("media candidates", SQL_CANDIDATES, &args)
    }
}

/// The all-time statement with (channel), or the windowed one with (channel, since).
fn windowed<'a>(
    all: &'static str,
    since_sql: &'static str,
    channel: &'a str,
    since: Option<i64>,
) -> (&'static str, Args<'a>) {
    match since {
        None => (all, Args(vec![Arg::Text(channel)])),
        Some(t) => (since_sql, Args(vec![Arg::Text(channel), Arg::Int(t)])),
    }
}

/// Leading arguments, to which the limit is added last.
struct Args<'a>(Vec<Arg<'a>>);

impl<'a> Args<'a> {
    fn with(mut self, limit: i64) -> Vec<Arg<'a>> {
        self.0.push(Arg::Int(limit));
        self.0
    }
}

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Arg::Int(v) => v.to_sql(),
            Arg::Text(t) => t.to_sql(),
        }
    }
}

/// SQLite's query helper for the media reads.
impl MediaRows for Store {
    fn media_rows<T: FromCols>(
        &mut self,
        what: &'static str,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Vec<T>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(op(what))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), |r| T::from_cols(r))
            .map_err(op(what))?;
        rows.collect::<Result<_, _>>().map_err(op(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_patterns_escape_and_pad() {
        let p = search_patterns("  Foo 100%  ").unwrap();
        assert_eq!(p[0], "%foo%");
        assert_eq!(p[1], "%100\\%%");
        assert_eq!(p[2], "%");
        assert!(search_patterns("   ").is_none());
        assert_eq!(end_flags(END_VOTESKIPPED), [0, 1, 1, 0]);
    }
}
