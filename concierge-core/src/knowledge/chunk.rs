//! Sections cut into chunks of a size the embedding model takes.
//!
//! [`chunks`] cuts each [`Section`] of a [`Document`] on the largest boundary that fits:
//! paragraphs first, then lines, sentences (Unicode UAX #29, through `unicode-segmentation`)
//! and words, packing neighbouring pieces of one section together up to the limit. A word is
//! what whitespace delimits, so `₹900`, `48h`, `e-mail`, a phone number or a URL is never cut;
//! a single word longer than the limit is a chunk of its own, whole (so is a sentence in a
//! script written without spaces, which the model then truncates). A section is never merged with another, so a CSV row (a section of
//! its own) is one chunk unless it alone exceeds the limit. Chunks do not overlap: each keeps
//! its section's heading path, which retrieval indexes with the text, so the context a sliding
//! overlap would carry is already there and the headings are not repeated into the text.
//!
//! Sizes are in characters (Unicode scalar values), the same on every target.
//!
//! Why not the `text-splitter` crate: its character splitter pulls `ahash`'s runtime RNG
//! (`getrandom` 0.3, which does not build for `wasm32-unknown-unknown` without a JS backend) and
//! ICU4X's word-break dictionaries for Chinese, Japanese and South-East Asian scripts (about
//! 8 MB of data source), too much for the Worker bundle; the same boundaries from
//! `unicode-segmentation`, already a dependency, cost nothing.

use unicode_segmentation::UnicodeSegmentation;

use super::document::{Document, Section};
use super::Chunk;

/// The default chunk size in characters: 450.
///
/// all-MiniLM-L6-v2 was trained on inputs of 128 word pieces and truncates beyond its window;
/// English runs about four characters per word piece, so 450 characters are about 110 pieces,
/// leaving room for `[CLS]`/`[SEP]` and the heading path retrieval embeds with the text. A
/// menu item, an FAQ answer or an opening-hours line fits whole. Scripts the model's
/// vocabulary covers poorly (Devanagari, say) take more pieces per character and may be
/// truncated by the model; smaller chunks would cut English answers apart instead.
pub const DEFAULT_MAX_CHARS: usize = 450;

/// Cuts every section of `document` into chunks of at most `max_chars` characters (at least 1),
/// in document order, each with the section's heading path and the document's source.
///
/// Deterministic; no chunk is empty or starts or ends with whitespace. A chunk is longer than
/// `max_chars` only when it is one word that alone is.
pub fn chunks(document: &Document, max_chars: usize) -> Vec<Chunk> {
    let max_chars = max_chars.max(1);
    document
        .sections
        .iter()
        .flat_map(|section| {
            split_section(section, max_chars)
                .into_iter()
                .map(|text| Chunk {
                    source: document.source.clone(),
                    heading: section.heading.clone(),
                    text,
                })
        })
        .collect()
}

fn split_section(section: &Section, max_chars: usize) -> Vec<String> {
    let mut out = Vec::new();
    split(&section.text, Level::Paragraph, max_chars, &mut out);
    out
}

/// The boundaries tried in turn, largest first.
#[derive(Clone, Copy, Debug)]
enum Level {
    Paragraph,
    Line,
    Sentence,
    Word,
}

impl Level {
    fn finer(self) -> Option<Level> {
        match self {
            Level::Paragraph => Some(Level::Line),
            Level::Line => Some(Level::Sentence),
            Level::Sentence => Some(Level::Word),
            Level::Word => None,
        }
    }

    /// `text` in pieces that concatenate back to it, each ending with its separator.
    fn pieces(self, text: &str) -> Vec<&str> {
        match self {
            Level::Paragraph => text.split_inclusive("\n\n").collect(),
            Level::Line => text.split_inclusive('\n').collect(),
            // UAX #29 also breaks between `?` and a letter (`₹900?ok`): only boundaries that
            // follow whitespace are kept, so a sentence never ends inside a word.
            Level::Sentence => {
                let mut pieces = Vec::new();
                let mut start = 0;
                for (index, _) in text.split_sentence_bound_indices() {
                    if index > start && text[..index].ends_with(char::is_whitespace) {
                        pieces.push(&text[start..index]);
                        start = index;
                    }
                }
                pieces.push(&text[start..]);
                pieces
            }
            Level::Word => text.split_inclusive(char::is_whitespace).collect(),
        }
    }
}

fn char_len(text: &str) -> usize {
    text.chars().count()
}

/// Pushes `text`'s chunks: whole if it fits, else its pieces at `level` packed greedily, a
/// piece too large on its own cut at the next finer level.
fn split(text: &str, level: Level, max_chars: usize, out: &mut Vec<String>) {
    if char_len(text.trim()) <= max_chars {
        emit(text, out);
        return;
    }
    let Some(finer) = level.finer() else {
        // Words: pack them, a word longer than the limit alone and whole.
        pack(level.pieces(text), max_chars, out, |word, out| {
            emit(word, out)
        });
        return;
    };
    pack(level.pieces(text), max_chars, out, |piece, out| {
        split(piece, finer, max_chars, out);
    });
}

/// Packs consecutive `pieces` into chunks of at most `max_chars` (measured trimmed); a piece
/// that alone exceeds it goes to `oversized`. Linear: lengths are counted once per piece.
fn pack<'a>(
    pieces: Vec<&'a str>,
    max_chars: usize,
    out: &mut Vec<String>,
    mut oversized: impl FnMut(&'a str, &mut Vec<String>),
) {
    // Never starts with whitespace, so its trimmed length is its length less trailing spaces.
    let mut current = String::new();
    let mut current_chars = 0;
    for piece in pieces {
        let body = piece.trim_end();
        if body.trim_start().is_empty() {
            // Whitespace only: it never makes a chunk longer once trimmed.
            if !current.is_empty() {
                current.push_str(piece);
                current_chars += char_len(piece);
            }
            continue;
        }
        if char_len(piece.trim()) > max_chars {
            emit(&std::mem::take(&mut current), out);
            current_chars = 0;
            oversized(piece, out);
            continue;
        }
        if current_chars + char_len(body) > max_chars {
            emit(&std::mem::take(&mut current), out);
            current_chars = 0;
        }
        // Whitespace between two chunks is dropped: a chunk starts at a word.
        let piece = if current.is_empty() {
            piece.trim_start()
        } else {
            piece
        };
        current.push_str(piece);
        current_chars += char_len(piece);
    }
    emit(&current, out);
}

fn emit(text: &str, out: &mut Vec<String>) {
    let text = text.trim();
    if !text.is_empty() {
        out.push(text.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use proptest::prelude::*;

    use super::*;
    use crate::knowledge::document::{parse, DocumentKind};

    fn document(kind: DocumentKind, source: &str, text: &str) -> Document {
        parse(kind, source, text.as_bytes()).expect("parses")
    }

    fn render(chunks: &[Chunk]) -> String {
        chunks
            .iter()
            .map(|c| {
                format!(
                    "{} [{}] ({})\n{}\n",
                    c.source,
                    c.heading_path(),
                    c.text.chars().count(),
                    c.text
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    const FAQ: &str = "\
# Orders

## How much notice do you need?

Custom cakes need 48 hours' notice. Wedding cakes need two weeks, because we do a tasting first. Cupcakes can be picked up the same day if you call before noon.

We take orders by phone and on Instagram.

## Do you deliver?

Yes, within 10 km of MG Road, for ₹50 to ₹120 depending on the area.
";

    #[test]
    fn sections_cut_on_paragraphs_then_sentences_keeping_headings() {
        let chunks = chunks(&document(DocumentKind::Markdown, "faq.md", FAQ), 120);
        expect![[r#"
            faq.md [Orders > How much notice do you need?] (96)
            Custom cakes need 48 hours' notice. Wedding cakes need two weeks, because we do a tasting first.

            faq.md [Orders > How much notice do you need?] (63)
            Cupcakes can be picked up the same day if you call before noon.

            faq.md [Orders > How much notice do you need?] (41)
            We take orders by phone and on Instagram.

            faq.md [Orders > Do you deliver?] (68)
            Yes, within 10 km of MG Road, for ₹50 to ₹120 depending on the area.
        "#]].assert_eq(&render(&chunks));
    }

    #[test]
    fn a_small_section_is_one_chunk_and_sections_are_never_merged() {
        let chunks = chunks(
            &document(DocumentKind::Markdown, "faq.md", FAQ),
            DEFAULT_MAX_CHARS,
        );
        let texts: Vec<(String, &str)> = chunks
            .iter()
            .map(|c| (c.heading_path(), c.text.as_str()))
            .collect();
        expect![[r#"
            [
                (
                    "Orders > How much notice do you need?",
                    "Custom cakes need 48 hours' notice. Wedding cakes need two weeks, because we do a tasting first. Cupcakes can be picked up the same day if you call before noon.\n\nWe take orders by phone and on Instagram.",
                ),
                (
                    "Orders > Do you deliver?",
                    "Yes, within 10 km of MG Road, for ₹50 to ₹120 depending on the area.",
                ),
            ]
        "#]].assert_debug_eq(&texts);
    }

    #[test]
    fn csv_rows_are_one_chunk_each() {
        let menu = "Item,Price,Notes\nEggless chocolate cake,₹900,48 h notice\nCroissant,₹120,\nBrownie,₹80,Walnut\n";
        let chunks = chunks(
            &document(DocumentKind::Csv, "menu.csv", menu),
            DEFAULT_MAX_CHARS,
        );
        expect![[r#"
            menu.csv [menu] (61)
            Item: Eggless chocolate cake; Price: ₹900; Notes: 48 h notice

            menu.csv [menu] (28)
            Item: Croissant; Price: ₹120

            menu.csv [menu] (40)
            Item: Brownie; Price: ₹80; Notes: Walnut
        "#]]
        .assert_eq(&render(&chunks));
        // Even when several rows would fit together.
        assert_eq!(
            super::chunks(&document(DocumentKind::Csv, "menu.csv", menu), 10_000).len(),
            3
        );
    }

    #[test]
    fn a_row_longer_than_the_limit_is_cut_on_words() {
        let menu = "Item,Notes\nCake,made with dark chocolate from Kerala and fresh cream whipped by hand\n";
        let chunks = chunks(&document(DocumentKind::Csv, "menu.csv", menu), 40);
        expect![[r#"
            menu.csv [menu] (33)
            Item: Cake; Notes: made with dark

            menu.csv [menu] (37)
            chocolate from Kerala and fresh cream

            menu.csv [menu] (15)
            whipped by hand
        "#]]
        .assert_eq(&render(&chunks));
    }

    #[test]
    fn never_inside_a_word_and_a_long_word_stays_whole() {
        let text = "supercalifragilisticexpialidocious cakes are   delicious\n\nhttps://example.com/a-very-long-path";
        let chunks = chunks(&document(DocumentKind::Text, "t.txt", text), 12);
        let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
        expect![[r#"
            [
                "supercalifragilisticexpialidocious",
                "cakes are",
                "delicious",
                "https://example.com/a-very-long-path",
            ]
        "#]]
        .assert_debug_eq(&texts);
    }

    #[test]
    fn zero_limit_is_one() {
        let chunks = chunks(&document(DocumentKind::Text, "t.txt", "a b"), 0);
        let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["a", "b"]);
    }

    /// The invariants every chunking keeps.
    fn check_invariants(
        document: &Document,
        chunks: &[Chunk],
        max_chars: usize,
    ) -> Result<(), TestCaseError> {
        let max_chars = max_chars.max(1);
        for chunk in chunks {
            prop_assert!(!chunk.text.is_empty());
            prop_assert_eq!(chunk.text.trim(), chunk.text.as_str());
            prop_assert_eq!(&chunk.source, &document.source);
            let len = chunk.text.chars().count();
            prop_assert!(
                len <= max_chars || chunk.text.split_whitespace().count() == 1,
                "{len} > {max_chars}: {:?}",
                chunk.text
            );
        }
        // Nothing lost or reordered, and every chunk keeps its section's heading.
        for section in &document.sections {
            let mine: String = chunks
                .iter()
                .filter(|c| c.heading == section.heading)
                .flat_map(|c| c.text.chars())
                .filter(|c| !c.is_whitespace())
                .collect();
            let all: String = section
                .text
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            prop_assert!(mine.contains(&all), "{all:?} not in {mine:?}");
        }
        // No word cut: every word of a chunk is a word of its section.
        for chunk in chunks {
            let words: std::collections::BTreeSet<&str> = document
                .sections
                .iter()
                .filter(|s| s.heading == chunk.heading)
                .flat_map(|s| s.text.split_whitespace())
                .collect();
            for word in chunk.text.split_whitespace() {
                prop_assert!(words.contains(word), "{word:?} cut from a word");
            }
        }
        Ok(())
    }

    #[test]
    fn deterministic_and_within_limits_on_the_fixtures() {
        let docs = [
            document(DocumentKind::Markdown, "faq.md", FAQ),
            document(
                DocumentKind::Text,
                "t.txt",
                &"Fresh bread daily. ".repeat(200),
            ),
        ];
        for doc in &docs {
            for max in [1, 7, 50, 120, DEFAULT_MAX_CHARS] {
                let first = chunks(doc, max);
                assert_eq!(first, chunks(doc, max));
                check_invariants(doc, &first, max).expect("invariants");
            }
        }
    }

    #[test]
    fn a_large_document_chunks_in_linear_time() {
        // One paragraph of 1 MiB without a sentence break, and one 100 KiB word.
        let mut text = "fresh bread daily ".repeat(1 << 16);
        text.push_str("\n\n");
        text.push_str(&"a".repeat(100 * 1024));
        let doc = document(DocumentKind::Text, "big.txt", &text);
        let chunks = chunks(&doc, DEFAULT_MAX_CHARS);
        assert_eq!(chunks.last().map(|c| c.text.len()), Some(100 * 1024));
        assert!(chunks[..chunks.len() - 1]
            .iter()
            .all(|c| c.text.chars().count() <= DEFAULT_MAX_CHARS));
        // 75 words of six characters are 449 trimmed, 76 would be 455.
        assert_eq!(chunks.len(), (3usize << 16).div_ceil(25 * 3) + 1);
    }

    proptest! {
        #[test]
        fn any_parsed_document_chunks_within_the_limit(
            text in "([a-zé₹]{1,12}[ .,!?\n#|*-]{1,3}){0,80}",
            kind in 0usize..4,
            max in 1usize..200,
        ) {
            if let Ok(doc) = parse(DocumentKind::ALL[kind], "p", text.as_bytes()) {
                let chunks = chunks(&doc, max);
                check_invariants(&doc, &chunks, max)?;
            }
        }

        #[test]
        fn arbitrary_bytes_chunk_within_the_limit(
            bytes in proptest::collection::vec(any::<u8>(), 0..400),
            kind in 0usize..5,
            max in 1usize..100,
        ) {
            if let Ok(doc) = parse(DocumentKind::ALL[kind], "p", &bytes) {
                let chunks = chunks(&doc, max);
                check_invariants(&doc, &chunks, max)?;
            }
        }
    }
}
