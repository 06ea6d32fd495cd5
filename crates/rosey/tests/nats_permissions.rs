//! Least privilege with the shipped `deploy/nats/accounts.conf`, on a real nats-server and
//! real `rosey` processes: each role (database service, bot, web, plugin, admin CLI) can do
//! its job, and the server refuses what it must not do — the web user cannot publish a
//! database event, a plugin cannot publish as the bot, read or answer another role's
//! replies, or touch another plugin's key-value namespace; the standard plugins answer
//! commands through the bot.

use std::{process::Stdio, time::Duration};

use futures::FutureExt;
use futures::StreamExt;
use tokio::io::AsyncBufReadExt;

use rosey_bus::{Bus, NatsOptions};
use rosey_devserver::{DevServer, DevServerConfig};
use rosey_model::subjects;
use serde_json::{Value, json};

mod common;

const WAIT: Duration = Duration::from_secs(20);
const CHANNEL: &str = "perm";
const ROLES: [(&str, &str); 6] = [
    ("BOT", "rosey-bot"),
    ("DB", "rosey-db"),
    ("WEB", "rosey-web"),
    ("PLUGIN", "rosey-plugin"),
    ("ADMIN", "rosey-admin"),
    ("MODERATOR", "rosey-moderator"),
];

fn password(role: &str) -> String {
    format!("pw-{}-x7", role.to_ascii_lowercase())
}

/// The shipped file with each `$ROSEY_<ROLE>_NATS_PASSWORD` filled in.
fn accounts_conf() -> String {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/nats/accounts.conf");
    let mut text = std::fs::read_to_string(path).expect("deploy/nats/accounts.conf is shipped");
    for (role, _) in ROLES {
        let var = format!("${}_NATS_PASSWORD", format_args!("ROSEY_{role}"));
        assert!(text.contains(&var), "{var} is used");
        text = text.replace(&var, &format!("\"{}\"", password(role)));
    }
    text
}

/// The reply inbox prefix a Rosey process of `role` uses by default.
fn inbox_of(role: &str) -> &'static str {
    match role {
        "BOT" => subjects::INBOX_BOT,
        "DB" => subjects::INBOX_DB,
        "WEB" => subjects::INBOX_WEB,
        "PLUGIN" => subjects::INBOX_PLUGIN,
        "MODERATOR" => subjects::INBOX_MODERATOR,
        _ => subjects::INBOX_ADMIN,
    }
}

async fn connect_as(nats: &rosey_testkit::NatsServer, role: &str, user: &str) -> Bus {
    let mut o = NatsOptions::new(nats.url());
    o.user = Some(user.into());
    o.password = Some(password(role));
    o.inbox_prefix = Some(inbox_of(role).into());
    Bus::connect(o).await.unwrap()
}

/// A raw client of `user` whose server errors (permission violations) arrive on the
/// returned channel, as the server words them.
async fn raw_client(
    nats: &rosey_testkit::NatsServer,
    user: &str,
    password: String,
    inbox: &str,
) -> (
    async_nats::Client,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let client = async_nats::ConnectOptions::with_user_and_password(user.into(), password)
        .custom_inbox_prefix(inbox)
        .event_callback(move |e| {
            let tx = tx.clone();
            async move {
                if let async_nats::Event::ServerError(e) = e {
                    let _ = tx.send(e.to_string());
                }
            }
        })
        .connect(nats.url())
        .await
        .unwrap();
    (client, rx)
}

/// Waits for the server's permission violation that names `subject`.
async fn refused(errors: &mut tokio::sync::mpsc::UnboundedReceiver<String>, subject: &str) {
    let quoted = format!("\"{subject}\"");
    tokio::time::timeout(WAIT, async {
        while let Some(e) = errors.recv().await {
            if e.to_lowercase().contains("permissions violation") && e.contains(&quoted) {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the server refuses {subject}"));
}

/// The shipped file plus one user made from its commented template for a plugin of your
/// own, named `name` (password: [`password`] of `name`).
fn accounts_conf_with_plugin(name: &str) -> String {
    let text = accounts_conf();
    let start = text
        .find("# { user: rosey-plugin-echo")
        .expect("the template for a plugin of your own is shipped");
    let end = start + text[start..].find("#   } }").expect("the template ends") + "#   } }".len();
    let user: String = text[start..end]
        .lines()
        .map(|l| l.trim_start().trim_start_matches('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .replace(
            "$ROSEY_PLUGIN_ECHO_NATS_PASSWORD",
            &format!("\"{}\"", password(name)),
        )
        .replace("echo", name);
    let admin = text.find("{ user: rosey-admin").unwrap();
    format!("{}{user}\n      {}", &text[..admin], &text[admin..])
}

fn rosey(args: &[&str], role: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_rosey"));
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env_remove("NATS_URL")
        .env("ROSEY_NATS_PASSWORD", password(role))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

async fn stats_json(admin: &str, extra: &[&str]) -> Option<Value> {
    let mut args = vec!["stats", "--config", admin, "--json", "--channel", CHANNEL];
    args.extend_from_slice(extra);
    let out = rosey(&args, "ADMIN").output().await.unwrap();
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_does_its_job_and_is_refused_the_rest() {
    let nats = rosey_testkit::NatsServer::start_with_config(&accounts_conf());
    let server = DevServer::start(DevServerConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = |name: &str, user: &str| {
        let path = dir.path().join(format!("{name}.json"));
        let cfg = json!({
            "version": "2.0",
            "nats": {"url": nats.url(), "user": user},
            "database": {"path": dir.path().join("perm.db"), "run_as_service": false},
            "platforms": [{"type": "cytube", "name": "p", "domain": server.base_url(),
                           "channel": CHANNEL, "user": ["RoseyPerm"], "restart_delay": 1}],
            "logging": {"level": "warn"}
        });
        std::fs::write(&path, serde_json::to_vec(&cfg).unwrap()).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let (db_cfg, bot_cfg, admin_cfg) = (
        config("db", "rosey-db"),
        config("bot", "rosey-bot"),
        config("admin", "rosey-admin"),
    );

    // The database service and the bot run as their own users.
    let _db = rosey(&["db-service", &db_cfg], "DB").spawn().unwrap();
    // Plain mode is at-most-once: let the service subscribe before anything is published.
    tokio::time::timeout(WAIT, async {
        while stats_json(&admin_cfg, &[]).await.is_none() {}
    })
    .await
    .expect("the database service answers the admin");
    let _bot = rosey(&["bot", &bot_cfg], "BOT").spawn().unwrap();
    assert!(
        server.wait_for_user(CHANNEL, "RoseyPerm", WAIT).await,
        "the bot joins"
    );

    // The web user watches events and asks queries.
    let web = connect_as(&nats, "WEB", "rosey-web").await;
    let mut events = web
        .subscribe(&format!("rosey.events.{CHANNEL}.message"))
        .await
        .unwrap();
    // Forgeries, each flushed so the server has judged it before anything below happens.
    let forged = json!({"username": "mallory", "message": "forged", "channel": CHANNEL});
    web.publish(subjects::MESSAGE_LOG, serde_json::to_vec(&forged).unwrap())
        .await
        .unwrap();
    web.flush().await.unwrap();
    let plugin = connect_as(&nats, "PLUGIN", "rosey-plugin").await;
    let as_bot = json!({"username": "mallory", "channel": CHANNEL});
    plugin
        .publish(subjects::USER_JOINED, serde_json::to_vec(&as_bot).unwrap())
        .await
        .unwrap();
    plugin
        .publish(
            &format!("rosey.events.{CHANNEL}.message"),
            serde_json::to_vec(&json!({"user": "mallory", "content": "fake"})).unwrap(),
        )
        .await
        .unwrap();
    plugin.flush().await.unwrap();

    // A guest chats: the bot publishes the line, the service stores it.
    let guest = common::join_guest(&server.base_url(), CHANNEL, "visitor", WAIT).await;
    guest.chat("hello, roles").unwrap();
    let first = tokio::time::timeout(WAIT, events.next())
        .await
        .expect("web receives the channel's events")
        .unwrap();
    let first: Value = serde_json::from_slice(&first.payload).unwrap();
    assert!(
        first.to_string().contains("hello, roles"),
        "the plugin's fake event was refused, the bot's came through: {first}"
    );

    // The admin CLI reads the statistics: the guest's line is there, mallory is not.
    let stats = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(v) = stats_json(&admin_cfg, &[]).await
                && v.to_string().contains("visitor")
            {
                return v;
            }
        }
    })
    .await
    .expect("the admin reads channel statistics");
    assert!(!stats.to_string().contains("mallory"), "{stats}");
    let mallory = stats_json(&admin_cfg, &["--user", "mallory"])
        .await
        .unwrap();
    assert_eq!(mallory["found"], false, "no forged row: {mallory}");

    // The web user may ask queries.
    let reply = web
        .request(subjects::QUERY_CHANNEL_STATS, &b"{}"[..], WAIT)
        .await
        .expect("web may query");
    let v: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(v["success"], true, "{v}");
    // The admin queues a line; the bot sends it once.
    let out = rosey(
        &[
            "say",
            "--config",
            &admin_cfg,
            "--channel",
            CHANNEL,
            "from the admin",
        ],
        "ADMIN",
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .output()
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        server.wait_for_chat_count(CHANNEL, 2, WAIT).await,
        "the bot sent the admin's line"
    );
    let bot_lines: Vec<_> = server
        .chat_log(CHANNEL)
        .into_iter()
        .filter(|c| c.username == "RoseyPerm")
        .map(|c| c.msg)
        .collect();
    assert_eq!(bot_lines, vec!["from the admin"]);
    guest.shutdown().await;
}

/// With `cluster.leases` the bot also needs the lease bucket (its stream, key-value writes,
/// direct gets, a watch): as `rosey-bot` it opens the bucket, takes the channel's lease and
/// joins, and the lease is in the bucket under its process id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_user_may_share_channels_through_leases() {
    let nats = rosey_testkit::NatsServer::start_with_config(&accounts_conf());
    let server = DevServer::start(DevServerConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bot.json");
    let cfg = json!({
        "version": "2.0",
        "nats": {"url": nats.url(), "user": "rosey-bot"},
        "platforms": [{"type": "cytube", "name": "p", "domain": server.base_url(),
                       "channel": CHANNEL, "user": ["RoseyLease"], "restart_delay": 1}],
        "cluster": {"leases": true, "lease_time": 6},
        "logging": {"level": "warn"}
    });
    std::fs::write(&path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    let mut bot = rosey(&["bot", path.to_str().unwrap()], "BOT")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        server.wait_for_user(CHANNEL, "RoseyLease", WAIT).await,
        "the bot takes the lease and joins"
    );
    let bus = connect_as(&nats, "BOT", "rosey-bot").await;
    let holders = rosey_bot::leases::holders(bus.nats_client().unwrap(), "rosey_leases")
        .await
        .unwrap();
    let pid = bot.id().unwrap().to_string();
    assert_eq!(holders.len(), 1, "{holders:?}");
    assert!(
        holders.values().all(|h| h.starts_with(&format!("{pid}-"))),
        "{holders:?}"
    );
    let status = common::sigterm_and_wait(&mut bot, WAIT).await;
    assert!(status.success(), "{status}");
    // Nothing refused along the way (the watch, the presence key, the release).
    let mut log = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut bot.stderr.take().unwrap(), &mut log)
        .await
        .unwrap();
    assert!(!log.contains("Lease"), "{log}");
    assert!(!log.to_lowercase().contains("permission"), "{log}");
}

/// A v2 config file for a process running as `user`, on the devserver channel.
fn role_config(
    dir: &std::path::Path,
    nats: &rosey_testkit::NatsServer,
    server: &DevServer,
    name: &str,
    user: &str,
) -> String {
    let path = dir.join(format!("{name}.json"));
    let cfg = json!({
        "version": "2.0",
        "nats": {"url": nats.url(), "user": user},
        "database": {"path": dir.join("perm.db"), "run_as_service": false},
        "platforms": [{"type": "cytube", "name": "p", "domain": server.base_url(),
                       "channel": CHANNEL, "user": ["RoseyPerm"], "restart_delay": 1}],
        "plugins": {"discovery_interval": 2, "timeout": 10},
        "logging": {"level": "warn"}
    });
    std::fs::write(&path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Starts the database service as `rosey-db` and waits until it answers the admin.
async fn start_db(db_cfg: &str, admin_cfg: &str) -> tokio::process::Child {
    let db = rosey(&["db-service", db_cfg], "DB").spawn().unwrap();
    tokio::time::timeout(WAIT, async {
        while stats_json(admin_cfg, &[]).await.is_none() {}
    })
    .await
    .expect("the database service answers the admin");
    db
}

/// Each role has its own reply inbox: a plugin user cannot subscribe to any other role's
/// inbox (so it never sees the plaintext token `rosey token create --admin` gets back), and
/// cannot publish into one (so it cannot answer the dashboard's token check before the
/// database service does, even knowing the reply subject).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_neither_reads_nor_answers_another_roles_replies() {
    let nats = rosey_testkit::NatsServer::start_with_config(&accounts_conf());
    let server = DevServer::start(DevServerConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db_cfg = role_config(dir.path(), &nats, &server, "db", "rosey-db");
    let admin_cfg = role_config(dir.path(), &nats, &server, "admin", "rosey-admin");
    let _db = start_db(&db_cfg, &admin_cfg).await;

    let (plugin, mut errors) = raw_client(
        &nats,
        "rosey-plugin",
        password("PLUGIN"),
        subjects::INBOX_PLUGIN,
    )
    .await;
    let spied = [
        "_INBOX.>",
        "_INBOX_admin.>",
        "_INBOX_web.>",
        "_INBOX_bot.>",
        "_INBOX_db.>",
    ];
    let mut spies = Vec::new();
    for subject in spied {
        spies.push(plugin.subscribe(subject).await.unwrap());
        refused(&mut errors, subject).await;
    }

    // The admin mints an admin token; the reply holds it in plain text.
    let out = rosey(
        &["token", "create", "--admin", "--config", &admin_cfg],
        "ADMIN",
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .output()
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.len() >= 16, "{token}");
    // Whatever the server routed to the plugin before this round trip has arrived by now.
    plugin.flush().await.unwrap();
    for (subject, spy) in spied.iter().zip(spies.iter_mut()) {
        if let Some(Some(m)) = spy.next().now_or_never() {
            panic!(
                "the plugin read a reply on {subject} ({}): {}",
                m.subject,
                String::from_utf8_lossy(&m.payload)
            );
        }
    }

    // The dashboard checks a made-up token; the plugin, knowing the reply subject, answers
    // first with "valid admin". The server refuses it: the database's answer is the one.
    let (web, _web_errors) =
        raw_client(&nats, "rosey-web", password("WEB"), subjects::INBOX_WEB).await;
    let inbox = web.new_inbox();
    assert!(inbox.starts_with("_INBOX_web."), "{inbox}");
    let mut replies = web.subscribe(inbox.clone()).await.unwrap();
    web.flush().await.unwrap();
    let forged = json!({"success": true, "valid": true, "admin": true, "prefix": "forged"});
    plugin
        .publish(inbox.clone(), serde_json::to_vec(&forged).unwrap().into())
        .await
        .unwrap();
    plugin.flush().await.unwrap();
    refused(&mut errors, &inbox).await;
    // Nor by sending itself a request whose reply subject is the dashboard's inbox (a
    // responder may answer what it received, and it receives `$SRV.INFO`): it may not send
    // what it may receive.
    let mut own = plugin.subscribe("$SRV.INFO").await.unwrap();
    plugin
        .publish_with_reply("$SRV.INFO", inbox.clone(), "".into())
        .await
        .unwrap();
    refused(&mut errors, "$SRV.INFO").await;
    plugin
        .publish(inbox.clone(), serde_json::to_vec(&forged).unwrap().into())
        .await
        .unwrap();
    plugin.flush().await.unwrap();
    assert!(own.next().now_or_never().is_none(), "no loop back");
    web.publish_with_reply(
        subjects::TOKENS_VERIFY,
        inbox.clone(),
        serde_json::to_vec(&json!({"token": "made-up-token-0123456789"}))
            .unwrap()
            .into(),
    )
    .await
    .unwrap();
    let answer = tokio::time::timeout(WAIT, replies.next())
        .await
        .expect("the database service answers the token check")
        .unwrap();
    let answer: Value = serde_json::from_slice(&answer.payload).unwrap();
    assert_eq!(answer["valid"], false, "{answer}");
    assert_eq!(answer["admin"], false, "{answer}");
}

/// The standard plugins work under the shipped file: a guest's `!quote add` and `!quote 1`
/// go from the bot (as `rosey-bot`) to `rosey plugins` (as `rosey-plugin`), which keeps the
/// quote in the key-value store, and `!remind` comes back through the bot's
/// `rosey.commands.<channel>.chat`. A plugin of your own (from the file's template) keeps
/// to its namespace: it cannot read or rewrite `quote`'s keys, by subject or by payload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_answer_through_the_bot_and_keep_to_their_namespace() {
    let nats = rosey_testkit::NatsServer::start_with_config(&accounts_conf_with_plugin("mallory"));
    let server = DevServer::start(DevServerConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db_cfg = role_config(dir.path(), &nats, &server, "db", "rosey-db");
    let bot_cfg = role_config(dir.path(), &nats, &server, "bot", "rosey-bot");
    let plugins_cfg = role_config(dir.path(), &nats, &server, "plugins", "rosey-plugin");
    let admin_cfg = role_config(dir.path(), &nats, &server, "admin", "rosey-admin");
    let _db = start_db(&db_cfg, &admin_cfg).await;
    let mut plugins = rosey(&["plugins", &plugins_cfg, "--log-level", "info"], "PLUGIN")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _bot = rosey(&["bot", &bot_cfg], "BOT").spawn().unwrap();
    assert!(
        server.wait_for_user(CHANNEL, "RoseyPerm", WAIT).await,
        "the bot joins"
    );
    let guest = common::join_guest(&server.base_url(), CHANNEL, "visitor", WAIT).await;
    let bot_said = |text: &str| {
        server
            .chat_log(CHANNEL)
            .iter()
            .any(|c| c.username == "RoseyPerm" && c.msg.contains(text))
    };
    // The bot finds the plugins (at start, on their announcement, or on its 2 s timer):
    // ask until a plugin answers.
    tokio::time::timeout(WAIT, async {
        loop {
            guest.chat("!quote 1").unwrap();
            let seen = server.chat_log(CHANNEL).len();
            server
                .wait_for_chat_count(CHANNEL, seen + 2, Duration::from_millis(2500))
                .await;
            if bot_said("no quote #1") {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "the quote plugin answers through the bot: {:?}",
            server.chat_log(CHANNEL)
        )
    });
    assert!(
        !bot_said("did not answer"),
        "{:?}",
        server.chat_log(CHANNEL)
    );

    guest.chat("!quote add the roles hold").unwrap();
    let added = async {
        while !bot_said("Quote #1 added.") {
            let n = server.chat_log(CHANNEL).len();
            server.wait_for_chat_count(CHANNEL, n + 1, WAIT).await;
        }
    };
    tokio::time::timeout(WAIT, added)
        .await
        .expect("the quote is stored");
    guest.chat("!remind 1s stretch").unwrap();
    let reminded = async {
        while !bot_said("visitor: reminder: stretch") {
            let n = server.chat_log(CHANNEL).len();
            server.wait_for_chat_count(CHANNEL, n + 1, WAIT).await;
        }
    };
    tokio::time::timeout(WAIT, reminded)
        .await
        .expect("the reminder comes back through rosey.commands.<channel>.chat");

    // `!help` may not ask `$SRV.INFO` as a plugin: it lists the standard commands.
    guest.chat("!help").unwrap();
    let helped = async {
        while !bot_said("!quote, !random, !remind") {
            let n = server.chat_log(CHANNEL).len();
            server.wait_for_chat_count(CHANNEL, n + 1, WAIT).await;
        }
    };
    tokio::time::timeout(WAIT, helped)
        .await
        .unwrap_or_else(|_| panic!("!help lists the commands: {:?}", server.chat_log(CHANNEL)));

    // Mallory's plugin: its own namespace works…
    let (mallory, mut errors) = raw_client(
        &nats,
        "rosey-plugin-mallory",
        password("mallory"),
        "_INBOX_plugin_mallory",
    )
    .await;
    let ask = |subject: String, body: Value| {
        let mallory = mallory.clone();
        async move {
            let body = serde_json::to_vec(&body).unwrap().into();
            match tokio::time::timeout(Duration::from_secs(3), mallory.request(subject, body)).await
            {
                Ok(Ok(m)) => Some(serde_json::from_slice::<Value>(&m.payload).unwrap()),
                _ => None,
            }
        }
    };
    let own = ask(
        subjects::kv_subject("mallory", subjects::KV_OP_SET),
        json!({"key": "k", "value": 1}),
    )
    .await;
    assert_eq!(own, Some(json!({"success": true})));
    // …quote's is refused by the server, for reading and for writing…
    let theirs = subjects::kv_subject("quote", subjects::KV_OP_GET);
    let read = ask(theirs.clone(), json!({"key": format!("{CHANNEL}/1")}));
    let (read, ()) = tokio::join!(read, refused(&mut errors, &theirs));
    assert_eq!(read, None);
    let theirs = subjects::kv_subject("quote", subjects::KV_OP_SET);
    let write = ask(
        theirs.clone(),
        json!({"key": format!("{CHANNEL}/1"), "value": {"text": "pwned"}}),
    );
    let (write, ()) = tokio::join!(write, refused(&mut errors, &theirs));
    assert_eq!(write, None);
    // …and naming quote in the payload of its own subject is refused by the service.
    for (op, body) in [
        (
            subjects::KV_OP_GET,
            json!({"plugin": "quote", "key": format!("{CHANNEL}/1")}),
        ),
        (
            subjects::KV_OP_SET,
            json!({"plugin": "quote", "key": format!("{CHANNEL}/1"), "value": {"text": "pwned"}}),
        ),
        (subjects::KV_OP_LIST, json!({"plugin": "quote"})),
    ] {
        let r = ask(subjects::kv_subject("mallory", op), body).await;
        let r = r.expect("the service answers");
        assert_eq!(r["success"], false, "{r}");
        assert!(!r.to_string().contains("roles hold"), "{r}");
    }
    // The standard plugins' user cannot reach into mallory's namespace either.
    let (std_plugin, mut std_errors) = raw_client(
        &nats,
        "rosey-plugin",
        password("PLUGIN"),
        subjects::INBOX_PLUGIN,
    )
    .await;
    let subject = subjects::kv_subject("mallory", subjects::KV_OP_GET);
    std_plugin
        .publish_with_reply(
            subject.clone(),
            std_plugin.new_inbox(),
            b"{\"key\":\"k\"}".to_vec().into(),
        )
        .await
        .unwrap();
    refused(&mut std_errors, &subject).await;

    // The quote is still the guest's.
    guest.chat("!quote 1").unwrap();
    let shown = async {
        while !bot_said("#1: the roles hold (added by visitor)") {
            let n = server.chat_log(CHANNEL).len();
            server.wait_for_chat_count(CHANNEL, n + 1, WAIT).await;
        }
    };
    tokio::time::timeout(WAIT, shown)
        .await
        .expect("quote #1 is unchanged");
    assert!(!bot_said("pwned"));

    // Nothing the standard plugins did was refused but `!help`'s discovery.
    let status = common::sigterm_and_wait(&mut plugins, WAIT).await;
    assert!(status.success(), "{status}");
    let mut log = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut plugins.stderr.take().unwrap(), &mut log)
        .await
        .unwrap();
    let refusals: Vec<&str> = log
        .lines()
        .filter(|l| l.to_lowercase().contains("permission") && !l.contains("\"$SRV.INFO\""))
        .collect();
    assert!(refusals.is_empty(), "{refusals:?}");
    guest.shutdown().await;
}

/// The moderator works as `rosey-moderator`: a guest's flood is answered through the bot (a
/// warning by PM, recorded in the moderation log the admin reads), with its ladder position
/// and the bucket's stream set up on the way and nothing refused; its user may neither
/// publish events nor have the bot chat, nor read another role's replies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_moderator_acts_through_the_bot_and_nothing_else() {
    let nats = rosey_testkit::NatsServer::start_with_config(&accounts_conf());
    let server = DevServer::start(DevServerConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db_cfg = role_config(dir.path(), &nats, &server, "db", "rosey-db");
    let bot_cfg = role_config(dir.path(), &nats, &server, "bot", "rosey-bot");
    let admin_cfg = role_config(dir.path(), &nats, &server, "admin", "rosey-admin");
    let mod_cfg = role_config(dir.path(), &nats, &server, "moderator", "rosey-moderator");
    let mut cfg: Value = serde_json::from_slice(&std::fs::read(&mod_cfg).unwrap()).unwrap();
    cfg["moderation"] = json!({"enabled": true, "channels": {CHANNEL: {
        "flood": {"lines": 3, "seconds": 30}, "ladder": ["warn"], "new_users": {"minutes": 0}}}});
    std::fs::write(&mod_cfg, serde_json::to_vec(&cfg).unwrap()).unwrap();
    let _db = start_db(&db_cfg, &admin_cfg).await;
    let _bot = rosey(&["bot", &bot_cfg], "BOT").spawn().unwrap();
    assert!(
        server.wait_for_user(CHANNEL, "RoseyPerm", WAIT).await,
        "the bot joins"
    );
    let mut moderator = rosey(&["moderator", &mod_cfg, "--log-level", "info"], "MODERATOR")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Subscribed and set up (bucket, stored positions) once it says it runs.
    let mut stderr = tokio::io::BufReader::new(moderator.stderr.take().unwrap()).lines();
    let mut text = String::new();
    tokio::time::timeout(WAIT, async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            text += &line;
            text.push('\n');
            if line.contains("Moderator running") {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the moderator starts: {text}"));
    let guest = common::join_guest(&server.base_url(), CHANNEL, "flooder", WAIT).await;
    for n in 0..4 {
        guest.chat(&format!("flood line {n}")).unwrap();
    }
    let rows = tokio::time::timeout(WAIT, async {
        loop {
            let out = rosey(
                &[
                    "moderation",
                    "log",
                    "--config",
                    &admin_cfg,
                    "--channel",
                    CHANNEL,
                    "--json",
                ],
                "ADMIN",
            )
            .output()
            .await
            .unwrap();
            if let Ok(rows) = serde_json::from_slice::<Value>(&out.stdout)
                && rows.as_array().is_some_and(|r| !r.is_empty())
            {
                return rows;
            }
        }
    })
    .await
    .expect("the moderator's decision is in the log");
    let row = &rows[0];
    assert_eq!(
        (row["rule"].as_str(), row["username"].as_str()),
        (Some("flood"), Some("flooder")),
        "{rows}"
    );
    assert_eq!(
        row["outcome"], "done",
        "the bot answered the moderator: {rows}"
    );

    // What the moderator's user must not do.
    let (raw, mut errors) = raw_client(
        &nats,
        "rosey-moderator",
        password("MODERATOR"),
        subjects::INBOX_MODERATOR,
    )
    .await;
    let forbidden = [
        format!("rosey.events.{CHANNEL}.message"),
        format!("rosey.commands.{CHANNEL}.chat"),
        subjects::MESSAGE_LOG.to_string(),
    ];
    for subject in &forbidden {
        raw.publish(subject.clone(), "{}".into()).await.unwrap();
        raw.flush().await.unwrap();
        refused(&mut errors, subject).await;
    }
    let _spy = raw.subscribe("_INBOX_bot.>").await.unwrap();
    refused(&mut errors, "_INBOX_bot.>").await;

    // Nothing the moderator itself did was refused.
    let status = common::sigterm_and_wait(&mut moderator, WAIT).await;
    assert!(status.success(), "{status}");
    while let Some(line) = stderr.next_line().await.unwrap() {
        text += &line;
        text.push('\n');
    }
    assert!(!text.to_lowercase().contains("permission"), "{text}");
    assert!(!text.contains("Could not"), "{text}");
    assert!(text.contains("Moderator running"), "{text}");
    guest.shutdown().await;
}
