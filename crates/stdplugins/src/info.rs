//! Commands that report: `!help` (from plugin discovery; when discovery finds nothing, as
//! for a plugin user that may not send `$SRV.INFO`, the standard plugins this process runs),
//! `!seen`, `!stats`, `!top` (from the database service), `!np`, `!queue`, `!uptime` (from
//! the context the bot sends).

use std::sync::Arc;
use std::time::Duration;

use rosey_model::subjects;
use rosey_plugin::{CommandRequest, CommandSpec, Plugin, PluginInfo, Reply};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::text::{age, duration};
use crate::{BusTools, VERSION};

/// How long `!help` reuses one discovery.
const HELP_CACHE: Duration = Duration::from_secs(5);
/// How long one discovery for `!help` collects answers.
const HELP_DISCOVERY: Duration = Duration::from_millis(200);
/// Entries `!top` shows.
const TOP: usize = 5;

type Cache = Arc<Mutex<Option<(Instant, Vec<PluginInfo>)>>>;
/// The plugins this process runs, for `!help` when discovery finds none.
pub type Local = Arc<std::sync::OnceLock<Vec<PluginInfo>>>;

/// `!help [command]`: the commands the asker may run, or one command's usage.
pub fn help(tools: &BusTools) -> Plugin {
    help_with(tools, Local::default())
}

/// [`help`] that falls back on `local` when discovery finds no plugin.
pub fn help_with(tools: &BusTools, local: Local) -> Plugin {
    let client = tools.client.clone();
    let cache: Cache = Arc::default();
    Plugin::new("help", VERSION)
        .description("Lists the commands you may run")
        .command(
            CommandSpec::new("help", "Lists the commands you may run, or explains one.")
                .usage("!help [command]"),
            move |req| {
                let (client, cache, local) = (client.clone(), cache.clone(), local.clone());
                async move {
                    let plugins = {
                        let mut c = cache.lock().await;
                        match &*c {
                            Some((at, p)) if at.elapsed() < HELP_CACHE => p.clone(),
                            _ => {
                                let mut p = rosey_plugin::discover(&client, HELP_DISCOVERY)
                                    .await
                                    .unwrap_or_default();
                                if p.is_empty() {
                                    p = local.get().cloned().unwrap_or_default();
                                }
                                *c = Some((Instant::now(), p.clone()));
                                p
                            }
                        }
                    };
                    help_text(&req, &plugins)
                }
            },
        )
}

/// The help reply for `req` given the plugins on the bus.
pub fn help_text(req: &CommandRequest, plugins: &[PluginInfo]) -> Reply {
    let p = &req.prefix;
    let mut commands: Vec<_> = plugins
        .iter()
        .flat_map(|pl| pl.commands.iter())
        .filter(|c| c.min_rank <= req.rank)
        .collect();
    commands.sort_by(|a, b| a.name.cmp(&b.name));
    commands.dedup_by(|a, b| a.name == b.name);
    let wanted = req
        .args
        .trim()
        .trim_start_matches(p.as_str())
        .to_lowercase();
    if wanted.is_empty() {
        let names: Vec<String> = commands.iter().map(|c| format!("{p}{}", c.name)).collect();
        return Reply::chat(format!(
            "Commands: {}. Try {p}help <command>.",
            names.join(", ")
        ));
    }
    match commands.iter().find(|c| c.name.to_lowercase() == wanted) {
        Some(c) => {
            let usage = c.usage.replacen('!', p, 1);
            Reply::chat(format!("{usage} — {}", c.help))
        }
        None => Reply::error(format!("No command {p}{wanted} that you may run.")),
    }
}

/// `!seen <user>`.
pub fn seen(tools: &BusTools) -> Plugin {
    let tools = tools.clone();
    Plugin::new("seen", VERSION)
        .description("When a user was last here")
        .command(
            CommandSpec::new("seen", "When a user was last here.").usage("!seen <user>"),
            move |req| {
                let tools = tools.clone();
                async move {
                    let Some(name) = req.argv().first().map(|s| s.to_string()) else {
                        return Reply::error(format!("Usage: {}seen <user>", req.prefix));
                    };
                    let q = json!({"username": name, "channel": req.channel});
                    match tools.db(subjects::QUERY_USER_STATS, q).await {
                        Ok(v) => Reply::chat(seen_line(&name, &v, crate::text::now())),
                        Err(e) => db_unavailable(&e),
                    }
                }
            },
        )
}

/// The `!seen` line from a `user_stats` reply.
pub fn seen_line(name: &str, v: &Value, now: f64) -> String {
    if v["found"] != Value::Bool(true) {
        return format!("I have not seen {name}.");
    }
    if !v["current_session_start"].is_null() {
        return format!("{name} is here now.");
    }
    match v["last_seen"].as_f64() {
        Some(t) => format!(
            "{name} was last seen {} ago.",
            duration((now - t).max(0.0) as u64)
        ),
        None => format!("I have not seen {name}."),
    }
}

fn db_unavailable(e: &str) -> Reply {
    tracing::warn!(error = %e, "Database query failed.");
    Reply::error("Statistics are unavailable right now.")
}

/// `!stats` and `!top`.
pub fn stats(tools: &BusTools) -> Plugin {
    let (t1, t2) = (tools.clone(), tools.clone());
    Plugin::new("stats", VERSION)
        .description("Channel statistics and top chatters")
        .command(
            CommandSpec::new("stats", "Channel statistics.").usage("!stats"),
            move |req| {
                let tools = t1.clone();
                async move {
                    match channel_stats(&tools, &req).await {
                        Ok(v) => Reply::chat(stats_line(&v)),
                        Err(e) => db_unavailable(&e),
                    }
                }
            },
        )
        .command(
            CommandSpec::new("top", "The most talkative users.").usage("!top"),
            move |req| {
                let tools = t2.clone();
                async move {
                    match channel_stats(&tools, &req).await {
                        Ok(v) => Reply::chat(top_line(&v)),
                        Err(e) => db_unavailable(&e),
                    }
                }
            },
        )
}

async fn channel_stats(tools: &BusTools, req: &CommandRequest) -> Result<Value, String> {
    tools
        .db(
            subjects::QUERY_CHANNEL_STATS,
            json!({"channel": req.channel}),
        )
        .await
}

/// `Peak: 12 users; 40 users seen; 5 here now.`
pub fn stats_line(v: &Value) -> String {
    format!(
        "Peak: {} users; {} users seen; {} here now.",
        v["high_water_mark"]["users"].as_i64().unwrap_or(0),
        v["total_users_seen"].as_i64().unwrap_or(0),
        v["current"]["chat_users"].as_i64().unwrap_or(0),
    )
}

/// `Top chatters: 1. alice (120), 2. bob (80)`.
pub fn top_line(v: &Value) -> String {
    let top: Vec<String> = v["top_chatters"]
        .as_array()
        .into_iter()
        .flatten()
        .take(TOP)
        .enumerate()
        .map(|(i, t)| {
            format!(
                "{}. {} ({})",
                i + 1,
                t["username"].as_str().unwrap_or("?"),
                t["chat_lines"].as_i64().unwrap_or(0)
            )
        })
        .collect();
    if top.is_empty() {
        "Nobody has said anything yet.".into()
    } else {
        format!("Top chatters: {}", top.join(", "))
    }
}

/// `!np` and `!queue`, from the context the bot sends.
pub fn media() -> Plugin {
    Plugin::new("media", VERSION)
        .description("What is playing and what is next")
        .command(
            CommandSpec::new("np", "What is playing now.").usage("!np"),
            |req| async move { Reply::chat(np_line(&req)) },
        )
        .command(
            CommandSpec::new("queue", "The playlist: length and what is next.").usage("!queue"),
            |req| async move { Reply::chat(queue_line(&req)) },
        )
}

pub fn np_line(req: &CommandRequest) -> String {
    match &req.context.media {
        Some(m) if !m.title.is_empty() => {
            let mut s = format!("Now playing: {}", m.title);
            if m.duration > 0 {
                s += &format!(" ({})", duration(m.duration));
            }
            if let Some(by) = &m.queued_by {
                s += &format!(", queued by {by}");
            }
            s
        }
        _ => "Nothing is playing.".into(),
    }
}

pub fn queue_line(req: &CommandRequest) -> String {
    let c = &req.context;
    let items = c.playlist_items.unwrap_or(0);
    if items == 0 {
        return "The playlist is empty.".into();
    }
    let mut s = format!(
        "Playlist: {items} item{}, {} in all.",
        if items == 1 { "" } else { "s" },
        duration(c.playlist_seconds.unwrap_or(0))
    );
    if !c.upcoming.is_empty() {
        s += &format!(" Next: {}", c.upcoming.join(", "));
    }
    s
}

/// `!uptime`: how long the bot has been running.
pub fn uptime() -> Plugin {
    Plugin::new("uptime", VERSION)
        .description("How long the bot has been running")
        .command(
            CommandSpec::new("uptime", "How long the bot has been running.").usage("!uptime"),
            |req| async move {
                match req.context.bot_started {
                    Some(t) => Reply::chat(format!("Up for {}.", duration(age(t)))),
                    None => Reply::error("The bot did not say when it started."),
                }
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rosey_plugin::{CommandInfo, Context, MediaInfo};

    fn req(args: &str, rank: f64) -> CommandRequest {
        serde_json::from_value(json!({"channel": "c", "user": "u", "command": "x",
            "args": args, "rank": rank, "prefix": "!"}))
        .unwrap()
    }

    #[test]
    fn help_lists_only_what_the_rank_allows() {
        let cmd = |name: &str, rank: f64| CommandInfo {
            name: name.into(),
            subject: String::new(),
            help: format!("does {name}"),
            usage: format!("!{name} <x>"),
            min_rank: rank,
            pm: false,
        };
        let plugins = vec![PluginInfo {
            name: "p".into(),
            version: "1".into(),
            description: String::new(),
            protocol: "1".into(),
            ids: vec![],
            commands: vec![cmd("roll", 0.0), cmd("poll", 2.0)],
            ignored: vec![],
        }];
        assert_eq!(
            help_text(&req("", 0.0), &plugins).chat,
            ["Commands: !roll. Try !help <command>."]
        );
        assert_eq!(
            help_text(&req("", 2.0), &plugins).chat,
            ["Commands: !poll, !roll. Try !help <command>."]
        );
        assert_eq!(
            help_text(&req("!roll", 0.0), &plugins).chat,
            ["!roll <x> — does roll"]
        );
        assert!(help_text(&req("poll", 0.0), &plugins).error.is_some());
    }

    #[test]
    fn seen_and_stats_lines() {
        let v = json!({"found": true, "last_seen": 1000, "current_session_start": null});
        assert_eq!(seen_line("bob", &v, 4_600.0), "bob was last seen 1h ago.");
        let here = json!({"found": true, "last_seen": 1000, "current_session_start": 900});
        assert_eq!(seen_line("bob", &here, 4_600.0), "bob is here now.");
        assert_eq!(
            seen_line("zed", &json!({"found": false}), 0.0),
            "I have not seen zed."
        );
        let s = json!({"high_water_mark": {"users": 7}, "total_users_seen": 9,
                       "current": {"chat_users": 3},
                       "top_chatters": [{"username": "a", "chat_lines": 5}, {"username": "b", "chat_lines": 2}]});
        assert_eq!(stats_line(&s), "Peak: 7 users; 9 users seen; 3 here now.");
        assert_eq!(top_line(&s), "Top chatters: 1. a (5), 2. b (2)");
    }

    #[test]
    fn now_playing_and_queue() {
        let mut r = req("", 0.0);
        assert_eq!(np_line(&r), "Nothing is playing.");
        assert_eq!(queue_line(&r), "The playlist is empty.");
        r.context = Context {
            media: Some(MediaInfo {
                title: "Song".into(),
                duration: 200,
                queued_by: Some("amy".into()),
                ..MediaInfo::default()
            }),
            playlist_items: Some(3),
            playlist_seconds: Some(600),
            upcoming: vec!["B".into(), "C".into()],
            ..Context::default()
        };
        assert_eq!(np_line(&r), "Now playing: Song (3m 20s), queued by amy");
        assert_eq!(queue_line(&r), "Playlist: 3 items, 10m in all. Next: B, C");
    }
}
