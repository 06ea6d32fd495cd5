//! `rosey-db` — the database service alone: `rosey-db [CONFIG] [--db-path …] [--nats-url …]`
//! is `rosey db-service` with the same flags, configuration and exit codes, in a small
//! executable (it links the service, not the bot, the web dashboard, the devserver or the
//! bench), so an idle service keeps little resident. The deployment files run it; `rosey
//! db-service` and `rosey run` stay for one-binary installs.

use std::process::ExitCode;

use clap::Parser;
use rosey::cmd::db_service::{self, DbServiceArgs};

#[derive(Parser, Debug)]
#[command(
    name = "rosey-db",
    version = rosey::VERSION,
    about = "Rosey's database service (what `rosey db-service` runs), as a small binary"
)]
struct Cli {
    #[command(flatten)]
    service: DbServiceArgs,
    /// Only parse the command line: exit 0 when it is valid, 2 with the usage error otherwise.
    #[arg(long, hide = true)]
    check_args: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.check_args {
        return ExitCode::SUCCESS;
    }
    rosey::block_on(db_service::run(cli.service))
}
