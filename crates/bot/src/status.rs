//! The bot on the NATS micro-service API, so `rosey status` (and `nats micro ls/info/stats`)
//! finds every running bot: service `rosey-bot`, endpoint `status` on `rosey.bot.status`,
//! answering (and putting in `$SRV.STATS` data) each channel's state, users, queue depth and
//! reconnects — every channel alike, whatever its platform (`platform` tells them apart). A
//! lease-mode process serves one such service for the channels it holds at the moment (its
//! [`BotSource`] is a [`BotSource::leased`] set).

use std::sync::atomic::Ordering::Relaxed;

use futures::StreamExt;
use serde::Serialize;

use crate::metrics::BotSource;

/// The micro-service name of bots.
pub const SERVICE_NAME: &str = "rosey-bot";

/// One channel in a bot's status.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ChannelStatus {
    pub channel: String,
    /// `cytube`, `irc` or `matrix`.
    pub platform: &'static str,
    pub state: &'static str,
    pub joined: bool,
    pub users_chat: i64,
    pub users_connected: i64,
    pub outbound_queue: usize,
    pub reconnects: u64,
    pub breaker: &'static str,
    /// The next playlist items after the one playing (at most [`UPCOMING`]; none where the
    /// platform has no playlist).
    pub upcoming: Vec<Upcoming>,
    /// Who is in the channel, with their ranks, so a dashboard that started after the join
    /// knows the ranks.
    pub users: Vec<StatusUser>,
    /// Why the bot does not serve the channel although connected (e.g. an encrypted Matrix
    /// room); absent when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

pub use crate::platform::{StatusUser, UPCOMING, Upcoming};

/// What a bot says about itself.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct BotStatus {
    pub channels: Vec<ChannelStatus>,
    pub durable_outbox_depth: usize,
}

impl BotSource {
    /// The bot's status now (in lease mode: the channels held now).
    pub fn status(&self) -> BotStatus {
        let parts = self.parts();
        let breaker = |p: &crate::Publisher| crate::breaker::STATES[p.metrics().breaker.state()];
        BotStatus {
            channels: parts
                .iter()
                .flat_map(|b| {
                    b.channels.iter().map(move |c| {
                        let m = c.publisher.metrics();
                        ChannelStatus {
                            channel: c.channel().to_string(),
                            platform: c.platform.kind(),
                            state: b.state_word(c.channel()),
                            joined: c.platform.is_joined(),
                            users_chat: m.users_chat.load(Relaxed),
                            users_connected: m.users_connected.load(Relaxed),
                            outbound_queue: c.platform.stats().queued,
                            reconnects: m.reconnects.load(Relaxed),
                            breaker: breaker(&c.publisher),
                            upcoming: m.upcoming.lock().unwrap_or_else(|e| e.into_inner()).clone(),
                            users: m.users.lock().unwrap_or_else(|e| e.into_inner()).clone(),
                            refused: c.platform.view().refused,
                        }
                    })
                })
                .collect(),
            durable_outbox_depth: parts
                .iter()
                .filter_map(|b| b.outbox.as_ref())
                .map(|o| o.depth())
                .sum(),
        }
    }
}

/// The service's metadata: the commit, and the channels — fixed for a bot, so listed; a
/// lease-mode process says `leases` instead (its channels come and go: see the status).
fn metadata(source: &BotSource, commit: &str) -> std::collections::HashMap<String, String> {
    let channels = if source.is_leased() {
        ("leases".to_string(), "true".to_string())
    } else {
        let names: Vec<String> = source
            .status()
            .channels
            .into_iter()
            .map(|c| c.channel)
            .collect();
        ("channels".to_string(), names.join(","))
    };
    std::collections::HashMap::from([("commit".to_string(), commit.to_string()), channels])
}

/// Registers the bot as a micro service and answers status requests until the returned
/// service is stopped or the connection closes.
pub async fn serve(
    client: &async_nats::Client,
    source: BotSource,
    version: &str,
    commit: &str,
) -> Result<async_nats::service::Service, async_nats::Error> {
    use async_nats::service::ServiceExt;
    let stats_source = source.clone();
    let service = client
        .service_builder()
        .description("Rosey bot: chat channels")
        .metadata(metadata(&source, commit))
        .stats_handler(move |_endpoint, _stats| {
            serde_json::to_value(stats_source.status()).unwrap_or_default()
        })
        .start(SERVICE_NAME, version)
        .await?;
    let mut endpoint = service
        .endpoint_builder()
        .name("status")
        .add(rosey_model::subjects::BOT_STATUS)
        .await?;
    tokio::spawn(async move {
        while let Some(request) = endpoint.next().await {
            let body = serde_json::to_vec(&source.status()).unwrap_or_default();
            if let Err(e) = request.respond(Ok(body.into())).await {
                tracing::debug!(error = %e, "Could not answer a status request.");
            }
        }
    });
    Ok(service)
}
