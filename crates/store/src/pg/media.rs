//! [`MediaStore`] on PostgreSQL: the statements of `crate::media`, through [`dialect`].

use rosey_model::media::{AdderCount, MediaCount, MediaStats, PlayRow};

use super::{PgStore, dialect};
use crate::media::{
    MediaPage, MediaStore, SQL_ADDER_TOTAL, SQL_CANDIDATES, SQL_ITEM_ADDERS, SQL_ITEM_PLAYS,
    SQL_ITEM_STATS, SQL_MOST_PLAYED_ALL, SQL_MOST_PLAYED_SINCE, SQL_RECENT, SQL_SEARCH,
    SQL_TOP_ADDERS_ALL, SQL_TOP_ADDERS_SINCE, SQL_USER_ADDS, adder_row, count_row, play_row,
    search_patterns, stats_row,
};
use crate::{StoreError, error::pg_op};

type Param<'a> = &'a (dyn postgres::types::ToSql + Sync);

impl PgStore {
    fn media_rows<T>(
        &mut self,
        what: &'static str,
        sql: &'static str,
        params: &[Param<'_>],
        map: impl Fn(&postgres::Row) -> Result<T, postgres::Error>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = self.rows(what, dialect(sql), params)?;
        rows.iter().map(|r| map(r).map_err(pg_op(what))).collect()
    }
}

impl MediaStore for PgStore {
    fn media_recent(
        &mut self,
        channel: &str,
        since: Option<i64>,
        limit: i64,
    ) -> Result<Vec<PlayRow>, StoreError> {
        let since = since.unwrap_or(i64::MIN);
        self.media_rows(
            "media recent",
            SQL_RECENT,
            &[&channel, &since, &limit],
            play_row,
        )
    }

    fn media_most_played(
        &mut self,
        channel: &str,
        since: Option<i64>,
        limit: i64,
    ) -> Result<Vec<MediaCount>, StoreError> {
        match since {
            None => self.media_rows(
                "most played",
                SQL_MOST_PLAYED_ALL,
                &[&channel, &limit],
                count_row,
            ),
            Some(t) => self.media_rows(
                "most played",
                SQL_MOST_PLAYED_SINCE,
                &[&channel, &t, &limit],
                count_row,
            ),
        }
    }

    fn media_top_adders(
        &mut self,
        channel: &str,
        since: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AdderCount>, StoreError> {
        match since {
            None => self.media_rows(
                "top adders",
                SQL_TOP_ADDERS_ALL,
                &[&channel, &limit],
                adder_row,
            ),
            Some(t) => self.media_rows(
                "top adders",
                SQL_TOP_ADDERS_SINCE,
                &[&channel, &t, &limit],
                adder_row,
            ),
        }
    }

    fn media_user_adds(
        &mut self,
        channel: &str,
        username: &str,
        limit: i64,
    ) -> Result<(Vec<PlayRow>, i64), StoreError> {
        let plays = self.media_rows(
            "user adds",
            SQL_USER_ADDS,
            &[&channel, &username, &limit],
            play_row,
        )?;
        let total = self
            .media_rows("user adds", SQL_ADDER_TOTAL, &[&channel, &username], |r| {
                r.try_get::<_, i64>(0)
            })?
            .first()
            .copied()
            .unwrap_or(0);
        Ok((plays, total))
    }

    fn media_item(
        &mut self,
        channel: &str,
        media_type: &str,
        media_id: &str,
        limit: i64,
    ) -> Result<MediaPage, StoreError> {
        let stats = self
            .media_rows(
                "media item",
                SQL_ITEM_STATS,
                &[&channel, &media_type, &media_id],
                stats_row,
            )?
            .pop();
        let adders = self.media_rows(
            "media item",
            SQL_ITEM_ADDERS,
            &[&channel, &media_type, &media_id],
            adder_row,
        )?;
        let plays = self.media_rows(
            "media item",
            SQL_ITEM_PLAYS,
            &[&channel, &media_type, &media_id, &limit],
            play_row,
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
        self.media_rows(
            "media search",
            SQL_SEARCH,
            &[
                &channel, &p[0], &p[1], &p[2], &p[3], &p[4], &p[5], &p[6], &p[7], &limit,
            ],
            stats_row,
        )
    }

    fn media_candidates(
        &mut self,
        channel: &str,
        played_before: i64,
        limit: i64,
    ) -> Result<Vec<MediaStats>, StoreError> {
        self.media_rows(
            "media candidates",
            SQL_CANDIDATES,
            &[&channel, &played_before, &limit],
            stats_row,
        )
    }
}
