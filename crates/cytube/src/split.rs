//! Splitting long outgoing text into lines the server will not cut.
//!
//! CyTube silently truncates chat and PMs at `max-chat-message-length` (320 by default), counted
//! in UTF-16 code units (JavaScript string length). Text is split on whitespace where possible;
//! a single word longer than the limit is cut at a character boundary.

/// CyTube's default `max-chat-message-length`.
pub const MAX_MESSAGE_UNITS: usize = 320;

/// Splits `text` into non-empty parts of at most `max_units` UTF-16 code units each.
/// Whitespace-only text gives no parts. `max_units` of 0 is treated as 1.
pub fn split_message(text: &str, max_units: usize) -> Vec<String> {
    let max_units = max_units.max(1);
    let mut parts = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (fit_end, fits_all) = longest_fitting_prefix(rest, max_units);
        if fits_all {
            parts.push(rest.to_owned());
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
            parts.push(part.to_owned());
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

    proptest! {
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
