//! [`MatrixConfig`]: which homeserver, who we are (password or access token), which rooms,
//! where the sync position is kept, how power levels map to ranks, and the timing knobs;
//! [`MatrixConfig::validate`] checks it before the client starts.

use std::path::PathBuf;
use std::time::Duration;

use ruma::{OwnedRoomAliasId, OwnedRoomId, OwnedRoomOrAliasId, OwnedUserId, RoomOrAliasId};

use crate::rank::RankMap;

/// How the client proves who it is.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// `m.login.password` with the user id's localpart.
    Password(String),
    /// An access token made elsewhere (e.g. by a login in Element); checked with `whoami`.
    AccessToken(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Password(_) => f.write_str("Password(***)"),
            Auth::AccessToken(_) => f.write_str("AccessToken(***)"),
        }
    }
}

/// Reconnect delays: `base`, doubling up to `cap`, with jitter (the workspace's one policy,
/// `rosey-net`'s). The Matrix client starts at 0.5 s and caps at 30 s.
pub use rosey_net::Backoff;

/// The Matrix client's reconnect delays: 0.5 s, doubling up to 30 s.
pub fn default_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(500), Duration::from_secs(30))
}

/// Everything the client needs.
#[derive(Debug, Clone)]
pub struct MatrixConfig {
    /// `https://matrix.example.org` (the client-server API's base URL).
    pub homeserver: String,
    /// `@rosey:example.org`.
    pub user_id: String,
    pub auth: Auth,
    /// Rooms to be in, by alias (`#room:server`) or id (`!abc:server`). Invites to these
    /// are accepted; invites to other rooms are ignored (unless direct, see below).
    pub rooms: Vec<String>,
    /// Accept invites to direct-message rooms (`is_direct`), for the PM shell.
    pub accept_direct_invites: bool,
    /// Where the sync position (and the direct rooms) are kept across restarts. Without it
    /// the position lives only in memory, seeded from [`since`](Self::since).
    pub state_file: Option<PathBuf>,
    /// A sync position to start from when there is no state file (or it has none).
    pub since: Option<String>,
    /// Power level → rank.
    pub ranks: RankMap,
    /// How long one `/sync` long-polls.
    pub sync_timeout: Duration,
    /// How long any other request may take.
    pub request_timeout: Duration,
    pub backoff: Backoff,
    /// How long to wait on `M_LIMIT_EXCEEDED` when the server names no time.
    pub default_retry_after: Duration,
    /// Actions (messages, kicks …) that may wait at once before [`SendError::Full`].
    ///
    /// [`SendError::Full`]: crate::SendError::Full
    pub queue_capacity: usize,
    /// The device display name a password login registers.
    pub device_name: String,
}

impl MatrixConfig {
    /// A configuration with the defaults: direct invites accepted, no state file, power
    /// ≥ 50 → moderator, 30 s long-polls.
    pub fn new(
        homeserver: impl Into<String>,
        user_id: impl Into<String>,
        auth: Auth,
        rooms: Vec<String>,
    ) -> MatrixConfig {
        MatrixConfig {
            homeserver: homeserver.into(),
            user_id: user_id.into(),
            auth,
            rooms,
            accept_direct_invites: true,
            state_file: None,
            since: None,
            ranks: RankMap::default(),
            sync_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            backoff: default_backoff(),
            default_retry_after: Duration::from_secs(1),
            queue_capacity: 1000,
            device_name: "Rosey".into(),
        }
    }

    /// Checks the URL, the user id and every room reference.
    pub fn validate(&self) -> Result<Validated, ConfigError> {
        let url = self.homeserver.trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
            return Err(ConfigError::Homeserver(self.homeserver.clone()));
        }
        let user_id = OwnedUserId::try_from(self.user_id.as_str())
            .map_err(|e| ConfigError::UserId(self.user_id.clone(), e.to_string()))?;
        match &self.auth {
            Auth::Password(p) | Auth::AccessToken(p) if p.is_empty() => {
                return Err(ConfigError::EmptySecret);
            }
            _ => {}
        }
        let mut rooms = Vec::new();
        for r in &self.rooms {
            let parsed = <&RoomOrAliasId>::try_from(r.as_str())
                .map_err(|e| ConfigError::Room(r.clone(), e.to_string()))?;
            rooms.push(parsed.to_owned());
        }
        if self.queue_capacity == 0 {
            return Err(ConfigError::QueueCapacity);
        }
        Ok(Validated {
            base_url: url.to_string(),
            user_id,
            rooms,
        })
    }
}

/// The parsed parts of a valid configuration.
#[derive(Debug, Clone)]
pub struct Validated {
    pub base_url: String,
    pub user_id: OwnedUserId,
    pub rooms: Vec<OwnedRoomOrAliasId>,
}

impl Validated {
    /// The configured rooms given by id.
    pub fn room_ids(&self) -> impl Iterator<Item = OwnedRoomId> + '_ {
        self.rooms
            .iter()
            .filter_map(|r| OwnedRoomId::try_from(r.as_str()).ok())
    }

    /// The configured rooms given by alias.
    pub fn aliases(&self) -> impl Iterator<Item = OwnedRoomAliasId> + '_ {
        self.rooms
            .iter()
            .filter_map(|r| OwnedRoomAliasId::try_from(r.as_str()).ok())
    }
}

/// A configuration the client cannot start with.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("homeserver {0:?} is not an http(s) URL")]
    Homeserver(String),
    #[error("user id {0:?} is not a Matrix user id (@name:server): {1}")]
    UserId(String, String),
    #[error("the password or access token is empty")]
    EmptySecret,
    #[error("room {0:?} is neither a room alias (#room:server) nor a room id (!id:server): {1}")]
    Room(String, String),
    #[error("queue_capacity must be at least 1")]
    QueueCapacity,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(rooms: &[&str]) -> MatrixConfig {
        MatrixConfig::new(
            "http://127.0.0.1:8008/",
            "@rosey:localhost",
            Auth::Password("pw".into()),
            rooms.iter().map(|r| r.to_string()).collect(),
        )
    }

    #[test]
    fn rooms_by_alias_and_id() {
        let v = cfg(&["#lobby:localhost", "!abc:localhost"])
            .validate()
            .unwrap();
        assert_eq!(v.base_url, "http://127.0.0.1:8008");
        assert_eq!(v.aliases().count(), 1);
        assert_eq!(v.room_ids().count(), 1);
    }

    #[test]
    fn bad_values_are_named() {
        assert!(matches!(
            cfg(&["lobby"]).validate(),
            Err(ConfigError::Room(r, _)) if r == "lobby"
        ));
        let mut c = cfg(&[]);
        c.user_id = "rosey".into();
        assert!(matches!(c.validate(), Err(ConfigError::UserId(..))));
        let mut c = cfg(&[]);
        c.homeserver = "matrix.org".into();
        assert_eq!(
            c.validate().unwrap_err(),
            ConfigError::Homeserver("matrix.org".into())
        );
        let mut c = cfg(&[]);
        c.auth = Auth::AccessToken(String::new());
        assert_eq!(c.validate().unwrap_err(), ConfigError::EmptySecret);
    }

    #[test]
    fn backoff_doubles_to_the_cap() {
        let b = default_backoff();
        assert_eq!(b.step(1), Duration::from_millis(500));
        assert_eq!(b.step(3), Duration::from_secs(2));
        assert_eq!(b.step(30), Duration::from_secs(30));
    }
}
