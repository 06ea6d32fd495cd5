//! Text rules of CyTube: message truncation (UTF-16 units), control-character stripping,
//! the net HTML escaping of chat/PM text (protocol doc §3.2), link wrapping, and name checks.
//! Pure functions only; no state, no I/O.

/// CyTube's default `max-chat-message-length`.
pub const MAX_CHAT_LEN: usize = 320;

/// Cuts `s` to at most `max` UTF-16 code units, as JavaScript's `substring(0, max)` does.
/// A surrogate pair that would be split is dropped whole, so the result stays valid UTF-8.
pub fn truncate_utf16(s: &str, max: usize) -> String {
    let mut units = 0;
    let mut out = String::with_capacity(s.len().min(max * 4));
    for c in s.chars() {
        let n = c.len_utf16();
        if units + n > max {
            break;
        }
        units += n;
        out.push(c);
    }
    out
}

/// Replaces `\x00-\x1f` by a space (CyTube does this unless `allow_ascii_control`).
pub fn strip_control(s: &str) -> String {
    s.chars()
        .map(|c| if (c as u32) < 0x20 { ' ' } else { c })
        .collect()
}

/// The escaping a client observes after CyTube's escape + sanitize-html round trip: only
/// `& < >` are encoded; quotes, apostrophes and parentheses come out plain.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// CyTube's `sanitizeText` alone (no sanitize-html round trip), as poll titles and options
/// get it: `& < > " ' ( )` become entities, so `&#40;` and friends stay in the text.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '(' => out.push_str("&#40;"),
            ')' => out.push_str("&#41;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes `s` and wraps URLs (`\w+://host[:port][/path]`) in the `<a>` tag CyTube's
/// `enable_link_regex` produces. The input is raw text; the output is the wire `msg`.
pub fn format_message(raw: &str, link_regex: bool) -> String {
    if !link_regex {
        return escape_html(raw);
    }
    let mut out = String::with_capacity(raw.len() + 16);
    let mut rest = raw;
    while let Some((start, end)) = find_url(rest) {
        out.push_str(&escape_html(&rest[..start]));
        let url = escape_html(&rest[start..end]);
        out.push_str(&format!(
            "<a href=\"{url}\" target=\"_blank\" rel=\"noopener noreferrer\">{url}</a>"
        ));
        rest = &rest[end..];
    }
    out.push_str(&escape_html(rest));
    out
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Finds the first URL in `s` as a byte range, following CyTube's link regex:
/// `\w+://(?:[^:/\[\]\s]+|\[[0-9a-f:]+\])(?::\d+)?(?:/[^/\s]*)*`.
fn find_url(s: &str) -> Option<(usize, usize)> {
    let mut search_from = 0;
    while let Some(pos) = s[search_from..].find("://") {
        let sep = search_from + pos;
        // Scheme: the run of word characters before "://".
        let start = s[..sep]
            .char_indices()
            .rev()
            .take_while(|(_, c)| is_word(*c))
            .last()
            .map(|(i, _)| i);
        let host_start = sep + 3;
        let host_len: usize = s[host_start..]
            .chars()
            .take_while(|c| !matches!(c, ':' | '/' | '[' | ']') && !c.is_whitespace())
            .map(char::len_utf8)
            .sum();
        match start {
            Some(start) if host_len > 0 => {
                let mut end = host_start + host_len;
                // Optional :port.
                if s[end..].starts_with(':') {
                    let digits = s[end + 1..]
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .count();
                    if digits > 0 {
                        end += 1 + digits;
                    }
                }
                // Path: any run of non-whitespace starting with '/'.
                if s[end..].starts_with('/') {
                    end += s[end..]
                        .chars()
                        .take_while(|c| !c.is_whitespace())
                        .map(char::len_utf8)
                        .sum::<usize>();
                }
                return Some((start, end));
            }
            _ => search_from = host_start,
        }
    }
    None
}

/// CyTube's channel-name rule `^[\w-]{1,30}$`.
pub fn valid_channel_name(s: &str) -> bool {
    valid_name(s, 30)
}

/// CyTube's user-name rule `^[\w-]{1,20}$`.
pub fn valid_user_name(s: &str) -> bool {
    valid_name(s, 20)
}

fn valid_name(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.chars().all(|c| is_word(c) || c == '-')
}

/// CyTube's default reserved names: any name with `admin`, `administrator` or `owner` as a
/// `-`/`_`-separated word (case-insensitive).
pub fn is_reserved_name(s: &str) -> bool {
    s.to_ascii_lowercase()
        .split(['-', '_'])
        .any(|w| matches!(w, "admin" | "administrator" | "owner"))
}

/// The look-alike key CyTube uses to stop guests impersonating accounts: I/l/1, o/0 and -/_
/// are treated as equal (case-insensitive).
pub fn name_dedupe_key(s: &str) -> String {
    s.to_ascii_lowercase()
        .chars()
        .map(|c| match c {
            'i' | 'l' | '1' => '1',
            'o' | '0' => '0',
            '-' | '_' => '_',
            c => c,
        })
        .collect()
}

/// Formats seconds as CyTube does (`"mm:ss"` or `"hh:mm:ss"`; `"--:--"` for live/zero).
pub fn format_duration(secs: u64) -> String {
    if secs == 0 {
        return "--:--".to_owned();
    }
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if h > 0 {
        format!("{h:02}:{m:02}:{s:02}")
    } else {
        format!("{m:02}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_matches_the_protocol_example() {
        assert_eq!(
            escape_html(r#"hello (world) it's "q" <b>x</b> & co"#),
            r#"hello (world) it's "q" &lt;b&gt;x&lt;/b&gt; &amp; co"#
        );
    }

    #[test]
    fn truncation_counts_utf16_units() {
        let s = "a".repeat(400);
        assert_eq!(truncate_utf16(&s, 320).len(), 320);
        // U+1F600 is two UTF-16 units: 160 of them fill 320 units exactly.
        let emoji = "\u{1F600}".repeat(200);
        assert_eq!(truncate_utf16(&emoji, 320).chars().count(), 160);
        // A pair that would straddle the limit is dropped, not split.
        let odd = format!("a{}", "\u{1F600}".repeat(200));
        assert_eq!(truncate_utf16(&odd, 320).encode_utf16().count(), 319);
    }

    #[test]
    fn control_characters_become_spaces() {
        assert_eq!(strip_control("a\nb\tc\x00d"), "a b c d");
    }

    #[test]
    fn links_are_wrapped() {
        assert_eq!(
            format_message("see https://example.com/a?b=1&c=2 now", true),
            "see <a href=\"https://example.com/a?b=1&amp;c=2\" target=\"_blank\" \
             rel=\"noopener noreferrer\">https://example.com/a?b=1&amp;c=2</a> now"
        );
        assert_eq!(format_message("no :// link", true), "no :// link");
        assert_eq!(format_message("x https://h", false), "x https://h");
    }

    #[test]
    fn names() {
        assert!(valid_user_name("Bot_1-x"));
        assert!(!valid_user_name("bad name"));
        assert!(!valid_user_name(&"a".repeat(21)));
        assert!(valid_channel_name(&"a".repeat(30)));
        assert!(!valid_channel_name("ch.json"));
        assert!(is_reserved_name("bot-admin"));
        assert!(is_reserved_name("Owner"));
        assert!(!is_reserved_name("badminton"));
        assert_eq!(name_dedupe_key("Ali-ce0"), name_dedupe_key("a1i_ceo"));
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(65), "01:05");
        assert_eq!(format_duration(3725), "01:02:05");
        assert_eq!(format_duration(0), "--:--");
    }
}
