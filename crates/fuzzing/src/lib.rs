//! The fuzz targets' entry points: one function per parser that reads outside input, each
//! taking raw bytes and handing them to the product crate's own public entry point. The
//! coverage-guided targets in `fuzz/` (cargo-fuzz, libFuzzer) call these, and so does the
//! replay test (`tests/replay.rs`), which feeds every kept corpus and regression input to
//! the same function on the stable toolchain under `bash scripts/test`.
//!
//! # Layout
//! - [`TARGETS`]: the targets by name (the names of `fuzz/fuzz_targets/*.rs` and of the
//!   corpus and regression folders).
//! - one `pub fn <target>(&[u8])` per target, below; none may panic or hang, whatever
//!   the bytes. Inputs that carry a selector (a subject, a route, a status) put it on the
//!   first line, so the kept inputs stay readable.
//!
//! Nothing here re-implements a parser: what is glue (splitting an input into lines,
//! picking a type by subject) mirrors what the product's I/O code does around the call.

use std::collections::BTreeSet;

use rosey_cytube::codec::{EngineIoPacket, SocketIoPacket};
use rosey_cytube::{ChannelState, CytubeEvent, ServerEvent};
use rosey_model::{decode, payload, subjects};

/// A target's entry point.
pub type Target = fn(&[u8]);

/// Every target: its name and entry point.
pub const TARGETS: &[(&str, Target)] = &[
    ("cytube_frames", cytube_frames),
    ("cytube_socketconfig", cytube_socketconfig),
    ("irc_lines", irc_lines),
    ("matrix_sync", matrix_sync),
    ("db_payload", db_payload),
    ("plugin_reply", plugin_reply),
    ("config_json", config_json),
    ("config_yaml", config_yaml),
    ("web_request", web_request),
];

/// The first line (the selector) and the rest (the payload).
fn split_first_line(data: &[u8]) -> (String, &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (
            String::from_utf8_lossy(&data[..i]).into_owned(),
            &data[i + 1..],
        ),
        None => (String::from_utf8_lossy(data).into_owned(), &[]),
    }
}

/// CyTube: websocket text frames, one per line, through the client's pipeline — Engine.IO
/// packet, socket.io packet, typed event — into one [`ChannelState`], as the connection
/// task does; chat and PM text through the HTML → text conversion and the splitter.
pub fn cytube_frames(data: &[u8]) {
    let mut state = ChannelState::new();
    for frame in data.split(|&b| b == b'\n') {
        let Ok(packet) = EngineIoPacket::decode_bytes(frame) else {
            continue;
        };
        let _ = packet.encode();
        let EngineIoPacket::Message(payload) = packet else {
            continue;
        };
        let Ok(packet) = SocketIoPacket::decode(&payload) else {
            continue;
        };
        let _ = packet.encode();
        let (name, args) = match packet {
            SocketIoPacket::Event { name, args, .. } => (name, args),
            SocketIoPacket::ConnectError { data, .. } => {
                SocketIoPacket::connect_error_message(&data);
                continue;
            }
            _ => continue,
        };
        let event = ServerEvent::decode(&name, args);
        let _ = event.name();
        match &event {
            ServerEvent::ChatMsg(m) => {
                rosey_cytube::split_chat(&m.text, 320);
                rosey_cytube::to_plain_text(&m.html);
                m.is_server_whisper();
            }
            ServerEvent::Pm(m) => {
                rosey_cytube::split_message(&m.text, 320);
            }
            _ => {}
        }
        state.apply(&CytubeEvent::Server(event));
    }
}

/// CyTube discovery: `<status>` on the first line, then the body of the socketconfig answer.
pub fn cytube_socketconfig(data: &[u8]) {
    let (status, body) = split_first_line(data);
    let status = status.trim().parse::<u16>().unwrap_or(200);
    let _ = rosey_cytube::read_socketconfig("http://fuzz/socketconfig/c.json", status, body);
}

/// IRC: lines from the server as the connection reads them (split on LF, UTF-8 decoded
/// lossily), each parsed and written back; the accessors the client uses on every line.
pub fn irc_lines(data: &[u8]) {
    for line in data.split(|&b| b == b'\n') {
        let text = String::from_utf8_lossy(line);
        let Ok(msg) = rosey_irc::Message::parse(&text) else {
            continue;
        };
        let again = msg.to_line();
        let _ = rosey_irc::Message::parse(&again);
        msg.source_nick();
        msg.tag("time");
        let text = msg.param(1);
        rosey_irc::split::split_text(text, 400);
        rosey_irc::split::split_plain(text, 400);
    }
}

/// Matrix: `<status>` on the first line (200 when absent), then a `/sync` answer's body,
/// through the transport's decoder ([`rosey_matrix::api::decode_response`]) and, when it is
/// a response, [`rosey_matrix::sync::process`] twice (a fresh client's first sync, then the
/// same response again as a live one) over the same room views.
pub fn matrix_sync(data: &[u8]) {
    use rosey_matrix::sync::{Ctx, Mode, Rooms, process};
    use ruma::api::client::sync::sync_events::v3::Response;

    let (status, body) = split_first_line(data);
    let (status, body) = match status.trim().parse::<u16>() {
        Ok(s) if (100..1000).contains(&s) => (s, body),
        _ => (200, data),
    };
    let headers = [("content-type", &b"application/json"[..])];
    let Ok(resp) = rosey_matrix::api::decode_response::<Response>(status, headers, body) else {
        return;
    };
    let ranks = rosey_matrix::RankMap::default();
    let mut rooms = Rooms::new();
    let mut direct = BTreeSet::new();
    let mut seen = BTreeSet::new();
    for mode in [Mode::Initial, Mode::Live, Mode::Resume] {
        let mut ctx = Ctx {
            own: "@rosey:fuzz",
            ranks: &ranks,
            rooms: &mut rooms,
            direct: &mut direct,
            invites_seen: &mut seen,
        };
        process(&resp, mode, &mut ctx, |i| i.direct);
    }
}

/// Bus payloads: the subject on the first line, the payload after it. The database
/// service's decoders for `rosey.db.*` events and batches
/// ([`rosey_dbservice::decode`]); its requests, the bot's commands and the normalized
/// events (read by the web hub) through the model's decoder ([`rosey_model::decode`]).
pub fn db_payload(data: &[u8]) {
    let (subject, payload) = split_first_line(data);
    let subject = subject.trim();
    let now = 1_700_000_000;
    if subject == subjects::DB_BATCH {
        let _ = rosey_dbservice::decode::decode_batch(payload, "default", now, |_, _| {});
        return;
    }
    if subjects::is_db_event(subject) {
        let _ = rosey_dbservice::decode::decode_event(subject, payload, "default", now);
        return;
    }
    match subject {
        subjects::OUTBOUND_GET => drop(decode::<payload::OutboundGet>(payload)),
        subjects::RECENT_CHAT_GET => drop(decode::<payload::RecentChatGet>(payload)),
        subjects::QUERY_CHANNEL_STATS => drop(decode::<payload::ChannelStatsQuery>(payload)),
        subjects::QUERY_USER_STATS => drop(decode::<payload::UserStatsQuery>(payload)),
        subjects::QUERY_USER_COUNT_HISTORY => {
            drop(decode::<payload::UserCountHistoryQuery>(payload))
        }
        subjects::OUTBOUND_ENQUEUE => drop(decode::<payload::OutboundEnqueue>(payload)),
        subjects::QUERY_CURRENT_STATUS => drop(decode::<rosey_model::web::ChannelQuery>(payload)),
        subjects::QUERY_OUTBOUND_RECENT => {
            drop(decode::<rosey_model::web::OutboundRecentQuery>(payload))
        }
        subjects::QUERY_USER_SEARCH => drop(decode::<rosey_model::web::UserSearchQuery>(payload)),
        subjects::QUERY_CHAT_ACTIVITY => {
            drop(decode::<rosey_model::web::ChatActivityQuery>(payload))
        }
        subjects::TOKENS_CREATE => drop(decode::<rosey_model::web::TokenCreate>(payload)),
        subjects::TOKENS_REVOKE => drop(decode::<rosey_model::web::TokenRevoke>(payload)),
        subjects::TOKENS_VERIFY => drop(decode::<rosey_model::web::TokenVerify>(payload)),
        _ => other_payload(subject, payload),
    }
}

/// The subjects of [`db_payload`] that are not `rosey.db.*` requests: plugin key-value
/// requests, the bot's commands, the normalized events.
fn other_payload(subject: &str, payload: &[u8]) {
    use rosey_model::kv::{KvKey, KvList, KvSet, check_key};
    if let Some((plugin, op)) = subjects::parse_kv_subject(subject) {
        match op {
            subjects::KV_OP_SET => {
                if let Ok(r) = decode::<KvSet>(payload) {
                    let _ = check_key(plugin, &r.key);
                }
            }
            subjects::KV_OP_LIST => drop(decode::<KvList>(payload)),
            _ => {
                if let Ok(r) = decode::<KvKey>(payload) {
                    let _ = check_key(plugin, &r.key);
                }
            }
        }
        return;
    }
    let action = subject.rsplit('.').next().unwrap_or_default();
    if subject.starts_with(subjects::COMMANDS_PREFIX) {
        match action {
            subjects::COMMAND_CHAT => drop(decode::<payload::ChatCommand>(payload)),
            subjects::COMMAND_PM => drop(decode::<payload::PmCommandRequest>(payload)),
            subjects::COMMAND_MODERATE => drop(decode::<payload::ModerateCommand>(payload)),
            subjects::COMMAND_REMOVE => drop(decode::<payload::RemoveCommand>(payload)),
            _ => drop(decode::<payload::PlaylistCommand>(payload)),
        }
    } else if let Ok(ev) = decode::<rosey_model::NormalizedEvent>(payload) {
        let _ = ev.subject();
    }
}

/// Plugins: a reply as the bot's router decodes it ([`rosey_plugin::Reply`]), a request as
/// the plugin runtime decodes it ([`rosey_plugin::CommandRequest`]), and a `$SRV.INFO`
/// answer as discovery reads it ([`rosey_plugin::discovery::plugins_from_infos`]).
pub fn plugin_reply(data: &[u8]) {
    let _ = serde_json::from_slice::<rosey_plugin::Reply>(data);
    if let Ok(req) = serde_json::from_slice::<rosey_plugin::CommandRequest>(data) {
        req.argv();
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data)
        && let Ok(info) = serde_json::from_value::<rosey_plugin::discovery::ServiceInfo>(v)
    {
        rosey_plugin::discovery::plugins_from_infos(vec![info.clone(), info]);
    }
}

/// The configuration loader on JSON text.
pub fn config_json(data: &[u8]) {
    config(data, rosey_config::source::Format::Json);
}

/// The configuration loader on YAML text.
pub fn config_yaml(data: &[u8]) {
    config(data, rosey_config::source::Format::Yaml);
}

/// `rosey` reading a config file: the loader (syntax, aliases, environment, validation),
/// and what `config print` and `config migrate` do with the parsed value.
fn config(data: &[u8], format: rosey_config::source::Format) {
    use rosey_config::source::{Generation, generation, parse_text};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = rosey_config::load::load_text(text, format, "fuzz", |_| None);
    let Ok(mut value) = parse_text(text, format) else {
        return;
    };
    if generation(&value) == Generation::V1 {
        if let Ok(out) = rosey_config::migrate::migrate_v1(&value) {
            rosey_config::render::render(&out.v2, format);
        }
        return;
    }
    rosey_config::redact::redact(&mut value);
    rosey_config::render::render(&value, format);
}

/// The web API: the request part on the first line (`say`, `token`, `action`, `login`,
/// `undo`, `query`), then its bytes, read as the handler reads them
/// ([`rosey_web::read_request`]).
pub fn web_request(data: &[u8]) {
    use rosey_web::RequestPart;
    let (part, raw) = split_first_line(data);
    let part = match part.trim() {
        "say" => RequestPart::Say,
        "token" => RequestPart::TokenCreate,
        "action" => RequestPart::Action,
        "login" => RequestPart::Login,
        "undo" => RequestPart::Undo,
        _ => RequestPart::Query,
    };
    let _ = rosey_web::read_request(part, raw);
}
