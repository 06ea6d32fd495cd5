//! The plugins on the bus and the command table built from them.
//!
//! One task per bot process asks `$SRV.INFO` (the NATS micro-service discovery) at start,
//! every `discovery_interval`, and whenever a plugin publishes on
//! [`ANNOUNCE_SUBJECT`](rosey_plugin::protocol::ANNOUNCE_SUBJECT) (a plugin does when it
//! starts), so a new plugin answers within a moment and a vanished one is noticed. A plugin
//! that was seen and is gone keeps its commands, marked absent: they answer "unavailable"
//! (or stay silent) instead of being mistaken for some other bot's commands.
//!
//! When two plugins declare one command, the one whose name sorts first wins and the
//! conflict is logged once.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use rosey_plugin::discovery::discover;
use rosey_plugin::protocol::ANNOUNCE_SUBJECT;
use rosey_plugin::{CommandInfo, PluginInfo};
use tokio_util::sync::CancellationToken;

/// How long one discovery collects `$SRV.INFO` answers.
pub const DISCOVERY_WAIT: Duration = Duration::from_millis(250);

/// Where one command goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub plugin: String,
    pub command: CommandInfo,
    /// False once the plugin stopped answering discovery.
    pub present: bool,
}

#[derive(Debug, Default)]
struct Table {
    routes: HashMap<String, Route>,
    plugins: BTreeMap<String, PluginInfo>,
    /// Each discovery bumps it (tests wait on it).
    generation: u64,
    /// Plugins the last discovery found, and those seen before and gone since
    /// (`rosey_bot_plugins`).
    present: usize,
    absent: usize,
}

/// The shared command table. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    table: Arc<RwLock<Table>>,
    changed: Arc<tokio::sync::Notify>,
}

impl Registry {
    /// An empty table (tests fill it with [`Registry::update`]).
    pub fn new() -> Self {
        Registry::default()
    }

    /// Starts the discovery task on `client`; it ends with `stop`.
    pub fn start(client: async_nats::Client, interval: Duration, stop: CancellationToken) -> Self {
        let registry = Registry::new();
        tokio::spawn(registry.clone().discover_loop(client, interval, stop));
        registry
    }

    async fn discover_loop(
        self,
        client: async_nats::Client,
        interval: Duration,
        stop: CancellationToken,
    ) {
        let mut announces = match client.subscribe(ANNOUNCE_SUBJECT).await {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "Cannot subscribe to plugin announcements; discovery runs on its timer only.");
                None
            }
        };
        loop {
            match discover(&client, DISCOVERY_WAIT).await {
                Ok(found) => self.update(found),
                Err(e) => tracing::debug!(error = %e, "Plugin discovery failed; will retry."),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
                Some(_) = async {
                    match &mut announces {
                        Some(s) => s.next().await,
                        None => std::future::pending().await,
                    }
                } => {}
            }
        }
    }

    /// Replaces the table with what one discovery found.
    pub fn update(&self, found: Vec<PluginInfo>) {
        let mut t = self.table.write().unwrap_or_else(|e| e.into_inner());
        let now: BTreeMap<String, PluginInfo> =
            found.into_iter().map(|p| (p.name.clone(), p)).collect();
        for (name, p) in &now {
            match t.plugins.get(name) {
                None => {
                    let commands: Vec<&str> = p.commands.iter().map(|c| c.name.as_str()).collect();
                    tracing::info!(plugin = %name, version = %p.version, commands = ?commands, "Plugin found.");
                }
                Some(old) if old.version != p.version => {
                    tracing::info!(plugin = %name, version = %p.version, "Plugin version changed.");
                }
                _ => {}
            }
        }
        let mut routes: HashMap<String, Route> = HashMap::new();
        // Gone plugins first, so a present plugin's claim replaces an absent one's.
        for (name, p) in &t.plugins {
            if !now.contains_key(name) {
                if t.routes.values().any(|r| &r.plugin == name && r.present) {
                    tracing::warn!(plugin = %name, "Plugin gone; its commands answer as unavailable.");
                }
                for c in &p.commands {
                    routes.insert(
                        c.name.to_lowercase(),
                        Route {
                            plugin: name.clone(),
                            command: c.clone(),
                            present: false,
                        },
                    );
                }
            }
        }
        for (name, p) in &now {
            for c in &p.commands {
                let key = c.name.to_lowercase();
                if let Some(other) = routes.get(&key)
                    && other.present
                {
                    if t.routes.get(&key).is_none_or(|r| r.plugin == other.plugin) {
                        tracing::warn!(command = %key, kept = %other.plugin, ignored = %name, "Two plugins declare one command.");
                    }
                    continue;
                }
                routes.insert(
                    key,
                    Route {
                        plugin: name.clone(),
                        command: c.clone(),
                        present: true,
                    },
                );
            }
        }
        // Remember gone plugins (absent) alongside the present ones.
        let mut plugins = std::mem::take(&mut t.plugins);
        plugins.retain(|n, _| !now.contains_key(n));
        t.present = now.len();
        t.absent = plugins.len();
        plugins.extend(now);
        t.plugins = plugins;
        t.routes = routes;
        t.generation += 1;
        drop(t);
        self.changed.notify_waiters();
    }

    /// Where `command` (lower case) goes, if any plugin ever declared it.
    pub fn lookup(&self, command: &str) -> Option<Route> {
        let t = self.table.read().unwrap_or_else(|e| e.into_inner());
        t.routes.get(command).cloned()
    }

    /// `(present, absent)`: plugins the last discovery found, and those seen before that
    /// did not answer it (their commands answer "unavailable").
    pub fn plugin_counts(&self) -> (usize, usize) {
        let t = self.table.read().unwrap_or_else(|e| e.into_inner());
        (t.present, t.absent)
    }

    /// How many discoveries have completed.
    pub fn generation(&self) -> u64 {
        self.table
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .generation
    }

    /// Waits until `f` holds for the table (tests; bounded by the caller's timeout).
    pub async fn wait_for(&self, f: impl Fn(&Registry) -> bool) {
        loop {
            let changed = self.changed.notified();
            if f(self) {
                return;
            }
            changed.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(name: &str, version: &str, commands: &[&str]) -> PluginInfo {
        PluginInfo {
            name: name.into(),
            version: version.into(),
            description: String::new(),
            protocol: "1".into(),
            ids: vec!["x".into()],
            commands: commands
                .iter()
                .map(|c| CommandInfo {
                    name: c.to_string(),
                    subject: format!("rosey.plugins.{name}.{c}"),
                    help: String::new(),
                    usage: String::new(),
                    min_rank: 0.0,
                    pm: false,
                })
                .collect(),
        }
    }

    #[test]
    fn gone_plugins_stay_absent_and_conflicts_keep_the_first() {
        let r = Registry::new();
        r.update(vec![
            plugin("dice", "1.0.0", &["roll", "Choose"]),
            plugin("zzz", "1.0.0", &["roll"]),
        ]);
        let roll = r.lookup("roll").unwrap();
        assert_eq!((roll.plugin.as_str(), roll.present), ("dice", true));
        assert!(
            r.lookup("choose").is_some(),
            "names are matched in lower case"
        );
        r.update(vec![plugin("zzz", "1.0.0", &["roll"])]);
        assert_eq!(r.lookup("roll").unwrap().plugin, "zzz");
        let choose = r.lookup("choose").unwrap();
        assert_eq!((choose.plugin.as_str(), choose.present), ("dice", false));
        r.update(vec![plugin("dice", "1.1.0", &["choose"])]);
        assert!(r.lookup("choose").unwrap().present);
        assert_eq!(r.generation(), 3);
    }
}
