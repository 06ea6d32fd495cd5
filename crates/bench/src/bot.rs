//! The bot under test: a v2 config for N channels of the devserver (guest login), `rosey bot`
//! as a separate process, and "joined" = the devserver lists the bot in every channel.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rosey_devserver::DevServer;
use serde_json::json;

use crate::error::BenchError;
use crate::procs::Child;

/// The bot's guest name in every channel.
pub const BOT_NAME: &str = "BenchBot";
/// How long a bot may take to join all its channels.
const JOIN_TIMEOUT: Duration = Duration::from_secs(60);

/// A v2 config: every channel on `devserver_url`, NATS at `nats_url`, logging at warn.
pub fn config(nats_url: &str, devserver_url: &str, channels: &[String]) -> serde_json::Value {
    let platforms: Vec<_> = channels
        .iter()
        .enumerate()
        .map(|(i, ch)| {
            json!({
                "type": "cytube",
                "name": format!("p{i}"),
                "enabled": true,
                "domain": devserver_url,
                "channel": ch,
                "user": [BOT_NAME],
            })
        })
        .collect();
    json!({
        "version": "2.0",
        "nats": { "url": nats_url },
        "platforms": platforms,
        "logging": { "level": "warn" },
    })
}

/// Writes `config` to `dir/<name>.json` and starts `rosey bot` on it (cwd `dir`, log in
/// `dir/<name>.log`).
pub fn spawn(
    rosey: &Path,
    dir: &Path,
    name: &str,
    config: &serde_json::Value,
) -> Result<Child, BenchError> {
    let path: PathBuf = dir.join(format!("{name}.json"));
    std::fs::write(&path, config.to_string()).map_err(|source| BenchError::Write {
        path: path.clone(),
        source,
    })?;
    Child::spawn(
        name,
        rosey,
        &[
            OsStr::new("bot"),
            path.as_os_str(),
            OsStr::new("--log-level"),
            OsStr::new("warn"),
        ],
        dir,
        dir.join(format!("{name}.log")),
        &[],
    )
}

/// Waits until the devserver lists the bot in every channel; returns the time since the
/// bot was spawned.
pub async fn wait_joined(
    devserver: &DevServer,
    bot: &mut Child,
    channels: &[String],
) -> Result<Duration, BenchError> {
    let deadline = Instant::now() + JOIN_TIMEOUT;
    for ch in channels {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if devserver
                .wait_for_user(ch, BOT_NAME, left.min(Duration::from_secs(1)))
                .await
            {
                break;
            }
            bot.check_alive()?;
            if left.is_zero() {
                return Err(BenchError::NotReady {
                    what: format!("{} to join {ch}", bot.what()),
                    seconds: JOIN_TIMEOUT.as_secs_f64(),
                    detail: bot.log_tail(),
                });
            }
        }
    }
    Ok(bot.started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_one_guest_platform_per_channel() {
        let c = config(
            "nats://127.0.0.1:1",
            "http://127.0.0.1:2",
            &["a".into(), "b".into()],
        );
        let p = c["platforms"].as_array().unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[1]["channel"], "b");
        assert_eq!(p[1]["user"][0], BOT_NAME);
        assert_eq!(c["nats"]["url"], "nats://127.0.0.1:1");
    }
}
