//! Splitting long outgoing text into lines the server will not cut.
//!
//! CyTube silently truncates chat and PMs at `max-chat-message-length` (320 by default), counted
//! in UTF-16 code units (JavaScript string length). Text is split on whitespace where possible;
//! a single word longer than the limit is cut at a character boundary.
//!
//! CyTube runs a chat line whose first character is `/` as a channel command (`/kick`,
//! `/ban`, `/clear`) with the sender's rank — the bot's. Plain text goes through
//! [`split_chat`], which guards every part: a part that would start with `/` gets
//! [`COMMAND_GUARD`] in front (an invisible character CyTube does not strip), counted in the
//! limit, so no split of any text can ever become a command. [`guard_line`] is the same
//! guard for one line; the wire encoding of plain chat applies it too (`command.rs`).

use std::borrow::Cow;

/// CyTube's default `max-chat-message-length`.
pub const MAX_MESSAGE_UNITS: usize = 320;

/// What goes in front of a plain chat line that would otherwise start with `/`: U+200B
/// ZERO WIDTH SPACE. CyTube checks `msg.indexOf("/") === 0` after turning control characters
/// into spaces and never trims (cytube-protocol.md §4.1); neither JavaScript's `trim` nor
/// Rust's treats U+200B as white space, so no layer in between can remove it, and it shows
/// as nothing.
pub const COMMAND_GUARD: char = '\u{200B}';

/// Would CyTube (or a layer that trims white space or turns control characters into spaces)
/// see `line` as starting with `/`?
pub fn starts_like_command(line: &str) -> bool {
    line.trim_start_matches(|c: char| c.is_whitespace() || c.is_control())
        .starts_with('/')
}

/// `line` as plain text: [`COMMAND_GUARD`] in front when it would start like a command.
pub fn guard_line(line: &str) -> Cow<'_, str> {
    if starts_like_command(line) {
        Cow::Owned(format!("{COMMAND_GUARD}{line}"))
    } else {
        Cow::Borrowed(line)
    }
}

/// Splits plain chat text like [`split_message`], with every part guarded by [`guard_line`]:
/// the guard counts against `max_units`, so each part still fits (for `max_units` ≥ 2).
pub fn split_chat(text: &str, max_units: usize) -> Vec<String> {
    split_with(text, max_units, true)
}

/// Splits `text` into non-empty parts of at most `max_units` UTF-16 code units each.
/// Whitespace-only text gives no parts. `max_units` of 0 is treated as 1.
/// Used as is for PMs (CyTube runs no commands in PMs); chat text goes through
/// [`split_chat`].
pub fn split_message(text: &str, max_units: usize) -> Vec<String> {
    split_with(text, max_units, false)
}

fn split_with(text: &str, max_units: usize, guard: bool) -> Vec<String> {
    let max_units = max_units.max(1);
    let mut parts = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let guarded = guard && starts_like_command(rest);
        let budget = if guarded {
            max_units.saturating_sub(COMMAND_GUARD.len_utf16()).max(1)
        } else {
            max_units
        };
        let push = |parts: &mut Vec<String>, part: &str| {
            parts.push(if guarded {
                format!("{COMMAND_GUARD}{part}")
            } else {
                part.to_owned()
            })
        };
        let (fit_end, fits_all) = longest_fitting_prefix(rest, budget);
        if fits_all {
            push(&mut parts, rest);
            break;
        }
        // Prefer the last whitespace inside the fitting prefix, or exactly at its end.
        let window_end = next_char_end(rest, fit_end);
        let cut = rest[..window_end]
            .char_indices()
            .rev()
            .find(|&(i, c)| c.is_whitespace() && i > 0 && i <= fit_end)
            .map(|(i, _)| i);
        let (part, tail) = match cut {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (&rest[..fit_end], &rest[fit_end..]),
        };
        let part = part.trim_end();
        if !part.is_empty() {
            push(&mut parts, part);
        }
        rest = tail.trim_start();
    }
    parts
}

/// Byte index of the end of the longest prefix with at most `max_units` UTF-16 units (at least one
/// character, so that progress is always made), and whether that is the whole string.
fn longest_fitting_prefix(s: &str, max_units: usize) -> (usize, bool) {
    let mut units = 0;
    for (i, c) in s.char_indices() {
        units += c.len_utf16();
        if units > max_units {
            return (if i == 0 { c.len_utf8() } else { i }, false);
        }
    }
    (s.len(), true)
}

/// The end of the character starting at `i` (or `i` at the end), so that a space right after the
/// fitting prefix can also serve as the cut.
fn next_char_end(s: &str, i: usize) -> usize {
    s[i..].chars().next().map_or(i, |c| i + c.len_utf8())
}

/// Length in UTF-16 code units, as the server counts it.
pub fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(split_message("  hello world ", 320), vec!["hello world"]);
        assert!(split_message(" \n ", 320).is_empty());
    }

    #[test]
    fn splits_on_word_boundaries() {
        assert_eq!(split_message("aaa bbb ccc", 7), vec!["aaa bbb", "ccc"]);
        assert_eq!(split_message("aaa bbb ccc", 6), vec!["aaa", "bbb", "ccc"]);
    }

    #[test]
    fn cuts_words_longer_than_the_limit() {
        assert_eq!(
            split_message("abcdefgh ij", 3),
            vec!["abc", "def", "gh", "ij"]
        );
    }

    #[test]
    fn counts_utf16_units() {
        // U+1F600 is two UTF-16 units: two of them fill a 4-unit line.
        assert_eq!(split_message("😀😀😀", 4), vec!["😀😀", "😀"]);
        assert_eq!(split_message("😀", 1), vec!["😀"]);
    }

    #[test]
    fn a_part_that_would_start_with_a_slash_is_guarded() {
        // Issue 25: 296 letters, then a command the cut would put at the start of part two.
        let text = format!("visitor99: reminder: {} /kick mod2", "A".repeat(296));
        let parts = split_chat(&text, MAX_MESSAGE_UNITS);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1], "\u{200B}/kick mod2");
        assert_eq!(split_chat("/me waves", 320), vec!["\u{200B}/me waves"]);
        assert_eq!(split_chat("  \t/clear", 320), vec!["\u{200B}/clear"]);
        assert_eq!(split_chat("a /b", 320), vec!["a /b"]);
        // The guard counts: "/abc" plus the guard fills 5 units.
        assert_eq!(
            split_chat("/abc /def", 5),
            vec!["\u{200B}/abc", "\u{200B}/def"]
        );
        assert_eq!(split_chat("/abcdef", 4), vec!["\u{200B}/ab", "cdef"]);
        // PMs run no commands: left alone.
        assert_eq!(split_message("/kick x", 320), vec!["/kick x"]);
        assert_eq!(guard_line("hi"), "hi");
        assert_eq!(guard_line("\x01/ban x"), "\u{200B}\x01/ban x");
    }

    proptest! {
        /// No part of any split of any plain text starts like a command, every part fits, and
        /// the text survives (guards aside).
        #[test]
        fn no_part_of_plain_text_starts_with_a_slash(
            text in "([a-z]{0,12}|/[a-z]{0,6}|[ \t\n\x01]|😀|é|\u{200B}){0,80}",
            max in 2usize..40,
        ) {
            let parts = split_chat(&text, max);
            for p in &parts {
                prop_assert!(!starts_like_command(p), "{p:?}");
                prop_assert!(!p.starts_with('/'));
                prop_assert!(utf16_len(p) <= max || p.trim_start_matches(COMMAND_GUARD).chars().count() == 1, "{p:?} > {max}");
            }
            let strip = |s: &str| -> String {
                s.chars().filter(|c| !c.is_whitespace() && *c != COMMAND_GUARD).collect()
            };
            prop_assert_eq!(strip(&parts.concat()), strip(&text));
        }

        #[test]
        fn parts_fit_and_keep_every_word(text in "[a-z😀é \\n]{0,200}", max in 1usize..40) {
            let parts = split_message(&text, max);
            for p in &parts {
                prop_assert!(!p.trim().is_empty());
                // A single char wider than the limit is the only allowed overflow.
                prop_assert!(utf16_len(p) <= max || p.chars().count() == 1);
            }
            let joined: String = parts.concat().split_whitespace().collect();
            let original: String = text.split_whitespace().collect();
            prop_assert_eq!(joined, original);
        }

        #[test]
        fn words_that_fit_are_never_broken(words in proptest::collection::vec("[a-z]{1,10}", 0..30)) {
            let text = words.join(" ");
            let parts = split_message(&text, 10);
            let rejoined: Vec<&str> = parts.iter().flat_map(|p| p.split(' ')).collect();
            prop_assert_eq!(rejoined, words.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }
}
