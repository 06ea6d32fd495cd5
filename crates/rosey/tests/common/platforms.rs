//! Platform entries of a test configuration (`platforms[]`), one builder per platform, so
//! every process test names a channel the same way.

use rosey_devserver::DevServer;
use serde_json::{Value, json};

/// A devserver CyTube channel, logged in as `user` with `password`.
pub fn cytube(
    name: &str,
    devserver: &DevServer,
    channel: &str,
    user: &str,
    password: &str,
) -> Value {
    json!({"type": "cytube", "name": name, "enabled": true, "domain": devserver.base_url(),
           "channel": channel, "user": [user, password], "restart_delay": 0.5})
}

/// An IRC channel on `127.0.0.1:port` (plain text, no login); the bot's channel name is
/// `irc:<name>/<channel>`.
pub fn irc(name: &str, port: u16, nick: &str, channel: &str) -> Value {
    json!({"type": "irc", "name": name, "server": "127.0.0.1", "port": port, "tls": false,
           "nick": nick, "channel": channel, "user": [nick], "sasl": false,
           "restart_delay": 0.2})
}

/// A Matrix room (alias or id) on `synapse`, as `user_id` with `password`.
pub fn matrix(
    name: &str,
    synapse: &rosey_testkit::synapse::Synapse,
    user_id: &str,
    password: &str,
    room: &str,
) -> Value {
    json!({"type": "matrix", "name": name, "homeserver": synapse.url(),
           "user": [user_id, password], "channel": room, "restart_delay": 0.2})
}
