//! Durations as chat shows them: `1d 2h 3m 4s` (non-zero parts, `0s` for zero; SPEC §5's
//! format) and durations typed by users (`90s`, `10m`, `1h30m`).

use std::time::Duration;

/// `1d 2h 3m 4s`. (The bot's shell has the same format in `rosey_bot::shell::format`; a
/// plugin does not depend on the bot, so it keeps these few lines of its own.)
pub fn duration(secs: u64) -> String {
    let parts = [
        (secs / 86_400, "d"),
        (secs / 3600 % 24, "h"),
        (secs / 60 % 60, "m"),
        (secs % 60, "s"),
    ];
    let shown: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n}{u}"))
        .collect();
    if shown.is_empty() {
        "0s".into()
    } else {
        shown.join(" ")
    }
}

/// A typed duration: humantime's syntax (`90s`, `10m`, `1h 30m`, `1h30m`); a bare number
/// is minutes, as reminder commands usually read it.
pub fn parse_duration(s: &str) -> Option<Duration> {
    if let Ok(n) = s.parse::<u64>() {
        return Some(Duration::from_secs(n * 60));
    }
    humantime::parse_duration(s).ok()
}

/// Seconds since `ts` (epoch seconds), never negative.
pub fn age(ts: f64) -> u64 {
    (now() - ts).max(0.0) as u64
}

/// Epoch seconds now.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_both_ways() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(93_784), "1d 2h 3m 4s");
        assert_eq!(duration(3600), "1h");
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("5"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("soon"), None);
    }
}
