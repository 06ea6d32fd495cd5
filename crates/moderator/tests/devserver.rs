//! End to end: the real bot on the devserver (CyTube's protocol over real sockets), a real
//! nats-server, the database service on SQLite, and the moderator, with exact outcomes for
//! each rule as the server reports them: who was warned, shadow-muted, kicked; what the
//! moderation log (from the database service) says.

use std::time::{Duration, Instant};

use rosey_bot::{Bot, BotConfig, ChannelSpec};
use rosey_cytube::{CytubeHandle, EventStream, Login};
use rosey_devserver::DevServerConfig;
use rosey_model::payload::{ModerationLogReply, ModerationRow};
use rosey_model::{decode, encode, subjects};
use rosey_moderator::Moderator;
use rosey_testkit::cytube::{BOT, BOT_PW, Services, bot_login, client_config, join};
use rosey_testkit::eventually;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(15);
const CH: &str = "automod";
const MOD: &str = "moddy";
const REGULAR: &str = "regular";

struct Rig {
    services: Services,
    bot: Option<Bot>,
    moderator: Option<Moderator>,
    config: Value,
}

rosey_testkit::deref_services!(Rig);

/// The devserver with the bot (rank 3), a moderator (rank 2) and a regular (rank 2; the
/// rules here treat only rank 3 as staff, so the regular is judged like anyone), the bot
/// joined, and the moderator following the channel with `channel_rules`.
async fn rig(channel_rules: Value) -> Rig {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("rosey_moderator=debug,rosey_bot=info")
        .with_test_writer()
        .try_init();
    let services = Services::start(
        DevServerConfig::default()
            .with_account(BOT, BOT_PW, 3.0)
            .with_account(MOD, "mod-pw", 2.0)
            .with_account(REGULAR, "reg-pw", 2.0),
        CH,
    )
    .await;
    let spec = ChannelSpec::cytube(CH, CH, client_config(&services.server, CH, bot_login()));
    let bot = Bot::start(services.bus.clone(), BotConfig::new(vec![spec]));
    assert!(services.server.wait_for_user(CH, BOT, WAIT).await);
    let config = json!({
        "enabled": true,
        "lift_interval": 0.2,
        "defaults": {"new_users": {"minutes": 0}},
        "channels": {CH: channel_rules},
    });
    let mut rig = Rig {
        services,
        bot: Some(bot),
        moderator: None,
        config,
    };
    rig.start_moderator().await;
    rig
}

impl Rig {
    async fn start_moderator(&mut self) {
        let client = self.bus.nats_client().unwrap().clone();
        let cfg = serde_json::from_value(self.config.clone()).unwrap();
        self.moderator = Some(Moderator::start(client, cfg, None).await.unwrap());
    }

    async fn guest(&self, name: &str) -> (CytubeHandle, EventStream) {
        join(&self.server, CH, Login::Guest(name.into())).await
    }

    async fn member(&self, name: &str, password: &str) -> (CytubeHandle, EventStream) {
        join(
            &self.server,
            CH,
            Login::Registered {
                name: name.into(),
                password: password.into(),
            },
        )
        .await
    }

    /// The moderation log as the database service has it, oldest first.
    async fn log(&self) -> Vec<ModerationRow> {
        let reply = self
            .bus
            .request(
                subjects::QUERY_MODERATION_LOG,
                encode(&json!({"channel": CH, "limit": 500})),
                WAIT,
            )
            .await
            .unwrap();
        let mut rows = decode::<ModerationLogReply>(&reply.payload)
            .unwrap()
            .actions;
        rows.reverse();
        rows
    }

    /// Waits until the log holds at least `n` rows.
    async fn log_rows(&self, n: usize) -> Vec<ModerationRow> {
        eventually(&format!("{n} moderation log rows"), WAIT, || async {
            let rows = self.log().await;
            (rows.len() >= n).then_some(rows)
        })
        .await
    }

    fn user(&self, name: &str) -> Option<rosey_devserver::state::UserInfo> {
        self.server.users(CH).into_iter().find(|u| u.name == name)
    }

    async fn stop(mut self) {
        if let Some(m) = self.moderator.take() {
            m.stop();
        }
        if let Some(bot) = self.bot.take() {
            bot.shutdown().await;
        }
        self.stop_db().await;
    }
}

async fn say(h: &CytubeHandle, text: &str) {
    h.chat_confirmed(text).await.unwrap();
}

fn summary(rows: &[ModerationRow]) -> Vec<String> {
    rows.iter()
        .map(|r| format!("{} {} {} {}", r.username, r.rule, r.step, r.outcome))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooder_is_warned_then_shadow_muted_then_kicked() {
    let rig = rig(json!({"flood": {"lines": 3, "seconds": 30},
                         "ladder": ["warn", "smute 1h", "kick"]}))
    .await;
    let (flooder, mut events) = rig.guest("flooder").await;
    for i in 0..4 {
        say(&flooder, &format!("first burst {i}")).await;
    }
    let pm = rosey_testkit::cytube::next_pm(&mut events, WAIT).await;
    assert!(pm.contains("flooder, please stop"), "{pm}");
    assert!(rig.user("flooder").is_some_and(|u| !u.muted));
    for i in 0..4 {
        say(&flooder, &format!("second burst {i}")).await;
    }
    eventually("the flooder shadow-muted", WAIT, || async {
        rig.user("flooder")
            .is_some_and(|u| u.shadow_muted)
            .then_some(())
    })
    .await;
    for i in 0..4 {
        say(&flooder, &format!("third burst {i}")).await;
    }
    assert!(rig.server.wait_for_user_gone(CH, "flooder", WAIT).await);
    // Nothing is acted on, so the flooder goes on and later lines may be judged too (more
    // kicks, repeats): the first three decisions are the ladder's steps, in order.
    let rows = rig.log_rows(3).await;
    assert_eq!(
        summary(&rows)[..3],
        [
            "flooder flood warn done",
            "flooder flood smute 1h done",
            "flooder flood kick done"
        ]
    );
    assert!(rows[2].answer.contains("flooder"), "{:?}", rows[2]);
    assert!(rows[2].evidence.starts_with("third burst"), "{:?}", rows[2]);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raid_of_the_same_line_from_ten_guests_is_kicked() {
    let rig = rig(json!({"repeats": {"raid_users": 5, "ladder": ["kick"]}})).await;
    let mut guests = Vec::new();
    for i in 0..10 {
        guests.push(rig.guest(&format!("raider{i}")).await);
    }
    for (h, _) in &guests {
        say(h, "this channel sucks, everyone come to ours instead").await;
    }
    for i in 0..10 {
        let name = format!("raider{i}");
        assert!(
            rig.server.wait_for_user_gone(CH, &name, WAIT).await,
            "{name} kicked"
        );
    }
    let rows = rig.log_rows(10).await;
    assert_eq!(rows.len(), 10, "{:?}", summary(&rows));
    assert!(rows.iter().all(|r| r.rule == "raid" && r.outcome == "done"));
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guests_link_is_refused_a_regulars_passes_and_every_evasion_is_caught() {
    let rig = rig(json!({
        "moderator_rank": 3,
        "links": {"min_rank": 2},
        "words": {"words": ["free nitro"]},
        "ladder": ["warn"]
    }))
    .await;
    let (regular, _r) = rig.member(REGULAR, "reg-pw").await;
    let (guest, _g) = rig.guest("visitor").await;
    say(&regular, "the trailer: https://evil.example/trailer").await;
    say(&guest, "the trailer: https://evil.example/trailer").await;
    let spellings = [
        "get free nitro",
        "f r e e nitro",
        "ＦＲＥＥ ＮＩＴＲＯ",
        "fr\u{0435}e nitro",
    ];
    for s in spellings {
        say(&guest, s).await;
    }
    let rows = rig.log_rows(5).await;
    assert_eq!(
        summary(&rows),
        [
            "visitor links warn done",
            "visitor words warn done",
            "visitor words warn done",
            "visitor words warn done",
            "visitor words warn done",
        ]
    );
    assert_eq!(rows[0].reason, "link to evil.example");
    let evidence: Vec<&str> = rows[1..].iter().map(|r| r.evidence.as_str()).collect();
    assert_eq!(evidence, spellings);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moderator_flooding_is_never_touched_and_caps_are() {
    let rig = rig(json!({"flood": {"lines": 3, "seconds": 30}, "ladder": ["warn"]})).await;
    let (moddy, _m) = rig.member(MOD, "mod-pw").await;
    let (guest, _g) = rig.guest("shouter").await;
    for i in 0..10 {
        say(&moddy, &format!("MODERATOR ANNOUNCEMENT NUMBER {i}")).await;
    }
    // Judged in order: once the guest's line is logged, the moderator's were judged.
    say(&guest, "WHY IS NOBODY ANSWERING ME HERE").await;
    let rows = rig.log_rows(1).await;
    assert_eq!(summary(&rows), ["shouter caps warn done"]);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_acts_on_nothing_and_logs_every_decision() {
    let rig = rig(
        json!({"dry_run": true, "flood": {"lines": 3, "seconds": 30},
                         "ladder": ["warn", "smute 1h", "kick"]}),
    )
    .await;
    let (tester, _t) = rig.guest("tester").await;
    for i in 0..12 {
        say(&tester, &format!("tuning line {i}")).await;
    }
    // Nothing is acted on, so the flooder goes on and later lines may be judged too (more
    // kicks, repeats): the first three decisions are the ladder's steps, in order.
    let rows = rig.log_rows(3).await;
    assert_eq!(
        summary(&rows)[..3],
        [
            "tester flood warn dry_run",
            "tester flood smute 1h dry_run",
            "tester flood kick dry_run"
        ]
    );
    assert!(rows.iter().all(|r| r.dry_run));
    let u = rig.user("tester").expect("still in the channel");
    assert!(!u.muted && !u.shadow_muted);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_mute_is_lifted_after_its_time_across_a_moderator_restart() {
    let mut rig = rig(json!({"flood": {"lines": 3, "seconds": 30}, "ladder": ["smute 4s"]})).await;
    let (loud, _l) = rig.guest("loud").await;
    for i in 0..4 {
        say(&loud, &format!("loud {i}")).await;
    }
    eventually("loud shadow-muted", WAIT, || async {
        rig.user("loud")
            .is_some_and(|u| u.shadow_muted)
            .then_some(())
    })
    .await;
    let muted = Instant::now();
    // The moderator goes away without any shutdown step (its tasks are dropped mid-flight);
    // the pending lift is in the key-value bucket, not in its memory.
    rig.log_rows(1).await;
    rig.moderator.take().unwrap().stop();
    rig.start_moderator().await;
    eventually("loud unmuted", WAIT, || async {
        rig.user("loud").is_some_and(|u| !u.muted).then_some(())
    })
    .await;
    assert!(
        muted.elapsed() >= Duration::from_secs(3),
        "lifted after {:?}",
        muted.elapsed()
    );
    let rows = rig.log_rows(2).await;
    assert_eq!(
        summary(&rows),
        ["loud flood smute 4s done", "loud lift unmute done"]
    );
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeats_mentions_and_walls_of_text_each_have_their_rule() {
    let rig = rig(json!({
        "length": {"max_chars": 80},
        "mentions": {"max": 3},
        // Whether the moderator saw these guests join (new users get stricter limits)
        // depends on timing here; this test is about the rules' own limits.
        "new_users": {"factor": 1.0},
        "ladder": ["warn"]
    }))
    .await;
    let mut crowd = Vec::new();
    for name in ["ann", "ben", "cat", "dan"] {
        crowd.push(rig.guest(name).await);
    }
    let (parrot, _p) = rig.guest("parrot").await;
    let (namer, _n) = rig.guest("namer").await;
    let (writer, _w) = rig.guest("writer").await;
    for _ in 0..3 {
        say(&parrot, "please watch my stream later").await;
    }
    say(&namer, "ann ben cat dan look here").await;
    say(&writer, &"so much to say ".repeat(7)).await;
    let mut rows = rig.log_rows(3).await;
    // Three users: their decisions may interleave.
    rows.sort_by(|a, b| a.username.cmp(&b.username));
    assert_eq!(
        summary(&rows),
        [
            "namer mentions warn done",
            "parrot repeats warn done",
            "writer length warn done"
        ]
    );
    assert_eq!(rows[0].reason, "4 users named (at most 3)");
    // 105 sent; the server trims the trailing space, as CyTube does.
    assert_eq!(rows[2].reason, "104 characters (at most 80)");
    rig.stop().await;
}
