//! The world under test: a three-node NATS cluster and the Rosey processes, each one a
//! `rosey` child ([`rosey_bench::procs::Child`]) that a fault can SIGKILL, SIGSTOP or restart
//! (on the same ports and files); with `--postgres` the soak's own PostgreSQL server, and
//! (as root) the database directory on a small file system of its own.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rosey_bench::procs::Child;
use rosey_bus::durable::{StreamSettings, ensure_db_stream};
use rosey_bus::{Bus, NatsOptions};
use rosey_testkit::NatsCluster;
use serde_json::json;

use crate::db::{Database, StoreCounts, Target};
use crate::disk::Disk;
use crate::pg::Postgres;
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
/// The two database services (`db-a` on SQLite; `db-b` on SQLite or PostgreSQL).
pub const DBS: [usize; 2] = [1, 2];
pub const BOTS: [usize; 2] = [3, 4];
pub const PLUGINS: usize = 5;
pub const WEB: usize = 6;
pub const AUTOMOD: usize = 7;
/// The word the crowd's abusive part says and the moderator's rules ban.
pub const ABUSE_WORD: &str = "soakspam";
/// The size of the database directory's own file system (what "disk full" fills).
const DISK_SIZE: &str = "512m";

/// The DJ (a registered rank-2 user who adds media) of channel `i`.
pub fn dj(i: usize) -> String {
    format!("soakdj{i}")
}

/// One `rosey` process and how to start it again.
pub struct Proc {
    pub role: &'static str,
    child: Option<Child>,
    args: Vec<OsString>,
    pub restarts: u32,
    /// Where it answers `/readyz` (the database services).
    ready_port: Option<u16>,
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
    // Dropped in this order: the processes, the cluster, PostgreSQL, the disk, the files.
    pub procs: Vec<Proc>,
    pub nats: NatsCluster,
    pub bus: Bus,
    pub channels: Vec<String>,
    devserver_port: u16,
    web_port: u16,
    /// The two database services' stores, in the order of [`DBS`].
    pub dbs: Vec<Database>,
    /// The soak's own PostgreSQL (`--postgres`).
    pub pg: Option<Postgres>,
    /// The database directory's own file system (`None`: not root, no disk-full fault).
    pub disk: Option<Disk>,
    dir: tempfile::TempDir,
}

fn setup(what: &str, e: impl std::fmt::Display) -> SoakError {
    SoakError::Setup(format!("{what}: {e}"))
}

fn write_json(path: &Path, v: &serde_json::Value) -> Result<(), SoakError> {
    std::fs::write(path, v.to_string()).map_err(|source| SoakError::Write {
        path: path.to_path_buf(),
        source,
    })
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
        let pg = if opts.postgres {
            Some(Postgres::start()?)
        } else {
            None
        };
        let db_dir = dir.path().join("db");
        let disk = Disk::mount(&db_dir, DISK_SIZE);
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
        let dbs = vec![
            Database {
                name: "db-a",
                target: Target::Sqlite(db_dir.join("soak-a.db")),
            },
            Database {
                name: "db-b",
                target: match &pg {
                    Some(pg) => Target::Postgres(pg.url()),
                    None => Target::Sqlite(db_dir.join("soak-b.db")),
                },
            },
        ];
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
        // Only banned words, answered with a warning (a PM): the ordinary crowd trips
        // nothing, and no line of the abusive part is removed from the chat.
        let moderated: serde_json::Map<String, serde_json::Value> =
            channels.iter().map(|c| (c.clone(), json!({}))).collect();
        let off = json!({"enabled": false});
        let mut cfg = json!({
            "version": "2.0",
            "nats": {"url": urls, "jetstream": true, "reconnect_delay": 0.2,
                     "jetstream_options": {"replicas": 3}},
            "platforms": platforms,
            "cluster": {"leases": true, "lease_time": LEASE_SECS},
            "database": {"path": db_dir.join("soak-a.db")},
            "web": {"max_streams_per_client": 256, "max_connections_per_client": 512},
            "moderation": {"enabled": true, "channels": moderated, "defaults": {
                "ladder": ["warn"], "new_users": {"factor": 1.0},
                "flood": off, "repeats": off, "caps": off, "links": off,
                "mentions": off, "length": off,
                "words": {"words": [ABUSE_WORD]}}},
            "logging": {"level": "warn"}
        });
        write_json(&config, &cfg)?;
        // The second service is a second consumer of the stream: it stores everything too.
        let config_b = dir.path().join("soak-b.json");
        cfg["nats"]["jetstream_options"]["consumer"] = json!("rosey-db-b");
        write_json(&config_b, &cfg)?;
        let c = config.clone().into_os_string();
        let os = |s: &str| OsString::from(s);
        let user = |name: &str| OsString::from(format!("{name}:{PASSWORD}:2"));
        let mut devserver = vec![
            os("devserver"),
            os("--listen"),
            OsString::from(format!("127.0.0.1:{devserver_port}")),
            os("--user"),
            user(BOT),
            os("--user"),
            user(MODERATOR),
            os("--log-level"),
            os("warn"),
        ];
        for i in 0..channels.len() {
            devserver.extend([os("--user"), user(&dj(i))]);
        }
        let db_service = |cfg: &Path, db: &Database, port: u16| {
            let mut a = vec![
                os("db-service"),
                cfg.as_os_str().to_owned(),
                os("--jetstream"),
                os("--ack-wait"),
                os("2"),
                os("--metrics-listen"),
                OsString::from(format!("127.0.0.1:{port}")),
                os("--log-level"),
                os("warn"),
            ];
            match &db.target {
                Target::Sqlite(p) => a.extend([os("--db-path"), p.clone().into_os_string()]),
                Target::Postgres(url) => a.extend([os("--db-url"), os(url)]),
            }
            a
        };
        let (port_a, port_b) = (rosey_testkit::free_port(), rosey_testkit::free_port());
        let plan: Vec<(&'static str, Vec<OsString>, Option<u16>)> = vec![
            ("devserver", devserver, None),
            ("db-a", db_service(&config, &dbs[0], port_a), Some(port_a)),
            ("db-b", db_service(&config_b, &dbs[1], port_b), Some(port_b)),
            (
                "bot-a",
                vec![os("bot"), c.clone(), os("--log-level"), os("warn")],
                None,
            ),
            (
                "bot-b",
                vec![os("bot"), c.clone(), os("--log-level"), os("warn")],
                None,
            ),
            (
                "plugins",
                vec![os("plugins"), c.clone(), os("--log-level"), os("warn")],
                None,
            ),
            (
                "web",
                vec![
                    os("web"),
                    c.clone(),
                    os("--listen"),
                    OsString::from(format!("127.0.0.1:{web_port}")),
                    os("--log-level"),
                    os("warn"),
                ],
                None,
            ),
            (
                "moderator",
                vec![os("moderator"), c, os("--log-level"), os("warn")],
                None,
            ),
        ];
        let procs = plan
            .into_iter()
            .map(|(role, args, ready_port)| Proc {
                role,
                child: None,
                args,
                restarts: 0,
                ready_port,
            })
            .collect();
        let mut world = World {
            rosey: opts.rosey.clone(),
            procs,
            nats,
            bus,
            channels,
            devserver_port,
            web_port,
            dbs,
            pg,
            disk,
            dir,
        };
        for i in [
            DEVSERVER, DBS[0], DBS[1], BOTS[0], BOTS[1], PLUGINS, WEB, AUTOMOD,
        ] {
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

    /// Waits until process `i` serves: the devserver and the web accept connections, a
    /// database service answers `/readyz`; the others only need to be running.
    async fn wait_ready(&mut self, i: usize) -> Result<(), SoakError> {
        let deadline = Instant::now() + READY;
        loop {
            let p = &mut self.procs[i];
            if let Some(c) = p.child.as_mut() {
                c.check_alive()?;
            }
            let ready = match (i, p.ready_port) {
                (DEVSERVER, _) => listening(self.devserver_port).await,
                (WEB, _) => listening(self.web_port).await,
                (_, Some(port)) => reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
                    .await
                    .is_ok_and(|r| r.status().is_success()),
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

    /// Chat rows stored by each database service.
    pub fn stored(&self) -> Vec<i64> {
        self.dbs.iter().map(Database::stored).collect()
    }

    /// Every process sampled, with its restarts: the `rosey` ones and PostgreSQL's
    /// postmaster.
    pub fn pids(&self) -> Vec<(&'static str, Option<u32>, u32)> {
        let mut v: Vec<_> = self
            .procs
            .iter()
            .map(|p| (p.role, p.pid(), p.restarts))
            .collect();
        if let Some(pg) = &self.pg {
            v.push(("postgres", pg.pid(), pg.restarts));
        }
        v
    }

    /// Deletes what the disk-full fault wrote.
    pub fn free_disk(&self) {
        if let Some(d) = &self.disk {
            d.free();
        }
    }

    /// Stops PostgreSQL at once, waits `down`, starts it again.
    pub async fn restart_postgres(
        &mut self,
        down: Duration,
        sample: &mut impl FnMut(&mut World),
    ) -> Result<(), SoakError> {
        let Some(pg) = self.pg.as_mut() else {
            return Ok(());
        };
        pg.stop_immediate()?;
        pg.restarts += 1;
        crate::faults::wait_sampling(self, down, sample).await;
        match &self.pg {
            Some(pg) => pg.start_server(),
            None => Ok(()),
        }
    }

    /// Waits until every database has taken in everything the crowd saw broadcast (or the
    /// counts stand still for 20 s), then counts what each holds. Returns whether the
    /// drain completed.
    pub async fn drain(&mut self, crowd: &crate::crowd::Crowd) -> (bool, Vec<StoreCounts>) {
        let want = crowd.broadcast_count() as i64;
        let mut last = (self.stored(), Instant::now());
        let deadline = Instant::now() + READY;
        let drained = loop {
            let n = self.stored();
            if n.iter().all(|&n| n >= want) {
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
        (drained, self.dbs.iter().map(Database::counts).collect())
    }

    /// Each process's figures over the run: first and last sample, and the slopes of the
    /// samples of its last instance after `warmup`.
    pub fn resources(&self, samples: &[Sample], warmup: Duration) -> Vec<ProcessResources> {
        self.pids()
            .into_iter()
            .map(|(role, _, restarts)| {
                let mine: Vec<_> = samples
                    .iter()
                    .filter_map(|s| s.procs.iter().find(|f| f.role == role).map(|f| (s.t, f)))
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
                    role: role.to_string(),
                    restarts,
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
        for i in [
            BOTS[0], BOTS[1], AUTOMOD, PLUGINS, WEB, DBS[0], DBS[1], DEVSERVER,
        ] {
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
