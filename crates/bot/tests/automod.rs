//! `automod` by PM (issue 27): a moderator asks the bot for the automated moderator's state
//! of the channel. Real components: the devserver, a `nats-server`, the database service,
//! the bot, and the real moderator service (`rosey_moderator::Moderator`) started in the
//! test — first absent (the one-line answer naming the subject), then running, after it
//! has warned and shadow-muted a flooder for five minutes.

use std::time::Duration;

use rosey_bot::{Bot, BotConfig, ChannelSpec};
use rosey_cytube::{CytubeHandle, EventStream, Login};
use rosey_devserver::DevServerConfig;
use rosey_model::subjects;
use rosey_moderator::Moderator;
use rosey_testkit::cytube::{BOT, BOT_PW, Services, bot_login, client_config, join, next_pm};
use rosey_testkit::eventually;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(15);
const CH: &str = "modstate";
const MOD: &str = "moddy";
const MOD_PW: &str = "mod-pw";

/// The bot's PMs to `events` until one contains `needle`; every text seen, joined.
async fn pms_until(events: &mut EventStream, needle: &str) -> String {
    let mut seen = String::new();
    while !seen.contains(needle) {
        seen.push_str(&next_pm(events, WAIT).await);
        seen.push('\n');
    }
    seen
}

async fn say(h: &CytubeHandle, text: &str) {
    h.chat_confirmed(text).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moderator_gets_the_automods_state_by_pm_and_a_guest_gets_nothing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("rosey_bot=debug,rosey_moderator=debug")
        .with_test_writer()
        .try_init();
    let mut services = Services::start(
        DevServerConfig::default()
            .with_account(BOT, BOT_PW, 3.0)
            .with_account(MOD, MOD_PW, 2.0),
        CH,
    )
    .await;
    let spec = ChannelSpec::cytube(CH, CH, client_config(&services.server, CH, bot_login()));
    let bot = Bot::start(services.bus.clone(), BotConfig::new(vec![spec]));
    assert!(services.server.wait_for_user(CH, BOT, WAIT).await);
    let login = Login::Registered {
        name: MOD.into(),
        password: MOD_PW.into(),
    };
    let (moddy, mut mod_events) = join(&services.server, CH, login).await;

    // No moderator service on the bus: one line that names the subject.
    moddy.pm(BOT, "automod").unwrap();
    let none = next_pm(&mut mod_events, WAIT).await;
    assert_eq!(
        none,
        format!(
            "automod: no moderator service answered on {}",
            subjects::MODERATION_STATE
        )
    );

    // The real moderator: floods are warned, then shadow-muted for five minutes.
    let config = json!({
        "enabled": true,
        "lift_interval": 0.2,
        "defaults": {"new_users": {"minutes": 0}},
        "channels": {CH: {"flood": {"lines": 3, "seconds": 30},
                          "ladder": ["warn", "smute 5m"]}},
    });
    let client = services.bus.nats_client().unwrap().clone();
    let moderator = Moderator::start(client, serde_json::from_value(config).unwrap(), None)
        .await
        .unwrap();
    let (flooder, mut flooder_events) =
        join(&services.server, CH, Login::Guest("gus".into())).await;
    for i in 0..4 {
        say(&flooder, &format!("first burst {i}")).await;
    }
    let warning = next_pm(&mut flooder_events, WAIT).await;
    assert!(warning.contains("gus, please stop"), "{warning}");
    for i in 0..4 {
        say(&flooder, &format!("second burst {i}")).await;
    }
    let server = &services.server;
    eventually("gus shadow-muted", WAIT, || async {
        server
            .users(CH)
            .iter()
            .any(|u| u.name == "gus" && u.shadow_muted)
            .then_some(())
    })
    .await;

    // A guest asks first: the shell answers guests nothing, as for every command.
    flooder.pm_confirmed(BOT, "automod").await.unwrap();
    moddy.pm(BOT, "automod").unwrap();
    let state = pms_until(&mut mod_events, "Pending lifts").await;
    assert!(
        state.contains(
            "Automod in modstate: on. 7 rules: flood, repeats, caps, links, words, …. \
             Ladder: warn → smute 5m."
        ),
        "{state}"
    );
    // The warning and the mute, and any decision on a flooding line the moderator judged
    // before the mute reached the server (a burst's later lines can still count): every one
    // of them on gus, and the count the same in both places.
    let recent = state
        .split("Recent actions in the last 1h: ")
        .nth(1)
        .and_then(|r| r.split(" (gus ×").next())
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or_else(|| panic!("no count of recent actions: {state}"));
    assert!(recent >= 2, "{state}");
    assert!(
        state.contains(&format!(
            "Recent actions in the last 1h: {recent} (gus ×{recent})."
        )),
        "{state}"
    );
    assert!(
        state.contains("Pending lifts: 1 (unmute gus in "),
        "{state}"
    );
    // The moderator's answer came after the guest's PM was read: nothing reached the guest.
    let to_guest = tokio::time::timeout(
        Duration::from_millis(300),
        next_pm(&mut flooder_events, WAIT),
    )
    .await;
    assert!(to_guest.is_err(), "the guest got {to_guest:?}");

    moderator.stop();
    bot.shutdown().await;
    services.stop_db().await;
}
