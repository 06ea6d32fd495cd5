//! Long text → lines that fit one IRC message: at most `max` bytes of UTF-8 each, cut at a
//! space where one is near the end, never inside a character; line breaks start a new line
//! (IRC lines cannot contain them); empty lines are dropped. Pure; property-tested.

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

    proptest! {
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
