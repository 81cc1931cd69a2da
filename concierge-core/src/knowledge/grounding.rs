//! Whether a reply used the passages it was given, and which: citations read from the reply's
//! `[n]` markers (then stripped, so the customer never sees them), or, without markers, from
//! the words the reply shares with each passage.
//!
//! A small model often answers without a marker, or invents (seed 004: answer quality is the
//! hard problem). [`cite`] says whether the reply is *grounded*: it cites a passage, or most of
//! its words come from them. An engine configured for strict grounding answers an ungrounded
//! reply with the best passage instead ([`best_passage_reply`]).

use std::collections::BTreeSet;

use super::retrieval::key_terms;
use super::Chunk;
pub use super::Citation;

/// A reply read against its passages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CitedReply {
    /// The reply without its `[n]` markers.
    pub text: String,
    /// The passages it used, in passage order, each once.
    pub citations: Vec<Citation>,
    /// Whether it used any passage (a marker, or most of its words from them).
    pub grounded: bool,
}

/// Of a reply's key terms, the share that must come from the passages for a reply without
/// markers to count as grounded.
pub const MIN_SHARED_TERMS: f32 = 0.5;

/// Reads `reply` against the `passages` it was given (numbered from 1 in the envelope).
///
/// Markers `[1]`, `[2, 3]` name passages; a number no passage has is dropped with its marker.
/// Without a valid marker the reply is grounded when at least half of its key terms
/// ([`key_terms`]), and at least two, appear in the passages; it then cites each passage that
/// shares two or more terms with it.
pub fn cite(reply: &str, passages: &[Chunk]) -> CitedReply {
    let (text, numbers) = strip_markers(reply);
    let mut used: BTreeSet<usize> = numbers
        .into_iter()
        .filter(|&n| n >= 1 && n <= passages.len())
        .collect();
    let mut grounded = !used.is_empty();
    if !grounded && !passages.is_empty() {
        let terms: BTreeSet<String> = key_terms(&text).into_iter().collect();
        let per_passage: Vec<BTreeSet<String>> = passages
            .iter()
            .map(|p| {
                key_terms(&super::retrieval::indexed_text(p))
                    .into_iter()
                    .collect()
            })
            .collect();
        let shared = terms
            .iter()
            .filter(|t| per_passage.iter().any(|p| p.contains(*t)))
            .count();
        grounded = shared >= 2 && shared as f32 >= MIN_SHARED_TERMS * terms.len() as f32;
        if grounded {
            used = per_passage
                .iter()
                .enumerate()
                .filter(|(_, p)| terms.intersection(p).count() >= 2)
                .map(|(i, _)| i + 1)
                .collect();
        }
    }
    CitedReply {
        text,
        citations: used
            .into_iter()
            .map(|n| Citation::of(&passages[n - 1]))
            .collect(),
        grounded,
    }
}

/// The words a question in English starts with.
const QUESTION_WORDS: &[&str] = &[
    "what", "when", "where", "who", "whom", "whose", "which", "why", "how", "do", "does", "did",
    "is", "are", "was", "were", "can", "could", "will", "would", "should", "may", "have", "has",
    "any",
];

/// Whether `text` reads as a question: it has a question mark, or starts with a question word
/// (English). What strict grounding answers with the "I don't know" line when no passage is
/// relevant; a greeting or a thank-you still goes to the model.
pub fn is_question(text: &str) -> bool {
    if text.contains('?') || text.contains('？') {
        return true;
    }
    use unicode_segmentation::UnicodeSegmentation;
    text.unicode_words()
        .next()
        .is_some_and(|w| QUESTION_WORDS.contains(&w.to_lowercase().as_str()))
}

/// The reply when the knowledge base has nothing for a question and the tenant offers a
/// person (strict grounding).
pub const UNKNOWN_OFFER_TEXT: &str = "I'm sorry, I don't know that, and I'd rather not guess. \
Would you like me to connect you with someone from our team?";

/// The reply when the knowledge base has nothing for a question and the tenant hands off
/// (strict grounding); the conversation is handed to a person.
pub const UNKNOWN_HANDOFF_TEXT: &str = "I'm sorry, I don't know that, and I'd rather not \
guess. I've asked someone from our team to follow up with you here.";

/// The most a best-passage reply quotes, in characters (whole sentences when they fit).
pub const BEST_PASSAGE_MAX_CHARS: usize = 320;

/// A reply made of the best passage itself: its first sentences up to
/// [`BEST_PASSAGE_MAX_CHARS`] (a passage is at most a few hundred characters), on one line.
pub fn best_passage_reply(passage: &Chunk) -> String {
    use unicode_segmentation::UnicodeSegmentation;
    let flat = passage
        .text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut out = String::new();
    for sentence in flat.split_sentence_bounds() {
        if out.chars().count() + sentence.chars().count() > BEST_PASSAGE_MAX_CHARS {
            break;
        }
        out.push_str(sentence);
    }
    if out.trim().is_empty() {
        // One sentence longer than the cap: cut it on a word boundary.
        for word in flat.split_word_bounds() {
            if out.chars().count() + word.chars().count() > BEST_PASSAGE_MAX_CHARS {
                break;
            }
            out.push_str(word);
        }
        out = format!("{}…", out.trim_end());
    }
    out.trim().to_owned()
}

/// The reply without its `[n]`/`[n, m]` markers (and the space before each), and the numbers.
fn strip_markers(reply: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(reply.len());
    let mut numbers = Vec::new();
    let mut rest = reply;
    while let Some(open) = rest.find('[') {
        let (before, after) = rest.split_at(open);
        let Some(close) = after.find(']') else {
            break;
        };
        let inner = &after[1..close];
        let parsed: Option<Vec<usize>> = inner
            .split(',')
            .map(|n| n.trim().parse::<usize>().ok())
            .collect();
        match parsed {
            Some(ns) if !inner.trim().is_empty() => {
                out.push_str(before.trim_end_matches(' '));
                numbers.extend(ns);
            }
            _ => {
                out.push_str(before);
                out.push('[');
                rest = &after[1..];
                continue;
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    (out.trim().to_owned(), numbers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(source: &str, heading: &[&str], text: &str) -> Chunk {
        Chunk {
            source: source.into(),
            heading: heading.iter().map(|h| (*h).to_owned()).collect(),
            text: text.into(),
        }
    }

    fn passages() -> Vec<Chunk> {
        vec![
            chunk(
                "faq.md",
                &["Cakes", "Eggless cakes"],
                "Every cake on our menu can be made eggless at no extra cost. Order two days ahead.",
            ),
            chunk("menu.csv", &["menu"], "Item: Sourdough loaf; Price: ₹180"),
        ]
    }

    #[test]
    fn markers_name_passages_and_never_reach_the_customer() {
        let cited = cite(
            "Yes! Every cake can be made eggless [1]. Our sourdough is ₹180 [2, 1]. [7]",
            &passages(),
        );
        assert_eq!(
            cited.text,
            "Yes! Every cake can be made eggless. Our sourdough is ₹180."
        );
        assert!(cited.grounded);
        assert_eq!(
            cited.citations,
            vec![
                Citation {
                    source: "faq.md".into(),
                    heading: "Cakes > Eggless cakes".into()
                },
                Citation {
                    source: "menu.csv".into(),
                    heading: "menu".into()
                },
            ]
        );
        let plain = cite("A [link] and [ 3 ] and [", &passages());
        assert_eq!(plain.text, "A [link] and and [", "only numbers are markers");
    }

    #[test]
    fn a_reply_without_markers_is_grounded_by_the_words_it_shares() {
        let used = cite(
            "Yes, any cake on the menu can be made eggless, no extra cost.",
            &passages(),
        );
        assert!(used.grounded);
        assert_eq!(used.citations.len(), 1);
        assert_eq!(used.citations[0].source, "faq.md");
        // What SmolLM2-135M answered before the knowledge base: an invented cake.
        let invented = cite(
            "We have a Baklamb cake with walnuts, baked fresh with honey and love!",
            &passages(),
        );
        assert!(!invented.grounded);
        assert!(invented.citations.is_empty());
        assert!(!cite("Yes, eggless.", &[]).grounded, "no passages");
    }

    #[test]
    fn questions_are_told_from_greetings() {
        assert!(is_question("Do you sell pizza"));
        assert!(is_question("pizza?"));
        assert!(is_question("how much is the sourdough"));
        assert!(!is_question("Hi there"));
        assert!(!is_question("Thanks a lot!"));
        assert!(!is_question(""));
    }

    #[test]
    fn the_best_passage_is_quoted_in_whole_sentences() {
        let p = &passages()[0];
        assert_eq!(
            best_passage_reply(p),
            "Every cake on our menu can be made eggless at no extra cost. Order two days ahead."
        );
        let long = chunk("a.md", &[], &"word ".repeat(200));
        let reply = best_passage_reply(&long);
        assert!(reply.ends_with('…'));
        assert!(reply.chars().count() <= BEST_PASSAGE_MAX_CHARS + 1);
    }
}
