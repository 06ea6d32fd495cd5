//! Chat and PM text arrives as sanitized HTML (cytube-protocol.md §3.2): this turns it into plain text.
//!
//! Tags are dropped and their text kept (so `<a href="u">u</a>` becomes `u`, `<strong>x</strong>`
//! becomes `x`), then entities are decoded with a full decoder (named and numeric). The order
//! matters: tags are stripped first, so an escaped `&lt;b&gt;` typed by a user survives as the
//! literal text `<b>`.

use std::borrow::Cow;

/// Converts a CyTube `msg` to plain text. Never panics, whatever the input.
pub fn to_plain_text(html: &str) -> String {
    let stripped = strip_tags(html);
    htmlize::unescape(stripped).into_owned()
}

fn strip_tags(html: &str) -> Cow<'_, str> {
    if !html.contains('<') {
        return Cow::Borrowed(html);
    }
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        match after.find('>') {
            Some(close) => {
                let tag = &after[1..close];
                // A line break is the only tag whose meaning is lost when it is removed.
                if is_tag(tag, "br") {
                    out.push(' ');
                }
                rest = &after[close + 1..];
            }
            None => {
                // Not a tag (the server escapes a lone `<`, but be safe): keep it as text.
                out.push_str(after);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn is_tag(inner: &str, name: &str) -> bool {
    let inner = inner.trim_start_matches('/').trim_start();
    // `get` rather than indexing: the cut may fall inside a multi-byte character.
    match (inner.get(..name.len()), inner.get(name.len()..)) {
        (Some(head), Some(tail)) => {
            head.eq_ignore_ascii_case(name)
                && tail
                    .chars()
                    .next()
                    .is_none_or(|c| c.is_whitespace() || c == '/')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_the_documented_example() {
        // The exact escaping produced by sanitize-html 2.8.1 (cytube-protocol.md §3.2).
        let msg = "hello (world) it's \"q\" &lt;b&gt;x&lt;/b&gt; &amp; co";
        assert_eq!(to_plain_text(msg), "hello (world) it's \"q\" <b>x</b> & co");
    }

    #[test]
    fn links_become_their_text() {
        let msg = r#"see <a href="https://x.test/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer">https://x.test/a?b=1&amp;c=2</a> now"#;
        assert_eq!(to_plain_text(msg), "see https://x.test/a?b=1&c=2 now");
    }

    #[test]
    fn filter_tags_are_stripped() {
        assert_eq!(
            to_plain_text(r#"<strong>bold</strong> <em>it</em> <span class="spoiler">s</span>"#),
            "bold it s"
        );
        assert_eq!(to_plain_text("a<br>b<br/>c"), "a b c");
    }

    #[test]
    fn numeric_and_named_entities_are_decoded() {
        assert_eq!(
            to_plain_text("&#40;x&#41; &#x27;y&#39; &eacute; &hearts;"),
            "(x) 'y' é ♥"
        );
    }

    #[test]
    fn multibyte_tag_names_do_not_panic() {
        assert_eq!(to_plain_text("x<bé>y<é>z"), "xyz");
    }

    #[test]
    fn a_lone_angle_bracket_is_kept() {
        assert_eq!(to_plain_text("a < b"), "a < b");
    }

    proptest! {
        #[test]
        fn never_panics(text in "\\PC*") {
            let _ = to_plain_text(&text);
        }

        #[test]
        fn tag_soup_never_panics(text in "([<>/ ]|b|r|a|é|&|#|;|x|[0-9]){0,40}") {
            let _ = to_plain_text(&text);
        }

        #[test]
        fn text_without_markup_is_unchanged(text in "[a-zA-Z0-9 .,!?()'\"]*") {
            prop_assert_eq!(to_plain_text(&text), text);
        }
    }
}
