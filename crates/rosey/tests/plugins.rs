//! Plugins end to end (issue 14): a real `nats-server`, the devserver, the bot and the
//! database service (in this process), the standard plugins as their own process
//! (`rosey plugins`), test plugins built on `rosey-plugin`, and the Python example plugin.
//! Users are CyTube clients over real sockets; what the bot says is read from the
//! devserver's chat log.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rosey_bot::{Bot, BotConfig, ChannelSpec};
use rosey_bus::{Bus, NatsOptions};
use rosey_config::plugins::PluginsConfig;
use rosey_cytube::{ClientConfig, CytubeHandle, EventStream, Login, QueuePosition, QueueRequest};
use rosey_dbservice::DbServiceHandle;
use rosey_devserver::{DevServer, DevServerConfig};
use rosey_plugin::{CommandSpec, Plugin, Reply};
use rosey_testkit::{NatsServer, cytube};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(15);
const CH: &str = "plugchan";
const BOT: &str = "Rosey";
const BOT_PW: &str = "bot-pw";
const MOD: &str = "moddy";
const MOD_PW: &str = "mod-pw";

/// A child process killed when the test ends, pass or fail.
struct Proc(Option<Child>);

impl Proc {
    fn kill(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

struct Rig {
    nats: NatsServer,
    server: DevServer,
    client: async_nats::Client,
    db: Option<DbServiceHandle>,
    bot: Option<Bot>,
    dir: tempfile::TempDir,
    plugins_config: PathBuf,
}

/// Short timeouts; no rate limits (the isolation test sets its own).
fn settings() -> PluginsConfig {
    PluginsConfig {
        timeout: Duration::from_secs(1),
        discovery_interval: Duration::from_secs(1),
        user_burst: 0,
        channel_burst: 0,
        ..PluginsConfig::default()
    }
}

fn client_config(server: &DevServer, login: Login) -> ClientConfig {
    cytube::client_config(server, CH, login)
}

async fn rig(plugins: PluginsConfig) -> Rig {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("rosey_bot=debug,rosey_plugin=debug,rosey_stdplugins=debug")
        .with_test_writer()
        .try_init();
    let nats = NatsServer::start();
    let server = DevServer::start(
        DevServerConfig::default()
            .with_account(BOT, BOT_PW, 3.0)
            .with_account(MOD, MOD_PW, 2.0),
    )
    .await
    .expect("devserver starts");
    let bus = Bus::connect(NatsOptions::new(nats.url())).await.unwrap();
    let client = bus.nats_client().unwrap().clone();
    let dir = tempfile::tempdir().unwrap();
    let db = cytube::db_service(&bus, &dir.path().join("bot.db"), CH).await;
    let spec = ChannelSpec::cytube(
        CH,
        CH,
        client_config(
            &server,
            Login::Registered {
                name: BOT.into(),
                password: BOT_PW.into(),
            },
        ),
    );
    let mut cfg = BotConfig::new(vec![spec]);
    cfg.plugins = Some(plugins);
    let bot = Bot::start(bus.clone(), cfg);
    assert!(server.wait_for_user(CH, BOT, WAIT).await, "the bot joins");
    let plugins_config = dir.path().join("plugins.json");
    std::fs::write(
        &plugins_config,
        serde_json::to_vec(&json!({"version": "2.0", "logging": {"level": "debug"}})).unwrap(),
    )
    .unwrap();
    Rig {
        nats,
        server,
        client,
        db: Some(db),
        bot: Some(bot),
        dir,
        plugins_config,
    }
}

impl Rig {
    /// Starts `rosey plugins` and waits until its plugins answer discovery.
    async fn start_plugins(&self) -> Proc {
        let child = Command::new(env!("CARGO_BIN_EXE_rosey"))
            .arg("plugins")
            .arg(&self.plugins_config)
            .args(["--nats-url", &self.nats.url()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join("plugins.log")).unwrap())
            .spawn()
            .expect("spawn rosey plugins");
        let proc = Proc(Some(child));
        self.wait_plugins(rosey_stdplugins::NAMES.len()).await;
        proc
    }

    /// Waits until at least `n` plugins answer discovery.
    async fn wait_plugins(&self, n: usize) {
        let found = tokio::time::timeout(WAIT, async {
            loop {
                let p = rosey_plugin::discover(&self.client, Duration::from_millis(200))
                    .await
                    .unwrap();
                if p.len() >= n {
                    return;
                }
            }
        })
        .await;
        assert!(found.is_ok(), "{n} plugins register");
    }

    fn log_len(&self) -> usize {
        self.server.chat_log(CH).len()
    }

    /// The bot's chat lines after position `from` of the log.
    fn bot_lines(&self, from: usize) -> Vec<String> {
        cytube::bot_lines(&self.server, CH, from)
    }

    /// Waits for a line of the bot after `from` that satisfies `ok`.
    async fn bot_says(&self, from: usize, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let found = cytube::bot_line_where(&self.server, CH, from, WAIT, ok).await;
        found.unwrap_or_else(|| {
            panic!(
                "the bot never said {what}; it said {:?}",
                self.bot_lines(from)
            )
        })
    }

    /// `user` says `text`; returns the bot's first line after it that satisfies `ok`.
    async fn command(&self, user: &CytubeHandle, text: &str, ok: impl Fn(&str) -> bool) -> String {
        let from = self.log_len();
        user.chat(text).unwrap();
        self.bot_says(from, text, ok).await
    }

    /// Sends `text` until the bot answers it (the bot finds new plugins within a moment).
    async fn first_command(&self, user: &CytubeHandle, text: &str, prefix: &str) -> String {
        cytube::first_answer(&self.server, CH, user, text, prefix).await
    }

    async fn stop(mut self) {
        if let Some(bot) = self.bot.take() {
            bot.shutdown().await;
        }
        if let Some(db) = self.db.take() {
            db.shutdown().await.unwrap();
        }
    }
}

/// Connects a user and waits until it has joined.
async fn join(server: &DevServer, login: Login) -> (CytubeHandle, EventStream) {
    cytube::join(server, CH, login).await
}

async fn guest(server: &DevServer, name: &str) -> CytubeHandle {
    join(server, Login::Guest(name.into())).await.0
}

fn total(line: &str) -> i64 {
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_commands_answer_in_chat_and_tell_survives_a_restart() {
    let rig = rig(settings()).await;
    let mut plugins = rig.start_plugins().await;
    let alice = guest(&rig.server, "alice").await;
    let (moddy, _mod_events) = join(
        &rig.server,
        Login::Registered {
            name: MOD.into(),
            password: MOD_PW.into(),
        },
    )
    .await;

    let up = rig.first_command(&alice, "!uptime", "Up for ").await;
    assert!(up.starts_with("Up for "), "{up}");

    // `rosey plugins list`: every standard plugin, its commands, version and counts.
    let out = Command::new(env!("CARGO_BIN_EXE_rosey"))
        .args([
            "plugins",
            "list",
            "--json",
            "--wait",
            "0.5",
            "--nats-url",
            &rig.nats.url(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    let mut expected = rosey_stdplugins::NAMES.to_vec();
    expected.sort_unstable();
    assert_eq!(names, expected);
    let uptime = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "uptime")
        .unwrap();
    assert_eq!(uptime["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(uptime["commands"][0]["name"], "uptime");
    assert!(uptime["requests"].as_u64().unwrap() >= 1, "{uptime}");
    let poll = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "poll")
        .unwrap();
    assert_eq!(poll["commands"][0]["min_rank"], 2.0);

    let roll = rig
        .command(&alice, "!roll 2d6", |l| l.starts_with("alice rolled 2d6: "))
        .await;
    assert!((2..=12).contains(&total(&roll)), "{roll}");
    let bad = rig
        .command(&alice, "!roll banana", |l| l.starts_with("alice: Usage"))
        .await;
    assert!(bad.contains("!roll NdM"), "{bad}");
    let ball = rig
        .command(&alice, "!8ball will it work?", |l| {
            l.starts_with("alice: 🎱 ")
        })
        .await;
    assert!(
        rosey_stdplugins::fun::EIGHTBALL
            .iter()
            .any(|a| ball.ends_with(a)),
        "{ball}"
    );
    let choice = rig
        .command(&alice, "!choose tea|coffee", |l| l.starts_with("alice: "))
        .await;
    assert!(
        choice == "alice: tea" || choice == "alice: coffee",
        "{choice}"
    );

    // Quotes, in the key-value store.
    rig.command(&alice, "!quote add the cake is a lie", |l| {
        l == "Quote #1 added."
    })
    .await;
    rig.command(&moddy, "!quote add second one", |l| l == "Quote #2 added.")
        .await;
    rig.command(&alice, "!quote 1", |l| {
        l == "#1: the cake is a lie (added by alice)"
    })
    .await;
    let random = rig.command(&alice, "!quote", |l| l.starts_with('#')).await;
    assert!(
        random.starts_with("#1: ") || random.starts_with("#2: "),
        "{random}"
    );
    rig.command(&alice, "!quote 9", |l| l == "alice: There is no quote #9.")
        .await;

    // Help lists what the asker may run.
    let help = rig
        .command(&alice, "!help", |l| l.starts_with("Commands: "))
        .await;
    assert!(help.contains("!roll") && help.contains("!tell"), "{help}");
    assert!(!help.contains("!poll"), "a guest may not run !poll: {help}");
    let mod_help = rig
        .command(&moddy, "!help", |l| l.starts_with("Commands: "))
        .await;
    assert!(mod_help.contains("!poll"), "{mod_help}");
    rig.command(&alice, "!help roll", |l| l.starts_with("!roll NdM — "))
        .await;

    // From the database service.
    rig.command(&alice, "!seen moddy", |l| l == "moddy is here now.")
        .await;
    rig.command(&alice, "!seen nobody_here", |l| {
        l == "I have not seen nobody_here."
    })
    .await;
    let stats = rig
        .command(&alice, "!stats", |l| l.starts_with("Peak: "))
        .await;
    assert!(stats.contains("here now"), "{stats}");
    let top = rig
        .command(&alice, "!top", |l| l.starts_with("Top chatters: "))
        .await;
    assert!(top.contains("1. alice ("), "alice said the most: {top}");

    // From the channel's state.
    rig.command(&alice, "!np", |l| l == "Nothing is playing.")
        .await;
    for id in ["np-one", "np-two"] {
        moddy
            .queue(QueueRequest::new(id, "yt", QueuePosition::End))
            .unwrap();
    }
    let mut np = String::new();
    for _ in 0..100 {
        np = rig.command(&alice, "!np", |l| l.contains("playing")).await;
        if np.starts_with("Now playing: ") {
            break;
        }
    }
    assert!(np.starts_with("Now playing: "), "{np}");
    let queue = rig
        .command(&alice, "!queue", |l| l.starts_with("Playlist: "))
        .await;
    assert!(
        queue.starts_with("Playlist: 2 items") && queue.contains("Next: "),
        "{queue}"
    );

    // A poll through the server's poll, for rank 2.
    moddy.chat("!poll Lunch? | pizza | tacos").unwrap();
    let poll = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(p) = rig.server.poll(CH) {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the poll opens");
    assert_eq!((poll.title.as_str(), poll.options.len()), ("Lunch?", 2));

    // A reminder.
    rig.command(&alice, "!remind 1s stretch", |l| {
        l == "alice: I'll remind you in 1s."
    })
    .await;
    rig.bot_says(0, "the reminder", |l| l == "alice: reminder: stretch")
        .await;

    // !tell survives a restart of the plugins process and is delivered once.
    rig.command(&alice, "!tell bob hi there", |l| {
        l == "alice: I'll tell bob when they are next here."
    })
    .await;
    plugins.kill();
    let _plugins = rig.start_plugins().await;
    let from = rig.log_len();
    let bob = guest(&rig.server, "bob").await;
    let told = rig
        .bot_says(from, "the message for bob", |l| {
            l.starts_with("bob: alice told you ")
        })
        .await;
    assert!(told.ends_with(" ago: hi there"), "{told}");
    bob.chat("hello all").unwrap();
    rig.first_command(&bob, "!roll", "bob rolled").await;
    let deliveries = rig
        .bot_lines(from)
        .iter()
        .filter(|l| l.starts_with("bob: alice told you"))
        .count();
    assert_eq!(deliveries, 1, "delivered once: {:?}", rig.bot_lines(from));
    rig.stop().await;
}

/// A plugin whose command never answers, and one that answers at once.
async fn test_plugins(
    client: &async_nats::Client,
) -> (rosey_plugin::RunningPlugin, rosey_plugin::RunningPlugin) {
    let slow = Plugin::new("slow", "0.1.0")
        .command(
            CommandSpec::new("hang", "Never answers."),
            |_req| async move {
                std::future::pending::<()>().await;
                Reply::none()
            },
        )
        .start(client)
        .await
        .unwrap();
    let other = Plugin::new("other", "0.1.0")
        .command(
            CommandSpec::new("ping", "Pong.").pm(true),
            |req| async move {
                let how = if req.pm { " by pm" } else { "" };
                Reply::chat(format!("pong {}{how}", req.user))
            },
        )
        .start(client)
        .await
        .unwrap();
    (slow, other)
}

/// `num_requests` of one endpoint, from `$SRV.STATS.<service>`.
async fn endpoint_requests(client: &async_nats::Client, service: &str, endpoint: &str) -> u64 {
    let m = client
        .request(format!("$SRV.STATS.{service}"), bytes::Bytes::new())
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&m.payload).unwrap();
    v["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == endpoint)
        .and_then(|e| e["num_requests"].as_u64())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_rank_timeouts_a_killed_plugin_and_rate_limits() {
    let rig = rig(PluginsConfig {
        user_burst: 3,
        user_interval: Duration::from_secs(60),
        ..settings()
    })
    .await;
    let mut plugins = rig.start_plugins().await;
    let (_slow, _other) = test_plugins(&rig.client).await;
    let gina = guest(&rig.server, "gina").await;
    rig.first_command(&gina, "!ping", "pong gina").await;

    // A guest cannot run a rank-2 command: refused by the bot, the plugin never asked.
    rig.command(&gina, "!poll Lunch? | a | b", |l| {
        l == "gina: !poll needs rank 2 or higher."
    })
    .await;
    assert_eq!(endpoint_requests(&rig.client, "poll", "poll").await, 0);
    assert!(rig.server.poll(CH).is_none());

    // A plugin that never answers costs one timeout and blocks nothing else.
    let hank = guest(&rig.server, "hank").await;
    let pia = guest(&rig.server, "pia").await;
    let from = rig.log_len();
    hank.chat("!hang").unwrap();
    pia.chat("!ping").unwrap();
    rig.bot_says(from, "pong", |l| l == "pong pia").await;
    assert!(
        !rig.bot_lines(from)
            .iter()
            .any(|l| l.contains("did not answer")),
        "the ping answered before the hang timed out"
    );
    rig.bot_says(from, "the timeout", |l| l == "hank: slow did not answer.")
        .await;

    // 50 !roll from one user: rate-limited (3 at once, then one a minute), not queued.
    let flo = guest(&rig.server, "flo").await;
    let from = rig.log_len();
    for _ in 0..50 {
        flo.chat("!roll").unwrap();
    }
    // Everything flo sent has reached the server when it echoes the last line back.
    flo.chat("done flooding").unwrap();
    tokio::time::timeout(WAIT, async {
        while !rig.server.chat_log(CH)[from..]
            .iter()
            .any(|r| r.username == "flo" && r.msg == "done flooding")
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the flood reaches the server");
    // Another user's command still answers at once; by then every flood command was decided.
    rig.command(&pia, "!ping", |l| l == "pong pia").await;
    let rolled = rig
        .bot_lines(from)
        .iter()
        .filter(|l| l.starts_with("flo rolled"))
        .count();
    assert_eq!(rolled, 3, "{:?}", rig.bot_lines(from));

    // A command that takes PMs, sent by PM: answered by PM; one that does not is left to
    // the PM shell (which ignores guests).
    pia.pm(BOT, "!ping").unwrap();
    pia.pm(BOT, "!roll").unwrap();
    let pm = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(p) = rig
                .server
                .pm_log()
                .into_iter()
                .find(|p| p.from == BOT && p.to == "pia")
            {
                return p.msg;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a PM answer");
    assert_eq!(pm, "pong pia by pm");

    // SIGKILL the plugins process: its commands answer "unavailable"; the rest goes on.
    plugins.kill();
    let kim = guest(&rig.server, "kim").await;
    rig.command(&kim, "!roll", |l| l == "kim: dice is unavailable.")
        .await;
    rig.command(&kim, "!ping", |l| l == "pong kim").await;
    kim.chat("still logged").unwrap();
    let db_has_line = tokio::time::timeout(WAIT, async {
        loop {
            let m = rig
                .client
                .request(
                    rosey_model::subjects::RECENT_CHAT_GET,
                    serde_json::to_vec(&json!({"channel": CH, "limit": 5}))
                        .unwrap()
                        .into(),
                )
                .await
                .unwrap();
            let rows: Value = serde_json::from_slice(&m.payload).unwrap();
            if rows
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["username"] == "kim" && r["message"] == "still logged")
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        db_has_line.is_ok(),
        "the bot still logs chat to the database"
    );
    rig.stop().await;
}

fn example_plugin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/plugins/echo_plugin.py")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_example_plugin_answers() {
    if !rosey_testkit::tools::nats_py() {
        return;
    }
    let rig = rig(settings()).await;
    let child = Command::new("python3")
        .arg(example_plugin())
        .arg(rig.nats.url())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("python3 runs");
    let _py = Proc(Some(child));
    rig.wait_plugins(1).await;
    let alice = guest(&rig.server, "alice").await;
    let echo = rig
        .first_command(&alice, "!echo hello from rust", "alice said: ")
        .await;
    assert_eq!(echo, "alice said: hello from rust");
    rig.command(&alice, "!shout hey", |l| l == "HEY!").await;
    rig.command(&alice, "!echo", |l| l.starts_with("alice: Usage"))
        .await;
    rig.stop().await;
}
