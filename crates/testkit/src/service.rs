//! Waiting for a database service the test started as a process (`rosey db-service`) until it
//! answers on the bus, so that its stream and consumer are set up before the test goes on.

use std::{
    process::ExitStatus,
    time::{Duration, Instant},
};

use rosey_bus::Bus;
use rosey_model::subjects;

/// Asks for the channel stats (250 ms per try) until the service answers. Fails the test
/// when `exited` reports that the process ended, or when `within` passes first.
pub async fn until_db_service_answers(
    bus: &Bus,
    within: Duration,
    mut exited: impl FnMut() -> Option<ExitStatus>,
) {
    let started = Instant::now();
    loop {
        if let Some(status) = exited() {
            panic!("db-service exited during start-up: {status}");
        }
        match bus
            .request(
                subjects::QUERY_CHANNEL_STATS,
                &b"{}"[..],
                Duration::from_millis(250),
            )
            .await
        {
            Ok(_) => return,
            Err(e) => assert!(started.elapsed() < within, "never ready: {e}"),
        }
    }
}
