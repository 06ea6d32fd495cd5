//! Text normalisation: what makes `f r e e`, `ＦＲＥＥ`, `frеe` (a Cyrillic `е`) and
//! `fr\u{200b}eeee` all read as `free` to the word rules.
//!
//! Two forms of a line:
//! - [`fold`]: Unicode compatibility forms (NFKC), combining and zero-width characters
//!   stripped, confusable letters mapped to their Latin look-alikes, lower case. Punctuation
//!   is kept: the banned *patterns* match here.
//! - [`skeleton`]: the folded line as words of letters and digits only, spaced-out letters
//!   joined (`f r e e` → `free`), repeated letters squeezed to one (`freeee` → `fre`, and
//!   `free` → `fre` too: both sides of a comparison go through it). The banned *words* and
//!   the repeat/raid comparison match here.
//!
//! The confusable table is `decancer`'s (homoglyphs, styled and full-width letters, zalgo);
//! compatibility forms come from `unicode-normalization` and the general category (zero-width
//! format characters) from `unicode-properties`. Only the word joining and squeezing are
//! ours: no crate does those two.

use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Invisible characters that split a word without showing: zero-width spaces and joiners,
/// the soft hyphen, the BOM, bidi marks (all general category Cf), and the grapheme joiner.
fn is_invisible(c: char) -> bool {
    c.general_category() == GeneralCategory::Format || c == '\u{034f}'
}

/// The folded line: compatibility forms, no combining or zero-width characters,
/// confusables as Latin, lower case.
pub fn fold(text: &str) -> String {
    let stripped: String = text
        .nfkc()
        .collect::<String>()
        .nfd()
        .filter(|c| !is_combining_mark(*c) && !is_invisible(*c))
        .collect();
    match decancer::cure(&stripped, decancer::Options::default()) {
        Ok(cured) => cured.into(),
        // Only a malformed bidirectional sequence fails; fold without the reordering.
        Err(_) => match decancer::cure(&stripped, decancer::Options::default().disable_bidi()) {
            Ok(cured) => cured.into(),
            Err(_) => stripped.to_lowercase(),
        },
    }
}

/// The skeleton of an already folded line (see the module doc).
pub fn skeleton_of_folded(folded: &str) -> String {
    let words: Vec<&str> = folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = String::with_capacity(folded.len());
    let mut i = 0;
    while i < words.len() {
        // A run of three or more one-letter words is one spaced-out word.
        let run = words[i..]
            .iter()
            .take_while(|w| w.chars().count() == 1)
            .count();
        let word: String = if run >= 3 {
            let joined = words[i..i + run].concat();
            i += run;
            joined
        } else {
            i += 1;
            words[i - 1].to_string()
        };
        if !out.is_empty() {
            out.push(' ');
        }
        squeeze_into(&word, &mut out);
    }
    out
}

/// The skeleton of a raw line: [`fold`] then [`skeleton_of_folded`].
pub fn skeleton(text: &str) -> String {
    skeleton_of_folded(&fold(text))
}

fn squeeze_into(word: &str, out: &mut String) {
    let mut last = None;
    for c in word.chars() {
        if Some(c) != last {
            out.push(c);
        }
        last = Some(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evasion_spellings_share_one_skeleton() {
        let want = skeleton("free");
        assert_eq!(want, "fre");
        for s in [
            "free",
            "FREE",
            "f r e e",
            "f.r.e.e",
            "ＦＲＥＥ",
            "fr\u{0435}e",  // Cyrillic e
            "fr\u{200b}ee", // zero-width space
            "fre\u{0301}e", // combining acute
            "frééé",        // precomposed accents, repeated
            "FREEEEEEE",    // repeated letters
            "𝐟𝐫𝐞𝐞",         // mathematical bold
            "f\u{00ad}ree", // soft hyphen
        ] {
            assert_eq!(skeleton(s), want, "{s:?}");
        }
    }

    #[test]
    fn words_and_punctuation() {
        assert_eq!(skeleton("Get  FREE stuff!!!"), "get fre stuf");
        assert_eq!(skeleton("get f r e e stuff"), "get fre stuf");
        assert_eq!(fold("Visit Discord.GG/abc"), "visit discord.gg/abc");
        // Two single letters stay two words ("a b" is not a spaced-out word).
        assert_eq!(skeleton("a b test"), "a b test");
        assert_eq!(skeleton(""), "");
        assert_eq!(skeleton("  ...  "), "");
    }

    #[test]
    fn other_scripts_do_not_vanish() {
        assert!(!skeleton("привет всем").is_empty());
        assert!(!skeleton("こんにちは").is_empty());
        assert!(!skeleton("مرحبا").is_empty());
    }
}
