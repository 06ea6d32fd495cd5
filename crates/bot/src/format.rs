//! Text formatting for the PM shell: durations, timestamps, and splitting replies into
//! chunks the server accepts. Pure functions.

/// CyTube cuts chat and PM text at this many characters (UTF-16 units; see
/// cytube-protocol.md §4.1). Replies are split to stay under it.
pub const MAX_MESSAGE_CHARS: usize = 320;

/// `1d 2h 3m 4s`, non-zero parts only; `0s` for zero (SPEC §5).
pub fn duration(total_seconds: i64) -> String {
    let s = total_seconds.max(0);
    let parts = [
        (s / 86_400, "d"),
        (s % 86_400 / 3_600, "h"),
        (s % 3_600 / 60, "m"),
        (s % 60, "s"),
    ];
    let text: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if text.is_empty() {
        "0s".to_string()
    } else {
        text.join(" ")
    }
}

/// `Hh Mm` (the `Time connected` line of `user <name>`).
pub fn hours_minutes(total_seconds: i64) -> String {
    let s = total_seconds.max(0);
    format!("{}h {}m", s / 3_600, s % 3_600 / 60)
}

/// `YYYY-MM-DD HH:MM` in UTC for an epoch-seconds timestamp.
pub fn timestamp(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        secs / 3_600,
        secs % 3_600 / 60
    )
}

/// `YYYY-MM-DD HH:MM:SS` in UTC (log files).
pub fn timestamp_seconds(epoch: i64) -> String {
    format!("{}:{:02}", timestamp(epoch), epoch.rem_euclid(60))
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian. Written out rather
/// than pulling in a date crate for one line of output (Howard Hinnant's well-known
/// civil-from-days arithmetic).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Splits reply lines into messages of at most `max` characters, joining whole lines with
/// `" | "` where they fit and cutting a too-long line at word boundaries (a word longer than
/// `max` is cut hard). CyTube PMs are single-line, so each chunk is one message.
pub fn chunk_lines(lines: &[String], max: usize) -> Vec<String> {
    const SEP: &str = " | ";
    let mut out = Vec::new();
    let mut current = String::new();
    for line in lines {
        for piece in split_words(line, max) {
            let needed = if current.is_empty() {
                piece.chars().count()
            } else {
                current.chars().count() + SEP.len() + piece.chars().count()
            };
            if needed > max && !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            if !current.is_empty() {
                current.push_str(SEP);
            }
            current.push_str(&piece);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Splits one text into pieces of at most `max` characters at spaces.
pub fn split_words(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut out = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let mut word = word.to_string();
        while word.chars().count() > max {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            let head: String = word.chars().take(max).collect();
            word = word.chars().skip(max).collect();
            out.push(head);
        }
        if word.is_empty() {
            continue;
        }
        let len = current.chars().count();
        if len > 0 && len + 1 + word.chars().count() > max {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(&word);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(3_600), "1h");
        assert_eq!(duration(93_784), "1d 2h 3m 4s");
        assert_eq!(duration(-5), "0s");
        assert_eq!(hours_minutes(3_725), "1h 2m");
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(0), "1970-01-01 00:00");
        assert_eq!(timestamp(1_700_000_000), "2023-11-14 22:13");
        assert_eq!(timestamp(951_782_400), "2000-02-29 00:00");
        assert_eq!(timestamp_seconds(1_700_000_007), "2023-11-14 22:13:27");
    }

    #[test]
    fn chunks_respect_the_limit_and_keep_every_word() {
        let lines: Vec<String> = (0..40)
            .map(|i| format!("line number {i} with some words"))
            .collect();
        let chunks = chunk_lines(&lines, MAX_MESSAGE_CHARS);
        assert!(chunks.len() > 1);
        for c in &chunks {
            assert!(c.chars().count() <= MAX_MESSAGE_CHARS, "{}", c.len());
        }
        let joined = chunks.join(" | ");
        for l in &lines {
            assert!(joined.contains(l.as_str()), "lost {l}");
        }
    }

    #[test]
    fn long_words_are_cut() {
        let w = "x".repeat(700);
        let parts = split_words(&w, 320);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.concat(), w);
        assert_eq!(split_words("a b  c", 3), vec!["a b", "c"]);
    }
}
