//! `rosey db copy`: an SQLite database (including a Rosey v0.5 file, adopted first, after its
//! backup) into PostgreSQL — every table, every row, ids kept — resumable, then compared.
//!
//! Each table is read in `rowid` order in chunks; each chunk is inserted with one multi-row
//! statement, and the position reached is recorded in `rosey_copy_progress` **in the same
//! transaction**. So an interruption at any moment (Ctrl-C, a crash, a lost connection)
//! leaves whole chunks and a position that matches them exactly, and running the same copy
//! again continues after the last committed chunk: nothing is copied twice or skipped.
//! A target that holds rows but no progress record of this source is refused (not merged).
//!
//! At the end the identity sequences are moved past the copied ids, and the copy is checked:
//! row counts of every table, and the answers of a sample of queries (channel statistics,
//! recent chat, user-count history and due outbound messages of each channel, and user
//! statistics of up to 50 users per channel) asked of both databases.

use std::path::Path;

use postgres::types::ToSql;
use rusqlite::types::Value;

use crate::pg::PgStore;
use crate::{Storage, Store, StoreError, StoreOptions, error::pg_op, now_secs};

/// Column kinds of the copied tables.
#[derive(Clone, Copy)]
enum Kind {
    Int,
    Text,
    Real,
}
use Kind::{Int, Real, Text};

/// Every table but `rosey_migrations` (each backend records its own), with its columns.
const TABLES: [(&str, &[(&str, Kind)]); 15] = [
    (
        "user_stats",
        &[
            ("username", Text),
            ("first_seen", Int),
            ("last_seen", Int),
            ("total_chat_lines", Int),
            ("total_time_connected", Int),
            ("current_session_start", Int),
            ("channel", Text),
        ],
    ),
    (
        "user_actions",
        &[
            ("id", Int),
            ("timestamp", Int),
            ("username", Text),
            ("action_type", Text),
            ("details", Text),
            ("channel", Text),
        ],
    ),
    (
        "channel_stats",
        &[
            ("id", Int),
            ("max_users", Int),
            ("max_users_timestamp", Int),
            ("max_connected", Int),
            ("max_connected_timestamp", Int),
            ("last_updated", Int),
            ("channel", Text),
        ],
    ),
    (
        "user_count_history",
        &[
            ("id", Int),
            ("timestamp", Int),
            ("chat_users", Int),
            ("connected_users", Int),
            ("channel", Text),
        ],
    ),
    (
        "recent_chat",
        &[
            ("id", Int),
            ("timestamp", Int),
            ("username", Text),
            ("message", Text),
            ("channel", Text),
        ],
    ),
    (
        "current_status",
        &[
            ("id", Int),
            ("bot_name", Text),
            ("bot_rank", Real),
            ("bot_afk", Int),
            ("channel_name", Text),
            ("current_chat_users", Int),
            ("current_connected_users", Int),
            ("playlist_items", Int),
            ("current_media_title", Text),
            ("current_media_duration", Int),
            ("bot_start_time", Int),
            ("bot_connected", Int),
            ("last_updated", Int),
            ("channel", Text),
        ],
    ),
    (
        "outbound_messages",
        &[
            ("id", Int),
            ("timestamp", Int),
            ("message", Text),
            ("sent", Int),
            ("sent_timestamp", Int),
            ("retry_count", Int),
            ("last_error", Text),
            ("channel", Text),
        ],
    ),
    (
        "api_tokens",
        &[
            ("token", Text),
            ("description", Text),
            ("created_at", Int),
            ("last_used", Int),
            ("revoked", Int),
        ],
    ),
    (
        "media_history",
        &[
            ("id", Int),
            ("timestamp", Int),
            ("media_type", Text),
            ("media_id", Text),
            ("title", Text),
            ("duration", Int),
            ("queued_by", Text),
            ("channel", Text),
            ("ended_at", Int),
            ("end_reason", Text),
            ("played_seconds", Int),
        ],
    ),
    (
        "moderation_actions",
        &[
            ("id", Int),
            ("timestamp", Int),
            ("channel", Text),
            ("rule", Text),
            ("username", Text),
            ("reason", Text),
            ("evidence", Text),
            ("step", Text),
            ("outcome", Text),
            ("answer", Text),
            ("dry_run", Int),
        ],
    ),
    (
        "processed_events",
        &[("seq", Int), ("event_id", Text), ("ts", Int)],
    ),
    (
        "user_presence",
        &[
            ("channel", Text),
            ("username", Text),
            ("ts", Int),
            ("present", Int),
        ],
    ),
    (
        "plugin_kv",
        &[
            ("plugin", Text),
            ("key", Text),
            ("value", Text),
            ("updated_at", Int),
        ],
    ),
    (
        "media_stats",
        &[
            ("channel", Text),
            ("media_type", Text),
            ("media_id", Text),
            ("title", Text),
            ("duration", Int),
            ("plays", Int),
            ("first_played", Int),
            ("last_played", Int),
            ("last_queued_by", Text),
            ("total_played", Int),
            ("played_out", Int),
            ("skips", Int),
            ("vote_skips", Int),
            ("removals", Int),
        ],
    ),
    (
        "media_adders",
        &[
            ("channel", Text),
            ("username", Text),
            ("plays", Int),
            ("first_played", Int),
            ("last_played", Int),
        ],
    ),
];

const PROGRESS_SQL: &str = "CREATE TABLE IF NOT EXISTS rosey_copy_progress (
    source TEXT NOT NULL,
    table_name TEXT NOT NULL,
    last_rowid BIGINT NOT NULL,
    copied BIGINT NOT NULL,
    PRIMARY KEY (source, table_name)
)";

/// How to copy.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Rows per chunk (one statement and one commit each).
    pub chunk_rows: i64,
    /// Stop (as if interrupted) once this many rows were copied by this run.
    pub stop_after_rows: Option<u64>,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            chunk_rows: 5_000,
            stop_after_rows: None,
        }
    }
}

/// What a copy did and found.
#[derive(Debug, Clone, Default)]
pub struct CopyReport {
    /// (table, rows in the source, rows in the target).
    pub tables: Vec<(String, i64, i64)>,
    /// Rows this run copied.
    pub copied_now: u64,
    /// This run continued an earlier, interrupted one.
    pub resumed: bool,
    /// Stopped before the end (`stop_after_rows`); run again to continue.
    pub interrupted: bool,
    /// Query answers compared.
    pub answers_compared: usize,
    /// Every difference found (empty: identical).
    pub mismatches: Vec<String>,
}

/// Progress: rows copied so far (this and earlier runs) of the total, and the table.
pub type OnProgress<'a> = &'a mut dyn FnMut(&str, u64, u64);

/// Copies `source` (SQLite) into `url` (PostgreSQL); see the module doc.
pub fn sqlite_to_postgres(
    source: &Path,
    url: &str,
    store_options: &StoreOptions,
    options: &CopyOptions,
    progress: OnProgress<'_>,
) -> Result<CopyReport, StoreError> {
    if !source.exists() {
        return Err(StoreError::Copy(format!(
            "{} does not exist",
            source.display()
        )));
    }
    let mut src = Store::open(source, store_options)?;
    let mut dst = PgStore::connect(url, store_options)?;
    let source_key = std::fs::canonicalize(source)
        .unwrap_or_else(|_| source.to_path_buf())
        .to_string_lossy()
        .into_owned();
    let client = dst.client();
    client
        .batch_execute(PROGRESS_SQL)
        .map_err(pg_op("create rosey_copy_progress"))?;
    let done: Vec<(String, i64, i64)> = client
        .query(
            "SELECT table_name, last_rowid, copied FROM rosey_copy_progress WHERE source = $1",
            &[&source_key],
        )
        .map_err(pg_op("read copy progress"))?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let mut report = CopyReport {
        resumed: !done.is_empty(),
        ..Default::default()
    };
    if done.is_empty() {
        for (table, _) in TABLES {
            if Storage::count_rows(&mut dst, table)? > 0 {
                return Err(StoreError::Copy(format!(
                    "the target already holds rows (in `{table}`) that no earlier copy of {} \
                     wrote; copy into an empty database",
                    source.display()
                )));
            }
        }
    }
    let mut total = 0u64;
    for (table, _) in TABLES {
        total += src.count_rows(table)? as u64;
    }
    let mut copied_all: u64 = done.iter().map(|d| d.2 as u64).sum();
    progress("", copied_all, total);
    for (table, cols) in TABLES {
        let mut last = done.iter().find(|d| d.0 == table).map(|d| d.1).unwrap_or(0);
        loop {
            let rows = read_chunk(&src, table, cols, last, options.chunk_rows.max(1))?;
            let Some(&(next, _)) = rows.last() else {
                break;
            };
            write_chunk(dst.client(), table, cols, &rows, &source_key, next)?;
            last = next;
            report.copied_now += rows.len() as u64;
            copied_all += rows.len() as u64;
            progress(table, copied_all, total);
            if options
                .stop_after_rows
                .is_some_and(|limit| report.copied_now >= limit)
            {
                report.interrupted = true;
                return Ok(report);
            }
        }
    }
    reset_sequences(dst.client())?;
    for (table, _) in TABLES {
        report.tables.push((
            table.to_string(),
            src.count_rows(table)?,
            Storage::count_rows(&mut dst, table)?,
        ));
    }
    for (table, s, d) in &report.tables {
        if s != d {
            report.mismatches.push(format!(
                "{table}: {s} rows in the source, {d} in the target"
            ));
        }
    }
    compare_answers(&mut src, &mut dst, &mut report)?;
    Ok(report)
}

/// One chunk of `table` after `rowid` `after`: (rowid, values).
fn read_chunk(
    src: &Store,
    table: &str,
    cols: &[(&str, Kind)],
    after: i64,
    limit: i64,
) -> Result<Vec<(i64, Vec<Value>)>, StoreError> {
    let names: Vec<&str> = cols.iter().map(|c| c.0).collect();
    let sql = format!(
        "SELECT rowid, {} FROM {table} WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
        names.join(", ")
    );
    let op = crate::error::op("read the source");
    let mut stmt = src.connection().prepare(&sql).map_err(op)?;
    let rows = stmt
        .query_map([after, limit], |r| {
            let mut v = Vec::with_capacity(cols.len());
            for i in 0..cols.len() {
                v.push(r.get::<_, Value>(i + 1)?);
            }
            Ok((r.get::<_, i64>(0)?, v))
        })
        .map_err(crate::error::op("read the source"))?;
    rows.collect::<Result<_, _>>()
        .map_err(crate::error::op("read the source"))
}

/// Inserts one chunk and records the position, in one transaction.
fn write_chunk(
    client: &mut postgres::Client,
    table: &str,
    cols: &[(&str, Kind)],
    rows: &[(i64, Vec<Value>)],
    source: &str,
    last_rowid: i64,
) -> Result<(), StoreError> {
    let mut arrays: Vec<Box<dyn ToSql + Sync>> = Vec::with_capacity(cols.len());
    for (i, (name, kind)) in cols.iter().enumerate() {
        let values = rows.iter().map(|r| &r.1[i]);
        arrays.push(match kind {
            Int => Box::new(
                values
                    .map(|v| as_int(v, table, name))
                    .collect::<Result<Vec<Option<i64>>, _>>()?,
            ),
            Real => Box::new(
                values
                    .map(|v| match v {
                        Value::Real(f) => Some(*f),
                        Value::Integer(n) => Some(*n as f64),
                        Value::Text(t) => t.parse().ok(),
                        _ => None,
                    })
                    .collect::<Vec<Option<f64>>>(),
            ),
            Text => Box::new(
                values
                    .map(|v| match v {
                        Value::Text(t) => Some(t.replace('\0', "\u{fffd}")),
                        Value::Integer(n) => Some(n.to_string()),
                        Value::Real(f) => Some(f.to_string()),
                        Value::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
                        Value::Null => None,
                    })
                    .collect::<Vec<Option<String>>>(),
            ),
        });
    }
    let names: Vec<&str> = cols.iter().map(|c| c.0).collect();
    let casts: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, (_, k))| {
            let t = match k {
                Int => "bigint",
                Text => "text",
                Real => "float8",
            };
            format!("${}::{t}[]", i + 1)
        })
        .collect();
    let sql = format!(
        "INSERT INTO {table} ({}) SELECT * FROM unnest({})",
        names.join(", "),
        casts.join(", ")
    );
    let params: Vec<&(dyn ToSql + Sync)> = arrays.iter().map(|a| a.as_ref()).collect();
    let mut tx = client.transaction().map_err(pg_op("begin chunk"))?;
    tx.execute(sql.as_str(), &params)
        .map_err(pg_op("insert a chunk"))?;
    tx.execute(
        "INSERT INTO rosey_copy_progress (source, table_name, last_rowid, copied)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (source, table_name) DO UPDATE SET
           last_rowid = excluded.last_rowid,
           copied = rosey_copy_progress.copied + excluded.copied",
        &[&source, &table, &last_rowid, &(rows.len() as i64)],
    )
    .map_err(pg_op("record copy progress"))?;
    tx.commit().map_err(pg_op("commit chunk"))
}

fn as_int(v: &Value, table: &str, column: &str) -> Result<Option<i64>, StoreError> {
    match v {
        Value::Null => Ok(None),
        Value::Integer(n) => Ok(Some(*n)),
        Value::Real(f) => Ok(Some(f.floor() as i64)),
        Value::Text(t) => t
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| StoreError::Copy(format!("{table}.{column}: {t:?} is not an integer"))),
        Value::Blob(_) => Err(StoreError::Copy(format!(
            "{table}.{column}: a blob where an integer belongs"
        ))),
    }
}

/// Moves every identity sequence past the copied ids, so new rows get fresh ones.
fn reset_sequences(client: &mut postgres::Client) -> Result<(), StoreError> {
    for (table, cols) in TABLES {
        let key = cols[0].0;
        if !matches!(key, "id" | "seq") {
            continue;
        }
        client
            .execute(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', '{key}'),
                            coalesce(max({key}), 0) + 1, false) FROM {table}"
                ),
                &[],
            )
            .map_err(pg_op("reset identity sequences"))?;
    }
    Ok(())
}

/// Asks both databases the same sample of queries.
fn compare_answers(
    src: &mut Store,
    dst: &mut PgStore,
    report: &mut CopyReport,
) -> Result<(), StoreError> {
    let now = now_secs();
    let json = |v: &dyn erased::Json| v.to_json();
    let channels = Storage::channels(src)?;
    let mut check = |what: String, a: serde_json::Value, b: serde_json::Value| {
        report.answers_compared += 1;
        if a != b {
            report
                .mismatches
                .push(format!("{what}: source {a}, target {b}"));
        }
    };
    for ch in channels.iter().take(20) {
        check(
            format!("channel_stats({ch})"),
            json(&src.channel_stats(ch)?),
            json(&Storage::channel_stats(dst, ch)?),
        );
        let chat = src.recent_chat(ch, 100)?;
        check(
            format!("recent_chat({ch})"),
            json(&chat),
            json(&Storage::recent_chat(dst, ch, 100)?),
        );
        check(
            format!("user_count_history({ch})"),
            json(&src.user_count_history(ch, 1.0e6, now)?),
            json(&Storage::user_count_history(dst, ch, 1.0e6, now)?),
        );
        check(
            format!("outbound due({ch})"),
            json(&src.due(ch, 50, 3, now)?),
            json(&Storage::due(dst, ch, 50, 3, now)?),
        );
        compare_media(src, dst, ch, &mut check)?;
        let mut users: Vec<String> = src
            .channel_stats(ch)?
            .top_chatters
            .into_iter()
            .map(|t| t.username)
            .chain(chat.into_iter().map(|c| c.username))
            .collect();
        users.sort();
        users.dedup();
        for u in users.iter().take(50) {
            check(
                format!("user_stats({ch}, {u})"),
                json(&src.user_stats(ch, u)?),
                json(&Storage::user_stats(dst, ch, u)?),
            );
        }
    }
    Ok(())
}

/// The media history's answers of one channel: recent plays, most played and top adders
/// of every period, and each of the most played media's page.
fn compare_media(
    src: &mut Store,
    dst: &mut PgStore,
    ch: &str,
    check: &mut impl FnMut(String, serde_json::Value, serde_json::Value),
) -> Result<(), StoreError> {
    use crate::media::MediaStore;
    let json = |v: &dyn erased::Json| v.to_json();
    let now = now_secs();
    check(
        format!("media_recent({ch})"),
        json(&src.media_recent(ch, None, 100)?),
        json(&MediaStore::media_recent(dst, ch, None, 100)?),
    );
    for since in [None, Some(now - 86_400), Some(now - 7 * 86_400)] {
        check(
            format!("media_most_played({ch}, {since:?})"),
            json(&src.media_most_played(ch, since, 50)?),
            json(&MediaStore::media_most_played(dst, ch, since, 50)?),
        );
        check(
            format!("media_top_adders({ch}, {since:?})"),
            json(&src.media_top_adders(ch, since, 50)?),
            json(&MediaStore::media_top_adders(dst, ch, since, 50)?),
        );
    }
    for m in src.media_most_played(ch, None, 20)? {
        check(
            format!("media_item({ch}, {}:{})", m.media_type, m.media_id),
            json(&src.media_item(ch, &m.media_type, &m.media_id, 50)?),
            json(&MediaStore::media_item(
                dst,
                ch,
                &m.media_type,
                &m.media_id,
                50,
            )?),
        );
    }
    Ok(())
}

/// Serializing any reply to a JSON value, behind a trait object.
mod erased {
    pub trait Json {
        fn to_json(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
        }
    }
}
