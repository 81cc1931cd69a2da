//! Retrieval over a synthetic 10k-passage tenant (the upper bound for one small
//! business), keyword-only and keywords + 384-dimension vectors, next to a bare cosine scan of
//! the same vectors as the baseline measured in the same run (the least any brute-force vector
//! search does); and ingest throughput (parse, chunk, index) in chunks per second.
//!
//! `cargo bench -p concierge-core --bench knowledge` (or `scripts/bench-knowledge.sh`) — figures
//! and ratios go to docs/benchmarks.md.

use concierge_core::knowledge::chunk::{chunks, DEFAULT_MAX_CHARS};
use concierge_core::knowledge::document::{parse, DocumentKind};
use concierge_core::knowledge::retrieval::{Index, QueryVector, SearchOptions, Vectors};
use concierge_core::knowledge::Chunk;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const PASSAGES: usize = 10_000;
const DIMS: usize = 384;
const MODEL: &str = "all-MiniLM-L6-v2";

/// A deterministic pseudo-random sequence (64-bit LCG): the same tenant on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A vocabulary of 3,000 made-up words, with a Zipf-like skew when drawn (common words are
/// common, as in real text).
fn vocabulary() -> Vec<String> {
    let syllables = [
        "ka", "ri", "mo", "la", "te", "su", "na", "po", "ve", "di", "ro", "ba", "mi", "ne", "to",
    ];
    let mut rng = Lcg(7);
    (0..3000)
        .map(|_| {
            (0..2 + rng.below(3))
                .map(|_| syllables[rng.below(syllables.len())])
                .collect()
        })
        .collect()
}

fn word<'a>(rng: &mut Lcg, words: &'a [String]) -> &'a str {
    // The minimum of two draws skews towards the first words.
    let i = rng.below(words.len()).min(rng.below(words.len()));
    &words[i]
}

/// `PASSAGES` passages of about 60 words under a two-level heading, as the chunker makes them.
fn tenant() -> Vec<Chunk> {
    let words = vocabulary();
    let mut rng = Lcg(42);
    (0..PASSAGES)
        .map(|i| Chunk {
            source: format!("doc-{}.md", i / 100),
            heading: vec![
                format!("Section {}", i / 10),
                (0..3)
                    .map(|_| word(&mut rng, &words))
                    .collect::<Vec<_>>()
                    .join(" "),
            ],
            text: (0..60)
                .map(|_| word(&mut rng, &words))
                .collect::<Vec<_>>()
                .join(" "),
        })
        .collect()
}

fn unit_vector(rng: &mut Lcg) -> Vec<f32> {
    let v: Vec<f32> = (0..DIMS)
        .map(|_| (rng.below(2001) as f32 - 1000.0) / 1000.0)
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

fn retrieval(c: &mut Criterion) {
    let chunks = tenant();
    let mut rng = Lcg(9);
    let vectors: Vec<Vec<f32>> = (0..PASSAGES).map(|_| unit_vector(&mut rng)).collect();
    let query = unit_vector(&mut rng);
    // A question of five words from the passages' vocabulary, one of them rare.
    let words = vocabulary();
    let question = format!(
        "do you have {} {} {} and {}",
        words[3], words[40], words[700], words[2500]
    );
    let keywords = Index::new(chunks.clone());
    let fused = Index::with_vectors(
        chunks,
        Vectors {
            model: MODEL.into(),
            vectors: vectors.clone(),
        },
    )
    .expect("one vector per chunk");
    let options = SearchOptions::default();
    assert!(
        !keywords.search(&question, None, &options).is_empty(),
        "the question finds passages"
    );

    let mut group = c.benchmark_group("retrieval_10k");
    group.bench_function("bare_cosine_scan", |b| {
        b.iter(|| {
            let best = vectors
                .iter()
                .map(|v| v.iter().zip(&query).map(|(a, b)| a * b).sum::<f32>())
                .fold(f32::MIN, f32::max);
            black_box(best)
        });
    });
    group.bench_function("keywords", |b| {
        b.iter(|| black_box(keywords.search(black_box(&question), None, &options).len()));
    });
    group.bench_function("keywords_and_vectors", |b| {
        let q = QueryVector {
            model: MODEL,
            vector: &query,
        };
        b.iter(|| black_box(fused.search(black_box(&question), Some(q), &options).len()));
    });
    group.finish();
}

fn ingest(c: &mut Criterion) {
    // A Markdown document of 1,000 sections of about 60 words: parsed, chunked and indexed.
    let words = vocabulary();
    let mut rng = Lcg(5);
    let mut markdown = String::from("# Synthetic handbook\n\n");
    for s in 0..1000 {
        markdown.push_str(&format!("## Topic {s}\n"));
        let text: Vec<&str> = (0..60).map(|_| word(&mut rng, &words)).collect();
        markdown.push_str(&text.join(" "));
        markdown.push_str(".\n\n");
    }
    let count = {
        let document = parse(DocumentKind::Markdown, "handbook.md", markdown.as_bytes())
            .expect("a valid document");
        chunks(&document, DEFAULT_MAX_CHARS).len()
    };
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(count as u64));
    group.bench_function("parse_chunk_index_markdown", |b| {
        b.iter(|| {
            let document = parse(
                DocumentKind::Markdown,
                "handbook.md",
                black_box(markdown.as_bytes()),
            )
            .expect("a valid document");
            let index = Index::new(chunks(&document, DEFAULT_MAX_CHARS));
            black_box(index.chunks().len())
        });
    });
    group.finish();
}

criterion_group!(benches, retrieval, ingest);
criterion_main!(benches);
