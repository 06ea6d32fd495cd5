//! What a plugin is told about the channel ([`Context`]), from the channel's live view: the
//! same for every platform, with what the platform has (no media or playlist on IRC).

use rosey_plugin::{Context, MediaInfo};

use crate::platform::View;

/// How many upcoming titles a request carries.
const UPCOMING: usize = 3;

/// The request context of a channel whose bot started at `bot_started`.
pub fn of(view: &View, bot_started: f64) -> Context {
    Context {
        bot_started: Some(bot_started),
        users: Some(view.users.len() as u64),
        media: view.media.as_ref().map(|m| MediaInfo {
            title: m.title.clone(),
            media_type: m.media_type.clone(),
            id: m.id.clone(),
            duration: m.seconds,
            queued_by: m.queued_by.clone(),
        }),
        playlist_items: view.playlist.as_ref().map(|p| p.items as u64),
        playlist_seconds: view.playlist.as_ref().map(|p| p.seconds),
        upcoming: view
            .playlist
            .as_ref()
            .map(|p| {
                p.upcoming
                    .iter()
                    .take(UPCOMING)
                    .map(|u| u.title.clone())
                    .collect()
            })
            .unwrap_or_default(),
    }
}
