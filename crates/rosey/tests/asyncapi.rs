//! The bus contract as an AsyncAPI 3 document, `docs/asyncapi.yaml`: every subject Rosey
//! publishes, subscribes to or serves, with payload schemas generated here from the Rust
//! wire types (`rosey_model`, the plugin protocol, the bot's status) so the document cannot
//! drift from the code:
//! - the checked-in document is exactly what this file generates (set `ROSEY_UPDATE_CONTRACT=1`
//!   to rewrite it after changing a type or a subject);
//! - the official AsyncAPI parser (npm `@asyncapi/parser`) accepts it without errors.
//!
//! The table below names, for each subject, its payload types and who publishes and who
//! subscribes; the architecture page (`docs/architecture.md`) explains the same in prose.

use std::path::{Path, PathBuf};

use rosey_model::{
    EventBody, NormalizedEvent, kv, media,
    payload::{self as p},
    subjects as s, web,
};
use schemars::{JsonSchema, r#gen::SchemaGenerator, r#gen::SchemaSettings};
use serde_json::{Map, Value, json};

/// How a subject is used.
enum Kind {
    /// Fire-and-forget: publishers → subscribers.
    Event,
    /// Request/reply: a requester → the server, the reply to the requester's inbox.
    Request,
}

/// One subject (or subject family, with `{parameters}`) of the contract.
struct Subject {
    /// A short unique id (channel and operation names).
    id: &'static str,
    address: String,
    kind: Kind,
    /// Who sends (events: publishes; requests: asks).
    from: &'static str,
    /// Who receives (events: subscribes; requests: serves and replies).
    to: &'static str,
    summary: &'static str,
    /// Schema of the message (or request); `None` = an empty or free-form body.
    payload: Option<Value>,
    /// Schema of the reply (requests only).
    reply: Option<Value>,
}

/// Collects the named schemas of every payload type in `components/schemas`.
struct Schemas(SchemaGenerator);

impl Schemas {
    fn new() -> Self {
        let settings = SchemaSettings::draft07().with(|s| {
            s.definitions_path = "#/components/schemas/".to_owned();
            s.option_add_null_type = true;
        });
        Schemas(settings.into_generator())
    }

    /// A reference to `T`'s schema (added to the components).
    fn of<T: JsonSchema>(&mut self) -> Option<Value> {
        Some(serde_json::to_value(self.0.subschema_for::<T>()).unwrap())
    }

    /// A list of `T`.
    fn list<T: JsonSchema>(&mut self) -> Option<Value> {
        Some(json!({"type": "array", "items": self.of::<T>()}))
    }

    fn into_components(mut self) -> Map<String, Value> {
        self.0
            .take_definitions()
            .into_iter()
            .map(|(k, v)| (k, serde_json::to_value(v).unwrap()))
            .collect()
    }
}

const BOT: &str = "bot (`rosey run` / `rosey bot`)";
const DB: &str = "database service (`rosey run` / `rosey db-service`)";
const WEB: &str = "dashboard (`rosey web`)";
const ADMIN: &str = "admin CLI (`rosey stats`, `say`, `status`, `token`)";
const PLUGINS: &str = "plugins (`rosey plugins` and third-party plugin processes)";
const MODERATOR: &str = "automated moderator (`rosey moderator`)";
const DB_AND_WEB: &str = "database service (`rosey run` / `rosey db-service`); dashboard (`rosey web`: the Moderation panel)";
const MODERATING: &str = "automated moderator (`rosey moderator`); dashboard (`rosey web`: undo of a \
     mute or ban); plugins";

fn subjects(t: &mut Schemas) -> Vec<Subject> {
    let event = |id, address: &str, summary, payload| Subject {
        id,
        address: address.to_owned(),
        kind: Kind::Event,
        from: BOT,
        to: DB,
        summary,
        payload,
        reply: None,
    };
    let request = |id, address: &str, from, summary, payload, reply| Subject {
        id,
        address: address.to_owned(),
        kind: Kind::Request,
        from,
        to: DB,
        summary,
        payload,
        reply,
    };
    let mut v = vec![
        event(
            "dbUserJoined",
            s::USER_JOINED,
            "A user joined a channel.",
            t.of::<p::UserJoined>(),
        ),
        event(
            "dbUserLeft",
            s::USER_LEFT,
            "A user left a channel.",
            t.of::<p::UserLeft>(),
        ),
        event(
            "dbMessageLog",
            s::MESSAGE_LOG,
            "A chat line to count and keep.",
            t.of::<p::MessageLog>(),
        ),
        event(
            "dbUserCount",
            s::STATS_USER_COUNT,
            "A periodic user-count sample.",
            t.of::<p::UserCount>(),
        ),
        event(
            "dbHighWater",
            s::STATS_HIGH_WATER,
            "A high-water mark candidate.",
            t.of::<p::HighWater>(),
        ),
        event(
            "dbStatusUpdate",
            s::STATUS_UPDATE,
            "The bot's status snapshot of a channel (now playing, users, connection).",
            t.of::<p::StatusUpdate>(),
        ),
        event(
            "dbMarkSent",
            s::OUTBOUND_MARK_SENT,
            "An outbound message was delivered.",
            t.of::<p::MarkSent>(),
        ),
        event(
            "dbMarkFailed",
            s::OUTBOUND_MARK_FAILED,
            "An outbound message failed (retried unless permanent).",
            t.of::<p::MarkFailed>(),
        ),
        event(
            "dbPmCommand",
            s::ACTION_PM_COMMAND,
            "Audit row of a PM shell command.",
            t.of::<p::PmCommand>(),
        ),
        event(
            "dbMediaPlayed",
            s::MEDIA_PLAYED,
            "A media item started playing.",
            t.of::<p::MediaPlayed>(),
        ),
        event(
            "dbMediaEnded",
            s::MEDIA_ENDED,
            "How a play ended (played out, skipped, vote-skipped, removed); published by the \
             media-ending tracker in `rosey plugins`.",
            t.of::<p::MediaEnded>(),
        ),
        Subject {
            from: MODERATOR,
            to: DB_AND_WEB,
            ..event(
                "dbModerationAction",
                s::MODERATION_ACTION,
                "One decision of the automated moderator: rule, user, evidence, step, the \
                 server's answer.",
                t.of::<p::ModerationAction>(),
            )
        },
        event(
            "dbBatch",
            s::DB_BATCH,
            "Durable mode only: several database events in one stream message (a text \
             format: `rosey-batch 1`, then `<subject> <id> <length>` and the event's JSON, \
             for each event).",
            None,
        ),
        request(
            "dbOutboundGet",
            s::OUTBOUND_GET,
            BOT,
            "Due outbound messages of a channel (the bot's outbound pump).",
            t.of::<p::OutboundGet>(),
            t.list::<p::OutboundRow>(),
        ),
        request(
            "dbRecentChatGet",
            s::RECENT_CHAT_GET,
            ADMIN,
            "The newest chat lines.",
            t.of::<p::RecentChatGet>(),
            t.list::<p::ChatRow>(),
        ),
        request(
            "dbChannelStats",
            s::QUERY_CHANNEL_STATS,
            ADMIN,
            "A channel's statistics (also the stats plugin and the dashboard).",
            t.of::<p::ChannelStatsQuery>(),
            t.of::<p::ChannelStatsReply>(),
        ),
        request(
            "dbUserStats",
            s::QUERY_USER_STATS,
            ADMIN,
            "One user's statistics.",
            t.of::<p::UserStatsQuery>(),
            t.of::<p::UserStatsReply>(),
        ),
        request(
            "dbUserCountHistory",
            s::QUERY_USER_COUNT_HISTORY,
            WEB,
            "User-count samples over the last hours.",
            t.of::<p::UserCountHistoryQuery>(),
            t.list::<p::UserCountRow>(),
        ),
        request(
            "dbOutboundEnqueue",
            s::OUTBOUND_ENQUEUE,
            ADMIN,
            "Queue a chat message; the service then wakes the channel's pump.",
            t.of::<p::OutboundEnqueue>(),
            t.of::<p::EnqueueReply>(),
        ),
        request(
            "dbCurrentStatus",
            s::QUERY_CURRENT_STATUS,
            WEB,
            "A channel's current status row.",
            t.of::<web::ChannelQuery>(),
            t.of::<web::CurrentStatusReply>(),
        ),
        request(
            "dbOutboundRecent",
            s::QUERY_OUTBOUND_RECENT,
            WEB,
            "The newest outbound rows with their status.",
            t.of::<web::OutboundRecentQuery>(),
            t.list::<web::OutboundRecentRow>(),
        ),
        request(
            "dbUserSearch",
            s::QUERY_USER_SEARCH,
            WEB,
            "Users by name prefix.",
            t.of::<web::UserSearchQuery>(),
            t.list::<web::UserSummary>(),
        ),
        request(
            "dbChatActivity",
            s::QUERY_CHAT_ACTIVITY,
            WEB,
            "Chat lines per hour (the dashboard's chart).",
            t.of::<web::ChatActivityQuery>(),
            t.of::<web::ChatActivityReply>(),
        ),
        request(
            "dbTokensCreate",
            s::TOKENS_CREATE,
            ADMIN,
            "Create an API token (the reply is the only time it is shown).",
            t.of::<web::TokenCreate>(),
            t.of::<web::TokenCreated>(),
        ),
        request(
            "dbTokensList",
            s::TOKENS_LIST,
            ADMIN,
            "List API tokens (prefixes only).",
            t.of::<web::ChannelQuery>(),
            t.of::<web::TokenList>(),
        ),
        request(
            "dbTokensRevoke",
            s::TOKENS_REVOKE,
            ADMIN,
            "Revoke API tokens by prefix.",
            t.of::<web::TokenRevoke>(),
            t.of::<web::TokenRevoked>(),
        ),
        request(
            "dbTokensVerify",
            s::TOKENS_VERIFY,
            WEB,
            "Check a presented API token.",
            t.of::<web::TokenVerify>(),
            t.of::<web::TokenVerified>(),
        ),
    ];
    v.extend([
        request(
            "dbModerationLog",
            s::QUERY_MODERATION_LOG,
            "admin CLI (`rosey moderation log`)",
            "The automated moderator's decisions, newest first.",
            t.of::<p::ModerationLogQuery>(),
            t.of::<p::ModerationLogReply>(),
        ),
        request(
            "dbMediaRecent",
            s::QUERY_MEDIA_RECENT,
            WEB,
            "The newest plays of a channel.",
            t.of::<media::RecentPlaysQuery>(),
            t.of::<media::PlaysReply>(),
        ),
        request(
            "dbMediaMostPlayed",
            s::QUERY_MEDIA_MOST_PLAYED,
            WEB,
            "The most played media of a period (day, week, all).",
            t.of::<media::MostPlayedQuery>(),
            t.of::<media::MostPlayedReply>(),
        ),
        request(
            "dbMediaTopAdders",
            s::QUERY_MEDIA_TOP_ADDERS,
            PLUGINS,
            "Who queued the most plays.",
            t.of::<media::TopAddersQuery>(),
            t.of::<media::TopAddersReply>(),
        ),
        request(
            "dbMediaUserAdds",
            s::QUERY_MEDIA_USER_ADDS,
            PLUGINS,
            "One user's queued plays.",
            t.of::<media::UserAddsQuery>(),
            t.of::<media::PlaysReply>(),
        ),
        request(
            "dbMediaItem",
            s::QUERY_MEDIA_ITEM,
            WEB,
            "One media's totals, adders and plays.",
            t.of::<media::MediaItemQuery>(),
            t.of::<media::MediaItemReply>(),
        ),
        request(
            "dbMediaSearch",
            s::QUERY_MEDIA_SEARCH,
            WEB,
            "Media by title words.",
            t.of::<media::MediaSearchQuery>(),
            t.of::<media::MediaListReply>(),
        ),
        request(
            "dbMediaCandidates",
            s::QUERY_MEDIA_CANDIDATES,
            PLUGINS,
            "Played media not played since a time, most played first (`!random`, autoplay).",
            t.of::<media::MediaCandidatesQuery>(),
            t.of::<media::MediaListReply>(),
        ),
    ]);
    let kv = |id, op: &str, summary, payload, reply| Subject {
        id,
        address: format!("{}.{{plugin}}.{op}", s::KV_PREFIX),
        kind: Kind::Request,
        from: PLUGINS,
        to: DB,
        summary,
        payload,
        reply,
    };
    v.extend([
        kv(
            "kvSet",
            s::KV_OP_SET,
            "Set a key in the plugin's namespace (the `{plugin}` token).",
            t.of::<kv::KvSet>(),
            t.of::<kv::KvSetReply>(),
        ),
        kv(
            "kvGet",
            s::KV_OP_GET,
            "Read a key.",
            t.of::<kv::KvKey>(),
            t.of::<kv::KvGetReply>(),
        ),
        kv(
            "kvDelete",
            s::KV_OP_DELETE,
            "Delete a key.",
            t.of::<kv::KvKey>(),
            t.of::<kv::KvDeleteReply>(),
        ),
        kv(
            "kvList",
            s::KV_OP_LIST,
            "Keys by prefix.",
            t.of::<kv::KvList>(),
            t.of::<kv::KvListReply>(),
        ),
    ]);
    v.push(Subject {
        id: "events",
        address: format!("{}.{{channel}}.{{kind}}", s::EVENTS_PREFIX),
        kind: Kind::Event,
        from: BOT,
        to: "plugins, the dashboard (live page) and any other service",
        summary: "The normalized chat event of every platform (`kind` is also a field).",
        payload: t.of::<NormalizedEvent>(),
        reply: None,
    });
    // The bus's commands to the bot that holds a channel.
    let command = |id, action: &str, from, summary, payload, reply| Subject {
        id,
        address: format!("{}.{{channel}}.{action}", s::COMMANDS_PREFIX),
        kind: Kind::Request,
        from,
        to: BOT,
        summary,
        payload,
        reply,
    };
    v.extend([
        command(
            "commandChat",
            s::COMMAND_CHAT,
            PLUGINS,
            "Say a chat line.",
            t.of::<p::ChatCommand>(),
            t.of::<p::CommandReply>(),
        ),
        command(
            "commandPm",
            s::COMMAND_PM,
            PLUGINS,
            "Send a private message.",
            t.of::<p::PmCommandRequest>(),
            t.of::<p::CommandReply>(),
        ),
        command(
            "commandAdd",
            s::COMMAND_ADD,
            PLUGINS,
            "Add a URL to the playlist; the reply is the server's answer.",
            t.of::<p::PlaylistCommand>(),
            t.of::<p::CommandReply>(),
        ),
        command(
            "commandSkip",
            s::COMMAND_SKIP,
            PLUGINS,
            "Skip to the next playlist item.",
            t.of::<p::PlaylistCommand>(),
            t.of::<p::CommandReply>(),
        ),
        command(
            "commandModerate",
            s::COMMAND_MODERATE,
            MODERATING,
            "A moderation step on a user (or `not supported on this platform`).",
            t.of::<p::ModerateCommand>(),
            t.of::<p::CommandReply>(),
        ),
        command(
            "commandRemove",
            s::COMMAND_REMOVE,
            PLUGINS,
            "Remove a playlist item.",
            t.of::<p::RemoveCommand>(),
            t.of::<p::CommandReply>(),
        ),
    ]);
    v.push(Subject {
        id: "commandPump",
        address: format!("{}.{{channel}}.{}", s::COMMANDS_PREFIX, s::COMMAND_PUMP),
        kind: Kind::Event,
        from: DB,
        to: BOT,
        summary: "Something was queued for the channel: the bot's outbound pump polls now \
                  (no reply; the body is ignored).",
        payload: None,
        reply: None,
    });
    v.extend([
        Subject {
            id: "pluginCommand",
            address: format!(
                "{}.{{plugin}}.{{command}}",
                rosey_plugin::protocol::SUBJECT_PREFIX
            ),
            kind: Kind::Request,
            from: BOT,
            to: PLUGINS,
            summary: "A chat command for a plugin (one NATS micro-service endpoint per \
                      command; discovered through `$SRV.INFO`).",
            payload: t.of::<rosey_plugin::CommandRequest>(),
            reply: t.of::<rosey_plugin::Reply>(),
        },
        Subject {
            id: "pluginAnnounce",
            address: rosey_plugin::protocol::ANNOUNCE_SUBJECT.to_owned(),
            kind: Kind::Event,
            from: PLUGINS,
            to: BOT,
            summary: "A plugin registered (the body is its name as plain text); bots look \
                      it up at once instead of at their next discovery.",
            payload: None,
            reply: None,
        },
        Subject {
            id: "moderationReload",
            address: s::MODERATION_RELOAD.to_owned(),
            kind: Kind::Request,
            from: ADMIN,
            to: MODERATOR,
            summary: "Reload the moderation rules from the config file (a broken file keeps \
                      the old rules; the reply says why).",
            payload: None,
            reply: None,
        },
        Subject {
            id: "moderationState",
            address: s::MODERATION_STATE.to_owned(),
            kind: Kind::Request,
            from: ADMIN,
            to: MODERATOR,
            summary: "The automated moderator's state: channels, rules, pending lifts.",
            payload: None,
            reply: None,
        },
        Subject {
            id: "botStatus",
            address: rosey_model::subjects::BOT_STATUS.to_owned(),
            kind: Kind::Request,
            from: "`rosey status`, the dashboard",
            to: BOT,
            summary: "Each bot's channels: state, users, queue, reconnects, breaker, up next \
                      (micro service `rosey-bot`; `$SRV.INFO`/`$SRV.STATS` list every \
                      process with its version).",
            payload: None,
            reply: t.of::<rosey_bot::status::BotStatus>(),
        },
    ]);
    v
}

/// The whole document as a JSON value.
fn document() -> Value {
    let mut t = Schemas::new();
    let subjects = subjects(&mut t);
    let mut channels = Map::new();
    let mut operations = Map::new();
    let mut messages = Map::new();
    for sub in &subjects {
        let message = |name: String, payload: &Option<Value>, what: &str| {
            let mut m = json!({"name": name, "title": what, "contentType": "application/json"});
            if let Some(p) = payload {
                m["payload"] = p.clone();
            }
            m
        };
        let request_name = format!("{}Message", sub.id);
        messages.insert(
            request_name.clone(),
            message(request_name.clone(), &sub.payload, sub.summary),
        );
        let mut params = Map::new();
        for name in ["channel", "kind", "plugin", "command"] {
            if sub.address.contains(&format!("{{{name}}}")) {
                params.insert(name.into(), json!({"description": parameter(name)}));
            }
        }
        let mut channel = json!({
            "address": sub.address,
            "messages": {"message": {"$ref": format!("#/components/messages/{request_name}")}},
        });
        if !params.is_empty() {
            channel["parameters"] = Value::Object(params);
        }
        channels.insert(sub.id.into(), channel);
        let (action_text, verb) = match sub.kind {
            Kind::Event => ("publishes", "subscribes"),
            Kind::Request => ("asks", "serves and replies"),
        };
        let mut op = json!({
            "action": "receive",
            "channel": {"$ref": format!("#/channels/{}", sub.id)},
            "summary": sub.summary,
            "description": format!("{} {action_text}; the {} {verb}.", capital(sub.from), sub.to),
            "messages": [{"$ref": format!("#/channels/{}/messages/message", sub.id)}],
        });
        if let Kind::Request = sub.kind {
            let reply_id = format!("{}Reply", sub.id);
            let reply_name = format!("{}ReplyMessage", sub.id);
            messages.insert(
                reply_name.clone(),
                message(
                    reply_name.clone(),
                    &sub.reply,
                    "The reply (or an error object `{\"error\": …}`).",
                ),
            );
            channels.insert(
                reply_id.clone(),
                json!({
                    "address": null,
                    "description": "The requester's reply inbox (`_INBOX_<role>.…`).",
                    "messages": {"reply": {"$ref": format!("#/components/messages/{reply_name}")}},
                }),
            );
            op["reply"] = json!({
                "address": {"location": "$message.header#/replyTo"},
                "channel": {"$ref": format!("#/channels/{reply_id}")},
                "messages": [{"$ref": format!("#/channels/{reply_id}/messages/reply")}],
            });
        }
        operations.insert(format!("{}Receive", sub.id), op);
    }
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "Rosey bus contract",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Every NATS subject Rosey publishes, subscribes to or serves. \
                Payload schemas are generated from the Rust wire types \
                (crates/rosey/tests/asyncapi.rs); see docs/architecture.md for the processes \
                and the delivery guarantees. Operations are described from the receiving \
                process's side.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "nats": {
                "host": "localhost:4222",
                "protocol": "nats",
                "description": "Any NATS server (JetStream for durable mode); `rosey run` \
                    without one uses an in-process bus with the same subjects.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": t.into_components()},
    })
}

fn parameter(name: &str) -> &'static str {
    match name {
        "channel" => "The channel name, made one subject token (`.`, `*`, `>`, spaces → `_`).",
        "kind" => "The event kind, as the payload's `kind` field.",
        "plugin" => {
            "The plugin's name (`[A-Za-z0-9_-]{1,64}`); for the key-value store, the \
                     namespace the request reads and writes."
        }
        _ => "The command's name (`[A-Za-z0-9_-]{1,64}`).",
    }
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const DOC: &str = "docs/asyncapi.yaml";

fn generated_text() -> String {
    let head = "# Generated by crates/rosey/tests/asyncapi.rs from the Rust wire types: do not edit.\n\
                # Regenerate: ROSEY_UPDATE_CONTRACT=1 cargo test -p rosey --test asyncapi\n";
    format!("{head}{}", serde_norway::to_string(&document()).unwrap())
}

#[test]
fn the_checked_in_document_is_what_the_types_generate() {
    let path = repo().join(DOC);
    let text = generated_text();
    if std::env::var_os("ROSEY_UPDATE_CONTRACT").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let kept = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        kept == text,
        "{DOC} is not what the wire types generate; rerun with ROSEY_UPDATE_CONTRACT=1 and commit it"
    );
}

#[test]
fn every_subject_of_the_model_is_in_the_document() {
    let doc = document();
    let addresses: Vec<&str> = doc["channels"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|c| c["address"].as_str())
        .collect();
    let named = s::DB_EVENT_SUBJECTS
        .iter()
        .chain(&s::DB_QUERY_SUBJECTS)
        .chain(&s::DASHBOARD_QUERY_SUBJECTS)
        .chain(&s::MEDIA_QUERY_SUBJECTS)
        .chain([&s::MODERATION_RELOAD, &s::MODERATION_STATE])
        .chain([&s::DB_BATCH]);
    for subject in named {
        assert!(addresses.contains(subject), "{subject} is missing");
    }
    for action in [
        s::COMMAND_CHAT,
        s::COMMAND_PM,
        s::COMMAND_ADD,
        s::COMMAND_SKIP,
        s::COMMAND_MODERATE,
        s::COMMAND_REMOVE,
        s::COMMAND_PUMP,
    ] {
        let address = format!("rosey.commands.{{channel}}.{action}");
        assert!(
            addresses.contains(&address.as_str()),
            "{address} is missing"
        );
    }
    for op in s::KV_OPS {
        let address = format!("rosey.db.kv.{{plugin}}.{op}");
        assert!(
            addresses.contains(&address.as_str()),
            "{address} is missing"
        );
    }
    // The event payload's schema names every kind (the tagged enum's variants, flattened).
    let kinds = serde_json::to_string(&doc["components"]["schemas"]["NormalizedEvent"]).unwrap();
    let sample = EventBody::UserLeave { user: "a".into() };
    assert!(kinds.contains(sample.kind()), "{kinds}");
}

#[test]
fn the_official_asyncapi_parser_accepts_the_document() {
    if !rosey_testkit::tools::asyncapi_parser() {
        return;
    }
    let dir = rosey_testkit::tools::asyncapi_dir();
    let out = std::process::Command::new("node")
        .arg(dir.join("check.mjs"))
        .arg(repo().join(DOC))
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["errors"], json!([]), "{report:#}");
    let doc = &report["document"];
    assert_eq!(doc["version"], "3.0.0");
    let channels = doc["channels"].as_array().unwrap();
    assert!(channels.contains(&json!("rosey.commands.{channel}.moderate")));
    assert!(channels.contains(&json!("rosey.db.user.joined")));
    assert!(doc["operations"].as_u64().unwrap() >= 40, "{doc}");
}
