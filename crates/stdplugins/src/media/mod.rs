//! The media history's chat commands and the services that watch the playlist: what played
//! and how it ended, a blocklist, and autoplay. They reach the database and the bot only
//! over the bus (`rosey.db.query.media.*`, `rosey.commands.<channel>.add|remove|pm`) and
//! read the bot's normalized events (`rosey.events.<channel>.*`).
//!
//! # Layout
//! - [`ending`]: the media-ending tracker: infers how each play ended (played out,
//!   skipped, vote-skipped, removed) from the events and publishes `rosey.db.media.ended`.
//!   Why here and not in the database service: `docs/media-history.md`.
//! - [`events`]: the one subscription to the normalized events, decoded to what these
//!   services read (JSON, so kinds the bot adds later are simply ignored).
//! - [`history`]: the `history` plugin: `!history [n]`, `!mostplayed [day|week|all]`,
//!   `!lastplayed <words>`, `!random`.
//! - [`blacklist`]: the `blacklist` plugin (`!blacklist add|remove|list`, moderators) and
//!   its guard, which has the bot remove a blocked item as soon as it is queued.
//! - [`autoplay`]: per channel (off by default), keeps the playlist at a floor from the
//!   history while nobody else adds.

pub mod autoplay;
pub mod blacklist;
pub mod ending;
pub mod events;
pub mod history;

use rosey_config::media::MediaConfig;
use rosey_model::media::media_url;
use rosey_model::payload::{CommandReply, PlaylistCommand};
use rosey_model::subjects;

use crate::BusTools;

/// Starts the tracker, the blocklist's guard and autoplay where it is on; returns their
/// tasks. `blocked` is the blocklist shared with the `blacklist` plugin.
pub async fn start_services(
    tools: &BusTools,
    cfg: &MediaConfig,
    blocked: blacklist::Blocked,
    guard: bool,
) -> Result<Vec<tokio::task::JoinHandle<()>>, async_nats::Error> {
    let mut tasks = vec![ending::start(tools.clone(), cfg.time_scale).await?];
    if guard {
        blocked.load(tools).await;
        tasks.push(blacklist::start_guard(tools.clone(), blocked.clone()).await?);
    }
    for (channel, a) in cfg.autoplay_channels() {
        tasks.push(
            autoplay::start(
                tools.clone(),
                channel.clone(),
                a.clone(),
                cfg.time_scale,
                blocked.clone(),
            )
            .await?,
        );
    }
    Ok(tasks)
}

/// Has the bot of `channel` queue `type:id` as a temporary item; the server's words, or
/// its refusal.
pub async fn add(
    tools: &BusTools,
    channel: &str,
    media_type: &str,
    media_id: &str,
    by: &str,
) -> Result<String, String> {
    let body = serde_json::to_value(PlaylistCommand {
        url: Some(media_url(media_type, media_id)),
        temp: Some(true),
        by: Some(by.to_string()),
    })
    .unwrap_or_default();
    command(tools, channel, subjects::COMMAND_ADD, body).await
}

/// A bot command answered with a [`CommandReply`]: its message, or its error.
pub async fn command(
    tools: &BusTools,
    channel: &str,
    action: &str,
    body: serde_json::Value,
) -> Result<String, String> {
    let v = tools
        .request(&subjects::command_subject(channel, action), body)
        .await?;
    let r: CommandReply = serde_json::from_value(v).map_err(|e| e.to_string())?;
    if r.success {
        Ok(r.message.unwrap_or_default())
    } else {
        Err(r.error.unwrap_or_else(|| "refused".into()))
    }
}
