//! A mirror of the channel as the events describe it: users, playlist, media, leader, our rank.
//!
//! Pure code: [`ChannelState::apply`] folds one [`CytubeEvent`] into the state. The client keeps
//! one internally (for its own name, rank and AFK flag), but does not share it: a bot keeps its
//! own copy and applies each event it receives, so that the state it reads always matches the
//! event it is handling. `Connected` clears everything, so the state is rebuilt from the fresh
//! join burst after each reconnect.

use std::collections::BTreeMap;

use crate::event::{
    ChangeMedia, ChannelOpts, PlaylistItem, Poll, Position, Rank, ServerEvent, User,
};
use crate::handle::CytubeEvent;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelState {
    /// Named users in the channel (anonymous viewers are not listed by CyTube).
    pub users: Vec<User>,
    /// All connections, anonymous ones included (throttled by the server to one per 10 s).
    pub usercount: Option<u64>,
    pub playlist: Vec<PlaylistItem>,
    pub current_uid: Option<u64>,
    pub current_media: Option<ChangeMedia>,
    pub leader: Option<String>,
    /// The name we are logged in as (canonical spelling from the `login` reply).
    pub own_name: Option<String>,
    /// Our effective rank; -1 until logged in.
    pub own_rank: Rank,
    pub options: Option<ChannelOpts>,
    pub permissions: BTreeMap<String, f64>,
    pub playlist_locked: Option<bool>,
    pub poll: Option<Poll>,
    /// True once `userlist` arrived on the current connection.
    pub joined: bool,
}

impl ChannelState {
    pub fn new() -> Self {
        ChannelState {
            own_rank: -1.0,
            ..Default::default()
        }
    }

    /// Case-insensitive lookup (CyTube names are unique case-insensitively).
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.name.eq_ignore_ascii_case(name))
    }

    fn user_mut(&mut self, name: &str) -> Option<&mut User> {
        self.users
            .iter_mut()
            .find(|u| u.name.eq_ignore_ascii_case(name))
    }

    /// Our own entry in the user list.
    pub fn own_user(&self) -> Option<&User> {
        self.own_name.as_deref().and_then(|n| self.user(n))
    }

    /// The uid of the item at 1-based `position` (as users count them).
    pub fn uid_at(&self, position: usize) -> Option<u64> {
        position
            .checked_sub(1)
            .and_then(|i| self.playlist.get(i))
            .map(|item| item.uid)
    }

    /// The 1-based position of `uid`.
    pub fn position_of(&self, uid: u64) -> Option<usize> {
        self.playlist
            .iter()
            .position(|item| item.uid == uid)
            .map(|i| i + 1)
    }

    pub fn apply(&mut self, event: &CytubeEvent) {
        match event {
            CytubeEvent::Connected { .. } => *self = ChannelState::new(),
            CytubeEvent::Joined { .. } => self.joined = true,
            CytubeEvent::Disconnected { .. } | CytubeEvent::Kicked { .. } => self.joined = false,
            CytubeEvent::Server(ev) => self.apply_server(ev),
            _ => {}
        }
    }

    fn apply_server(&mut self, event: &ServerEvent) {
        match event {
            ServerEvent::Userlist(users) => self.users = users.clone(),
            ServerEvent::AddUser(user) => match self.user_mut(&user.name) {
                Some(existing) => *existing = user.clone(),
                None => self.users.push(user.clone()),
            },
            ServerEvent::UserLeave { name } => {
                self.users.retain(|u| !u.name.eq_ignore_ascii_case(name))
            }
            ServerEvent::Usercount(n) => self.usercount = Some(*n),
            ServerEvent::Rank(rank) => {
                self.own_rank = *rank;
                if let Some(name) = self.own_name.clone()
                    && let Some(u) = self.user_mut(&name)
                {
                    u.rank = *rank;
                }
            }
            ServerEvent::SetUserRank { name, rank } => {
                if let Some(u) = self.user_mut(name) {
                    u.rank = *rank;
                }
            }
            ServerEvent::SetAfk { name, afk } => {
                if let Some(u) = self.user_mut(name) {
                    u.meta.afk = *afk;
                }
            }
            ServerEvent::SetUserMeta { name, meta } => {
                if let Some(u) = self.user_mut(name) {
                    u.meta = meta.clone();
                }
            }
            ServerEvent::SetLeader(name) => self.leader = name.clone(),
            ServerEvent::Login(reply) if reply.success => {
                if let Some(name) = &reply.name {
                    self.own_name = Some(name.clone());
                }
            }
            ServerEvent::Playlist(items) => {
                self.playlist = items.clone();
                // A cleared (or shuffled, renumbered) list: what played is gone from it, and
                // CyTube sends no `changeMedia` for a clear.
                self.forget_current_unless_listed();
            }
            ServerEvent::Queue { item, after } => {
                self.playlist.retain(|i| i.uid != item.uid);
                let at = self.insert_index(*after);
                self.playlist.insert(at, item.clone());
            }
            ServerEvent::Delete { uid } => {
                self.playlist.retain(|i| i.uid != *uid);
                self.forget_current_unless_listed();
            }
            ServerEvent::MoveVideo { from, after } => {
                if let Some(idx) = self.playlist.iter().position(|i| i.uid == *from) {
                    let item = self.playlist.remove(idx);
                    let at = self.insert_index(*after);
                    self.playlist.insert(at, item);
                }
            }
            ServerEvent::SetTemp { uid, temp } => {
                if let Some(item) = self.playlist.iter_mut().find(|i| i.uid == *uid) {
                    item.temp = *temp;
                }
            }
            ServerEvent::SetCurrent(uid) => self.current_uid = Some(*uid),
            ServerEvent::ChangeMedia(media) => self.current_media = Some(media.clone()),
            ServerEvent::MediaUpdate {
                current_time,
                paused,
            } => {
                if let Some(media) = &mut self.current_media {
                    media.current_time = *current_time;
                    media.paused = *paused;
                }
            }
            ServerEvent::SetPlaylistLocked(locked) => self.playlist_locked = Some(*locked),
            ServerEvent::NewPoll(poll) | ServerEvent::UpdatePoll(poll) => {
                self.poll = Some(poll.clone())
            }
            ServerEvent::ClosePoll => self.poll = None,
            ServerEvent::ChannelOpts(opts) => self.options = Some(opts.clone()),
            ServerEvent::SetPermissions(perms) => self.permissions = perms.clone(),
            _ => {}
        }
    }

    /// Nothing plays any more when the current item left the playlist (a `changeMedia`
    /// follows when something else starts).
    fn forget_current_unless_listed(&mut self) {
        if let Some(uid) = self.current_uid
            && self.position_of(uid).is_none()
        {
            self.current_uid = None;
            self.current_media = None;
        }
    }

    /// Where an item placed at `after` goes; an unknown uid appends (the server would have
    /// rejected it, so our list is out of date and the end is the least wrong place).
    fn insert_index(&self, after: Position) -> usize {
        match after {
            Position::Prepend => 0,
            Position::Append => self.playlist.len(),
            Position::After(uid) => self
                .playlist
                .iter()
                .position(|i| i.uid == uid)
                .map_or(self.playlist.len(), |i| i + 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Media;

    fn item(uid: u64) -> PlaylistItem {
        PlaylistItem {
            media: Media {
                id: format!("m{uid}"),
                ..Default::default()
            },
            uid,
            ..Default::default()
        }
    }

    fn apply(state: &mut ChannelState, ev: ServerEvent) {
        state.apply(&CytubeEvent::Server(ev));
    }

    fn uids(state: &ChannelState) -> Vec<u64> {
        state.playlist.iter().map(|i| i.uid).collect()
    }

    #[test]
    fn playlist_edits_keep_positions() {
        let mut s = ChannelState::new();
        apply(
            &mut s,
            ServerEvent::Playlist(vec![item(1), item(2), item(3)]),
        );
        apply(
            &mut s,
            ServerEvent::Queue {
                item: item(4),
                after: Position::After(1),
            },
        );
        assert_eq!(uids(&s), vec![1, 4, 2, 3]);
        apply(
            &mut s,
            ServerEvent::Queue {
                item: item(5),
                after: Position::Prepend,
            },
        );
        apply(
            &mut s,
            ServerEvent::MoveVideo {
                from: 1,
                after: Position::Append,
            },
        );
        assert_eq!(uids(&s), vec![5, 4, 2, 3, 1]);
        apply(&mut s, ServerEvent::Delete { uid: 2 });
        assert_eq!(uids(&s), vec![5, 4, 3, 1]);
        assert_eq!(s.uid_at(2), Some(4));
        assert_eq!(s.uid_at(0), None);
        assert_eq!(s.position_of(1), Some(4));
    }

    #[test]
    fn a_cleared_or_deleted_current_item_stops_playing() {
        let mut s = ChannelState::new();
        apply(&mut s, ServerEvent::Playlist(vec![item(1), item(2)]));
        apply(&mut s, ServerEvent::SetCurrent(1));
        apply(&mut s, ServerEvent::ChangeMedia(ChangeMedia::default()));
        apply(&mut s, ServerEvent::Delete { uid: 2 });
        assert_eq!(s.current_uid, Some(1), "another item's delete keeps it");
        assert!(s.current_media.is_some());
        apply(&mut s, ServerEvent::Playlist(vec![]));
        assert_eq!((s.current_uid, s.current_media.is_none()), (None, true));
        apply(&mut s, ServerEvent::Playlist(vec![item(3)]));
        apply(&mut s, ServerEvent::SetCurrent(3));
        apply(&mut s, ServerEvent::ChangeMedia(ChangeMedia::default()));
        apply(&mut s, ServerEvent::Delete { uid: 3 });
        assert_eq!((s.current_uid, s.current_media.is_none()), (None, true));
    }

    #[test]
    fn users_ranks_and_reset_on_connect() {
        let mut s = ChannelState::new();
        apply(
            &mut s,
            ServerEvent::Userlist(vec![User {
                name: "Ann".into(),
                rank: 1.0,
                ..Default::default()
            }]),
        );
        apply(
            &mut s,
            ServerEvent::AddUser(User {
                name: "bob".into(),
                ..Default::default()
            }),
        );
        apply(
            &mut s,
            ServerEvent::SetUserRank {
                name: "ann".into(),
                rank: 2.0,
            },
        );
        apply(
            &mut s,
            ServerEvent::SetAfk {
                name: "BOB".into(),
                afk: true,
            },
        );
        assert_eq!(s.user("ANN").unwrap().rank, 2.0);
        assert!(s.user("bob").unwrap().meta.afk);
        apply(&mut s, ServerEvent::UserLeave { name: "Bob".into() });
        assert!(s.user("bob").is_none());
        s.apply(&CytubeEvent::Connected {
            server: "ws://x".into(),
        });
        assert_eq!(s, ChannelState::new());
    }
}
