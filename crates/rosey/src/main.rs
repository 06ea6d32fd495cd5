//! `rosey` — the binary with every command. Thin by design: parse flags, hand over to the
//! subcommand (each in its own file under `cmd/`, in this package's library, which the lean
//! `rosey-db` binary shares).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rosey::{VERSION, cmd};

#[derive(Parser, Debug)]
#[command(
    name = "rosey",
    version = VERSION,
    about = "Rosey: a CyTube chat bot built as small services on a NATS bus"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Only parse the command line: exit 0 when it is valid, 2 with the usage error otherwise.
    /// Run nothing. The tests check the deployment files' command lines with it.
    #[arg(long, global = true, hide = true)]
    check_args: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the bot for every enabled channel (and the database service when `database.run_as_service`).
    Run(cmd::run::RunArgs),
    /// Run the bot only (needs a NATS server and a database service somewhere).
    Bot(cmd::run::BotArgs),
    /// Run the database service in the foreground.
    DbService(cmd::db_service::DbServiceArgs),
    /// Database tools: `rosey db copy --from bot_data.db --to postgres://…`.
    #[command(subcommand)]
    Db(cmd::db::DbCommand),
    /// Validate or migrate configuration files.
    #[command(subcommand)]
    Config(cmd::config::ConfigCommand),
    /// Ask the database service for channel or user statistics.
    Stats(cmd::stats::StatsArgs),
    /// Every Rosey process on the bus: database services and bots, their channels and health.
    Status(cmd::status::StatusArgs),
    /// Queue an outbound chat message (the bot sends it, with retries).
    Say(cmd::stats::SayArgs),
    /// A local CyTube-compatible server for offline development, demos and tests.
    Devserver(cmd::devserver::DevserverArgs),
    /// Devserver + simulated chatters + bot + database service in one process; no network needed.
    Demo(cmd::run::DemoArgs),
    /// The benchmark suite.
    Bench(cmd::bench::BenchArgs),
    /// The whole system on loopback under a seeded fault schedule, with exact accounting.
    Soak(cmd::soak::SoakArgs),
    /// The web dashboard and the v0.5 HTTP API, a client of the bus.
    Web(cmd::web::WebArgs),
    /// API tokens for the HTTP API: create (shown once), list, revoke.
    #[command(subcommand)]
    Token(cmd::web::TokenCommand),
    /// The standard chat-command plugins (`rosey plugins [CONFIG]`), or `rosey plugins list`.
    Plugins(cmd::plugins::PluginsArgs),
    /// The automated moderator (`rosey moderator CONFIG`): rules over the chat, acting
    /// through the bot in escalating steps.
    Moderator(cmd::moderator::ModeratorArgs),
    /// The moderator's decisions (`rosey moderation log [--channel] [--since]`) and state.
    #[command(subcommand)]
    Moderation(cmd::moderator::ModerationCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.check_args {
        return ExitCode::SUCCESS;
    }
    cmd::common::raise_fd_limit();
    rosey::block_on(async move {
        match cli.command {
            Command::Run(a) => cmd::run::run(a).await,
            Command::Bot(a) => cmd::run::bot(a).await,
            Command::DbService(a) => cmd::db_service::run(a).await,
            Command::Db(c) => cmd::db::run(c).await,
            Command::Config(c) => cmd::config::run(c).await,
            Command::Stats(a) => cmd::stats::stats(a).await,
            Command::Say(a) => cmd::stats::say(a).await,
            Command::Status(a) => cmd::status::status(a).await,
            Command::Devserver(a) => cmd::devserver::run(a).await,
            Command::Demo(a) => cmd::run::demo(a).await,
            Command::Bench(a) => cmd::bench::run(a).await,
            Command::Soak(a) => cmd::soak::run(a).await,
            Command::Web(a) => cmd::web::run(a).await,
            Command::Token(c) => cmd::web::token(c).await,
            Command::Plugins(a) => cmd::plugins::run(a).await,
            Command::Moderator(a) => cmd::moderator::run(a).await,
            Command::Moderation(c) => cmd::moderator::moderation(c).await,
        }
    })
}
