//! Finding plugins: one `$SRV.INFO` request, every answer collected for a short window,
//! the services whose metadata marks them as Rosey plugins kept. Several instances of one
//! plugin (a queue group shares their requests) are one [`PluginInfo`] with `instances > 1`.
//!
//! A plugin's commands live at `rosey.plugins.<plugin>.<command>` and nowhere else: an
//! endpoint that names another subject (another plugin's, the database service's, anything
//! the bot may reach with its wider permissions) is not a command. It is listed in
//! [`PluginInfo::ignored`] for the caller to log, and never routed to.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::StreamExt;

use crate::protocol::{
    CommandInfo, META_HELP, META_MIN_RANK, META_PM, META_PROTOCOL, META_USAGE, command_subject,
    valid_name,
};

/// A plugin on the bus.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub description: String,
    /// The protocol version it declares.
    pub protocol: String,
    /// Instance ids (the micro-service ids) that answered.
    pub ids: Vec<String>,
    pub commands: Vec<CommandInfo>,
    /// Endpoints that are not commands, as `name → subject`: a subject other than
    /// `rosey.plugins.<plugin>.<command>`, or a name that is not a valid plugin or command
    /// name. Never routed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
}

/// Is `subject` where `plugin`'s command `command` must live (and are both valid names)?
pub fn is_own_subject(plugin: &str, command: &str, subject: &str) -> bool {
    valid_name(plugin) && valid_name(command) && subject == command_subject(plugin, command)
}

/// A `$SRV.INFO` answer, read leniently: clients differ in what they leave out or send as
/// null (nats-py sends `"description": null`), so every field but the name has a default.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ServiceInfo {
    pub name: String,
    #[serde(default)]
    pub id: String,
    #[serde(default, deserialize_with = "or_default")]
    pub version: String,
    #[serde(default, deserialize_with = "or_default")]
    pub description: String,
    #[serde(default, deserialize_with = "or_default")]
    pub metadata: HashMap<String, String>,
    #[serde(default, deserialize_with = "or_default")]
    pub endpoints: Vec<EndpointInfo>,
}

/// One endpoint of a [`ServiceInfo`].
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct EndpointInfo {
    pub name: String,
    #[serde(default, deserialize_with = "or_default")]
    pub subject: String,
    #[serde(default, deserialize_with = "or_default")]
    pub metadata: HashMap<String, String>,
}

/// null → the default.
fn or_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de> + Default,
{
    use serde::Deserialize;
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The plugins in a set of `$SRV.INFO` answers, by name.
pub fn plugins_from_infos(infos: Vec<ServiceInfo>) -> Vec<PluginInfo> {
    let mut by_name: BTreeMap<String, PluginInfo> = BTreeMap::new();
    for info in infos {
        let Some(protocol) = info.metadata.get(META_PROTOCOL) else {
            continue;
        };
        let entry = by_name.entry(info.name.clone()).or_insert_with(|| {
            let mut ignored = Vec::new();
            let mut commands = Vec::new();
            for e in &info.endpoints {
                let subject = if e.subject.is_empty() {
                    command_subject(&info.name, &e.name)
                } else {
                    e.subject.clone()
                };
                if !is_own_subject(&info.name, &e.name, &subject) {
                    ignored.push(format!("{} → {subject}", e.name));
                    continue;
                }
                commands.push(CommandInfo {
                    name: e.name.clone(),
                    subject,
                    help: e.metadata.get(META_HELP).cloned().unwrap_or_default(),
                    usage: e.metadata.get(META_USAGE).cloned().unwrap_or_default(),
                    min_rank: e
                        .metadata
                        .get(META_MIN_RANK)
                        .and_then(|r| r.parse::<f64>().ok())
                        .filter(|r| r.is_finite())
                        .unwrap_or(0.0),
                    pm: e.metadata.get(META_PM).is_some_and(|v| v == "true"),
                });
            }
            PluginInfo {
                name: info.name.clone(),
                version: info.version.clone(),
                description: info.description.clone(),
                protocol: protocol.clone(),
                ids: Vec::new(),
                commands,
                ignored,
            }
        });
        entry.ids.push(info.id);
    }
    by_name.into_values().collect()
}

/// Every answer to `subject` (a `$SRV.*` discovery subject) within `wait`, as JSON.
pub async fn collect(
    client: &async_nats::Client,
    subject: &str,
    wait: Duration,
) -> Result<Vec<serde_json::Value>, async_nats::Error> {
    let inbox = client.new_inbox();
    let mut sub = client.subscribe(inbox.clone()).await?;
    client
        .publish_with_reply(subject.to_string(), inbox, bytes::Bytes::new())
        .await?;
    client.flush().await?;
    let deadline = tokio::time::Instant::now() + wait;
    let mut out = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout_at(deadline, sub.next()).await {
        if let Ok(v) = serde_json::from_slice(&m.payload) {
            out.push(v);
        }
    }
    Ok(out)
}

/// The plugins that answer `$SRV.INFO` within `wait`.
pub async fn discover(
    client: &async_nats::Client,
    wait: Duration,
) -> Result<Vec<PluginInfo>, async_nats::Error> {
    let infos = collect(client, "$SRV.INFO", wait)
        .await?
        .into_iter()
        .filter_map(|v| serde_json::from_value::<ServiceInfo>(v).ok())
        .collect();
    Ok(plugins_from_infos(infos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_marked_services_count_and_instances_merge() {
        let infos: Vec<ServiceInfo> = [
            json!({"type": "io.nats.micro.v1.info_response", "name": "pyecho", "id": "a",
                   "version": "1.0.0", "description": null, "metadata": {"rosey_plugin": "1"},
                   "endpoints": [{"name": "echo", "subject": "rosey.plugins.pyecho.echo",
                                  "queue_group": "q",
                                  "metadata": {"help": "Echo.", "usage": "!echo <t>", "min_rank": "1.5"}}]}),
            json!({"name": "pyecho", "id": "b", "version": "1.0.0", "metadata": {"rosey_plugin": "1"},
                   "endpoints": [{"name": "echo", "subject": "rosey.plugins.pyecho.echo", "metadata": null}]}),
            json!({"name": "rosey-db", "id": "c", "version": "0.1.0", "metadata": null, "endpoints": []}),
        ]
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect();
        let plugins = plugins_from_infos(infos);
        assert_eq!(plugins.len(), 1);
        let p = &plugins[0];
        assert_eq!(
            (p.name.as_str(), p.ids.len(), p.description.as_str()),
            ("pyecho", 2, "")
        );
        assert_eq!(p.commands[0].min_rank, 1.5);
        assert_eq!(p.commands[0].usage, "!echo <t>");
        assert!(p.ignored.is_empty());
    }

    #[test]
    fn endpoints_outside_the_plugins_own_subjects_are_ignored() {
        let info = |name: &str, endpoints: serde_json::Value| -> ServiceInfo {
            serde_json::from_value(json!({"name": name, "id": "i", "version": "1.0.0",
                "metadata": {"rosey_plugin": "1"}, "endpoints": endpoints}))
            .unwrap()
        };
        let plugins = plugins_from_infos(vec![
            info(
                "evil",
                json!([
                    {"name": "mint", "subject": "rosey.db.tokens.create"},
                    {"name": "add", "subject": "rosey.plugins.quote.add"},
                    {"name": "ok", "subject": "rosey.plugins.evil.ok"},
                    {"name": "bare"},
                    {"name": "x.y", "subject": "rosey.plugins.evil.x.y"},
                ]),
            ),
            info("db.tokens", json!([{"name": "create"}])),
        ]);
        let names = |p: &PluginInfo| {
            p.commands
                .iter()
                .map(|c| c.name.clone())
                .collect::<Vec<_>>()
        };
        let tokens = &plugins[0];
        assert_eq!(tokens.name, "db.tokens");
        assert!(tokens.commands.is_empty());
        assert_eq!(tokens.ignored, ["create → rosey.plugins.db.tokens.create"]);
        let evil = &plugins[1];
        assert_eq!(names(evil), ["ok", "bare"]);
        assert_eq!(evil.commands[1].subject, "rosey.plugins.evil.bare");
        assert_eq!(
            evil.ignored,
            [
                "mint → rosey.db.tokens.create",
                "add → rosey.plugins.quote.add",
                "x.y → rosey.plugins.evil.x.y"
            ]
        );
    }
}
