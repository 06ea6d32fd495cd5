//! Long text → lines that fit one IRC message: at most `max` bytes of UTF-8 each, cut at a
//! space where one is near the end, never inside a character; line breaks start a new line
//! (IRC lines cannot contain them); empty lines are dropped. Pure; property-tested.
//!
//! [`split_plain`] is the form for text the bot says: CTCP delimiters (`\x01`) and NULs go
//! too, so no piece is a CTCP request (`\x01DCC …\x01`, a fake `ACTION`) and, with the line
//! breaks gone, no piece can end the `PRIVMSG` early and start a raw command.

/// CTCP's delimiter: a message wrapped in it is a CTCP request, not text.
pub const CTCP_DELIMITER: char = '\x01';

/// Plain text → pieces for `PRIVMSG`: [`split_text`] after dropping CTCP delimiters and NULs.
pub fn split_plain(text: &str, max: usize) -> Vec<String> {
    let clean: String = text
        .chars()
        .filter(|c| *c != CTCP_DELIMITER && *c != '\0')
        .collect();
    split_text(&clean, max)
}

/// Splits `text` into pieces of at most `max` bytes (`max` ≥ 4, room for any character).
pub fn split_text(text: &str, max: usize) -> Vec<String> {
    let max = max.max(4);
    let mut out = Vec::new();
    for line in text.split(['\n', '\r']) {
        let mut rest = line.trim_end();
        while !rest.is_empty() {
            if rest.len() <= max {
                out.push(rest.to_string());
                break;
            }
            // The longest prefix on a character boundary…
            let mut cut = max;
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            // …shortened to the last space in its second half, if there is one.
            if let Some(space) = rest[..cut].rfind(' ')
                && space >= cut / 2
            {
                cut = space;
            }
            let (head, tail) = rest.split_at(cut);
            let head = head.trim_end();
            if !head.is_empty() {
                out.push(head.to_string());
            }
            rest = tail.trim_start_matches(' ');
        }
    }
    out.retain(|l| !l.trim().is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_text_is_one_line() {
        assert_eq!(split_text("hello", 10), vec!["hello"]);
        assert!(split_text("   ", 10).is_empty());
        assert_eq!(split_text("a\nb\r\n\nc", 10), vec!["a", "b", "c"]);
    }

    #[test]
    fn cuts_at_spaces_and_never_inside_characters() {
        assert_eq!(
            split_text("one two three four", 9),
            vec!["one two", "three", "four"]
        );
        // "é" is two bytes: a 5-byte limit cannot take three of them.
        assert_eq!(split_text("éééé", 5), vec!["éé", "éé"]);
    }

    #[test]
    fn plain_text_loses_ctcp_delimiters() {
        assert_eq!(
            split_plain("\x01DCC SEND x 1 2 3\x01", 100),
            vec!["DCC SEND x 1 2 3"]
        );
        assert_eq!(
            split_plain("hi\r\nKICK #c op :bye", 100),
            vec!["hi", "KICK #c op :bye"]
        );
    }

    proptest! {
        /// Whatever the text, every piece is one `PRIVMSG` line to the target: the line
        /// parses back as that `PRIVMSG` with the piece as its text, has one line end, and
        /// holds no CTCP delimiter.
        #[test]
        fn plain_pieces_are_never_raw_commands(
            text in "([a-zA-Z:#/ ]{0,8}|\r|\n|\r\n|\x01|\x00|é|😀|QUIT :x|KICK #c y){0,40}",
            max in 4usize..60,
        ) {
            for piece in split_plain(&text, max) {
                prop_assert!(!piece.contains(['\r', '\n', '\0', CTCP_DELIMITER]), "{piece:?}");
                let line = crate::message::Message::new("PRIVMSG", &["#c", &piece]).to_line();
                prop_assert_eq!(line.matches("\r\n").count(), 1);
                prop_assert!(line.ends_with("\r\n"));
                let back = crate::message::Message::parse(&line).unwrap();
                prop_assert_eq!(back.command.as_str(), "PRIVMSG");
                prop_assert_eq!(back.params.clone(), vec!["#c".to_string(), piece.clone()]);
            }
        }

        #[test]
        fn pieces_fit_and_keep_every_word(text in "[a-zé€😀 ]{0,300}", max in 4usize..60) {
            let pieces = split_text(&text, max);
            for p in &pieces {
                prop_assert!(p.len() <= max, "{} > {}", p.len(), max);
                prop_assert!(!p.is_empty());
            }
            let joined: String = pieces.concat().chars().filter(|c| *c != ' ').collect();
            let original: String = text.chars().filter(|c| *c != ' ').collect();
            prop_assert_eq!(joined, original);
        }
    }
}
