//! The standard plugins: the chat commands users of CyTube channel bots expect, each its
//! own plugin (own micro service, switchable in `plugins.standard`), all in one process
//! (`rosey plugins`). They reach the database and the bot only over the bus.
//!
//! # Layout
//! - [`bus`]: [`BusTools`]: database queries and "say this in channel X" for plugins.
//! - [`text`]: durations and ages as people read them.
//! - [`fun`]: `!roll NdM`, `!8ball`, `!choose a|b|c` (pure, tested without a bus).
//! - [`info`]: `!help`, `!seen`, `!stats`, `!top`, `!np`, `!queue`, `!uptime`.
//! - [`quote`]: `!quote add|random|<n>` in the key-value store.
//! - [`tell`]: `!tell <user> <msg>`, kept in the key-value store and delivered once when
//!   the user next speaks or joins.
//! - [`remind`]: `!remind <duration> <msg>`.
//! - [`poll`]: `!poll title | a | b` (rank 2), through the server's poll.
//! - [`media`]: the media history: `!history`, `!mostplayed`, `!lastplayed`, `!random`,
//!   `!blacklist` (moderators), and the services beside them — the media-ending tracker,
//!   the blocklist's guard and autoplay (`plugins.media`).

pub mod bus;
pub mod fun;
pub mod info;
pub mod media;
pub mod poll;
pub mod quote;
pub mod remind;
pub mod tell;
pub mod text;

use rosey_config::media::MediaConfig;
use rosey_config::plugins::PluginsConfig;
use rosey_plugin::{Plugin, PluginError, RunningPlugin};

pub use bus::BusTools;

/// The version every standard plugin reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The names of the standard plugins, as `plugins.standard` switches them.
pub const NAMES: [&str; 14] = rosey_plugin::protocol::STANDARD_PLUGINS;

/// The standard plugins switched on in `cfg` (`waiting`: `!tell`'s, shared with its
/// delivery task; `blocked`: the blocklist, shared with its guard and autoplay).
pub fn plugins(
    tools: &BusTools,
    cfg: &PluginsConfig,
    media: &MediaConfig,
    waiting: tell::Waiting,
    blocked: media::blacklist::Blocked,
) -> Vec<Plugin> {
    let local = info::Local::default();
    let all = vec![
        info::help_with(tools, local.clone()),
        info::seen(tools),
        info::stats(tools),
        info::media(),
        info::uptime(),
        fun::dice(),
        fun::eightball(),
        fun::choose(),
        quote::plugin(tools),
        tell::plugin(tools, waiting),
        remind::plugin(tools),
        poll::plugin(),
        media::history::plugin(tools, blocked.clone(), media.random_min_rank),
        media::blacklist::plugin(tools, blocked, media.blacklist_min_rank),
    ];
    let on: Vec<Plugin> = all
        .into_iter()
        .filter(|p| cfg.standard_on(p.name()))
        .collect();
    let _ = local.set(
        on.iter()
            .map(|p| rosey_plugin::PluginInfo {
                name: p.name().to_string(),
                version: VERSION.to_string(),
                description: String::new(),
                protocol: rosey_plugin::protocol::PROTOCOL_VERSION.to_string(),
                ids: Vec::new(),
                commands: p.command_infos(),
                ignored: Vec::new(),
            })
            .collect(),
    );
    on
}

/// The running standard plugins and their helper tasks.
pub struct Running {
    pub plugins: Vec<RunningPlugin>,
    pub names: Vec<String>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Unregisters every plugin and stops the tasks.
    pub async fn stop(self) {
        for t in &self.tasks {
            t.abort();
        }
        for p in self.plugins {
            p.stop().await;
        }
    }
}

/// Starts the standard plugins switched on in `cfg` (and `!tell`'s delivery watcher, the
/// media-ending tracker and the blocklist's guard), with the default media settings (no
/// autoplay).
pub async fn start(
    client: &async_nats::Client,
    cfg: &PluginsConfig,
) -> Result<Running, PluginError> {
    start_with_media(client, cfg, &MediaConfig::default()).await
}

/// [`start`] with the media settings (`plugins.media`: ranks, time scale, autoplay).
pub async fn start_with_media(
    client: &async_nats::Client,
    cfg: &PluginsConfig,
    media: &MediaConfig,
) -> Result<Running, PluginError> {
    let tools = BusTools::new(client.clone());
    let waiting = tell::Waiting::default();
    let mut tasks = Vec::new();
    if cfg.standard_on("tell") {
        let delivery = tell::start_delivery(tools.clone(), waiting.clone()).await;
        tasks.push(delivery.map_err(|e| PluginError::Register {
            name: "tell".into(),
            reason: e.to_string(),
        })?);
    }
    let blocked = media::blacklist::Blocked::default();
    let services =
        media::start_services(&tools, media, blocked.clone(), cfg.standard_on("blacklist"))
            .await
            .map_err(|e| PluginError::Register {
                name: "media".into(),
                reason: e.to_string(),
            })?;
    tasks.extend(services);
    let mut running = Vec::new();
    let mut names = Vec::new();
    for p in plugins(&tools, cfg, media, waiting, blocked) {
        names.push(p.name().to_string());
        running.push(p.start(client).await?);
    }
    Ok(Running {
        plugins: running,
        names,
        tasks,
    })
}
