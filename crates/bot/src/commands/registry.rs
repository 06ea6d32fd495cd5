//! The plugins on the bus and the command table built from them.
//!
//! One task per bot process asks `$SRV.INFO` (the NATS micro-service discovery) at start,
//! every `discovery_interval`, and whenever a plugin publishes on
//! [`ANNOUNCE_SUBJECT`](rosey_plugin::protocol::ANNOUNCE_SUBJECT) (a plugin does when it
//! starts), so a new plugin answers within a moment and a vanished one is noticed. A plugin
//! that was seen and is gone keeps its commands, marked absent: they answer "unavailable"
//! (or stay silent) instead of being mistaken for some other bot's commands.
//!
//! A command belongs to the plugin that claimed it first, for the life of the process —
//! also while that plugin is gone — until that plugin itself, present, stops declaring it.
//! Another plugin declaring the same name is ignored (logged once): it can neither take the
//! command over nor lower its rank. Claims seen in one discovery are settled in this order:
//! a standard plugin ([`STANDARD_PLUGINS`]) first, then the higher `min_rank`, then the
//! name. A command is routed only to its plugin's own subject,
//! `rosey.plugins.<plugin>.<command>` (discovery drops the others; see
//! [`rosey_plugin::discovery`]); those dropped endpoints are logged when a plugin is found.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use rosey_plugin::discovery::{discover, is_own_subject};
use rosey_plugin::protocol::{ANNOUNCE_SUBJECT, STANDARD_PLUGINS};
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
    /// Command (lower case) → the plugin that owns it.
    owners: HashMap<String, String>,
    /// (command, plugin) conflicts and refused commands already logged.
    logged: HashSet<(String, String)>,
    /// Plugins seen before and missing from the last discovery.
    gone: BTreeSet<String>,
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
        let mut guard = self.table.write().unwrap_or_else(|e| e.into_inner());
        let t = &mut *guard;
        let now: BTreeMap<String, PluginInfo> =
            found.into_iter().map(|p| (p.name.clone(), p)).collect();
        for (name, p) in &now {
            let old = t.plugins.get(name);
            match old {
                None => {
                    let commands: Vec<&str> = p.commands.iter().map(|c| c.name.as_str()).collect();
                    tracing::info!(plugin = %name, version = %p.version, commands = ?commands, "Plugin found.");
                }
                Some(old) if t.gone.contains(name) => {
                    tracing::info!(plugin = %name, version = %p.version, previous = %old.version, "Plugin back; its commands answer again.");
                }
                Some(old) if old.version != p.version => {
                    tracing::info!(plugin = %name, version = %p.version, "Plugin version changed.");
                }
                _ => {}
            }
            if !p.ignored.is_empty() && old.is_none_or(|o| o.ignored != p.ignored) {
                tracing::warn!(plugin = %name, endpoints = ?p.ignored, "Plugin endpoints outside rosey.plugins.<plugin>.<command> ignored.");
            }
        }
        for (name, _) in t.plugins.iter().filter(|(n, _)| !now.contains_key(*n)) {
            if t.routes.values().any(|r| &r.plugin == name && r.present) {
                tracing::warn!(plugin = %name, "Plugin gone; its commands answer as unavailable.");
            }
        }
        t.gone = t
            .plugins
            .keys()
            .filter(|n| !now.contains_key(*n))
            .cloned()
            .collect();
        // Remember gone plugins (absent) alongside the present ones.
        let present: BTreeSet<String> = now.keys().cloned().collect();
        t.plugins.retain(|n, _| !present.contains(n));
        t.plugins.extend(now);
        let plugins = &t.plugins;
        let command_of = |plugin: &str, key: &str| -> Option<&CommandInfo> {
            plugins.get(plugin)?.commands.iter().find(|c| {
                c.name.to_lowercase() == key && is_own_subject(plugin, &c.name, &c.subject)
            })
        };
        // A present owner that no longer declares a command lets it go.
        t.owners
            .retain(|key, owner| !present.contains(owner) || command_of(owner, key).is_some());
        // Claims on commands without an owner, best first.
        let mut claims: Vec<(String, &str, &CommandInfo)> = Vec::new();
        for name in &present {
            for c in &plugins[name].commands {
                let key = c.name.to_lowercase();
                if !is_own_subject(name, &c.name, &c.subject) {
                    if t.logged.insert((key.clone(), name.clone())) {
                        tracing::warn!(plugin = %name, command = %key, subject = %c.subject, "Command outside the plugin's own subject ignored.");
                    }
                    continue;
                }
                claims.push((key, name.as_str(), c));
            }
        }
        claims.sort_by(|a, b| {
            let standard = |p: &str| !STANDARD_PLUGINS.contains(&p);
            a.0.cmp(&b.0)
                .then_with(|| standard(a.1).cmp(&standard(b.1)))
                .then_with(|| b.2.min_rank.total_cmp(&a.2.min_rank))
                .then_with(|| a.1.cmp(b.1))
        });
        for (key, name, _) in &claims {
            match t.owners.get(key) {
                None => {
                    t.owners.insert(key.clone(), name.to_string());
                }
                Some(owner) if owner != name => {
                    if t.logged.insert((key.clone(), name.to_string())) {
                        tracing::warn!(command = %key, kept = %owner, ignored = %name, "Two plugins declare one command; the first keeps it.");
                    }
                }
                Some(_) => {}
            }
        }
        t.routes = t
            .owners
            .iter()
            .filter_map(|(key, owner)| {
                let command = command_of(owner, key)?.clone();
                Some((
                    key.clone(),
                    Route {
                        plugin: owner.clone(),
                        command,
                        present: present.contains(owner),
                    },
                ))
            })
            .collect();
        t.present = present.len();
        t.absent = t.plugins.len() - present.len();
        t.generation += 1;
        drop(guard);
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
            ignored: vec![],
        }
    }

    fn with_rank(mut p: PluginInfo, rank: f64) -> PluginInfo {
        for c in &mut p.commands {
            c.min_rank = rank;
        }
        p
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
        // The first plugin keeps its command while it is gone.
        r.update(vec![plugin("zzz", "1.0.0", &["roll"])]);
        let roll = r.lookup("roll").unwrap();
        assert_eq!((roll.plugin.as_str(), roll.present), ("dice", false));
        let choose = r.lookup("choose").unwrap();
        assert_eq!((choose.plugin.as_str(), choose.present), ("dice", false));
        // Back without `roll`: it lets `roll` go, and the other plugin gets it.
        r.update(vec![
            plugin("dice", "1.1.0", &["choose"]),
            plugin("zzz", "1.0.0", &["roll"]),
        ]);
        assert!(r.lookup("choose").unwrap().present);
        assert_eq!(r.lookup("roll").unwrap().plugin, "zzz");
        assert_eq!(r.generation(), 3);
    }

    #[test]
    fn a_later_plugin_cannot_take_a_command_or_lower_its_rank() {
        let r = Registry::new();
        r.update(vec![with_rank(plugin("poll", "1.0.0", &["poll"]), 2.0)]);
        // "aaa" sorts first and asks rank 0: ignored, now and after the next discovery.
        for _ in 0..2 {
            r.update(vec![
                with_rank(plugin("aaa", "1.0.0", &["poll"]), 0.0),
                with_rank(plugin("poll", "1.0.0", &["poll"]), 2.0),
            ]);
            let poll = r.lookup("poll").unwrap();
            assert_eq!((poll.plugin.as_str(), poll.command.min_rank), ("poll", 2.0));
        }
        // Seen together first: the standard plugin wins; between others, the higher rank.
        let r = Registry::new();
        r.update(vec![
            with_rank(plugin("aaa", "1.0.0", &["poll", "x"]), 2.0),
            with_rank(plugin("bbb", "1.0.0", &["x"]), 3.0),
            with_rank(plugin("poll", "1.0.0", &["poll"]), 2.0),
        ]);
        assert_eq!(r.lookup("poll").unwrap().plugin, "poll");
        assert_eq!(r.lookup("x").unwrap().plugin, "bbb");
    }

    #[test]
    fn commands_outside_their_own_subject_are_not_routed() {
        let r = Registry::new();
        let mut evil = plugin("evil", "1.0.0", &["mint", "fine"]);
        evil.commands[0].subject = "rosey.db.tokens.create".into();
        r.update(vec![evil]);
        assert!(r.lookup("mint").is_none());
        assert_eq!(
            r.lookup("fine").unwrap().command.subject,
            "rosey.plugins.evil.fine"
        );
    }

    /// Everything logged while `f` runs.
    fn logs_of(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Buf(Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = buf.0.lock().unwrap().clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[test]
    fn a_plugin_coming_back_is_logged_as_its_loss_is() {
        let r = Registry::new();
        r.update(vec![plugin("dice", "1.0.0", &["roll"])]);
        let lost = logs_of(|| r.update(vec![]));
        assert!(
            lost.contains("Plugin gone") && lost.contains("dice"),
            "{lost}"
        );
        let back = logs_of(|| r.update(vec![plugin("dice", "1.0.0", &["roll"])]));
        assert!(
            back.contains("Plugin back") && back.contains("dice"),
            "{back}"
        );
        let steady = logs_of(|| r.update(vec![plugin("dice", "1.0.0", &["roll"])]));
        assert!(!steady.contains("Plugin back"), "{steady}");
    }
}
