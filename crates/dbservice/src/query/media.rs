//! The media history's requests (`subjects::MEDIA_QUERY_SUBJECTS`, `rosey_model::media`):
//! read-only, on the query side's connection like every other query. Limits are checked
//! here (1..=`MAX_LIMIT`); a period becomes a start time from the service's clock.

use bytes::Bytes;
use rosey_model::media::{
    MediaCandidatesQuery, MediaItemQuery, MediaItemReply, MediaListReply, MediaSearchQuery,
    MostPlayedQuery, MostPlayedReply, PlaysReply, RecentPlaysQuery, TopAddersQuery, TopAddersReply,
    UserAddsQuery, check_limit,
};
use rosey_model::payload::HasEnvelope;
use rosey_model::subjects;
use rosey_store::now_secs;

use super::{Queries, QueryError, req};

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
        let default = self.default_channel.clone();
        match subject {
            subjects::QUERY_MEDIA_RECENT => {
                let q: RecentPlaysQuery = req(payload)?;
                let n = limit(q.limit)?;
                let ch = q.channel_or(&default).to_string();
                self.read(move |s| {
                    Ok(PlaysReply {
                        success: true,
                        plays: s.media_recent(&ch, q.since, n)?,
                        total: None,
                    })
                })
                .await
            }
            subjects::QUERY_MEDIA_MOST_PLAYED => {
                let q: MostPlayedQuery = req(payload)?;
                let n = limit(q.limit)?;
                let ch = q.channel_or(&default).to_string();
                let since = q.period.seconds().map(|s| now_secs() - s);
                self.read(move |s| {
                    Ok(MostPlayedReply {
                        success: true,
                        period: q.period,
                        items: s.media_most_played(&ch, since, n)?,
                    })
                })
                .await
            }
            subjects::QUERY_MEDIA_TOP_ADDERS => {
                let q: TopAddersQuery = req(payload)?;
                let n = limit(q.limit)?;
                let ch = q.channel_or(&default).to_string();
                let since = q.period.seconds().map(|s| now_secs() - s);
                self.read(move |s| {
                    Ok(TopAddersReply {
                        success: true,
                        period: q.period,
                        adders: s.media_top_adders(&ch, since, n)?,
                    })
                })
                .await
            }
            subjects::QUERY_MEDIA_USER_ADDS => {
                let q: UserAddsQuery = req(payload)?;
                let n = limit(q.limit)?;
                not_empty("username", &q.username)?;
                let ch = q.channel_or(&default).to_string();
                self.read(move |s| {
                    let (plays, total) = s.media_user_adds(&ch, &q.username, n)?;
                    Ok(PlaysReply {
                        success: true,
                        plays,
                        total: Some(total),
                    })
                })
                .await
            }
            subjects::QUERY_MEDIA_ITEM => {
                let q: MediaItemQuery = req(payload)?;
                let n = limit(q.limit)?;
                not_empty("type", &q.media_type)?;
                not_empty("media_id", &q.media_id)?;
                let ch = q.channel_or(&default).to_string();
                self.read(move |s| {
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
                .await
            }
            subjects::QUERY_MEDIA_SEARCH => {
                let q: MediaSearchQuery = req(payload)?;
                let n = limit(q.limit)?;
                not_empty("words", &q.words)?;
                let ch = q.channel_or(&default).to_string();
                self.read(move |s| {
                    Ok(MediaListReply {
                        success: true,
                        items: s.media_search(&ch, &q.words, n)?,
                    })
                })
                .await
            }
            _ => {
                let q: MediaCandidatesQuery = req(payload)?;
                let n = limit(q.limit)?;
                let ch = q.channel_or(&default).to_string();
                let before = q.played_before.unwrap_or(i64::MAX);
                self.read(move |s| {
                    Ok(MediaListReply {
                        success: true,
                        items: s.media_candidates(&ch, before, n)?,
                    })
                })
                .await
            }
        }
    }
}
