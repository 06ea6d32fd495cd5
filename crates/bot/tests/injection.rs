//! Issue 25, items 1, 3, 5 and 12, as an attacker would try them: a guest, a moderator and a
//! plugin author against the bot on a real `nats-server`, the devserver, the database service
//! and the standard plugins (in this process). Each test asserts on what the devserver did
//! (who is still in the channel, bans, kicks) and on what the bot actually said.
//!
//! - Item 1: text that did not come from a moderator's explicit shell command never becomes a
//!   channel command — `!remind`, `!tell`, a plugin reply, the bus `chat` command (the API's
//!   say) and the outbound queue, on every part of a split.
//! - Item 3: a plugin endpoint on a foreign subject is never routed to.
//! - Item 5: the shell does not lend the bot's rank against the asker's peers.
//! - Item 12: a plugin cannot take over a standard command name or lower its rank.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use rosey_bot::{Bot, BotConfig, ChannelSpec};
use rosey_config::plugins::PluginsConfig;
use rosey_cytube::{COMMAND_GUARD, CytubeHandle, EventStream, Login};
use rosey_devserver::DevServerConfig;
use rosey_model::{encode, payload::CommandReply, subjects};
use rosey_plugin::{CommandSpec, Plugin, Reply};
use rosey_testkit::cytube::{self, BOT, BOT_PW, Services, bot_login, client_config, join};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(15);
const CH: &str = "guarded";
/// A moderator (rank 2) who uses the shell.
const MOD: &str = "moddy";
/// Its peer (rank 2), the target of every attack.
const PEER: &str = "mod2";
/// A guest; the length of its name decides where the bot's lines are cut (see the tests).
const GUEST: &str = "visitor99";

/// The shared [`Services`] (reached through `Deref`), the bot and the standard plugins.
struct Rig {
    services: Services,
    client: async_nats::Client,
    bot: Option<Bot>,
    plugins: Option<rosey_stdplugins::Running>,
}

rosey_testkit::deref_services!(Rig);

/// Short timeouts and discovery; no rate limits.
fn plugin_settings() -> PluginsConfig {
    PluginsConfig {
        timeout: Duration::from_secs(2),
        discovery_interval: Duration::from_secs(1),
        user_burst: 0,
        channel_burst: 0,
        ..PluginsConfig::default()
    }
}

async fn rig() -> Rig {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("rosey_bot=debug,rosey_plugin=debug,rosey_stdplugins=debug")
        .with_test_writer()
        .try_init();
    let services = Services::start(
        DevServerConfig::default()
            .with_account(BOT, BOT_PW, 3.0)
            .with_account(MOD, "mod-pw", 2.0)
            .with_account(PEER, "peer-pw", 2.0),
        CH,
    )
    .await;
    let (server, bus) = (&services.server, &services.bus);
    let client = bus.nats_client().unwrap().clone();
    let spec = ChannelSpec::cytube(CH, CH, client_config(server, CH, bot_login()));
    let mut cfg = BotConfig::new(vec![spec]);
    cfg.plugins = Some(plugin_settings());
    cfg.intervals.pump = Duration::from_millis(200);
    let bot = Bot::start(bus.clone(), cfg);
    assert!(server.wait_for_user(CH, BOT, WAIT).await, "the bot joins");
    let plugins = rosey_stdplugins::start(&client, &plugin_settings())
        .await
        .expect("the standard plugins start");
    Rig {
        services,
        client,
        bot: Some(bot),
        plugins: Some(plugins),
    }
}

impl Rig {
    async fn stop(mut self) {
        if let Some(p) = self.plugins.take() {
            p.stop().await;
        }
        if let Some(bot) = self.bot.take() {
            bot.shutdown().await;
        }
        self.stop_db().await;
    }

    async fn join(&self, login: Login) -> (CytubeHandle, EventStream) {
        join(&self.server, CH, login).await
    }

    async fn join_guest(&self) -> CytubeHandle {
        self.join(Login::Guest(GUEST.into())).await.0
    }

    async fn join_account(&self, name: &str, password: &str) -> (CytubeHandle, EventStream) {
        let joined = self
            .join(Login::Registered {
                name: name.into(),
                password: password.into(),
            })
            .await;
        assert!(self.server.wait_for_user(CH, name, WAIT).await);
        joined
    }

    fn log_len(&self) -> usize {
        self.server.chat_log(CH).len()
    }

    /// The bot's chat lines after position `from` of the devserver's log.
    fn bot_lines(&self, from: usize) -> Vec<String> {
        cytube::bot_lines(&self.server, CH, from)
    }

    /// Waits for a line of the bot after `from` that satisfies `ok`.
    async fn bot_says(&self, from: usize, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let found = cytube::bot_line_where(&self.server, CH, from, WAIT, ok).await;
        found.unwrap_or_else(|| {
            panic!(
                "the bot never said {what}; it said {:?} (kicks: {}, users: {:?})",
                self.bot_lines(from),
                self.server.kicks_sent(),
                self.user_names()
            )
        })
    }

    /// Says `text` until the bot answers with a line starting with `prefix` (the bot finds a
    /// new plugin within a moment).
    async fn first_command(&self, user: &CytubeHandle, text: &str, prefix: &str) -> String {
        cytube::first_answer(&self.server, CH, user, text, prefix).await
    }

    fn user_names(&self) -> Vec<String> {
        self.server.users(CH).into_iter().map(|u| u.name).collect()
    }

    /// The peer is still here, nobody was kicked or banned.
    fn assert_peer_untouched(&self) {
        assert!(
            self.user_names().iter().any(|n| n == PEER),
            "{PEER} was removed: {:?}",
            self.user_names()
        );
        assert_eq!(self.server.kicks_sent(), 0, "nobody is kicked");
        assert!(self.server.bans(CH).is_empty(), "nobody is banned");
    }
}

/// The bot said `command` as text: guarded, so the server posted it instead of running it.
fn said_as_text(line: &str, command: &str) -> bool {
    line.strip_prefix(COMMAND_GUARD) == Some(command)
}

/// The next PM addressed to this client (not its own echo).
async fn next_pm(events: &mut EventStream) -> String {
    rosey_testkit::cytube::next_pm(events, WAIT).await
}

/// Sends a shell command to the bot by PM and returns its reply.
async fn shell(user: &CytubeHandle, events: &mut EventStream, line: &str) -> String {
    user.pm(BOT, line).unwrap();
    next_pm(events).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remind_and_tell_never_become_channel_commands() {
    let rig = rig().await;
    let (peer, peer_events) = rig.join_account(PEER, "peer-pw").await;
    let guest = rig.join_guest().await;

    // "visitor99: reminder: " + 296 letters + " /kick" fits one line, " mod2" does not: the
    // cut puts "/kick mod2" at the start of the second (the attack).
    let from = rig.log_len();
    let attack = format!("!remind 2s {} /kick {PEER}", "A".repeat(296));
    let ack = rig
        .first_command(&guest, &attack, "visitor99: I'll remind you")
        .await;
    assert!(ack.contains("in 2s"), "{ack}");
    let kick = format!("/kick {PEER}");
    rig.bot_says(from, "the reminder's second part, as text", |l| {
        said_as_text(l, &kick)
    })
    .await;
    assert!(
        rig.bot_lines(from)
            .iter()
            .any(|l| l.starts_with("visitor99: reminder: AAAA")),
        "the reminder itself is said"
    );
    rig.assert_peer_untouched();

    // `!tell` for the peer, delivered when they join: "mod2: visitor99 told you 3s ago: " +
    // 285 letters + " /ban" fits one line; "/ban mod2" would start the second.
    drop(peer_events);
    peer.shutdown().await;
    assert!(rig.server.wait_for_user_gone(CH, PEER, WAIT).await);
    let attack = format!("!tell {PEER} {} /ban {PEER}", "B".repeat(285));
    rig.first_command(&guest, &attack, "visitor99: I'll tell mod2")
        .await;
    let from = rig.log_len();
    let (_peer, _peer_events) = rig.join_account(PEER, "peer-pw").await;
    let ban = format!("/ban {PEER}");
    rig.bot_says(from, "the tell's second part, as text", |l| {
        said_as_text(l, &ban)
    })
    .await;
    assert!(
        rig.bot_lines(from)
            .iter()
            .any(|l| l.starts_with("mod2: visitor99 told you") && l.ends_with("BBB")),
        "the message itself is delivered"
    );
    rig.assert_peer_untouched();
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_replies_bus_chat_and_the_outbound_queue_never_become_channel_commands() {
    let rig = rig().await;
    let (_peer, _peer_events) = rig.join_account(PEER, "peer-pw").await;
    let guest = rig.join_guest().await;
    let kick = format!("/kick {PEER}");

    // A plugin reply of 316 letters + " /kick mod2": the router's split puts the command at
    // the start of the second line.
    let reply = format!("{} {kick}", "C".repeat(316));
    let hostile = Plugin::new("hostile", "1.0.0").command(
        CommandSpec::new("long", "A long reply."),
        move |_req| {
            let reply = reply.clone();
            async move { Reply::chat(reply) }
        },
    );
    let running = hostile.start(&rig.client).await.unwrap();
    let from = rig.log_len();
    rig.first_command(&guest, "!long", "CCCC").await;
    rig.bot_says(from, "the plugin reply's second part, as text", |l| {
        said_as_text(l, &kick)
    })
    .await;
    rig.assert_peer_untouched();

    // The bus `chat` command (what the API's say and plugins use): a bare command, and one
    // behind 318 letters.
    let chat_subject = subjects::command_subject(CH, subjects::COMMAND_CHAT);
    for message in [kick.clone(), format!("{} {kick}", "D".repeat(318))] {
        let from = rig.log_len();
        let answer = rig
            .bus
            .request(
                &chat_subject,
                encode(&json!({ "message": message })),
                Duration::from_secs(5),
            )
            .await
            .expect("the bot answers");
        let reply: CommandReply = serde_json::from_slice(&answer.payload).unwrap();
        assert!(reply.success, "{reply:?}");
        rig.bot_says(from, "the bus chat command, as text", |l| {
            said_as_text(l, &kick)
        })
        .await;
        rig.assert_peer_untouched();
    }

    // The outbound queue.
    let ban = format!("/ban {PEER}");
    let from = rig.log_len();
    rig.bus
        .request(
            subjects::OUTBOUND_ENQUEUE,
            encode(&json!({"channel": CH, "message": ban})),
            Duration::from_secs(5),
        )
        .await
        .expect("the database service queues it");
    rig.bot_says(from, "the queued message, as text", |l| {
        said_as_text(l, &ban)
    })
    .await;
    rig.assert_peer_untouched();
    running.stop().await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderators_cannot_use_the_bots_rank_against_their_peers() {
    let rig = rig().await;
    let (_peer, _peer_events) = rig.join_account(PEER, "peer-pw").await;
    let (moderator, mut events) = rig.join_account(MOD, "mod-pw").await;
    let _guest = rig.join_guest().await;

    for (line, verb) in [
        ("kick mod2", "kick"),
        ("ban mod2 bye", "ban"),
        ("mute mod2", "mute"),
        ("smute mod2", "smute"),
    ] {
        let reply = shell(&moderator, &mut events, line).await;
        assert_eq!(
            reply,
            format!(
                "Refused: mod2 has rank 2, as high as yours (2) or higher; I do not {verb} \
                 anyone you could not {verb} yourself."
            ),
            "{line}"
        );
    }
    // A ban of someone absent cannot be checked: refused below the bot's rank.
    let reply = shell(&moderator, &mut events, "ban nobody").await;
    assert!(
        reply.starts_with("Refused: nobody is not in the channel"),
        "{reply}"
    );
    for line in ["say /kick mod2", "say /clear", "say /ban mod2"] {
        let reply = shell(&moderator, &mut events, line).await;
        assert!(
            reply.starts_with("Refused: say /")
                && reply.contains("you may use /me and /sp")
                && reply.contains("need rank 3 or higher (yours is 2)"),
            "{line}: {reply}"
        );
    }
    rig.assert_peer_untouched();

    // What the moderator may do: act on a guest, and /me.
    let from = rig.log_len();
    assert_eq!(
        shell(&moderator, &mut events, "say /me waves").await,
        "Sent: /me waves"
    );
    rig.bot_says(from, "the /me", |l| l == "waves").await;
    assert_eq!(
        shell(&moderator, &mut events, "mute visitor99").await,
        "Muted visitor99"
    );
    rig.assert_peer_untouched();
    rig.stop().await;
}

/// Registers a plugin service by hand (the runtime always uses its own subjects): `mint` on
/// the database's token subject, and `ok` on its own subject, answering "evil ok".
async fn foreign_subject_plugin(client: &async_nats::Client) -> async_nats::service::Service {
    use async_nats::service::ServiceExt;
    let service = client
        .service_builder()
        .metadata(HashMap::from([("rosey_plugin".into(), "1".into())]))
        .start("evil", "1.0.0")
        .await
        .unwrap();
    let _mint = service
        .endpoint_builder()
        .name("mint")
        .add("rosey.db.tokens.create")
        .await
        .unwrap();
    let mut ok = service
        .endpoint_builder()
        .name("ok")
        .add("rosey.plugins.evil.ok")
        .await
        .unwrap();
    tokio::spawn(async move {
        // Keeps `mint` subscribed for as long as the service runs.
        let _mint = _mint;
        while let Some(req) = ok.next().await {
            let body = serde_json::to_vec(&Reply::chat("evil ok")).unwrap();
            let _ = req.respond(Ok(body.into())).await;
        }
    });
    client
        .publish("rosey.plugins.announce", "evil".into())
        .await
        .unwrap();
    service
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_cannot_send_a_users_command_to_a_foreign_subject() {
    let rig = rig().await;
    let guest = rig.join_guest().await;
    // Everything the bot would send to the token subject.
    let mut sniffer = rig
        .client
        .subscribe("rosey.db.tokens.create")
        .await
        .unwrap();
    rig.client.flush().await.unwrap();
    let _evil = foreign_subject_plugin(&rig.client).await;
    // The bot knows the plugin: its own-subject command answers.
    rig.first_command(&guest, "!ok", "evil ok").await;

    let from = rig.log_len();
    guest.chat("!mint").unwrap();
    guest.chat("!ok").unwrap();
    rig.bot_says(from, "evil ok after !mint", |l| l == "evil ok")
        .await;
    // `!ok` was answered after `!mint` was handled; a request to the token subject would
    // have gone out by then (bounded wait for its absence).
    let stolen = tokio::time::timeout(Duration::from_secs(1), sniffer.next()).await;
    assert!(
        stolen.is_err(),
        "the bot sent a user's command to rosey.db.tokens.create: {:?}",
        stolen.ok().flatten().map(|m| m.payload)
    );
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_cannot_take_over_a_standard_command_or_lower_its_rank() {
    let rig = rig().await;
    let guest = rig.join_guest().await;
    let (moderator, _mod_events) = rig.join_account(MOD, "mod-pw").await;
    // The standard `!poll` (rank 2) is routed before the shadow appears.
    rig.first_command(
        &guest,
        "!poll Lunch? | a | b",
        "visitor99: !poll needs rank 2",
    )
    .await;

    // "aaa" sorts before "poll" and declares `poll` at rank 0.
    let shadow = Plugin::new("aaa", "1.0.0")
        .command(
            CommandSpec::new("poll", "Mine now.").min_rank(0.0),
            |_req| async { Reply::chat("aaa has poll") },
        )
        .command(CommandSpec::new("aaaping", "Ping."), |_req| async {
            Reply::chat("aaa pong")
        })
        .start(&rig.client)
        .await
        .unwrap();
    // The bot has found it.
    rig.first_command(&guest, "!aaaping", "aaa pong").await;

    let from = rig.log_len();
    guest.chat("!poll Lunch? | a | b").unwrap();
    let answer = rig
        .bot_says(from, "an answer to the guest's !poll", |l| {
            l.contains("!poll needs rank") || l.contains("aaa has poll")
        })
        .await;
    assert_eq!(answer, "visitor99: !poll needs rank 2 or higher.");

    // The moderator's `!poll` still opens the server's poll through the standard plugin.
    let from = rig.log_len();
    moderator.chat("!poll Lunch? | pizza | tacos").unwrap();
    let opened = tokio::time::timeout(WAIT, async {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            if let Some(p) = rig.server.poll(CH) {
                return p;
            }
        }
    })
    .await
    .expect("the standard poll plugin opens a poll");
    assert_eq!(opened.options, vec!["pizza", "tacos"]);
    assert!(
        !rig.bot_lines(from)
            .iter()
            .any(|l| l.contains("aaa has poll")),
        "{:?}",
        rig.bot_lines(from)
    );
    shadow.stop().await;
    rig.stop().await;
}
