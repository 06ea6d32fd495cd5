//! The CyTube side of command routing: a [`CytubeHandle`] as the [`Outlet`] (its send
//! queue paces everything below the server's flood limits) and the request [`Context`]
//! from the channel state the bot keeps.

use rosey_cytube::{ChannelState, CytubeHandle};
use rosey_plugin::{Context, MediaInfo};

use super::Outlet;

/// How many upcoming titles a request carries.
const UPCOMING: usize = 3;

impl Outlet for CytubeHandle {
    fn chat(&self, text: &str) -> Result<(), String> {
        CytubeHandle::chat(self, text).map_err(|e| e.to_string())
    }

    fn pm(&self, to: &str, text: &str) -> Result<(), String> {
        CytubeHandle::pm(self, to, text).map_err(|e| e.to_string())
    }

    fn poll(&self, title: &str, options: Vec<String>) -> Result<(), String> {
        self.new_poll(title, options, false)
            .map_err(|e| e.to_string())
    }
}

/// What a plugin is told about the channel.
pub fn context(state: &ChannelState, bot_started: f64) -> Context {
    let current = state.current_uid;
    // 1-based: skipping `p` items leaves those after the current one.
    let position = current.and_then(|uid| state.position_of(uid));
    let upcoming = match position {
        Some(p) => state
            .playlist
            .iter()
            .skip(p)
            .take(UPCOMING)
            .map(|i| i.media.title.clone())
            .collect(),
        None => Vec::new(),
    };
    let queued_by = current
        .and_then(|uid| state.playlist.iter().find(|i| i.uid == uid))
        .map(|i| i.queueby.clone())
        .filter(|q| !q.is_empty());
    Context {
        bot_started: Some(bot_started),
        users: Some(state.users.len() as u64),
        media: state.current_media.as_ref().map(|c| MediaInfo {
            title: c.media.title.clone(),
            media_type: c.media.media_type.clone(),
            id: c.media.id.clone(),
            duration: c.media.seconds.max(0.0) as u64,
            queued_by,
        }),
        playlist_items: Some(state.playlist.len() as u64),
        playlist_seconds: Some(
            state
                .playlist
                .iter()
                .map(|i| i.media.seconds.max(0.0) as u64)
                .sum(),
        ),
        upcoming,
    }
}
