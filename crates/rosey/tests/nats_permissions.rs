//! Least privilege with the shipped `deploy/nats/accounts.conf`, on a real nats-server and
//! real `rosey` processes: each role (database service, bot, web, plugin, admin CLI) can do
//! its job, and the server refuses what it must not do — the web user cannot publish a
//! database event, a plugin cannot publish as the bot.

use std::{process::Stdio, time::Duration};

use rosey_bus::{Bus, NatsOptions};
use rosey_devserver::{DevServer, DevServerConfig};
use rosey_model::subjects;
use serde_json::{Value, json};

mod common;

const WAIT: Duration = Duration::from_secs(20);
const CHANNEL: &str = "perm";
const ROLES: [(&str, &str); 5] = [
    ("BOT", "rosey-bot"),
    ("DB", "rosey-db"),
    ("WEB", "rosey-web"),
    ("PLUGIN", "rosey-plugin"),
    ("ADMIN", "rosey-admin"),
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

async fn connect_as(nats: &rosey_testkit::NatsServer, role: &str, user: &str) -> Bus {
    let mut o = NatsOptions::new(nats.url());
    o.user = Some(user.into());
    o.password = Some(password(role));
    Bus::connect(o).await.unwrap()
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
