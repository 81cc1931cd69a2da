#![no_main]
//! Fuzz target `knowledge_documents`: a business's uploaded file, as arbitrary bytes. The first
//! byte picks the kind (Markdown, text, CSV, HTML, PDF), the second the chunk size (1–256
//! characters), the rest is the file. Parsing must never panic; an accepted document has
//! sections with normalized, non-empty text, a stable hash, and chunks that are non-empty,
//! trimmed, within the size unless a single word, under their section's heading path.
use concierge_core::knowledge::chunk::chunks;
use concierge_core::knowledge::document::{parse, DocumentKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [kind, max, bytes @ ..] = data else {
        return;
    };
    let kind = DocumentKind::ALL[usize::from(*kind) % DocumentKind::ALL.len()];
    let max_chars = usize::from(*max) + 1;
    let Ok(document) = parse(kind, "fuzz", bytes) else {
        return;
    };
    assert!(!document.sections.is_empty());
    for section in &document.sections {
        assert!(!section.text.trim().is_empty());
        assert!(!section.text.contains('\r'));
    }
    let again = parse(kind, "fuzz", bytes).expect("parsed once");
    assert_eq!(again, document, "parse is not deterministic");
    let cut = chunks(&document, max_chars);
    assert!(!cut.is_empty());
    assert_eq!(cut, chunks(&document, max_chars), "chunks are not deterministic");
    for chunk in &cut {
        assert!(!chunk.text.is_empty());
        assert_eq!(chunk.text.trim(), chunk.text);
        assert!(
            chunk.text.chars().count() <= max_chars || chunk.text.split_whitespace().count() == 1,
            "chunk over {max_chars} chars: {:?}",
            chunk.text
        );
        assert!(
            document.sections.iter().any(|s| s.heading == chunk.heading),
            "chunk under a heading no section has"
        );
    }
});
