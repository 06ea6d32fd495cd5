//! The dashboard's requests (`subjects::DASHBOARD_QUERY_SUBJECTS`): reads on the query
//! side's connection like every other query, and API-token writes through the single
//! writer (a [`WriterMsg::Call`]), like every other write.
//!
//! Tokens are generated here from the operating system's random source, and only their key
//! (prefix + SHA-256, see `rosey_store::web`) is stored: the full token is in the
//! `tokens.create` reply and nowhere else.

use bytes::Bytes;
use data_encoding::BASE64URL_NOPAD;
use rand::TryRngCore;
use rosey_model::payload::{ModerationLogQuery, ModerationLogReply};
use rosey_model::web::{
    ChannelQuery, ChatActivityQuery, ChatActivityReply, CurrentStatusReply, MAX_LIMIT,
    MIN_REVOKE_PREFIX, OutboundRecentQuery, TokenCreate, TokenCreated, TokenInfo, TokenList,
    TokenRevoke, TokenRevoked, TokenVerified, TokenVerify, UserSearchQuery,
};
use rosey_model::{encode, subjects};
use rosey_store::web::{
    ADMIN_MARK, API_MARK, TokenRow, find_token, match_prefix, token_key, token_prefix,
};
use rosey_store::{Storage, now_secs};
use serde::Serialize;
use tokio::sync::oneshot;

use super::{Queries, QueryError, req};
use crate::writer::WriterMsg;

/// Endpoint names for the micro-service API.
pub const ENDPOINTS: [(&str, &str); 9] = [
    (subjects::QUERY_MODERATION_LOG, "moderation_log"),
    (subjects::QUERY_CURRENT_STATUS, "current_status"),
    (subjects::QUERY_OUTBOUND_RECENT, "outbound_recent"),
    (subjects::QUERY_USER_SEARCH, "user_search"),
    (subjects::QUERY_CHAT_ACTIVITY, "chat_activity"),
    (subjects::TOKENS_CREATE, "tokens_create"),
    (subjects::TOKENS_LIST, "tokens_list"),
    (subjects::TOKENS_REVOKE, "tokens_revoke"),
    (subjects::TOKENS_VERIFY, "tokens_verify"),
];

/// Longest history `chat_activity` answers (the v0.5 API's limit: 7 days).
const MAX_HOURS: i64 = 168;
/// Random bytes in a token (240 bits).
const TOKEN_BYTES: usize = 30;

fn ok<T: Serialize>(value: &T) -> Result<Bytes, QueryError> {
    Ok(Bytes::from(encode(value)))
}

fn check_limit(limit: i64) -> Result<i64, QueryError> {
    if (0..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(QueryError::Invalid(format!(
            "field `limit`: must be between 0 and {MAX_LIMIT}"
        )))
    }
}

/// A new token: the scope mark and URL-safe random characters.
fn generate(admin: bool) -> Result<String, QueryError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| QueryError::Writer(format!("no random source: {e}")))?;
    let mark = if admin { ADMIN_MARK } else { API_MARK };
    Ok(format!("{mark}{}", BASE64URL_NOPAD.encode(&bytes)))
}

fn info(row: &TokenRow) -> TokenInfo {
    TokenInfo {
        prefix: row.prefix().to_string(),
        token: format!("{}...", row.prefix()),
        description: row.description.clone(),
        created_at: row.created_at,
        last_used: row.last_used,
        revoked: row.revoked,
        admin: row.is_admin(),
    }
}

impl Queries {
    pub(super) async fn dispatch_web(
        &self,
        subject: &str,
        payload: &[u8],
    ) -> Result<Bytes, QueryError> {
        match subject {
            subjects::QUERY_CURRENT_STATUS => {
                self.ask(payload, |_: ChannelQuery, ch| {
                    Ok(move |s: &mut dyn Storage| {
                        let row = s.current_status(&ch)?;
                        Ok(CurrentStatusReply {
                            success: true,
                            found: row.is_some(),
                            status: row.unwrap_or_default(),
                        })
                    })
                })
                .await
            }
            subjects::QUERY_MODERATION_LOG => {
                let q: ModerationLogQuery = req(payload)?;
                let limit = check_limit(q.limit)?;
                // No channel = every channel (the log is read across them).
                let ch = q.channel.clone();
                let since = q.since.unwrap_or(0);
                self.read(move |s| {
                    Ok(ModerationLogReply {
                        success: true,
                        actions: s.moderation_log(ch.as_deref(), since, limit)?,
                    })
                })
                .await
            }
            subjects::QUERY_OUTBOUND_RECENT => {
                self.ask(payload, |q: OutboundRecentQuery, ch| {
                    let limit = check_limit(q.limit)?;
                    Ok(move |s: &mut dyn Storage| s.outbound_recent(&ch, limit))
                })
                .await
            }
            subjects::QUERY_USER_SEARCH => {
                self.ask(payload, |q: UserSearchQuery, ch| {
                    let limit = check_limit(q.limit)?;
                    Ok(move |s: &mut dyn Storage| s.user_search(&ch, &q.prefix, limit))
                })
                .await
            }
            subjects::QUERY_CHAT_ACTIVITY => {
                self.ask(payload, |q: ChatActivityQuery, ch| {
                    if !(1..=MAX_HOURS).contains(&q.hours) {
                        return Err(QueryError::Invalid(format!(
                            "field `hours`: must be between 1 and {MAX_HOURS}"
                        )));
                    }
                    let since = now_secs() - q.hours * 3600;
                    Ok(move |s: &mut dyn Storage| {
                        let user = q.username.as_deref();
                        Ok(ChatActivityReply {
                            success: true,
                            hours: s.chat_activity(&ch, since, user)?,
                            lines: match user {
                                Some(u) => s.user_lines(&ch, u, 20)?,
                                None => Vec::new(),
                            },
                        })
                    })
                })
                .await
            }
            subjects::TOKENS_LIST => {
                let _: ChannelQuery = req(payload)?;
                self.read(|s| {
                    let tokens = s.token_rows()?.iter().map(info).collect();
                    Ok(TokenList {
                        success: true,
                        tokens,
                    })
                })
                .await
            }
            subjects::TOKENS_CREATE => {
                let q: TokenCreate = req(payload)?;
                let token = generate(q.admin)?;
                let key = token_key(&token);
                let now = now_secs();
                let description = q.description.trim().to_string();
                let stored = description.clone();
                self.write(move |s| s.token_insert(&key, &stored, now))
                    .await?;
                ok(&TokenCreated {
                    success: true,
                    prefix: token_prefix(&token).to_string(),
                    token,
                    description,
                    created_at: now,
                    admin: q.admin,
                })
            }
            subjects::TOKENS_REVOKE => {
                let q: TokenRevoke = req(payload)?;
                let given = q.prefix.trim().to_string();
                if given.chars().count() < MIN_REVOKE_PREFIX {
                    return Err(QueryError::Invalid(format!(
                        "field `prefix`: give at least {MIN_REVOKE_PREFIX} characters"
                    )));
                }
                // Matched and revoked in one writer call, so a concurrent create cannot
                // slip between the two.
                self.write(move |s| {
                    let rows = s.token_rows()?;
                    let live: Vec<&TokenRow> = match_prefix(&rows, &given)
                        .into_iter()
                        .filter(|r| !r.revoked)
                        .collect();
                    match live.as_slice() {
                        [] => Ok(Ok(None)),
                        [one] => {
                            s.token_revoke(&one.key)?;
                            Ok(Ok(Some(one.prefix().to_string())))
                        }
                        many => Ok(Err(format!(
                            "`{given}` matches {} tokens; give more characters",
                            many.len()
                        ))),
                    }
                })
                .await?
                .map_err(QueryError::Invalid)
                .and_then(|prefix| {
                    ok(&TokenRevoked {
                        success: true,
                        revoked: usize::from(prefix.is_some()),
                        prefix,
                    })
                })
            }
            subjects::TOKENS_VERIFY => {
                let q: TokenVerify = req(payload)?;
                // On the writer: the check sees every revocation committed before it, and
                // records the use in the same call.
                let verified = self
                    .write(move |s| {
                        let rows = s.token_rows()?;
                        let found = find_token(&rows, &q.token);
                        if let Some(row) = found {
                            s.token_touch(&row.key, now_secs())?;
                        }
                        Ok(TokenVerified {
                            success: true,
                            valid: found.is_some(),
                            admin: found.is_some_and(TokenRow::is_admin),
                            prefix: found.map(|r| r.prefix().to_string()),
                        })
                    })
                    .await?;
                ok(&verified)
            }
            other => Err(QueryError::Invalid(format!(
                "unknown request subject `{other}`"
            ))),
        }
    }
}

/// Re-keys v0.5 plain tokens on start-up, through the writer; returns how many.
pub(crate) async fn rekey_legacy(
    writer: &tokio::sync::mpsc::Sender<WriterMsg>,
) -> Result<usize, crate::DbServiceError> {
    let (tx, rx) = oneshot::channel();
    let call = Box::new(move |s: &mut dyn Storage| {
        let _ = tx.send(s.rekey_legacy_tokens());
    });
    writer
        .send(WriterMsg::Call(call))
        .await
        .map_err(|_| crate::DbServiceError::WriterGone)?;
    rx.await
        .map_err(|_| crate::DbServiceError::WriterGone)?
        .map_err(crate::DbServiceError::Store)
}
