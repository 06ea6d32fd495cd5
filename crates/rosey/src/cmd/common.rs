//! Pieces shared by the long-running commands: building the bus from the configuration and
//! waiting for SIGINT/SIGTERM.

use anyhow::Context;
use rosey_bus::{Bus, NatsOptions, TlsOptions};
use rosey_config::{NatsConfig, NatsUrl};

/// The flags the long-running bus services share (`rosey run`, `rosey bot`,
/// `rosey moderator`), flattened into each one's arguments.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ServiceFlags {
    /// NATS server URL (overrides the config).
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,
    /// Log level.
    #[arg(long)]
    pub log_level: Option<String>,
    /// Serve /metrics, /healthz and /readyz on this address (overrides `metrics.listen`).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// NATS connection options from the `nats` section. `inbox` is the process role's reply
/// inbox prefix (`rosey_model::subjects::INBOX_*`), used unless `nats.inbox_prefix` is set.
pub fn nats_options(
    cfg: &NatsConfig,
    servers: Vec<String>,
    name: &str,
    inbox: &str,
) -> NatsOptions {
    let tls = cfg.tls.as_ref();
    NatsOptions {
        servers,
        connection_timeout: cfg.connection_timeout,
        max_reconnect_attempts: cfg.max_reconnects(),
        reconnect_delay: cfg.reconnect_delay,
        user: cfg.user.clone(),
        password: cfg.password.as_ref().map(|s| s.expose().to_string()),
        token: cfg.token.as_ref().map(|s| s.expose().to_string()),
        credentials: cfg.credentials.clone(),
        nkey: cfg.nkey.clone(),
        tls: TlsOptions {
            ca: tls.and_then(|t| t.ca.clone()),
            cert: tls.and_then(|t| t.cert.clone()),
            key: tls.and_then(|t| t.key.clone()),
            required: tls.is_some_and(|t| t.required),
        },
        name: name.to_string(),
        inbox_prefix: Some(
            cfg.inbox_prefix
                .clone()
                .unwrap_or_else(|| inbox.to_string()),
        ),
        ..NatsOptions::default()
    }
}

/// The bus the configuration (or the `--nats-url` override) asks for: the in-process bus
/// for `embedded` or no `nats` section, else NATS.
pub async fn connect_bus(
    cfg: &NatsConfig,
    url_override: Option<&str>,
    name: &str,
    inbox: &str,
) -> anyhow::Result<Bus> {
    let url = match url_override {
        Some(u) => NatsUrl::parse_list(u),
        None => cfg.url.clone(),
    };
    match url {
        NatsUrl::Embedded => {
            tracing::info!("Using the embedded in-process bus.");
            Ok(Bus::embedded())
        }
        NatsUrl::Servers(servers) => {
            if servers.is_empty() {
                anyhow::bail!("nats.url names no server");
            }
            let options = nats_options(cfg, servers, name, inbox);
            let shown = options.servers_for_log();
            // The bus error already names the servers and the cause, in one line.
            let bus = Bus::connect(options).await?;
            tracing::info!(servers = %shown, "Bus: NATS.");
            Ok(bus)
        }
    }
}

/// A future that resolves on SIGINT or SIGTERM. The handlers are installed when this is
/// *called*, not when the future is first polled, so a signal that arrives while the caller
/// is still starting up is a clean stop rather than the default action (death by signal).
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            // Installing a handler only fails when the runtime has no signal driver; fall
            // back to Ctrl-C.
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

/// Runs a start-up step (connecting to NATS, opening the store) unless a stop signal comes
/// first: `None` means "stopped while starting", a clean exit. A signal must stop a process
/// at every moment, also while it is still connecting.
pub async fn before_signal<T>(
    signal: &mut (impl std::future::Future<Output = ()> + Unpin),
    step: impl std::future::Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        _ = signal => {
            tracing::info!("Signal received while starting; exiting.");
            None
        }
        v = step => Some(v),
    }
}

/// "Keep forever" for a retention of 0 in the config (100 years).
const FOREVER: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 86_400);

/// The database service's settings from the configuration. The database is, first found:
/// `db_url` (`--db-url`), `db_path` (`--db-path`), `database.url` (PostgreSQL; also from
/// `DATABASE_URL`), `database.path` (SQLite, the default).
pub fn db_service_config(
    config: &rosey_config::Config,
    db_path: Option<std::path::PathBuf>,
) -> rosey_dbservice::DbServiceConfig {
    db_service_config_at(config, None, db_path)
}

/// [`db_service_config`] with a `--db-url` too.
pub fn db_service_config_at(
    config: &rosey_config::Config,
    db_url: Option<String>,
    db_path: Option<std::path::PathBuf>,
) -> rosey_dbservice::DbServiceConfig {
    use rosey_store::StoreTarget;
    let target = match (db_url, db_path, &config.database.url) {
        (Some(url), _, _) => StoreTarget::Postgres(url),
        (None, Some(path), _) => StoreTarget::Sqlite(path),
        (None, None, Some(url)) => StoreTarget::Postgres(url.clone()),
        (None, None, None) => StoreTarget::Sqlite(config.database.path.clone()),
    };
    let mut cfg = rosey_dbservice::DbServiceConfig::new(target, config.default_channel());
    let r = &config.database.retention;
    cfg.retention.recent_chat = r.recent_chat().unwrap_or(FOREVER);
    cfg.retention.user_count_history = r.user_count_history().unwrap_or(FOREVER);
    cfg.retention.sent_outbound = r.sent_outbound().unwrap_or(FOREVER);
    cfg.commit = Some(env!("ROSEY_GIT_COMMIT").to_string());
    cfg.binary = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.file_name()?.to_string_lossy().into_owned()));
    cfg
}

/// The configuration of a command whose file is optional: the file when given (the loader
/// applies the environment's overrides), else the defaults with the environment's settings
/// (NATS credentials, `DATABASE_PATH`, `DATABASE_URL`, …).
pub fn config_or_env(path: Option<&std::path::Path>) -> anyhow::Result<rosey_config::Config> {
    match path {
        Some(path) => rosey_config::Config::load(path)
            .with_context(|| format!("cannot load configuration {}", path.display())),
        None => {
            let mut config = rosey_config::Config::default();
            config
                .apply_env(rosey_config::env::process_env)
                .context("invalid setting in the environment")?;
            Ok(config)
        }
    }
}

/// Loads the configuration and sets up logging (`--log-level`, `RUST_LOG`,
/// `ROSEY_LOG_LEVEL`, then the config's level).
pub fn load_config(
    path: &std::path::Path,
    log_level: Option<&str>,
) -> anyhow::Result<rosey_config::Config> {
    let config = rosey_config::Config::load(path)
        .with_context(|| format!("cannot load configuration {}", path.display()))?;
    crate::logging::init_with(log_level, &config.logging)?;
    report_unused(&config);
    Ok(config)
}

/// The metrics registry and its listener, when `--metrics-listen` or `metrics.listen` asks
/// for one.
pub struct MetricsListener {
    pub metrics: rosey_metrics::Metrics,
    server: rosey_metrics::MetricsServer,
}

impl MetricsListener {
    /// Starts serving `/metrics`, `/healthz`, `/readyz` (not ready until checks are added).
    pub async fn start(
        flag: Option<std::net::SocketAddr>,
        config: &rosey_config::Config,
        process: &str,
    ) -> anyhow::Result<Option<MetricsListener>> {
        let Some(addr) = flag.or(config.metrics.listen) else {
            return Ok(None);
        };
        let metrics = rosey_metrics::Metrics::new(build_info(process));
        let server = metrics
            .serve(addr)
            .await
            .context("cannot start the metrics listener")?;
        Ok(Some(MetricsListener { metrics, server }))
    }

    /// NATS state and reconnects, and readiness "connected"; the embedded bus is always up.
    pub fn watch_bus(&self, bus: &Bus) {
        match bus.nats_client() {
            Some(client) => self.metrics.watch_nats(client.clone()),
            None => self
                .metrics
                .health()
                .add("bus", || rosey_metrics::Check::ready("embedded bus")),
        }
    }

    pub fn watch_db(&self, db: &rosey_dbservice::DbServiceHandle) {
        self.metrics.add_source(db.metrics_source());
        self.metrics.health().add("database", db.readiness());
    }

    /// A bot's metrics and readiness (a lease-mode process's: the channels it holds).
    pub fn watch_bot(&self, source: &rosey_bot::metrics::BotSource, when: rosey_config::ReadyWhen) {
        let source = source.clone();
        self.metrics.add_source(std::sync::Arc::new(source.clone()));
        self.metrics
            .health()
            .add("channels", move || source.check(when));
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// This binary's version and commit.
pub fn build_info(process: &str) -> rosey_metrics::BuildInfo {
    rosey_metrics::BuildInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        commit: env!("ROSEY_GIT_COMMIT").to_string(),
        process: process.to_string(),
    }
}

/// Registers the bot on the NATS micro-service API (`rosey status` finds it); `None` on the
/// embedded bus or when registration fails (logged: the bot runs on without it).
pub async fn serve_bot_status(
    bus: &Bus,
    source: &rosey_bot::metrics::BotSource,
) -> Option<async_nats::service::Service> {
    let client = bus.nats_client()?;
    let info = build_info("bot");
    match rosey_bot::status::serve(client, source.clone(), &info.version, &info.commit).await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "Cannot register the bot's status service; `rosey status` will not list it.");
            None
        }
    }
}

/// Says once, at start-up, which keys of the file Rosey keeps but does not use (a Rosey v0.5
/// file's `plugins`, `shell.host`, `llm`, …), so nobody expects them to do something.
pub fn report_unused(config: &rosey_config::Config) {
    let unused = config.unused_keys();
    if !unused.is_empty() {
        tracing::info!(keys = %unused.join(", "), "Configuration keys kept but not used by Rosey.");
    }
}

/// Raises the soft limit of open files to the hard limit. A bot holds one socket per
/// channel and the dashboard one per viewer, and the usual soft limit (1,024) is far below
/// what 10,000 channels need; the hard limit is the administrator's cap, which stays.
pub fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                eprintln!("rosey: cannot raise the open-file limit from {soft} to {hard}: {e}");
            }
        }
        _ => {}
    }
}
