//! Helpers shared by the process tests of the `rosey` binary (each test file is its own
//! crate and uses what it needs).
#![allow(dead_code)]

pub mod cli;
pub mod durable;
pub mod platforms;

use std::time::Duration;

use rosey_cytube::{ClientConfig, CytubeEvent, CytubeHandle, Login};

/// A guest client joined to `channel` on the devserver at `base_url` (waits for `Joined`).
pub async fn join_guest(base_url: &str, channel: &str, name: &str, wait: Duration) -> CytubeHandle {
    let mut cfg = ClientConfig::new(base_url.to_string(), channel, Login::Guest(name.into()));
    cfg.backoff.base = Duration::from_millis(50);
    let (guest, mut events) = rosey_cytube::connect(cfg);
    tokio::time::timeout(wait, async {
        while let Some(e) = events.recv().await {
            if matches!(e, CytubeEvent::Joined { .. }) {
                return;
            }
        }
        panic!("the guest's client stopped before joining {channel}");
    })
    .await
    .unwrap_or_else(|_| panic!("guest {name} joins {channel}"));
    guest
}

/// A `rosey` child process (`args`, `RUST_LOG` set to `filter` when given), with none of
/// the bus or database settings of the test's own environment; killed when dropped.
pub fn spawn_rosey(args: &[&str], filter: Option<&str>) -> tokio::process::Child {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_rosey"));
    if let Some(f) = filter {
        command.env("RUST_LOG", f);
    }
    command
        .args(args)
        .env_remove("NATS_URL")
        .env_remove("DATABASE_URL")
        .env_remove("DATABASE_PATH")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("run the rosey binary")
}

/// Sends SIGTERM to a running child and waits (at most `wait`) for it to exit; returns its
/// status.
pub async fn sigterm_and_wait(
    child: &mut tokio::process::Child,
    wait: Duration,
) -> std::process::ExitStatus {
    let pid = child.id().expect("the child is still running");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    tokio::time::timeout(wait, child.wait())
        .await
        .expect("the process exits after SIGTERM")
        .unwrap()
}
