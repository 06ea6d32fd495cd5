//! `rosey devserver`: a local CyTube-compatible server (SPEC §4.4). Thin: parse the flags
//! into a `DevServerConfig`, start `rosey_devserver::DevServer`, wait for SIGINT/SIGTERM,
//! shut down cleanly.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::{Context, bail};
use rosey_devserver::{Account, DevServer, DevServerConfig};

#[derive(clap::Args, Debug)]
pub struct DevserverArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8880")]
    pub listen: String,
    /// A registered account: NAME:PASSWORD:RANK (repeatable).
    #[arg(long = "user")]
    pub users: Vec<String>,
    /// A channel rank for a name: NAME=RANK (repeatable).
    #[arg(long = "rank")]
    pub ranks: Vec<String>,
    /// A password-protected channel: CHANNEL=PASSWORD (repeatable).
    #[arg(long = "channel-password")]
    pub channel_passwords: Vec<String>,
    /// Chat lines per channel and PMs kept in memory for inspection. Only code that runs
    /// the server in its own process (tests) can read them, so the command keeps none by
    /// default: with 10,000 per channel, ten busy channels grew it by 20 MB (issue 29).
    #[arg(long, default_value_t = 0)]
    pub log_capacity: usize,
    /// Log level.
    #[arg(long)]
    pub log_level: Option<String>,
}

pub async fn run(args: DevserverArgs) -> anyhow::Result<ExitCode> {
    crate::logging::init(args.log_level.as_deref(), "info", false);
    let cfg = config_from_args(&args)?;
    for (name, _) in &cfg.channel_ranks {
        if cfg.account(name).is_none() {
            // CyTube gives channel ranks to accounts only; say so instead of silently
            // ignoring the flag.
            tracing::warn!(%name, "--rank names no --user account; guests always have rank 0.");
        }
    }
    // Install the handlers before anything else so an early SIGTERM still shuts down cleanly.
    let signal = super::common::shutdown_signal();
    let server = DevServer::start(cfg).await?;
    println!("rosey devserver listening on {}", server.base_url());
    println!(
        "  try: curl {}   (socket.io at {}/socket.io/)",
        server.socketconfig_url("test"),
        server.base_url()
    );
    signal.await;
    tracing::info!("Shutting down.");
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Builds the server config from the flags; every error names the flag and its value.
fn config_from_args(args: &DevserverArgs) -> anyhow::Result<DevServerConfig> {
    let listen: SocketAddr = args
        .listen
        .parse()
        .with_context(|| format!("--listen {:?}: expected IP:PORT", args.listen))?;
    let accounts = args
        .users
        .iter()
        .map(|u| parse_user(u))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let channel_ranks = args
        .ranks
        .iter()
        .map(|r| parse_rank(r))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let channel_passwords = args
        .channel_passwords
        .iter()
        .map(|p| parse_channel_password(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(DevServerConfig {
        listen,
        accounts,
        channel_ranks,
        channel_passwords,
        log_capacity: args.log_capacity,
        ..DevServerConfig::default()
    })
}

fn parse_rank_value(flag: &str, raw: &str, value: &str) -> anyhow::Result<f64> {
    let rank: f64 = value
        .trim()
        .parse()
        .with_context(|| format!("{flag} {raw:?}: rank {value:?} is not a number"))?;
    if !rank.is_finite() {
        bail!("{flag} {raw:?}: rank must be a finite number");
    }
    Ok(rank)
}

fn check_name(flag: &str, raw: &str, name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 20
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        bail!("{flag} {raw:?}: name {name:?} must be 1-20 characters of a-z, A-Z, 0-9, - or _");
    }
    Ok(())
}

/// `NAME:PASSWORD:RANK`; the password may itself contain `:`.
fn parse_user(raw: &str) -> anyhow::Result<Account> {
    let (name, rest) = raw
        .split_once(':')
        .with_context(|| format!("--user {raw:?}: expected NAME:PASSWORD:RANK"))?;
    let (password, rank) = rest
        .rsplit_once(':')
        .with_context(|| format!("--user {raw:?}: expected NAME:PASSWORD:RANK"))?;
    check_name("--user", raw, name)?;
    if password.is_empty() {
        bail!("--user {raw:?}: the password must not be empty (an empty one means guest login)");
    }
    Ok(Account {
        name: name.to_owned(),
        password: password.to_owned(),
        rank: parse_rank_value("--user", raw, rank)?,
    })
}

/// `NAME=RANK`.
fn parse_rank(raw: &str) -> anyhow::Result<(String, f64)> {
    let (name, rank) = raw
        .rsplit_once('=')
        .with_context(|| format!("--rank {raw:?}: expected NAME=RANK"))?;
    check_name("--rank", raw, name)?;
    Ok((name.to_owned(), parse_rank_value("--rank", raw, rank)?))
}

/// `CHANNEL=PASSWORD`.
fn parse_channel_password(raw: &str) -> anyhow::Result<(String, String)> {
    let (channel, pw) = raw
        .split_once('=')
        .with_context(|| format!("--channel-password {raw:?}: expected CHANNEL=PASSWORD"))?;
    if channel.is_empty() || pw.is_empty() {
        bail!("--channel-password {raw:?}: channel and password must not be empty");
    }
    Ok((channel.to_ascii_lowercase(), pw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_flag_allows_colons_in_the_password() {
        let a = parse_user("bot:pa:ss:1.5").unwrap();
        assert_eq!(
            (a.name.as_str(), a.password.as_str(), a.rank),
            ("bot", "pa:ss", 1.5)
        );
    }

    #[test]
    fn bad_flags_say_what_is_wrong() {
        let e = parse_user("bot:pw").unwrap_err().to_string();
        assert!(
            e.contains("rank \"pw\" is not a number") || e.contains("NAME:PASSWORD:RANK"),
            "{e}"
        );
        let e = parse_user("bad name:pw:1").unwrap_err().to_string();
        assert!(e.contains("must be 1-20 characters"), "{e}");
        let e = parse_rank("alice").unwrap_err().to_string();
        assert!(e.contains("expected NAME=RANK"), "{e}");
        let e = parse_rank("alice=x").unwrap_err().to_string();
        assert!(e.contains("is not a number"), "{e}");
        assert_eq!(parse_rank("alice=3").unwrap(), ("alice".to_owned(), 3.0));
        assert_eq!(
            parse_channel_password("Secret=pw").unwrap(),
            ("secret".to_owned(), "pw".to_owned())
        );
    }
}
