//! The media history's requests (`subjects::MEDIA_QUERY_SUBJECTS`, `rosey_model::media`):
//! read-only, on the query side's connection like every other query. Limits are checked
//! here (1..=`MAX_LIMIT`); a period becomes a start time from the service's clock.

use bytes::Bytes;
use rosey_model::media::{
    MediaCandidatesQuery, MediaItemQuery, MediaItemReply, MediaListReply, MediaSearchQuery,
    MostPlayedQuery, MostPlayedReply, PlaysReply, RecentPlaysQuery, TopAddersQuery, TopAddersReply,
    UserAddsQuery, check_limit,
};
use rosey_model::subjects;
use rosey_store::{Storage, now_secs};

use super::{Queries, QueryError};

/// Endpoint names for the micro-service API.
pub const ENDPOINTS: [(&str, &str); 7] = [
    (subjects::QUERY_MEDIA_RECENT, "media_recent"),
    (subjects::QUERY_MEDIA_MOST_PLAYED, "media_most_played"),
    (subjects::QUERY_MEDIA_TOP_ADDERS, "media_top_adders"),
    (subjects::QUERY_MEDIA_USER_ADDS, "media_user_adds"),
    (subjects::QUERY_MEDIA_ITEM, "media_item"),
    (subjects::QUERY_MEDIA_SEARCH, "media_search"),
    (subjects::QUERY_MEDIA_CANDIDATES, "media_candidates"),
];

fn limit(l: i64) -> Result<i64, QueryError> {
    check_limit(l).map_err(QueryError::Invalid)
}

fn not_empty(field: &str, value: &str) -> Result<(), QueryError> {
    if value.trim().is_empty() {
        return Err(QueryError::Invalid(format!(
            "field `{field}`: must not be empty"
        )));
    }
    Ok(())
}

impl Queries {
    pub(super) async fn dispatch_media(
        &self,
        subject: &str,
        payload: &[u8],
    ) -> Result<Bytes, QueryError> {
        match subject {
            subjects::QUERY_MEDIA_RECENT => {
                self.ask(payload, |q: RecentPlaysQuery, ch| {
                    let n = limit(q.limit)?;
                    Ok(move |s: &mut dyn Storage| {
                        let plays = s.media_recent(&ch, q.since, n)?;
                        Ok(PlaysReply {
                            success: true,
                            plays,
                            total: None,
                        })
                    })
                })
                .await
            }
            subjects::QUERY_MEDIA_MOST_PLAYED => {
                self.ask(payload, |q: MostPlayedQuery, ch| {
                    let n = limit(q.limit)?;
                    let since = q.period.seconds().map(|s| now_secs() - s);
                    Ok(move |s: &mut dyn Storage| {
                        let items = s.media_most_played(&ch, since, n)?;
                        Ok(MostPlayedReply {
                            success: true,
                            period: q.period,
                            items,
                        })
                    })
                })
                .await
            }
            subjects::QUERY_MEDIA_TOP_ADDERS => {
                self.ask(payload, |q: TopAddersQuery, ch| {
                    let n = limit(q.limit)?;
                    let since = q.period.seconds().map(|s| now_secs() - s);
                    Ok(move |s: &mut dyn Storage| {
                        let adders = s.media_top_adders(&ch, since, n)?;
                        Ok(TopAddersReply {
                            success: true,
                            period: q.period,
                            adders,
                        })
                    })
                })
                .await
            }
            subjects::QUERY_MEDIA_USER_ADDS => {
                self.ask(payload, |q: UserAddsQuery, ch| {
                    let n = limit(q.limit)?;
                    not_empty("username", &q.username)?;
                    Ok(move |s: &mut dyn Storage| {
                        let (plays, total) = s.media_user_adds(&ch, &q.username, n)?;
                        Ok(PlaysReply {
                            success: true,
                            plays,
                            total: Some(total),
                        })
                    })
                })
                .await
            }
            subjects::QUERY_MEDIA_ITEM => {
                self.ask(payload, |q: MediaItemQuery, ch| {
                    let n = limit(q.limit)?;
                    not_empty("type", &q.media_type)?;
                    not_empty("media_id", &q.media_id)?;
                    Ok(move |s: &mut dyn Storage| {
                        let (stats, adders, plays) =
                            s.media_item(&ch, &q.media_type, &q.media_id, n)?;
                        Ok(MediaItemReply {
                            success: true,
                            found: stats.is_some(),
                            stats,
                            adders,
                            plays,
                        })
                    })
                })
                .await
            }
            subjects::QUERY_MEDIA_SEARCH => {
                self.ask(payload, |q: MediaSearchQuery, ch| {
                    let n = limit(q.limit)?;
                    not_empty("words", &q.words)?;
                    Ok(move |s: &mut dyn Storage| {
                        let items = s.media_search(&ch, &q.words, n)?;
                        Ok(MediaListReply {
                            success: true,
                            items,
                        })
                    })
                })
                .await
            }
            _ => {
                self.ask(payload, |q: MediaCandidatesQuery, ch| {
                    let n = limit(q.limit)?;
                    let before = q.played_before.unwrap_or(i64::MAX);
                    Ok(move |s: &mut dyn Storage| {
                        let items = s.media_candidates(&ch, before, n)?;
                        Ok(MediaListReply {
                            success: true,
                            items,
                        })
                    })
                })
                .await
            }
        }
    }
}
