//! The `history` plugin: `!history [n]` (the last plays and how they ended),
//! `!mostplayed [day|week|all]`, `!lastplayed <words>` (when a title was last played),
//! `!random` (queues a random item of the history, for those allowed to add — the rank is
//! `plugins.media.random_min_rank` — skipping blocked ones). Answers come from
//! `rosey.db.query.media.*`; `!random` adds through the bot's `add` command.

use rand::seq::IndexedRandom;
use rosey_model::media::{MediaListReply, MostPlayedReply, Period, PlayRow, PlaysReply};
use rosey_model::subjects;
use rosey_plugin::{CommandRequest, CommandSpec, Plugin, Reply};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::blacklist::Blocked;
use crate::text::{age, duration};
use crate::{BusTools, VERSION};

/// Plays `!history` shows by default, and at most.
const HISTORY_DEFAULT: i64 = 5;
const HISTORY_MAX: i64 = 10;
/// Media `!mostplayed` lists.
const MOST_PLAYED: i64 = 5;
/// Media `!random` picks from.
const RANDOM_POOL: i64 = 200;

async fn ask<T: DeserializeOwned>(
    tools: &BusTools,
    subject: &str,
    body: Value,
) -> Result<T, String> {
    let v = tools.db(subject, body).await?;
    serde_json::from_value(v).map_err(|e| e.to_string())
}

fn unavailable(e: String) -> Reply {
    tracing::warn!(error = %e, "Media history unavailable.");
    Reply::error("The media history is unavailable right now.")
}

fn title(t: &Option<String>, id: &str) -> String {
    t.clone()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| id.to_string())
}

fn play_line(p: &PlayRow) -> String {
    let by = p
        .queued_by
        .as_deref()
        .map(|b| format!(", by {b}"))
        .unwrap_or_default();
    let how = match p.end_reason.as_deref() {
        Some(r) => format!(", {r}"),
        None if p.ended_at.is_none() => String::new(),
        None => String::new(),
    };
    format!(
        "{} ({} ago{by}{how})",
        title(&p.title, &p.media_id),
        duration(age(p.timestamp as f64))
    )
}

pub fn plugin(tools: &BusTools, blocked: Blocked, random_min_rank: f64) -> Plugin {
    let (t1, t2, t3, t4) = (tools.clone(), tools.clone(), tools.clone(), tools.clone());
    Plugin::new("history", VERSION)
        .description("What played: !history, !mostplayed, !lastplayed, !random")
        .command(
            CommandSpec::new("history", "The last plays and how they ended.").usage("!history [n]"),
            move |req| history(t1.clone(), req),
        )
        .command(
            CommandSpec::new(
                "mostplayed",
                "The most played media of a day, a week or ever.",
            )
            .usage("!mostplayed [day|week|all]"),
            move |req| most_played(t2.clone(), req),
        )
        .command(
            CommandSpec::new("lastplayed", "When a title was last played.")
                .usage("!lastplayed <words of the title>"),
            move |req| last_played(t3.clone(), req),
        )
        .command(
            CommandSpec::new("random", "Queues a random item of what played here.")
                .usage("!random")
                .min_rank(random_min_rank),
            move |req| random(t4.clone(), blocked.clone(), req),
        )
}

async fn history(tools: BusTools, req: CommandRequest) -> Reply {
    let n = match req.args.trim() {
        "" => HISTORY_DEFAULT,
        a => match a.parse::<i64>() {
            Ok(n) if n >= 1 => n.min(HISTORY_MAX),
            _ => return Reply::error(format!("Usage: {}history [n]", req.prefix)),
        },
    };
    let r: PlaysReply = match ask(
        &tools,
        subjects::QUERY_MEDIA_RECENT,
        json!({"channel": req.channel, "limit": n}),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return unavailable(e),
    };
    if r.plays.is_empty() {
        return Reply::chat("Nothing has played here yet.");
    }
    let mut lines = vec![format!("Last {} played:", r.plays.len())];
    lines.extend(
        r.plays
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{}. {}", i + 1, play_line(p))),
    );
    Reply {
        chat: lines,
        ..Reply::none()
    }
}

async fn most_played(tools: BusTools, req: CommandRequest) -> Reply {
    let Some(period) = Period::parse(&req.args) else {
        return Reply::error(format!("Usage: {}mostplayed [day|week|all]", req.prefix));
    };
    let r: MostPlayedReply = match ask(
        &tools,
        subjects::QUERY_MEDIA_MOST_PLAYED,
        json!({"channel": req.channel, "period": period, "limit": MOST_PLAYED}),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return unavailable(e),
    };
    let when = match period {
        Period::Day => "today",
        Period::Week => "this week",
        Period::All => "ever",
    };
    if r.items.is_empty() {
        return Reply::chat(format!("Nothing played {when}."));
    }
    let list: Vec<String> = r
        .items
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let times = if m.plays == 1 {
                "once".to_string()
            } else {
                format!("{}×", m.plays)
            };
            format!("{}. {} ({times})", i + 1, title(&m.title, &m.media_id))
        })
        .collect();
    Reply::chat(format!("Most played {when}: {}", list.join(" · ")))
}

async fn last_played(tools: BusTools, req: CommandRequest) -> Reply {
    let words = req.args.trim();
    if words.is_empty() {
        return Reply::error(format!(
            "Usage: {}lastplayed <words of the title>",
            req.prefix
        ));
    }
    let r: MediaListReply = match ask(
        &tools,
        subjects::QUERY_MEDIA_SEARCH,
        json!({"channel": req.channel, "words": words, "limit": 1}),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return unavailable(e),
    };
    let Some(m) = r.items.first() else {
        return Reply::chat(format!("Nothing played here matches \"{words}\"."));
    };
    let times = if m.plays == 1 {
        "once".to_string()
    } else {
        format!("{} times", m.plays)
    };
    let by = m
        .last_queued_by
        .as_deref()
        .map(|b| format!(", queued by {b}"))
        .unwrap_or_default();
    Reply::chat(format!(
        "{} was last played {} ago{by} (played {times}).",
        title(&m.title, &m.media_id),
        duration(age(m.last_played as f64))
    ))
}

async fn random(tools: BusTools, blocked: Blocked, req: CommandRequest) -> Reply {
    let r: MediaListReply = match ask(
        &tools,
        subjects::QUERY_MEDIA_CANDIDATES,
        json!({"channel": req.channel, "limit": RANDOM_POOL}),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return unavailable(e),
    };
    let now = req.context.media.as_ref();
    let pool: Vec<_> = r
        .items
        .iter()
        .filter(|m| !blocked.contains(&req.channel, &m.media_type, &m.media_id))
        .filter(|m| !now.is_some_and(|n| n.media_type == m.media_type && n.id == m.media_id))
        .collect();
    let Some(pick) = pool.choose(&mut rand::rng()) else {
        return Reply::chat("Nothing has played here yet to pick from.");
    };
    let name = title(&pick.title, &pick.media_id);
    match super::add(
        &tools,
        &req.channel,
        &pick.media_type,
        &pick.media_id,
        &req.user,
    )
    .await
    {
        Ok(_) => Reply::chat(format!("Random pick for {}: {name}", req.user)),
        Err(server) => Reply::error(format!("Could not add {name}: {server}")),
    }
}
