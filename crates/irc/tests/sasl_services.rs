//! SASL PLAIN against real IRC services: InspIRCd linked to Atheme (started per test on
//! loopback ports, `rosey_testkit::services`), the account registered through NickServ as a
//! user would. A registered nick logs in (the client reports it, and the server's `WHOIS`
//! shows the account); a wrong password or an unknown account stops the client for good
//! with the reason — one attempt (as the services' log shows), no reconnect loop. Skipped (with the reason) where
//! `inspircd` or `atheme-services` is missing, a failure under CI=true.

use std::time::Duration;

use rosey_irc::{IrcConfig, IrcEvent, IrcEvents, Sasl};
use rosey_testkit::{ircd::RawClient, services::ServicesNetwork};

const WAIT: Duration = Duration::from_secs(20);
const CHANNEL: &str = "#rosey";
const PASSWORD: &str = "correct-horse-battery";

fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("rosey_irc=debug")
        .with_test_writer()
        .try_init();
}

fn config(net: &ServicesNetwork, nick: &str, account: &str, password: &str) -> IrcConfig {
    let mut cfg = IrcConfig::new("127.0.0.1", net.port(), nick, CHANNEL);
    cfg.sasl = Some(Sasl {
        account: account.into(),
        password: password.into(),
    });
    // Quick reconnects: a client that looped on a refused login would show it at once.
    cfg.backoff.base = Duration::from_millis(50);
    cfg.backoff.cap = Duration::from_millis(200);
    cfg
}

/// Every event up to and including the first one `pred` accepts; panics after [`WAIT`].
async fn events_until(
    events: &mut IrcEvents,
    mut pred: impl FnMut(&IrcEvent) -> bool,
) -> Vec<IrcEvent> {
    let mut seen = Vec::new();
    tokio::time::timeout(WAIT, async {
        loop {
            let e = events.recv().await.expect("client event stream ended");
            let done = pred(&e);
            seen.push(e);
            if done {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("expected client event did not arrive; saw {seen:?}"));
    seen
}

/// The account the server says `nick` is logged in as (`WHOIS`, `330`), if any.
async fn account_of(observer: &mut RawClient, nick: &str) -> Option<String> {
    observer.send(&format!("WHOIS {nick}")).await;
    let mut account = None;
    loop {
        let m = observer
            .expect(|m| matches!(m.command.as_str(), "330" | "318"))
            .await;
        if m.command == "318" {
            return account;
        }
        account = Some(m.param(2).to_string());
    }
}

#[tokio::test]
async fn a_registered_nick_logs_in_by_sasl_and_joins() {
    if !rosey_testkit::tools::atheme() {
        return;
    }
    logs();
    let net = ServicesNetwork::start();
    net.register("Rosey", PASSWORD).await;

    let (bot, mut events) = rosey_irc::connect(config(&net, "Rosey", "Rosey", PASSWORD));
    let seen = events_until(&mut events, |e| matches!(e, IrcEvent::Joined { .. })).await;
    let logged_in: Vec<&str> = seen
        .iter()
        .filter_map(|e| match e {
            IrcEvent::LoggedIn { account } => Some(account.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(logged_in, ["Rosey"], "events: {seen:?}");
    let registered = seen
        .iter()
        .position(|e| matches!(e, IrcEvent::Registered { .. }))
        .expect("registered before joining");
    let login = seen
        .iter()
        .position(|e| matches!(e, IrcEvent::LoggedIn { .. }))
        .unwrap();
    assert!(
        login < registered,
        "SASL completes before registration: {seen:?}"
    );

    // The server's side: the services told it who this connection is.
    let mut observer = RawClient::connect(net.port(), "watcher").await;
    assert_eq!(
        account_of(&mut observer, "Rosey").await.as_deref(),
        Some("Rosey")
    );
    assert_eq!(account_of(&mut observer, "watcher").await, None);
    bot.shutdown().await;
}

/// Connects with these credentials and returns the events up to the client's stop, and
/// the stop's reason; the stream must end right after it.
async fn refused(net: &ServicesNetwork, account: &str, password: &str) -> (Vec<IrcEvent>, String) {
    let (bot, mut events) = rosey_irc::connect(config(net, "Rosey", account, password));
    let seen = events_until(&mut events, |e| matches!(e, IrcEvent::Stopped { .. })).await;
    let Some(IrcEvent::Stopped { reason }) = seen.last().cloned() else {
        unreachable!()
    };
    let after = tokio::time::timeout(WAIT, events.recv()).await;
    assert!(
        matches!(after, Ok(None)),
        "nothing after the stop: {after:?}"
    );
    assert_eq!(
        bot.say("anyone?"),
        Err(rosey_irc::SendError::Closed),
        "the handle knows the client stopped"
    );
    (seen, reason)
}

#[tokio::test]
async fn a_wrong_password_stops_the_client_with_the_reason_instead_of_reconnecting() {
    if !rosey_testkit::tools::atheme() {
        return;
    }
    logs();
    let net = ServicesNetwork::start();
    net.register("Rosey", PASSWORD).await;

    for (account, password) in [("Rosey", "not-the-password"), ("Nobody", PASSWORD)] {
        let (seen, reason) = refused(&net, account, password).await;
        assert!(
            reason.contains("SASL login")
                && reason.contains(account)
                && reason.contains("904")
                && reason.contains("check the account and password"),
            "{reason}"
        );
        let connects = seen
            .iter()
            .filter(|e| matches!(e, IrcEvent::Connected { .. }))
            .count();
        assert_eq!(connects, 1, "one attempt only: {seen:?}");
        assert!(
            !seen.iter().any(|e| matches!(
                e,
                IrcEvent::Reconnecting { .. }
                    | IrcEvent::Registered { .. }
                    | IrcEvent::LoggedIn { .. }
            )),
            "neither registered without the login nor retried: {seen:?}"
        );
    }
    // The services' side: one PLAIN login attempt per client, none after the refusal.
    let log = net.services_log();
    let attempts = log
        .lines()
        .filter(|l| l.contains(" SASL ") && l.ends_with(" S PLAIN"))
        .count();
    assert_eq!(attempts, 2, "one attempt per refused client:\n{log}");
    // The nick was never taken by a client that went on without its login.
    let mut observer = RawClient::connect(net.port(), "watcher").await;
    observer.send("WHOIS Rosey").await;
    let reply = observer
        .expect(|m| matches!(m.command.as_str(), "311" | "401"))
        .await;
    assert_eq!(reply.command, "401", "no such nick: {reply:?}");
}
