//! The one table of subject names. No other crate spells a `rosey.*` subject as a literal.
//!
//! `rosey.db.*` names are the wire contract with Rosey v0.5 (SPEC §3): never rename them.

/// `user.joined` event.
pub const USER_JOINED: &str = "rosey.db.user.joined";
/// `user.left` event.
pub const USER_LEFT: &str = "rosey.db.user.left";
/// A chat line to count and keep.
pub const MESSAGE_LOG: &str = "rosey.db.message.log";
/// Periodic user-count sample.
pub const STATS_USER_COUNT: &str = "rosey.db.stats.user_count";
/// High-water mark candidate.
pub const STATS_HIGH_WATER: &str = "rosey.db.stats.high_water";
/// Bot status snapshot.
pub const STATUS_UPDATE: &str = "rosey.db.status.update";
/// An outbound message was delivered.
pub const OUTBOUND_MARK_SENT: &str = "rosey.db.messages.outbound.mark_sent";
/// An outbound message failed (retry or give up).
pub const OUTBOUND_MARK_FAILED: &str = "rosey.db.messages.outbound.mark_failed";
/// Audit row for a PM shell command.
pub const ACTION_PM_COMMAND: &str = "rosey.db.action.pm_command";
/// A media item started playing.
pub const MEDIA_PLAYED: &str = "rosey.db.media.played";
/// One decision of the automated moderator (`rosey moderator`): rule, user, evidence, the
/// step taken and the server's answer. New in Rosey (not part of the v0.5 contract).
pub const MODERATION_ACTION: &str = "rosey.db.moderation.action";
/// How a media's play ended (`crate::payload::MediaEnded`; new in Rosey).
pub const MEDIA_ENDED: &str = "rosey.db.media.ended";

/// Query: due outbound messages.
pub const OUTBOUND_GET: &str = "rosey.db.messages.outbound.get";
/// Query: recent chat lines.
pub const RECENT_CHAT_GET: &str = "rosey.db.stats.recent_chat.get";
/// Query: channel statistics.
pub const QUERY_CHANNEL_STATS: &str = "rosey.db.query.channel_stats";
/// Query: one user's statistics.
pub const QUERY_USER_STATS: &str = "rosey.db.query.user_stats";
/// Query: user-count history.
pub const QUERY_USER_COUNT_HISTORY: &str = "rosey.db.query.user_count_history";
/// Request: put a message in the outbound queue.
pub const OUTBOUND_ENQUEUE: &str = "rosey.db.messages.outbound.enqueue";

/// Query: one channel's `current_status` row (the dashboard's `/api/current`).
pub const QUERY_CURRENT_STATUS: &str = "rosey.db.query.current_status";
/// Query: the newest outbound rows with their status (`/api/outbound/recent`).
pub const QUERY_OUTBOUND_RECENT: &str = "rosey.db.query.outbound_recent";
/// Query: users by name prefix, and chat lines per hour (the dashboard's user search, chart).
pub const QUERY_USER_SEARCH: &str = "rosey.db.query.user_search";
/// Query: chat lines per hour over the last hours.
pub const QUERY_CHAT_ACTIVITY: &str = "rosey.db.query.chat_activity";
/// Request: create an API token (the reply holds the token, shown once).
pub const TOKENS_CREATE: &str = "rosey.db.tokens.create";
/// Request: list API tokens (prefixes only).
pub const TOKENS_LIST: &str = "rosey.db.tokens.list";
/// Request: revoke API tokens by prefix.
pub const TOKENS_REVOKE: &str = "rosey.db.tokens.revoke";
/// Request: check a presented API token.
pub const TOKENS_VERIFY: &str = "rosey.db.tokens.verify";
/// Query: the automated moderator's decisions, newest first (`rosey moderation log`).
pub const QUERY_MODERATION_LOG: &str = "rosey.db.query.moderation_log";

/// The dashboard's request subjects (new in Rosey; served by the database service).
pub const DASHBOARD_QUERY_SUBJECTS: [&str; 9] = [
    QUERY_MODERATION_LOG,
    QUERY_CURRENT_STATUS,
    QUERY_OUTBOUND_RECENT,
    QUERY_USER_SEARCH,
    QUERY_CHAT_ACTIVITY,
    TOKENS_CREATE,
    TOKENS_LIST,
    TOKENS_REVOKE,
    TOKENS_VERIFY,
];
/// Query: the newest plays (`crate::media::RecentPlaysQuery`).
pub const QUERY_MEDIA_RECENT: &str = "rosey.db.query.media.recent";
/// Query: the most played media of a period (`crate::media::MostPlayedQuery`).
pub const QUERY_MEDIA_MOST_PLAYED: &str = "rosey.db.query.media.most_played";
/// Query: who queued the most plays (`crate::media::TopAddersQuery`).
pub const QUERY_MEDIA_TOP_ADDERS: &str = "rosey.db.query.media.top_adders";
/// Query: one user's queued plays (`crate::media::UserAddsQuery`).
pub const QUERY_MEDIA_USER_ADDS: &str = "rosey.db.query.media.user_adds";
/// Query: one media's totals and plays (`crate::media::MediaItemQuery`).
pub const QUERY_MEDIA_ITEM: &str = "rosey.db.query.media.item";
/// Query: media by title words (`crate::media::MediaSearchQuery`).
pub const QUERY_MEDIA_SEARCH: &str = "rosey.db.query.media.search";
/// Query: played media not played since a time, most played first, for `!random` and
/// autoplay (`crate::media::MediaCandidatesQuery`).
pub const QUERY_MEDIA_CANDIDATES: &str = "rosey.db.query.media.candidates";

/// The media history's request subjects (new in Rosey; served by the database service).
pub const MEDIA_QUERY_SUBJECTS: [&str; 7] = [
    QUERY_MEDIA_RECENT,
    QUERY_MEDIA_MOST_PLAYED,
    QUERY_MEDIA_TOP_ADDERS,
    QUERY_MEDIA_USER_ADDS,
    QUERY_MEDIA_ITEM,
    QUERY_MEDIA_SEARCH,
    QUERY_MEDIA_CANDIDATES,
];

/// Prefix of the plugin key-value store: requests go to `rosey.db.kv.<plugin>.<op>`
/// ([`kv_subject`]), and the subject's `<plugin>` token is the namespace the request reads
/// and writes (`rosey_model::kv`). The namespace is thus bound to the subject, which NATS
/// permissions can grant per plugin user (`deploy/nats/accounts.conf`).
pub const KV_PREFIX: &str = "rosey.db.kv";
/// Key-value operation: set a key.
pub const KV_OP_SET: &str = "set";
/// Key-value operation: read a key.
pub const KV_OP_GET: &str = "get";
/// Key-value operation: delete a key.
pub const KV_OP_DELETE: &str = "delete";
/// Key-value operation: keys by prefix.
pub const KV_OP_LIST: &str = "list";
/// Every key-value operation.
pub const KV_OPS: [&str; 4] = [KV_OP_SET, KV_OP_GET, KV_OP_DELETE, KV_OP_LIST];
/// The retired key-value subjects (`rosey.db.kv.<op>`, namespace in the payload): still
/// answered, with an error that names the subject to use instead.
pub const KV_RETIRED: [&str; 4] = [
    "rosey.db.kv.set",
    "rosey.db.kv.get",
    "rosey.db.kv.delete",
    "rosey.db.kv.list",
];

/// `rosey.db.kv.<plugin>.<op>`. The plugin name is made token-safe (see [`token`]).
pub fn kv_subject(plugin: &str, op: &str) -> String {
    format!("{KV_PREFIX}.{}.{}", token(plugin), token(op))
}

/// `rosey.db.kv.*.<op>`: one operation, every namespace (what the service subscribes to).
pub fn kv_wildcard(op: &str) -> String {
    format!("{KV_PREFIX}.*.{}", token(op))
}

/// `rosey.db.kv.<plugin>.<op>` → `(plugin, op)`; `None` for anything else.
pub fn parse_kv_subject(subject: &str) -> Option<(&str, &str)> {
    let rest = subject.strip_prefix(KV_PREFIX)?.strip_prefix('.')?;
    let (plugin, op) = rest.split_once('.')?;
    (!plugin.is_empty() && KV_OPS.contains(&op)).then_some((plugin, op))
}

/// Several database events in one message (durable mode only: the outbox packs a burst into
/// one stream message; format in `rosey_bus::batch`). Not part of the v0.5 wire contract.
pub const DB_BATCH: &str = "rosey.db.batch";

/// Every fire-and-forget database event subject (SPEC §3.1). Durable mode puts these and
/// [`DB_BATCH`], and nothing else, into the JetStream stream.
pub const DB_EVENT_SUBJECTS: [&str; 12] = [
    USER_JOINED,
    USER_LEFT,
    MESSAGE_LOG,
    STATS_USER_COUNT,
    STATS_HIGH_WATER,
    STATUS_UPDATE,
    OUTBOUND_MARK_SENT,
    OUTBOUND_MARK_FAILED,
    ACTION_PM_COMMAND,
    MEDIA_PLAYED,
    MODERATION_ACTION,
    MEDIA_ENDED,
];

/// Every request/reply subject of the database service (SPEC §3.2).
pub const DB_QUERY_SUBJECTS: [&str; 6] = [
    OUTBOUND_GET,
    RECENT_CHAT_GET,
    QUERY_CHANNEL_STATS,
    QUERY_USER_STATS,
    QUERY_USER_COUNT_HISTORY,
    OUTBOUND_ENQUEUE,
];

/// Wildcard over the whole database namespace.
pub const DB_ALL: &str = "rosey.db.>";
/// Prefix of the database namespace.
pub const DB_PREFIX: &str = "rosey.db.";

/// Prefix of the normalized event namespace.
pub const EVENTS_PREFIX: &str = "rosey.events";
/// Prefix of the command namespace.
pub const COMMANDS_PREFIX: &str = "rosey.commands";

/// Command action: send a chat line (`{message}`).
pub const COMMAND_CHAT: &str = "chat";
/// Command action: send a PM (`{to, message}`).
pub const COMMAND_PM: &str = "pm";
/// Command action: add a URL to the playlist (`{url, temp?, by?}`); the reply carries the
/// server's answer.
pub const COMMAND_ADD: &str = "add";
/// Command action: skip to the next playlist item (`{by?}`); the reply carries the server's
/// answer.
pub const COMMAND_SKIP: &str = "skip";
/// Command action: a moderation step on a user (`{action, user, reason?, seconds?,
/// event_id?, by?}`, [`crate::payload::ModerateCommand`]); the reply carries the server's
/// answer, or "<action>: not supported on this platform".
pub const COMMAND_MODERATE: &str = "moderate";
/// Command action: remove a playlist item (`{uid, by?}`,
/// [`crate::payload::RemoveCommand`]); the reply carries the server's answer.
pub const COMMAND_REMOVE: &str = "remove";
/// Command action, fire-and-forget (no reply): something was queued for the channel's
/// outbound pump. The database service publishes it after `outbound.enqueue`, so a queued
/// message goes out at once while the pump polls rarely.
pub const COMMAND_PUMP: &str = "pump";

/// Reply inboxes, one prefix per role (`nats.inbox_prefix` overrides): a request's reply
/// comes back on `<prefix>.<id>…`, and `deploy/nats/accounts.conf` lets only that role
/// subscribe there, so no other role reads or answers its replies.
pub const INBOX_BOT: &str = "_INBOX_bot";
/// The database service's reply inbox prefix.
pub const INBOX_DB: &str = "_INBOX_db";
/// The web dashboard's reply inbox prefix.
pub const INBOX_WEB: &str = "_INBOX_web";
/// The standard plugins' (`rosey plugins`) reply inbox prefix.
pub const INBOX_PLUGIN: &str = "_INBOX_plugin";
/// The admin CLI's (`rosey stats`, `say`, `status`, `token`, `plugins list`) prefix.
pub const INBOX_ADMIN: &str = "_INBOX_admin";

/// Request: the automated moderator reloads its rules from its configuration file (also
/// on SIGHUP); the reply says which channels it now moderates, or why the reload was
/// refused (the old rules stay).
pub const MODERATION_RELOAD: &str = "rosey.moderation.reload";
/// Request: the automated moderator's state (`{channel?}`): channels, dry run, offenders,
/// pending lifts, decision counts.
pub const MODERATION_STATE: &str = "rosey.moderation.state";
/// Request: the bots' status (each channel's state and users with their ranks); served by
/// `rosey bot`/`rosey run` (`rosey_bot::status`). The moderator seeds its ranks from it when
/// it starts after the bot joined.
pub const BOT_STATUS: &str = "rosey.bot.status";
/// The automated moderator's reply inbox prefix.
pub const INBOX_MODERATOR: &str = "_INBOX_moderator";

/// The channel used when a payload carries none and no channel is configured.
pub const DEFAULT_CHANNEL: &str = "default";

/// Is `subject` one of the database event subjects?
pub fn is_db_event(subject: &str) -> bool {
    DB_EVENT_SUBJECTS.contains(&subject)
}

/// Is `subject` one of the database request/reply subjects?
pub fn is_db_query(subject: &str) -> bool {
    DB_QUERY_SUBJECTS.contains(&subject)
        || DASHBOARD_QUERY_SUBJECTS.contains(&subject)
        || MEDIA_QUERY_SUBJECTS.contains(&subject)
        || KV_RETIRED.contains(&subject)
        || parse_kv_subject(subject).is_some()
}

/// `rosey.events.<channel>.<kind>`. The channel is made token-safe (see [`token`]).
pub fn event_subject(channel: &str, kind: &str) -> String {
    format!("{EVENTS_PREFIX}.{}.{}", token(channel), token(kind))
}

/// `rosey.commands.<channel>.<action>`.
pub fn command_subject(channel: &str, action: &str) -> String {
    format!("{COMMANDS_PREFIX}.{}.{}", token(channel), token(action))
}

/// `rosey.commands.<channel>.*`: every command for one channel.
pub fn command_wildcard(channel: &str) -> String {
    format!("{COMMANDS_PREFIX}.{}.*", token(channel))
}

/// Makes a string safe to use as one subject token: NATS tokens cannot be empty and cannot
/// contain `.`, `*`, `>` or white space. CyTube channel names are `[\w-]{1,30}`, so real
/// names pass through unchanged; anything else is replaced by `_`.
pub fn token(s: &str) -> String {
    if s.is_empty() {
        return "_".to_string();
    }
    s.chars()
        .map(|c| {
            if c == '.' || c == '*' || c == '>' || c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_and_command_subjects() {
        assert_eq!(
            event_subject("MyChannel", "message"),
            "rosey.events.MyChannel.message"
        );
        assert_eq!(command_subject("a-b", COMMAND_PM), "rosey.commands.a-b.pm");
        assert_eq!(event_subject("x.y *>", "k"), "rosey.events.x_y___.k");
        assert_eq!(event_subject("", "k"), "rosey.events._.k");
        assert_eq!(command_wildcard("c"), "rosey.commands.c.*");
    }

    #[test]
    fn kv_subjects_carry_the_namespace() {
        assert_eq!(kv_subject("quote", KV_OP_SET), "rosey.db.kv.quote.set");
        assert_eq!(kv_wildcard(KV_OP_LIST), "rosey.db.kv.*.list");
        assert_eq!(
            parse_kv_subject("rosey.db.kv.tell.get"),
            Some(("tell", "get"))
        );
        assert_eq!(parse_kv_subject("rosey.db.kv.get"), None);
        assert_eq!(parse_kv_subject("rosey.db.kv.a.b.get"), None);
        assert_eq!(parse_kv_subject("rosey.db.kv.a.drop"), None);
        assert!(is_db_query("rosey.db.kv.quote.delete"));
        assert!(is_db_query("rosey.db.kv.set"));
    }

    #[test]
    fn event_and_query_tables_do_not_overlap() {
        for s in DB_EVENT_SUBJECTS {
            assert!(s.starts_with(DB_PREFIX));
            assert!(!is_db_query(s), "{s}");
        }
        for s in DB_QUERY_SUBJECTS {
            assert!(s.starts_with(DB_PREFIX));
            assert!(!is_db_event(s), "{s}");
        }
    }
}
