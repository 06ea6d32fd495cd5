//! The fault schedule — pure, from the seed, so a run can be repeated — and applying one
//! fault: do it, then wait until the world has recovered (every process running, a bot in
//! every channel) before the next one, sampling meanwhile.

use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::Serialize;

use crate::SoakOptions;
use crate::crowd::Crowd;
use crate::disk::Disk;
use crate::world::{BOTS, DBS, DEVSERVER, PLUGINS, READY, WEB, World};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// SIGKILL one of the two database services, start it again.
    KillDbService,
    /// SIGKILL one bot, start it again.
    KillBot,
    /// SIGSTOP one bot for `stop_for`, then SIGCONT (a hung process).
    StopBot,
    /// SIGKILL the plugins process, start it again.
    KillPlugins,
    /// SIGKILL the web process, start it again (viewers reconnect).
    KillWeb,
    /// SIGKILL one NATS node, start it again after 5 s.
    KillNatsNode,
    /// SIGKILL the devserver (the CyTube server), start it again: everyone reconnects.
    RestartDevserver,
    /// Stop the soak's PostgreSQL at once (`pg_ctl stop -m immediate`), start it again
    /// after 5 s (only with `--postgres`).
    RestartPostgres,
    /// Fill the database directory's file system to ENOSPC for `full_for`, then free it
    /// (only when it could be mounted: root).
    FillDisk,
}

impl FaultKind {
    pub const ALL: [FaultKind; 9] = [
        FaultKind::KillDbService,
        FaultKind::KillBot,
        FaultKind::StopBot,
        FaultKind::KillPlugins,
        FaultKind::KillWeb,
        FaultKind::KillNatsNode,
        FaultKind::RestartDevserver,
        FaultKind::RestartPostgres,
        FaultKind::FillDisk,
    ];

    /// The kinds a world can have: PostgreSQL's restart only with it, the full disk only
    /// with a file system of its own.
    pub fn available(postgres: bool, disk: bool) -> Vec<FaultKind> {
        FaultKind::ALL
            .into_iter()
            .filter(|k| match k {
                FaultKind::RestartPostgres => postgres,
                FaultKind::FillDisk => disk,
                _ => true,
            })
            .collect()
    }

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::KillDbService => "kill_db_service",
            FaultKind::KillBot => "kill_bot",
            FaultKind::StopBot => "stop_bot",
            FaultKind::KillPlugins => "kill_plugins",
            FaultKind::KillWeb => "kill_web",
            FaultKind::KillNatsNode => "kill_nats_node",
            FaultKind::RestartDevserver => "restart_devserver",
            FaultKind::RestartPostgres => "restart_postgres",
            FaultKind::FillDisk => "fill_disk",
        }
    }
}

/// One planned fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Fault {
    /// When, from the start of the load.
    #[serde(serialize_with = "secs")]
    pub at: Duration,
    pub kind: FaultKind,
    /// Which bot or database service (0, 1) or NATS node (0–2); 0 otherwise.
    pub target: usize,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// The schedule of a run: one fault every `every` (capped at a minute), the first after
/// one interval, none in the last half interval; the kinds go round a shuffled cycle of
/// `kinds` (so a run of as many faults or more has each kind), targets drawn from the seed.
pub fn schedule(seed: u64, duration: Duration, every: Duration, kinds: &[FaultKind]) -> Vec<Fault> {
    let every = every.clamp(Duration::from_secs(5), Duration::from_secs(60));
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cycle = Vec::new();
    let mut out = Vec::new();
    let mut at = every;
    while at + every / 2 <= duration {
        if cycle.is_empty() {
            cycle = kinds.to_vec();
            cycle.shuffle(&mut rng);
        }
        let kind = cycle.pop().unwrap_or(FaultKind::KillBot);
        let target = match kind {
            FaultKind::KillBot | FaultKind::StopBot | FaultKind::KillDbService => {
                rng.random_range(0..2)
            }
            FaultKind::KillNatsNode => rng.random_range(0..3),
            _ => 0,
        };
        out.push(Fault { at, kind, target });
        at += every;
    }
    out
}

/// What a fault did.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    #[serde(flatten)]
    pub fault: Fault,
    /// When it really started (seconds from the start of the load).
    pub started_s: f64,
    /// Seconds from the fault until the world had recovered; `None` if it did not.
    pub recovered_after_s: Option<f64>,
    pub error: Option<String>,
}

/// Applies `f`, then waits for recovery; `sample` is called every sampling interval while
/// this waits.
pub async fn apply(
    f: &Fault,
    world: &mut World,
    crowd: &Crowd,
    channels: &[String],
    opts: &SoakOptions,
    t0: Instant,
    sample: &mut impl FnMut(&mut World),
) -> Applied {
    let started = Instant::now();
    let started_s = t0.elapsed().as_secs_f64();
    let result = async {
        match f.kind {
            FaultKind::KillDbService => kill_restart(world, DBS[f.target]).await,
            FaultKind::KillBot => kill_restart(world, BOTS[f.target]).await,
            FaultKind::KillPlugins => kill_restart(world, PLUGINS).await,
            FaultKind::KillWeb => kill_restart(world, WEB).await,
            FaultKind::RestartDevserver => kill_restart(world, DEVSERVER).await,
            FaultKind::StopBot => {
                let bot = BOTS[f.target];
                world.signal(bot, nix::sys::signal::Signal::SIGSTOP);
                wait_sampling(world, opts.stop_for, sample).await;
                world.signal(bot, nix::sys::signal::Signal::SIGCONT);
                Ok(())
            }
            FaultKind::RestartPostgres => {
                world.restart_postgres(Duration::from_secs(5), sample).await
            }
            FaultKind::FillDisk => match world.disk.as_ref().map(Disk::fill) {
                Some(Ok(_)) => {
                    wait_sampling(world, opts.full_for, sample).await;
                    world.free_disk();
                    Ok(())
                }
                Some(Err(e)) => {
                    world.free_disk();
                    Err(crate::SoakError::Setup(format!("fill the disk: {e}")))
                }
                None => Ok(()),
            },
            FaultKind::KillNatsNode => {
                world.nats.kill(f.target);
                wait_sampling(world, Duration::from_secs(5), sample).await;
                tokio::task::block_in_place(|| world.nats.start_node(f.target));
                Ok(())
            }
        }
    }
    .await;
    let mut recovered = None;
    if result.is_ok() {
        let deadline = Instant::now() + READY;
        let mut next_sample = Instant::now() + crate::sample::EVERY;
        while Instant::now() < deadline {
            let alive = world.procs.iter_mut().all(|p| p.alive());
            if alive && crowd.covered(channels) == channels.len() {
                recovered = Some(started.elapsed().as_secs_f64());
                break;
            }
            if Instant::now() >= next_sample {
                sample(world);
                next_sample += crate::sample::EVERY;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Applied {
        fault: *f,
        started_s,
        recovered_after_s: recovered,
        error: result.err().map(|e: crate::SoakError| e.to_string()),
    }
}

async fn kill_restart(world: &mut World, i: usize) -> Result<(), crate::SoakError> {
    world.kill(i);
    world.restart(i).await
}

pub async fn wait_sampling(world: &mut World, d: Duration, sample: &mut impl FnMut(&mut World)) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        let step = crate::sample::EVERY.min(end - Instant::now());
        tokio::time::sleep(step).await;
        sample(world);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_follows_the_seed_and_has_every_kind() {
        let d = Duration::from_secs(3600);
        let all = FaultKind::available(true, true);
        assert_eq!(all.len(), 9);
        let a = schedule(7, d, Duration::from_secs(40), &all);
        assert_eq!(
            a,
            schedule(7, d, Duration::from_secs(40), &all),
            "repeatable"
        );
        assert_ne!(
            a,
            schedule(8, d, Duration::from_secs(40), &all),
            "another seed, another run"
        );
        assert_eq!(a.len(), 89);
        for k in FaultKind::ALL {
            assert!(
                a[..9].iter().any(|f| f.kind == k),
                "{k:?} in the first nine"
            );
        }
        // Without PostgreSQL and the disk, seven kinds, each in the first seven.
        let seven = FaultKind::available(false, false);
        let b = schedule(7, d, Duration::from_secs(40), &seven);
        for k in &seven {
            assert!(
                b[..7].iter().any(|f| f.kind == *k),
                "{k:?} in the first seven"
            );
        }
        assert!(b.iter().all(|f| seven.contains(&f.kind)));
        assert!(
            a.windows(2)
                .all(|w| w[1].at - w[0].at <= Duration::from_secs(60))
        );
        // At least one a minute even when asked for fewer.
        let sparse = schedule(1, Duration::from_secs(600), Duration::from_secs(300), &all);
        assert_eq!(sparse.len(), 9);
    }
}
