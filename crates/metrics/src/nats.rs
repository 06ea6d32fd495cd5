//! The NATS connection: state (`rosey_nats_connected`), reconnects and message counts, read
//! from the client's own statistics at scrape time; and the readiness check "connected".

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;

use async_nats::connection::State;

use crate::Check;
use crate::source::{Out, Source};

pub(crate) struct NatsSource {
    client: async_nats::Client,
}

impl NatsSource {
    pub fn new(client: async_nats::Client) -> Self {
        NatsSource { client }
    }

    pub fn check(&self) -> Check {
        match self.client.connection_state() {
            State::Connected => Check::ready("connected"),
            State::Disconnected => Check::not_ready("disconnected from NATS"),
            State::Pending => Check::not_ready("connecting to NATS"),
        }
    }
}

impl Source for NatsSource {
    fn collect(&self, out: &mut Out<'_>) -> fmt::Result {
        let connected = matches!(self.client.connection_state(), State::Connected);
        let stats = self.client.statistics();
        out.gauge_value(
            "rosey_nats_connected",
            "1 while connected to a NATS server.",
            i64::from(connected),
        )?;
        out.counter_value(
            "rosey_nats_reconnects",
            "Connections to NATS after the first one.",
            stats.connects.load(Relaxed).saturating_sub(1),
        )?;
        out.counter_value(
            "rosey_nats_messages_received",
            "Messages received from NATS.",
            stats.in_messages.load(Relaxed),
        )?;
        out.counter_value(
            "rosey_nats_messages_sent",
            "Messages sent to NATS.",
            stats.out_messages.load(Relaxed),
        )
    }
}
