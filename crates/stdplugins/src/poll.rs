//! `!poll <title> | <option> | <option>...` (rank 2 and up): opens a poll through the
//! server's own poll feature (the bot needs the poll permission in the channel).

use rosey_plugin::{CommandSpec, Plugin, PollSpec, Reply};

use crate::VERSION;

/// The most options one poll may have.
pub const MAX_OPTIONS: usize = 10;

/// `title | a | b` → (title, options); at least two options.
pub fn parse(args: &str) -> Option<(String, Vec<String>)> {
    let mut parts = args
        .split('|')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(String::from);
    let title = parts.next()?;
    let options: Vec<String> = parts.collect();
    (2..=MAX_OPTIONS)
        .contains(&options.len())
        .then_some((title, options))
}

pub fn plugin() -> Plugin {
    Plugin::new("poll", VERSION)
        .description("Opens a poll: !poll title | a | b")
        .command(
            CommandSpec::new("poll", "Opens a poll in the channel.")
                .usage("!poll <title> | <option> | <option>")
                .min_rank(2.0),
            |req| async move {
                match parse(&req.args) {
                    Some((title, options)) => Reply {
                        poll: Some(PollSpec { title, options }),
                        ..Reply::none()
                    },
                    None => Reply::error(format!(
                        "Usage: {}poll <title> | <option> | <option> (2 to {MAX_OPTIONS} options)",
                        req.prefix
                    )),
                }
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_arguments() {
        assert_eq!(
            parse("Pizza? | yes | no"),
            Some(("Pizza?".into(), vec!["yes".into(), "no".into()]))
        );
        assert_eq!(parse("Pizza? | yes"), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse(&format!("t{}", " | x".repeat(11))), None);
    }
}
