//! `!roll`, `!8ball`, `!choose`: no state, no bus; the parsing is pure and tested here.

use rand::Rng;
use rosey_plugin::{CommandSpec, Plugin, Reply};

use crate::VERSION;

/// The most dice one roll throws.
pub const MAX_DICE: u32 = 100;
/// The most sides a die may have.
pub const MAX_SIDES: u32 = 1000;
/// Rolls of up to this many dice list every die.
const LIST_UP_TO: u32 = 10;

/// `NdM`, `dM`, `M` or nothing (1d6) → (dice, sides).
pub fn parse_dice(args: &str) -> Option<(u32, u32)> {
    let a = args.trim().to_lowercase();
    if a.is_empty() {
        return Some((1, 6));
    }
    let (n, m) = match a.split_once('d') {
        Some(("", m)) => (1, m.parse().ok()?),
        Some((n, m)) => (n.parse().ok()?, m.parse().ok()?),
        None => (1, a.parse().ok()?),
    };
    ((1..=MAX_DICE).contains(&n) && (2..=MAX_SIDES).contains(&m)).then_some((n, m))
}

/// The line for `user` rolling `n` dice of `m` sides with `rolls`.
pub fn roll_line(user: &str, n: u32, m: u32, rolls: &[u32]) -> String {
    let total: u64 = rolls.iter().map(|&r| r as u64).sum();
    if n == 1 {
        format!("{user} rolled 1d{m}: {total}")
    } else if n <= LIST_UP_TO {
        let each: Vec<String> = rolls.iter().map(u32::to_string).collect();
        format!("{user} rolled {n}d{m}: {} = {total}", each.join(" + "))
    } else {
        format!("{user} rolled {n}d{m}: {total}")
    }
}

/// `!roll NdM`.
pub fn dice() -> Plugin {
    Plugin::new("dice", VERSION)
        .description("Dice: !roll NdM")
        .command(
            CommandSpec::new("roll", "Rolls dice: N dice of M sides (default 1d6).")
                .usage("!roll NdM"),
            |req| async move {
                let Some((n, m)) = parse_dice(&req.args) else {
                    return Reply::error(format!(
                        "Usage: {}roll NdM, e.g. {}roll 2d6 (1-{MAX_DICE} dice, 2-{MAX_SIDES} sides)",
                        req.prefix, req.prefix
                    ));
                };
                let mut rng = rand::rng();
                let rolls: Vec<u32> = (0..n).map(|_| rng.random_range(1..=m)).collect();
                Reply::chat(roll_line(&req.user, n, m, &rolls))
            },
        )
}

/// The Magic 8-Ball's answers (our own wording): yes, maybe, no.
pub const EIGHTBALL: [&str; 15] = [
    "Yes, without a doubt.",
    "It is certain.",
    "Count on it.",
    "Signs point to yes.",
    "Most likely.",
    "Ask again later.",
    "The mists are too thick to say.",
    "Better not tell you now.",
    "Hard to tell; try once more.",
    "Concentrate and ask again.",
    "Don't count on it.",
    "My answer is no.",
    "Very doubtful.",
    "The outlook is grim.",
    "No way.",
];

/// `!8ball <question>`.
pub fn eightball() -> Plugin {
    Plugin::new("eightball", VERSION)
        .description("The Magic 8-Ball: !8ball <question>")
        .command(
            CommandSpec::new("8ball", "Answers a yes-or-no question.").usage("!8ball <question>"),
            |req| async move {
                if req.args.is_empty() {
                    return Reply::error(format!("Usage: {}8ball <question>", req.prefix));
                }
                let i = rand::rng().random_range(0..EIGHTBALL.len());
                Reply::chat(format!("{}: 🎱 {}", req.user, EIGHTBALL[i]))
            },
        )
}

/// The options of `!choose`: split on `|`, else on `,`, else on white space; empty ones
/// dropped. At least two are needed.
pub fn choices(args: &str) -> Option<Vec<&str>> {
    let parts: Vec<&str> = if args.contains('|') {
        args.split('|').collect()
    } else if args.contains(',') {
        args.split(',').collect()
    } else {
        args.split_whitespace().collect()
    };
    let parts: Vec<&str> = parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    (parts.len() >= 2).then_some(parts)
}

/// `!choose a|b|c`.
pub fn choose() -> Plugin {
    Plugin::new("choose", VERSION)
        .description("Picks one: !choose a|b|c")
        .command(
            CommandSpec::new("choose", "Picks one of the options.").usage("!choose a|b|c"),
            |req| async move {
                let Some(options) = choices(&req.args) else {
                    return Reply::error(format!(
                        "Usage: {}choose a|b|c (two or more options)",
                        req.prefix
                    ));
                };
                let i = rand::rng().random_range(0..options.len());
                Reply::chat(format!("{}: {}", req.user, options[i]))
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dice_notation() {
        assert_eq!(parse_dice(""), Some((1, 6)));
        assert_eq!(parse_dice("2d6"), Some((2, 6)));
        assert_eq!(parse_dice("D20"), Some((1, 20)));
        assert_eq!(parse_dice("20"), Some((1, 20)));
        for bad in ["0d6", "101d6", "2d1", "2d1001", "xdy", "2d", "d", "-1d6"] {
            assert_eq!(parse_dice(bad), None, "{bad}");
        }
        assert_eq!(roll_line("a", 2, 6, &[3, 5]), "a rolled 2d6: 3 + 5 = 8");
        assert_eq!(roll_line("a", 1, 20, &[7]), "a rolled 1d20: 7");
        assert_eq!(roll_line("a", 11, 2, &[1; 11]), "a rolled 11d2: 11");
    }

    #[test]
    fn choice_lists() {
        assert_eq!(choices("a | b|c"), Some(vec!["a", "b", "c"]));
        assert_eq!(choices("pizza, tacos"), Some(vec!["pizza", "tacos"]));
        assert_eq!(choices("x y"), Some(vec!["x", "y"]));
        assert_eq!(choices("only"), None);
        assert_eq!(choices("a||"), None);
    }
}
