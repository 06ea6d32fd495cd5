//! The runtime: [`Plugin`] registers a plugin's micro service with one endpoint per command
//! and calls the command's handler for each request, each in its own task, so one slow
//! request never holds up the next. A request that does not decode gets an error reply
//! (and counts as an endpoint error in `$SRV.STATS`); it never ends the plugin.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use futures::future::BoxFuture;

use crate::protocol::{
    ANNOUNCE_SUBJECT, CommandInfo, CommandRequest, META_HELP, META_MIN_RANK, META_PM,
    META_PROTOCOL, META_USAGE, PROTOCOL_VERSION, Reply, command_subject, valid_name,
};

type Handler = Arc<dyn Fn(CommandRequest) -> BoxFuture<'static, Reply> + Send + Sync>;

/// What can stop a plugin from starting.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("invalid name `{0}`: use letters, digits, `_` and `-` (at most 64)")]
    Name(String),
    #[error("plugin `{name}` declares no command")]
    NoCommands { name: String },
    #[error("cannot register plugin `{name}` on NATS: {reason}")]
    Register { name: String, reason: String },
}

/// One command's declaration: its name, help line, usage line and minimum rank.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    pub name: String,
    pub help: String,
    pub usage: String,
    pub min_rank: f64,
    pub pm: bool,
}

impl CommandSpec {
    /// A command anyone may run; usage defaults to `!<name>`.
    pub fn new(name: impl Into<String>, help: impl Into<String>) -> Self {
        let name = name.into();
        CommandSpec {
            usage: format!("!{name}"),
            name,
            help: help.into(),
            min_rank: 0.0,
            pm: false,
        }
    }

    /// The usage line (`!roll NdM`).
    pub fn usage(mut self, usage: impl Into<String>) -> Self {
        self.usage = usage.into();
        self
    }

    /// The lowest rank that may run it (the bot enforces it).
    pub fn min_rank(mut self, rank: f64) -> Self {
        self.min_rank = rank;
        self
    }

    /// Also take the command by PM (answered by PM).
    pub fn pm(mut self, pm: bool) -> Self {
        self.pm = pm;
        self
    }
}

/// A plugin under construction.
pub struct Plugin {
    name: String,
    version: String,
    description: String,
    commands: Vec<(CommandSpec, Handler)>,
}

/// A plugin serving requests; stop it with [`RunningPlugin::stop`] (or drop the client).
pub struct RunningPlugin {
    service: async_nats::service::Service,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Plugin {
    /// A plugin named `name` (its micro-service name) at `version` (semver).
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Plugin {
            name: name.into(),
            version: version.into(),
            description: String::new(),
            commands: Vec::new(),
        }
    }

    /// One line about the plugin (shown by `rosey plugins list`).
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = d.into();
        self
    }

    /// Adds a command and its handler.
    pub fn command<F, Fut>(mut self, spec: CommandSpec, handler: F) -> Self
    where
        F: Fn(CommandRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reply> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |req| Box::pin(handler(req)));
        self.commands.push((spec, handler));
        self
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its commands as discovery would show them (for a process that lists its own plugins).
    pub fn command_infos(&self) -> Vec<CommandInfo> {
        self.commands
            .iter()
            .map(|(spec, _)| CommandInfo {
                name: spec.name.clone(),
                subject: command_subject(&self.name, &spec.name),
                help: spec.help.clone(),
                usage: spec.usage.clone(),
                min_rank: spec.min_rank,
                pm: spec.pm,
            })
            .collect()
    }

    /// Registers the service and starts serving; returns once the endpoints are subscribed.
    pub async fn start(self, client: &async_nats::Client) -> Result<RunningPlugin, PluginError> {
        use async_nats::service::ServiceExt;
        if !valid_name(&self.name) {
            return Err(PluginError::Name(self.name));
        }
        if self.commands.is_empty() {
            return Err(PluginError::NoCommands { name: self.name });
        }
        for (spec, _) in &self.commands {
            if !valid_name(&spec.name) {
                return Err(PluginError::Name(spec.name.clone()));
            }
        }
        let name = self.name.clone();
        let err = |e: async_nats::Error| PluginError::Register {
            name: name.clone(),
            reason: e.to_string(),
        };
        let service = client
            .service_builder()
            .description(&self.description)
            .metadata(HashMap::from([(
                META_PROTOCOL.to_string(),
                PROTOCOL_VERSION.to_string(),
            )]))
            .start(&self.name, &self.version)
            .await
            .map_err(err)?;
        let mut tasks = Vec::new();
        for (spec, handler) in self.commands {
            let endpoint = service
                .endpoint_builder()
                .name(&spec.name)
                .metadata(HashMap::from([
                    (META_HELP.to_string(), spec.help.clone()),
                    (META_USAGE.to_string(), spec.usage.clone()),
                    (META_MIN_RANK.to_string(), spec.min_rank.to_string()),
                    (META_PM.to_string(), spec.pm.to_string()),
                ]))
                .add(command_subject(&self.name, &spec.name))
                .await
                .map_err(err)?;
            tasks.push(tokio::spawn(serve(endpoint, handler)));
        }
        client
            .publish(ANNOUNCE_SUBJECT, self.name.clone().into())
            .await
            .map_err(|e| err(Box::new(e) as async_nats::Error))?;
        client
            .flush()
            .await
            .map_err(|e| err(Box::new(e) as async_nats::Error))?;
        tracing::info!(plugin = %self.name, version = %self.version, "Plugin registered.");
        Ok(RunningPlugin { service, tasks })
    }

    /// Starts and serves until the connection closes.
    pub async fn run(self, client: &async_nats::Client) -> Result<(), PluginError> {
        let running = self.start(client).await?;
        for t in running.tasks {
            let _ = t.await;
        }
        Ok(())
    }
}

impl RunningPlugin {
    /// Unregisters the service and stops serving.
    pub async fn stop(self) {
        for t in &self.tasks {
            t.abort();
        }
        let _ = self.service.stop().await;
    }
}

async fn serve(mut endpoint: async_nats::service::endpoint::Endpoint, handler: Handler) {
    while let Some(request) = endpoint.next().await {
        let handler = handler.clone();
        tokio::spawn(async move {
            let response = match serde_json::from_slice::<CommandRequest>(&request.message.payload)
            {
                Ok(req) => Ok(bytes::Bytes::from(rosey_model::encode(&handler(req).await))),
                Err(e) => Err(async_nats::service::error::Error {
                    status: format!("bad command request: {e}"),
                    code: 400,
                }),
            };
            if let Err(e) = request.respond(response).await {
                tracing::debug!(error = %e, "Could not answer a command.");
            }
        });
    }
}
