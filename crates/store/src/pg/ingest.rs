//! The PostgreSQL write path: [`PgStore::apply_batch`], with the same effects, the same
//! de-duplication and the same failure isolation as the SQLite one (`crate::ingest`).
//!
//! Round trips are what cost on a network: the fast path (shared with SQLite,
//! `crate::ingest::apply_fast`) spends one statement on the ids of the whole batch
//! (`INSERT … SELECT unnest($1) ON CONFLICT DO NOTHING RETURNING`, in the same transaction
//! as the effects) and writes the batch's effects as a few set-based statements (`super::batch`:
//! chat rows, user counts, high-water marks and status once per batch; joins, leaves and
//! chat-line counters once per round of users). Events of the rarer kinds (media, commands,
//! outbound marks, moderation) take their own statements, in order. If any statement fails,
//! the batch is rolled back and replayed one event per savepoint (the slow path, with the
//! same statements), so good events are kept and the bad one is reported.

use std::collections::HashSet;

use postgres::{GenericClient, Transaction};

use super::batch::Plan;
use super::{PgStore, StatementCache, dialect, is_retryable, prep};
use crate::event::{EventKind, StoreEvent, pm_command_details};
use crate::ingest::{Applied, BatchOutcome, EventFailure, FastPath, apply_fast};
use crate::{StoreError, error::pg_op, media, now_secs};

const SQL_DEDUP_MANY: &str = "INSERT INTO processed_events (event_id, ts) \
     SELECT id, $2::bigint FROM unnest($1::text[]) AS t(id) \
     ON CONFLICT (event_id) DO NOTHING RETURNING event_id";

const SQL_DEDUP: &str = "INSERT INTO processed_events (event_id, ts) VALUES ($1, $2) \
     ON CONFLICT (event_id) DO NOTHING";

pub(super) const SQL_MARK_SENT: &str =
    "UPDATE outbound_messages SET sent = 1, sent_timestamp = $2 WHERE id = $1";

pub(super) const SQL_MARK_FAILED: &str = "UPDATE outbound_messages SET \
       retry_count = coalesce(retry_count, 0) + 1, \
       last_error = $2, \
       sent = CASE WHEN $3::bool THEN 1 ELSE sent END, \
       sent_timestamp = CASE WHEN $3::bool THEN $4::bigint ELSE sent_timestamp END \
     WHERE id = $1";

const SQL_ACTION: &str = "INSERT INTO user_actions (timestamp, username, action_type, details, channel) \
     VALUES ($1, $2, $3, $4, $5)";

const SQL_MEDIA: &str = "INSERT INTO media_history (timestamp, media_type, media_id, title, duration, \
     queued_by, channel) VALUES ($1, $2, $3, $4, $5, $6, $7)";

const SQL_MODERATION: &str = "INSERT INTO moderation_actions (timestamp, channel, rule, \
    username, reason, evidence, step, outcome, answer, dry_run) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

impl PgStore {
    /// Applies `events` in order in one transaction (see the module doc).
    pub fn apply_batch(&mut self, events: &[StoreEvent]) -> Result<BatchOutcome, StoreError> {
        if events.is_empty() {
            return Ok(BatchOutcome::default());
        }
        // PostgreSQL text cannot hold NUL (SQLite can): such text is stored with U+FFFD in
        // its place rather than failing the event again on every redelivery.
        let sanitized;
        let events = if events.iter().any(has_nul) {
            sanitized = events
                .iter()
                .cloned()
                .map(|mut e| {
                    e.for_each_text(|t| {
                        if t.contains('\0') {
                            *t = t.replace('\0', "\u{fffd}");
                        }
                    });
                    e
                })
                .collect::<Vec<_>>();
            &sanitized[..]
        } else {
            events
        };
        self.ensure_connected()?;
        let now = now_secs();
        let PgStore { client, stmts, .. } = self;
        let mut tx = client.transaction().map_err(pg_op("begin batch"))?;
        match apply_fast(&mut PgFast { tx: &mut tx, stmts }, events, now) {
            Ok(outcome) => {
                tx.commit().map_err(pg_op("commit batch"))?;
                return Ok(outcome);
            }
            // Another transaction won a lock conflict, or the connection is gone: the
            // caller retries the whole batch.
            Err(e) if is_retryable(&e) => return Err(pg_op("apply batch")(e)),
            Err(_) => drop(tx), // rolls back
        }
        let mut tx = client.transaction().map_err(pg_op("begin batch"))?;
        let mut outcome = BatchOutcome::default();
        for (index, ev) in events.iter().enumerate() {
            let mut sp = tx.transaction().map_err(pg_op("savepoint"))?;
            match apply_one(&mut sp, stmts, ev, now) {
                Ok(a) => {
                    sp.commit().map_err(pg_op("release savepoint"))?;
                    outcome.count(a, &ev.kind);
                }
                Err(e) if is_retryable(&e) => return Err(pg_op("apply batch")(e)),
                Err(e) => {
                    drop(sp); // rolls the savepoint back
                    outcome.failed.push(EventFailure {
                        index,
                        kind: ev.kind.name(),
                        error: e.to_string(),
                    });
                }
            }
        }
        tx.commit().map_err(pg_op("commit batch"))?;
        Ok(outcome)
    }
}

fn has_nul(e: &StoreEvent) -> bool {
    let nul = |t: &str| t.contains('\0');
    match &e.kind {
        // The hot path: no clone.
        EventKind::Message {
            username, message, ..
        } => nul(&e.channel) || nul(username) || nul(message) || e.id.as_deref().is_some_and(nul),
        _ => {
            let mut found = false;
            e.clone().for_each_text(|t| found |= nul(t));
            found
        }
    }
}

/// PostgreSQL's statements for the shared fast path (`crate::ingest::apply_fast`): the
/// batch's ids as one array, its effects as a [`Plan`].
struct PgFast<'t, 'c> {
    tx: &'t mut Transaction<'c>,
    stmts: &'t mut StatementCache,
}

impl<'a> FastPath<'a> for PgFast<'_, '_> {
    type Error = postgres::Error;

    fn fresh_ids(&mut self, ids: &[&'a str], now: i64) -> Result<HashSet<String>, Self::Error> {
        let stmt = prep(self.tx, self.stmts, SQL_DEDUP_MANY)?;
        Ok(self
            .tx
            .query(&stmt, &[&ids, &now])?
            .into_iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn write(&mut self, events: &[&'a StoreEvent]) -> Result<(), Self::Error> {
        let mut plan = Plan::default();
        for ev in events {
            plan.push(ev);
        }
        write_plan(self.tx, self.stmts, plan)
    }
}

/// Writes `plan`, then its other events one by one.
fn write_plan<C: GenericClient>(
    c: &mut C,
    stmts: &mut StatementCache,
    mut plan: Plan<'_>,
) -> Result<(), postgres::Error> {
    plan.write(c, stmts)?;
    for ev in plan.others {
        apply_other(c, stmts, ev)?;
    }
    Ok(())
}

/// One event with its own statements (the slow path): a plan of one event.
fn apply_one<C: GenericClient>(
    c: &mut C,
    stmts: &mut StatementCache,
    ev: &StoreEvent,
    now: i64,
) -> Result<Applied, postgres::Error> {
    if ev.invalid_reason().is_some() {
        return Ok(Applied::Dropped);
    }
    if let Some(id) = &ev.id {
        let stmt = prep(c, stmts, SQL_DEDUP)?;
        if c.execute(&stmt, &[id, &now])? == 0 {
            return Ok(Applied::Duplicate);
        }
    }
    let mut plan = Plan::default();
    plan.push(ev);
    write_plan(c, stmts, plan)?;
    Ok(Applied::Written)
}

/// The effect of one event of a kind a [`Plan`] leaves to its caller.
fn apply_other<C: GenericClient>(
    c: &mut C,
    stmts: &mut StatementCache,
    ev: &StoreEvent,
) -> Result<(), postgres::Error> {
    let (ch, ts) = (&ev.channel, &ev.ts);
    let mut exec =
        |c: &mut C, sql: &'static str, params: &[&(dyn postgres::types::ToSql + Sync)]| {
            let stmt = prep(c, stmts, sql)?;
            c.execute(&stmt, params)
        };
    match &ev.kind {
        // Presence, chat, counts, high-water marks and status: `Plan::write` wrote them
        // (`Plan::push` never leaves them in `Plan::others`).
        EventKind::UserJoined { .. }
        | EventKind::UserLeft { .. }
        | EventKind::Message { .. }
        | EventKind::UserCount { .. }
        | EventKind::HighWater { .. }
        | EventKind::Status(_) => {}
        EventKind::MarkSent { message_id } => {
            exec(c, SQL_MARK_SENT, &[message_id, ts])?;
        }
        EventKind::MarkFailed {
            message_id,
            error,
            permanent,
        } => {
            exec(c, SQL_MARK_FAILED, &[message_id, error, permanent, ts])?;
        }
        EventKind::PmCommand {
            username,
            command,
            args,
            result,
            error,
        } => {
            let details = pm_command_details(command, args, result, error.as_deref());
            exec(c, SQL_ACTION, &[ts, username, &"pm_command", &details, ch])?;
        }
        EventKind::MediaPlayed {
            media_type,
            media_id,
            title,
            duration,
            queued_by,
        } => {
            exec(
                c,
                SQL_MEDIA,
                &[ts, media_type, media_id, title, duration, queued_by, ch],
            )?;
            exec(
                c,
                dialect(media::SQL_STATS_PLAY),
                &[ch, media_type, media_id, title, duration, ts, queued_by],
            )?;
            if let Some(q) = queued_by.as_deref().filter(|q| !q.is_empty()) {
                exec(c, dialect(media::SQL_ADDER_PLAY), &[ch, &q, ts])?;
            }
        }
        EventKind::MediaEnded {
            media_type,
            media_id,
            reason,
            played,
            started,
        } => {
            let played = played.map(|p| p.max(0));
            let stmt = prep(c, stmts, dialect(media::SQL_END_PLAY))?;
            let row = c.query_opt(
                &stmt,
                &[ch, media_type, media_id, ts, reason, &played, started],
            )?;
            if let Some(row) = row {
                let played: i64 = row.try_get(0)?;
                let [out, skip, vote, removed] = media::end_flags(reason);
                let stmt = prep(c, stmts, dialect(media::SQL_STATS_END))?;
                c.execute(
                    &stmt,
                    &[
                        ch, media_type, media_id, &played, &out, &skip, &vote, &removed,
                    ],
                )?;
            }
        }
        EventKind::Moderation {
            rule,
            username,
            reason,
            evidence,
            step,
            outcome,
            answer,
            dry_run,
        } => {
            let dry = i64::from(*dry_run);
            exec(
                c,
                SQL_MODERATION,
                &[
                    ts, ch, rule, username, reason, evidence, step, outcome, answer, &dry,
                ],
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rosey_model::payload::StatusData;

    use super::*;
    use crate::StoreOptions;

    fn ev(ts: i64, kind: EventKind) -> StoreEvent {
        StoreEvent {
            channel: "c".into(),
            ts,
            id: Some(format!("e{ts}")),
            kind,
        }
    }

    /// Every statement of the fast path succeeds (a failing one would still give the right
    /// rows through the slow path, so the contract tests cannot tell).
    #[test]
    fn the_fast_path_runs_without_falling_back() {
        let db = rosey_testkit::pg::PgTestDb::create("pg_fast_path");
        let mut store = PgStore::connect(&db.url(), &StoreOptions::default()).unwrap();
        let user = |u: &str| u.to_string();
        let line = |ts, u: &str, bot| {
            ev(
                ts,
                EventKind::Message {
                    username: u.into(),
                    message: format!("line {ts}"),
                    bot,
                },
            )
        };
        let events = [
            ev(
                1,
                EventKind::UserJoined {
                    username: user("a"),
                },
            ),
            line(2, "a", false),
            line(3, "Rosey", true),
            ev(
                4,
                EventKind::UserLeft {
                    username: user("a"),
                },
            ),
            ev(
                5,
                EventKind::UserLeft {
                    username: user("b"),
                },
            ),
            ev(
                6,
                EventKind::UserJoined {
                    username: user("a"),
                },
            ),
            ev(
                7,
                EventKind::UserJoined {
                    username: user("b"),
                },
            ),
            line(8, "b", false),
            ev(
                9,
                EventKind::UserCount {
                    chat_count: 2,
                    connected_count: 3,
                },
            ),
            ev(
                10,
                EventKind::HighWater {
                    chat_count: 2,
                    connected_count: None,
                },
            ),
            ev(
                11,
                EventKind::Status(StatusData {
                    bot_name: Some("Rosey".into()),
                    current_media_title: Some(String::new()),
                    ..Default::default()
                }),
            ),
            ev(
                12,
                EventKind::MediaPlayed {
                    media_type: "yt".into(),
                    media_id: "x".into(),
                    title: "t".into(),
                    duration: 60,
                    queued_by: Some("a".into()),
                },
            ),
            ev(
                13,
                EventKind::MediaEnded {
                    media_type: "yt".into(),
                    media_id: "x".into(),
                    reason: "played".into(),
                    played: None,
                    started: None,
                },
            ),
            line(14, "a", false),
        ];
        let PgStore { client, stmts, .. } = &mut store;
        let mut tx = client.transaction().unwrap();
        let outcome = apply_fast(&mut PgFast { tx: &mut tx, stmts }, &events, 1).unwrap();
        tx.commit().unwrap();
        assert_eq!(outcome.applied, events.len());
        let again = store.apply_batch(&events).unwrap();
        assert_eq!(again.duplicates, events.len());
    }
}
