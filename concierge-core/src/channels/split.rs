//! Splitting long replies into parts that fit a channel's message limit.
//!
//! Limits count Unicode scalar values (what Meta and Discord count as "characters"). A part
//! never ends inside a grapheme cluster (an emoji with its modifiers, a letter with its
//! combining marks), and where a part must end, it ends after whitespace when any fits, so
//! words stay whole. Concatenating the parts gives back the original text exactly.

use unicode_segmentation::UnicodeSegmentation;

/// WhatsApp's limit for a text message body.
pub const WHATSAPP_MAX_CHARS: usize = 4096;
/// Instagram's limit for a text message.
pub const INSTAGRAM_MAX_CHARS: usize = 1000;
/// Discord's limit for a message's `content`.
pub const DISCORD_MAX_CHARS: usize = 2000;

/// Splits `text` into parts of at most `max_chars` characters each.
///
/// Returns no parts for empty text. A single grapheme longer than `max_chars` (only possible
/// with absurdly small limits or pathological combining sequences) becomes a part of its own
/// rather than being cut. `max_chars = 0` is treated as 1.
pub fn split_message(text: &str, max_chars: usize) -> Vec<String> {
    let max = max_chars.max(1);
    let mut parts = Vec::new();
    if text.is_empty() {
        return parts;
    }
    if text.chars().count() <= max {
        parts.push(text.to_owned());
        return parts;
    }

    let mut start = 0usize; // byte offset of the current part's start
    let mut chars = 0usize; // chars in the current part
    let mut last_break: Option<usize> = None; // byte offset just after the last whitespace grapheme
    for (offset, grapheme) in text.grapheme_indices(true) {
        let width = grapheme.chars().count();
        while chars + width > max && offset > start {
            let cut = match last_break {
                Some(b) if b > start => b,
                _ => offset,
            };
            parts.push(text[start..cut].to_owned());
            chars = text[cut..offset].chars().count();
            start = cut;
            last_break = None;
        }
        chars += width;
        if grapheme.chars().all(char::is_whitespace) {
            last_break = Some(offset + grapheme.len());
        }
    }
    if start < text.len() {
        parts.push(text[start..].to_owned());
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(split_message("hello", 10), vec!["hello"]);
        assert!(split_message("", 10).is_empty());
    }

    #[test]
    fn splits_after_whitespace_so_words_stay_whole() {
        let parts = split_message("one two three four", 9);
        assert_eq!(parts, vec!["one two ", "three ", "four"]);
    }

    #[test]
    fn a_word_longer_than_the_limit_is_cut_on_a_grapheme_boundary() {
        let parts = split_message("abcdefghij", 4);
        assert_eq!(parts, vec!["abcd", "efgh", "ij"]);
    }

    #[test]
    fn emoji_with_modifiers_is_never_cut() {
        // 👍🏽 is two chars forming one grapheme.
        let text = "ab👍🏽cd";
        for part in split_message(text, 3) {
            assert!(
                !part.starts_with('\u{1F3FD}'),
                "cut inside a grapheme: {part:?}"
            );
        }
        assert_eq!(split_message(text, 3).concat(), text);
    }

    proptest! {
        #[test]
        fn parts_join_back_and_fit(text in "\\PC{0,300}", max in 1usize..60) {
            let parts = split_message(&text, max);
            prop_assert_eq!(parts.concat(), text.clone());
            for p in &parts {
                prop_assert!(!p.is_empty());
                let longest_grapheme = p.graphemes(true).map(|g| g.chars().count()).max().unwrap_or(0);
                prop_assert!(p.chars().count() <= max.max(longest_grapheme));
            }
        }

        #[test]
        fn whitespace_text_splits_on_spaces(words in proptest::collection::vec("[a-z]{1,8}", 1..40)) {
            let text = words.join(" ");
            for p in split_message(&text, 20) {
                prop_assert!(p.chars().count() <= 20);
                // No word is broken: every part ends at a space or the end of the text.
                let trimmed = p.trim_end();
                prop_assert!(words.iter().any(|w| trimmed.ends_with(w.as_str())));
            }
        }
    }
}
