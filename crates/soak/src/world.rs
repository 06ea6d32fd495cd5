//! The world under test: a three-node NATS cluster and the Rosey processes, each one a
//! `rosey` child ([`rosey_bench::procs::Child`]) that a fault can SIGKILL, SIGSTOP or restart
//! (on the same ports and files).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rosey_bench::procs::Child;
use rosey_bus::durable::{StreamSettings, ensure_db_stream};
use rosey_bus::{Bus, NatsOptions};
use rosey_model::subjects;
use rosey_testkit::NatsCluster;
use serde_json::json;

use crate::report::ProcessResources;
use crate::sample::{Sample, slope};
use crate::{SoakError, SoakOptions};

/// How long a process (or every channel's bot) may take to be ready.
pub const READY: Duration = Duration::from_secs(90);
/// The bots' CyTube account (both bots use it: one per channel at a time, by lease).
pub const BOT: &str = "SoakBot";
/// The moderator who PMs the bot's shell.
pub const MODERATOR: &str = "soakmod";
pub const PASSWORD: &str = "soakpw";
/// Seconds of a restarted process's samples left out of its slopes (its own warm-up).
const INSTANCE_WARMUP_S: f64 = 60.0;
/// Seconds a channel lease lasts without renewal.
pub const LEASE_SECS: u64 = 5;

/// The processes, by index in [`World::procs`].
pub const DEVSERVER: usize = 0;
pub const DB: usize = 1;
pub const BOTS: [usize; 2] = [2, 3];
pub const PLUGINS: usize = 4;
pub const WEB: usize = 5;

/// One `rosey` process and how to start it again.
pub struct Proc {
    pub role: &'static str,
    child: Option<Child>,
    args: Vec<OsString>,
    pub restarts: u32,
}

impl Proc {
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::pid)
    }

    pub fn alive(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.check_alive().is_ok())
    }
}

pub struct World {
    rosey: PathBuf,
    dir: tempfile::TempDir,
    pub nats: NatsCluster,
    pub bus: Bus,
    pub channels: Vec<String>,
    devserver_port: u16,
    web_port: u16,
    pub procs: Vec<Proc>,
    pub db_path: PathBuf,
}

fn setup(what: &str, e: impl std::fmt::Display) -> SoakError {
    SoakError::Setup(format!("{what}: {e}"))
}

impl World {
    /// Starts everything and waits until each process is ready (the bots' channels are
    /// awaited by the crowd, who can see them).
    pub async fn start(opts: &SoakOptions) -> Result<World, SoakError> {
        if rosey_testkit::find_binary().is_none() {
            return Err(SoakError::Setup(
                "nats-server not found: install it (`apt-get install -y nats-server`)".into(),
            ));
        }
        let dir = tempfile::tempdir().map_err(|e| setup("temporary directory", e))?;
        let nats = tokio::task::block_in_place(NatsCluster::start);
        let urls = nats.urls();
        let bus = Bus::connect(NatsOptions {
            servers: urls.clone(),
            reconnect_delay: Duration::from_millis(100),
            ..Default::default()
        })
        .await
        .map_err(|e| setup("connect to the NATS cluster", e))?;
        let settings = StreamSettings {
            replicas: 3,
            ..StreamSettings::default()
        };
        let client = bus
            .nats_client()
            .ok_or_else(|| SoakError::Setup("no NATS client".into()))?;
        // A fresh cluster answers JetStream requests once it has elected its meta leader.
        let deadline = Instant::now() + READY;
        while let Err(e) = ensure_db_stream(client, &settings).await {
            if Instant::now() > deadline {
                return Err(setup("create the ROSEY_DB stream", e));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }

        let channels: Vec<String> = (0..opts.channels).map(|i| format!("soak{i}")).collect();
        let devserver_port = rosey_testkit::free_port();
        let web_port = rosey_testkit::free_port();
        let db_path = dir.path().join("soak.db");
        let config = dir.path().join("soak.json");
        let devserver_url = format!("http://127.0.0.1:{devserver_port}");
        let platforms: Vec<_> = channels
            .iter()
            .enumerate()
            .map(|(i, ch)| {
                json!({"type": "cytube", "name": format!("p{i}"), "enabled": true,
                       "domain": devserver_url, "channel": ch,
                       "user": [BOT, PASSWORD], "restart_delay": 1})
            })
            .collect();
        let cfg = json!({
            "version": "2.0",
            "nats": {"url": urls, "jetstream": true, "reconnect_delay": 0.2,
                     "jetstream_options": {"replicas": 3}},
            "platforms": platforms,
            "cluster": {"leases": true, "lease_time": LEASE_SECS},
            "database": {"path": db_path},
            "web": {"max_streams_per_client": 256, "max_connections_per_client": 512},
            "logging": {"level": "warn"}
        });
        std::fs::write(&config, cfg.to_string()).map_err(|source| SoakError::Write {
            path: config.clone(),
            source,
        })?;
        let c = config.clone().into_os_string();
        let os = |s: &str| OsString::from(s);
        let user = |name: &str| OsString::from(format!("{name}:{PASSWORD}:2"));
        let plan: [(&'static str, Vec<OsString>); 6] = [
            (
                "devserver",
                vec![
                    os("devserver"),
                    os("--listen"),
                    OsString::from(format!("127.0.0.1:{devserver_port}")),
                    os("--user"),
                    user(BOT),
                    os("--user"),
                    user(MODERATOR),
                    os("--log-level"),
                    os("warn"),
                ],
            ),
            (
                "db-service",
                vec![
                    os("db-service"),
                    c.clone(),
                    os("--jetstream"),
                    os("--ack-wait"),
                    os("2"),
                    os("--db-path"),
                    db_path.clone().into_os_string(),
                    os("--log-level"),
                    os("warn"),
                ],
            ),
            (
                "bot-a",
                vec![os("bot"), c.clone(), os("--log-level"), os("warn")],
            ),
            (
                "bot-b",
                vec![os("bot"), c.clone(), os("--log-level"), os("warn")],
            ),
            (
                "plugins",
                vec![os("plugins"), c.clone(), os("--log-level"), os("warn")],
            ),
            (
                "web",
                vec![
                    os("web"),
                    c,
                    os("--listen"),
                    OsString::from(format!("127.0.0.1:{web_port}")),
                    os("--log-level"),
                    os("warn"),
                ],
            ),
        ];
        let procs = plan
            .into_iter()
            .map(|(role, args)| Proc {
                role,
                child: None,
                args,
                restarts: 0,
            })
            .collect();
        let mut world = World {
            rosey: opts.rosey.clone(),
            dir,
            nats,
            bus,
            channels,
            devserver_port,
            web_port,
            procs,
            db_path,
        };
        for i in [DEVSERVER, DB, BOTS[0], BOTS[1], PLUGINS, WEB] {
            world.spawn(i)?;
            world.wait_ready(i).await?;
        }
        Ok(world)
    }

    pub fn devserver_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.devserver_port)
    }

    pub fn web_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.web_port)
    }

    fn spawn(&mut self, i: usize) -> Result<(), SoakError> {
        let p = &mut self.procs[i];
        let log = self
            .dir
            .path()
            .join(format!("{}.{}.log", p.role, p.restarts));
        let args: Vec<&std::ffi::OsStr> = p.args.iter().map(OsString::as_os_str).collect();
        p.child = Some(Child::spawn(
            p.role,
            &self.rosey,
            &args,
            self.dir.path(),
            log,
            &[],
        )?);
        Ok(())
    }

    /// SIGKILL (a crash): the process is gone when this returns.
    pub fn kill(&mut self, i: usize) {
        // Dropping the child kills it with SIGKILL and reaps it.
        self.procs[i].child.take();
    }

    /// Starts a killed process again (same arguments, ports and files) and waits for it.
    pub async fn restart(&mut self, i: usize) -> Result<(), SoakError> {
        self.procs[i].restarts += 1;
        self.spawn(i)?;
        self.wait_ready(i).await
    }

    /// Sends `signal` (SIGSTOP, SIGCONT) to process `i`.
    pub fn signal(&self, i: usize, signal: nix::sys::signal::Signal) {
        if let Some(pid) = self.procs[i].pid() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal);
        }
    }

    /// Waits until process `i` serves: the devserver and the web accept connections, the
    /// database service answers a query; bots and plugins only need to be running.
    async fn wait_ready(&mut self, i: usize) -> Result<(), SoakError> {
        let deadline = Instant::now() + READY;
        loop {
            let p = &mut self.procs[i];
            if let Some(c) = p.child.as_mut() {
                c.check_alive()?;
            }
            let ready = match i {
                DEVSERVER => listening(self.devserver_port).await,
                WEB => listening(self.web_port).await,
                DB => self
                    .bus
                    .request(
                        subjects::QUERY_CHANNEL_STATS,
                        &b"{}"[..],
                        Duration::from_millis(500),
                    )
                    .await
                    .is_ok(),
                _ => true,
            };
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(SoakError::Setup(format!(
                    "{} not ready within {READY:?}",
                    self.procs[i].role
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The newest `recent_chat` row id (rows are only added during a soak): lines stored.
    pub fn stored(&self) -> i64 {
        let Ok(s) = rosey_store::Store::open_read_only(
            &self.db_path,
            &rosey_store::StoreOptions::default(),
        ) else {
            return 0;
        };
        s.connection()
            .query_row("SELECT coalesce(max(id), 0) FROM recent_chat", [], |r| {
                r.get(0)
            })
            .unwrap_or(0)
    }

    /// Waits until the database has taken in everything the crowd saw broadcast (or the
    /// count stands still for 20 s), then counts each tagged line's rows and the shell's
    /// audit rows. Returns whether the drain completed.
    pub async fn drain(&mut self, crowd: &crate::crowd::Crowd) -> (bool, StoreCounts) {
        let want = crowd.broadcast_count() as i64;
        let mut last = (self.stored(), Instant::now());
        let deadline = Instant::now() + READY;
        let drained = loop {
            let n = self.stored();
            if n >= want {
                // Anything still in flight (a replay) has a moment to land and be counted.
                tokio::time::sleep(Duration::from_secs(3)).await;
                break true;
            }
            if n != last.0 {
                last = (n, Instant::now());
            }
            if last.1.elapsed() > Duration::from_secs(20) || Instant::now() > deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        (drained, StoreCounts::read(&self.db_path))
    }

    /// Each process's figures over the run: first and last sample, and the slopes of the
    /// samples of its last instance after `warmup`.
    pub fn resources(&self, samples: &[Sample], warmup: Duration) -> Vec<ProcessResources> {
        self.procs
            .iter()
            .map(|p| {
                let mine: Vec<_> = samples
                    .iter()
                    .filter_map(|s| s.procs.iter().find(|f| f.role == p.role).map(|f| (s.t, f)))
                    .collect();
                let pid = mine.last().map(|(_, f)| f.pid);
                // The last instance, after the run's warm-up and its own first minute (a
                // restarted process warms up again).
                let born = mine
                    .iter()
                    .find(|(_, f)| Some(f.pid) == pid)
                    .map_or(0.0, |(t, _)| *t);
                let from = warmup.as_secs_f64().max(born + INSTANCE_WARMUP_S);
                let steady: Vec<_> = mine
                    .iter()
                    .filter(|(t, f)| Some(f.pid) == pid && *t >= from)
                    .collect();
                let series = |get: fn(&crate::sample::ProcFig) -> f64| {
                    slope(&steady.iter().map(|(t, f)| (*t, get(f))).collect::<Vec<_>>())
                };
                ProcessResources {
                    role: p.role.to_string(),
                    restarts: p.restarts,
                    rss_kib_first: mine.first().map(|(_, f)| f.rss_kib),
                    rss_kib_last: mine.last().map(|(_, f)| f.rss_kib),
                    rss_kib_max: mine.iter().map(|(_, f)| f.rss_kib).max(),
                    fds_last: mine.last().map(|(_, f)| f.fds),
                    threads_last: mine.last().map(|(_, f)| f.threads),
                    steady_samples: steady.len(),
                    rss_kib_per_min: series(|f| f.rss_kib as f64),
                    fds_per_min: series(|f| f.fds as f64),
                    threads_per_min: series(|f| f.threads as f64),
                }
            })
            .collect()
    }

    /// SIGTERM to every process (the bots first), then the cluster goes with `self`.
    pub async fn stop(mut self) {
        for i in [BOTS[0], BOTS[1], PLUGINS, WEB, DB, DEVSERVER] {
            self.signal(i, nix::sys::signal::Signal::SIGCONT);
            if let Some(mut c) = self.procs[i].child.take() {
                let _ = c.terminate(Duration::from_secs(10)).await;
            }
        }
    }

    /// Where the processes' logs are.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

async fn listening(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
}

/// What the database holds at the end.
#[derive(Debug, Default, Clone)]
pub struct StoreCounts {
    /// Rows per tagged chat line.
    pub lines: std::collections::HashMap<String, u64>,
    /// `pm_command` audit rows.
    pub pm_audits: u64,
}

impl StoreCounts {
    fn read(db: &Path) -> StoreCounts {
        let Ok(s) = rosey_store::Store::open_read_only(db, &rosey_store::StoreOptions::default())
        else {
            return StoreCounts::default();
        };
        let conn = s.connection();
        let mut lines = std::collections::HashMap::new();
        if let Ok(mut stmt) = conn.prepare(
            "SELECT message, count(*) FROM recent_chat WHERE message LIKE 'soak-%' GROUP BY message",
        ) && let Ok(rows) = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        {
            for (m, n) in rows.flatten() {
                lines.insert(m, n as u64);
            }
        }
        let pm_audits = conn
            .query_row(
                "SELECT count(*) FROM user_actions WHERE action_type = 'pm_command'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap_or(0) as u64;
        StoreCounts { lines, pm_audits }
    }
}
