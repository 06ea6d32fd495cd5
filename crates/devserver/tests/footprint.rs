//! The devserver stays bounded under churn (issue 29): a crowd of guests with fresh names
//! joins, chats and leaves, again and again; afterwards nothing per connection is left, the
//! logs are at their caps, and the aliases of the one local IP are capped. Checked on the
//! server's own collections ([`DevServer::footprint`]), not by timing or RSS.

mod common;

use std::time::Duration;

use common::{RawClient, start, test_config};
use rosey_devserver::{DevServerConfig, Footprint, state::MAX_ALIASES_PER_IP};

const CHANNELS: usize = 3;
const ROUNDS: usize = 4;
const GUESTS_PER_ROUND: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_leaves_no_state_behind_and_logs_stay_capped() {
    let cfg = DevServerConfig {
        log_capacity: 40,
        ..test_config()
    };
    let (cap, history) = (cfg.log_capacity, cfg.history_len);
    let server = start(cfg).await;
    let mut peak = Footprint::default();
    for round in 0..ROUNDS {
        let mut clients = Vec::new();
        for g in 0..GUESTS_PER_ROUND {
            let mut c = RawClient::connect(&server).await;
            let channel = format!("room{}", g % CHANNELS);
            c.join_as_guest(&channel, &format!("g{round}x{g}")).await;
            c.say(&format!("hello from round {round} guest {g}")).await;
            clients.push(c);
        }
        // Each line reaches the log before its guest leaves (a close right after a send could
        // otherwise beat the line to the server).
        let said = ((round + 1) * GUESTS_PER_ROUND / CHANNELS).min(cap) * CHANNELS;
        rosey_testkit::eventually("every line logged", Duration::from_secs(10), || async {
            (server.footprint().chat_log == said).then_some(())
        })
        .await;
        let during = server.footprint();
        assert_eq!(during.conns, GUESTS_PER_ROUND);
        assert_eq!(during.sockets, GUESTS_PER_ROUND);
        peak.chat_log = peak.chat_log.max(during.chat_log);
        for c in clients {
            c.close().await;
        }
        let after =
            rosey_testkit::eventually("every connection gone", Duration::from_secs(10), || async {
                let f = server.footprint();
                (f.conns == 0 && f.sockets == 0 && f.early == 0 && f.members == 0).then_some(f)
            })
            .await;
        assert_eq!(
            after.channels, CHANNELS,
            "channels stay, as registered ones do"
        );
        assert!(after.chat_log <= CHANNELS * cap, "{after:?}");
        assert!(after.history <= CHANNELS * history, "{after:?}");
        assert_eq!(after.alias_ips, 1, "every client is 127.0.0.1");
        assert!(after.aliases <= MAX_ALIASES_PER_IP, "{after:?}");
        assert_eq!(
            after.guest_logins, 0,
            "no guest login delay: nothing to remember"
        );
    }
    // 120 guests, 40 lines per channel: every log is full and no fuller.
    let end = server.footprint();
    assert_eq!(end.chat_log, CHANNELS * cap);
    assert_eq!(end.history, CHANNELS * history);
    assert_eq!(end.aliases, MAX_ALIASES_PER_IP);
    assert!(peak.chat_log <= CHANNELS * cap);
}
