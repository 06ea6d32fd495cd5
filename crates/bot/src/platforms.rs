//! The platforms this bot knows, in one place: [`PlatformSpec`] (how to reach a channel on
//! each) built from a configuration entry, and [`connect`], the one match on the platform
//! kind. Adding a platform is a folder of its own, a variant here with its arms, and the
//! configuration's `type` (see `docs/platforms.md`).

use std::time::Duration;

use crate::platform::Connection;
use crate::{cytube, irc, matrix};

/// One channel the bot serves, on whichever platform.
#[derive(Debug, Clone)]
pub struct ChannelSpec {
    /// The bot's name for the channel (the `channel` of every payload): the CyTube channel
    /// name, `irc:<entry>/<#channel>`, `matrix:<entry>/<room>`.
    pub channel: String,
    /// The platform entry's name (for logs).
    pub name: String,
    /// How to reach it.
    pub platform: PlatformSpec,
}

impl ChannelSpec {
    /// A CyTube channel named `channel`.
    pub fn cytube(channel: &str, name: &str, client: cytube::ClientConfig) -> Self {
        ChannelSpec {
            channel: channel.to_string(),
            name: name.to_string(),
            platform: PlatformSpec::Cytube(cytube::Spec { client }),
        }
    }
}

/// How to reach one channel, per platform.
#[derive(Debug, Clone)]
pub enum PlatformSpec {
    Cytube(cytube::Spec),
    Irc(irc::Spec),
    Matrix(matrix::Spec),
}

impl PlatformSpec {
    /// `cytube`, `irc`, `matrix`.
    pub fn kind(&self) -> &'static str {
        match self {
            PlatformSpec::Cytube(_) => "cytube",
            PlatformSpec::Irc(_) => "irc",
            PlatformSpec::Matrix(_) => "matrix",
        }
    }

    /// Checks what the client would refuse at start (a bad URL, nick, room id …).
    pub fn validate(&self) -> Result<(), String> {
        match self {
            PlatformSpec::Cytube(s) => s.client.validate().map_err(|e| e.to_string()),
            PlatformSpec::Irc(s) => s.client.validate().map_err(|e| e.to_string()),
            PlatformSpec::Matrix(s) => s
                .client
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|c| c.validate().map(|_| ()).map_err(|e| e.to_string())),
        }
    }

    /// Where the channel is (server and channel), for logs and lease keys.
    pub fn place(&self) -> String {
        match self {
            PlatformSpec::Cytube(s) => s.place(),
            PlatformSpec::Irc(s) => s.place(),
            PlatformSpec::Matrix(s) => s.place(),
        }
    }
}

/// The channel of an enabled platform entry of `cfg`.
pub fn channel_spec(cfg: &rosey_config::Config, p: &rosey_config::PlatformConfig) -> ChannelSpec {
    use rosey_config::PlatformKind as K;
    let (channel, platform) = match p.kind {
        K::Cytube => (
            p.channel.name.clone(),
            PlatformSpec::Cytube(cytube::Spec::from_platform(p)),
        ),
        K::Irc => (
            irc::Spec::channel_name(&p.name, &p.channel.name),
            PlatformSpec::Irc(irc::Spec::from_platform(p)),
        ),
        K::Matrix => (
            matrix::Spec::channel_name(&p.name, &p.channel.name),
            // The sync position is kept next to the database unless `state_file` says.
            PlatformSpec::Matrix(matrix::Spec::from_platform(p, cfg.database.path.parent())),
        ),
    };
    ChannelSpec {
        channel,
        name: p.name.clone(),
        platform,
    }
}

/// Connects a channel (`timeout`: how long an action waits for the server's answer).
pub fn connect(spec: &ChannelSpec, timeout: Duration) -> Connection {
    match &spec.platform {
        PlatformSpec::Cytube(s) => cytube::connect(s, timeout),
        PlatformSpec::Irc(s) => irc::connect(s),
        PlatformSpec::Matrix(s) => matrix::connect(s),
    }
}
