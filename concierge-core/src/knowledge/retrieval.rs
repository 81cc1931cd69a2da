//! Ranking one tenant's chunks for a question: BM25 over keywords, cosine over vectors, fused by
//! reciprocal rank, cut to the top `k` above a relevance floor.
//!
//! Brute force, on purpose: a small business has at most a few thousand chunks, and a scan of
//! them is fast and behaves the same whichever store they came from (SQLite, Postgres, D1). An
//! [`Index`] is built once per tenant revision (the adapters cache it) from that tenant's
//! chunks only, so a search cannot reach another tenant's text.
//!
//! Keywords work without any model: words are lowercased, split on Unicode word boundaries,
//! stop words dropped and stemmed (Snowball English, `rust-stemmers`), so "cakes" finds "cake".
//! With an embedding model, every chunk's vector (of `heading + text`) and the question's are
//! compared by cosine, and the two rankings are fused: a chunk ranked high by either signal
//! comes first ([reciprocal rank fusion](https://plg.uwaterloo.ca/~gvcormac/cormacksigir09-rrf.pdf)).
//!
//! The floor is what lets a reply say "I don't know" instead of guessing. A chunk is a
//! candidate only if its keywords cover enough of the question ([`SearchOptions::min_coverage`]:
//! the share of the question's term weight, by inverse document frequency, that the chunk
//! contains; a word no document has weighs the most, so "Do you sell pizza?" at a bakery stays
//! uncovered), or if its vector is close enough ([`SearchOptions::min_cosine`]).

use std::collections::HashMap;

use rust_stemmers::{Algorithm, Stemmer};
use unicode_segmentation::UnicodeSegmentation;

use super::Chunk;

/// BM25's term-frequency saturation.
const K1: f32 = 1.2;
/// BM25's length normalization.
const B: f32 = 0.75;
/// Reciprocal rank fusion's constant: how much a first place outweighs a tenth.
const RRF_K: f32 = 60.0;

/// Words too common to say anything about a question (English; after lowercasing).
const STOP_WORDS: &[&str] = &[
    "a", "about", "am", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by", "can",
    "could", "did", "do", "does", "for", "from", "get", "got", "had", "has", "have", "hi", "hello",
    "how", "i", "if", "in", "is", "it", "its", "me", "many", "much", "my", "of", "on", "or", "our",
    "please", "so", "some", "than", "that", "the", "their", "them", "then", "there", "these",
    "they", "this", "to", "u", "us", "was", "we", "were", "what", "when", "where", "which", "who",
    "will", "with", "would", "you", "your",
];

/// How a search is cut.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchOptions {
    /// At most this many results.
    pub k: usize,
    /// The least share (0..=1) of the question's keyword weight a chunk must contain to count
    /// as relevant by keywords.
    pub min_coverage: f32,
    /// The least cosine similarity for a chunk to count as relevant by its vector.
    pub min_cosine: f32,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            k: 5,
            min_coverage: 0.34,
            min_cosine: 0.45,
        }
    }
}

/// The vectors of an index's chunks, from one embedding model.
#[derive(Clone, Debug, PartialEq)]
pub struct Vectors {
    /// The embedding model's id: a question embedded by another model is not compared.
    pub model: String,
    /// One vector per chunk, in the chunks' order, all of one length.
    pub vectors: Vec<Vec<f32>>,
}

/// The question's embedding, when an embedding model is configured.
#[derive(Clone, Copy, Debug)]
pub struct QueryVector<'a> {
    /// The model that embedded it.
    pub model: &'a str,
    /// The vector.
    pub vector: &'a [f32],
}

/// An index that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// The vectors do not match the chunks.
    #[error("{vectors} vectors for {chunks} chunks")]
    VectorCount {
        /// How many chunks.
        chunks: usize,
        /// How many vectors.
        vectors: usize,
    },
    /// The vectors are not all of one length, or are empty.
    #[error("the vectors are not all of one non-zero length")]
    VectorLength,
}

/// One result: a chunk, why it was found, and its fused score.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit<'a> {
    /// The chunk.
    pub chunk: &'a Chunk,
    /// The fused score (reciprocal rank fusion; higher is better; only the order means
    /// something).
    pub score: f32,
    /// Its BM25 score, when its keywords made it a candidate.
    pub keyword: Option<f32>,
    /// Its cosine similarity, when its vector made it a candidate.
    pub cosine: Option<f32>,
}

/// A chunk's standing in both rankings while they are fused.
#[derive(Default)]
struct Fused {
    score: f32,
    keyword: Option<f32>,
    cosine: Option<f32>,
}

/// One tenant's chunks, ready to search.
#[derive(Debug)]
pub struct Index {
    chunks: Vec<Chunk>,
    /// Per term: the chunks that have it and how often.
    postings: HashMap<String, Vec<(u32, u32)>>,
    /// Per chunk: its length in terms.
    lengths: Vec<u32>,
    average_length: f32,
    vectors: Option<Vectors>,
}

impl Index {
    /// Builds a keyword index over `chunks` (one tenant's).
    pub fn new(chunks: Vec<Chunk>) -> Index {
        let analyzer = Analyzer::new();
        let mut postings: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
        let mut lengths = Vec::with_capacity(chunks.len());
        for (i, chunk) in chunks.iter().enumerate() {
            let terms = analyzer.terms(&indexed_text(chunk));
            lengths.push(u32::try_from(terms.len()).unwrap_or(u32::MAX));
            let mut counts: HashMap<String, u32> = HashMap::new();
            for term in terms {
                *counts.entry(term).or_default() += 1;
            }
            let id = u32::try_from(i).unwrap_or(u32::MAX);
            for (term, count) in counts {
                postings.entry(term).or_default().push((id, count));
            }
        }
        let total: u64 = lengths.iter().map(|&l| u64::from(l)).sum();
        let average_length = if lengths.is_empty() {
            0.0
        } else {
            total as f32 / lengths.len() as f32
        };
        Index {
            chunks,
            postings,
            lengths,
            average_length,
            vectors: None,
        }
    }

    /// Builds an index with the chunks' vectors too.
    ///
    /// # Errors
    /// [`IndexError`] when there is not one vector per chunk, all of one non-zero length.
    pub fn with_vectors(chunks: Vec<Chunk>, vectors: Vectors) -> Result<Index, IndexError> {
        if vectors.vectors.len() != chunks.len() {
            return Err(IndexError::VectorCount {
                chunks: chunks.len(),
                vectors: vectors.vectors.len(),
            });
        }
        let dims = vectors.vectors.first().map_or(0, Vec::len);
        if !chunks.is_empty() && (dims == 0 || vectors.vectors.iter().any(|v| v.len() != dims)) {
            return Err(IndexError::VectorLength);
        }
        let mut index = Index::new(chunks);
        index.vectors = Some(vectors);
        Ok(index)
    }

    /// The chunks, in the order they were given.
    pub fn chunks(&self) -> &[Chunk] {
        &self.chunks
    }

    /// The embedding model of the chunks' vectors, if they have any.
    pub fn embedding_model(&self) -> Option<&str> {
        self.vectors.as_ref().map(|v| v.model.as_str())
    }

    /// The chunks relevant to `question`, best first: at most `options.k`, none below the
    /// floor. `vector` is the question's embedding; it is used only when it comes from the
    /// model (and has the length) of the chunks' vectors. Deterministic: ties go to the
    /// earlier chunk.
    pub fn search(
        &self,
        question: &str,
        vector: Option<QueryVector<'_>>,
        options: &SearchOptions,
    ) -> Vec<Hit<'_>> {
        if options.k == 0 || self.chunks.is_empty() {
            return Vec::new();
        }
        let keyword = self.keyword_ranking(question, options.min_coverage);
        let cosine = self.vector_ranking(vector, options.min_cosine);
        let mut fused: HashMap<u32, Fused> = HashMap::new();
        for (rank, &(id, score)) in keyword.iter().enumerate() {
            let entry = fused.entry(id).or_default();
            entry.score += 1.0 / (RRF_K + rank as f32 + 1.0);
            entry.keyword = Some(score);
        }
        for (rank, &(id, score)) in cosine.iter().enumerate() {
            let entry = fused.entry(id).or_default();
            entry.score += 1.0 / (RRF_K + rank as f32 + 1.0);
            entry.cosine = Some(score);
        }
        let mut ranked: Vec<(u32, Fused)> = fused.into_iter().collect();
        ranked.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.0.cmp(&b.0)));
        ranked
            .into_iter()
            .take(options.k)
            .filter_map(|(id, fused)| {
                Some(Hit {
                    chunk: self.chunks.get(id as usize)?,
                    score: fused.score,
                    keyword: fused.keyword,
                    cosine: fused.cosine,
                })
            })
            .collect()
    }

    /// The chunks whose keywords cover at least `min_coverage` of the question's, by BM25,
    /// best first.
    fn keyword_ranking(&self, question: &str, min_coverage: f32) -> Vec<(u32, f32)> {
        let mut terms = Analyzer::new().terms(question);
        terms.sort();
        terms.dedup();
        if terms.is_empty() {
            return Vec::new();
        }
        let n = self.chunks.len() as f32;
        // Per term: its postings and its weight (inverse document frequency).
        let weights: Vec<(&[(u32, u32)], f32)> = terms
            .iter()
            .map(|term| {
                let postings = self.postings.get(term).map_or(&[][..], Vec::as_slice);
                let df = postings.len() as f32;
                (postings, ((n - df + 0.5) / (df + 0.5) + 1.0).ln())
            })
            .collect();
        let total_weight: f32 = weights.iter().map(|(_, w)| w).sum();
        // Per chunk: its BM25 score and the question's weight it covers.
        let mut scores: HashMap<u32, (f32, f32)> = HashMap::new();
        for (postings, idf) in &weights {
            for &(id, tf) in *postings {
                let length = self.lengths.get(id as usize).copied().unwrap_or(0) as f32;
                let tf = tf as f32;
                let norm = K1 * (1.0 - B + B * length / self.average_length.max(1.0));
                let entry = scores.entry(id).or_default();
                entry.0 += idf * tf * (K1 + 1.0) / (tf + norm);
                entry.1 += idf;
            }
        }
        let mut ranked: Vec<(u32, f32)> = scores
            .into_iter()
            .filter(|(_, (_, covered))| {
                total_weight > 0.0 && covered / total_weight >= min_coverage
            })
            .map(|(id, (score, _))| (id, score))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked
    }

    /// The chunks whose vectors are at least `min_cosine` close to the question's, best first.
    fn vector_ranking(&self, query: Option<QueryVector<'_>>, min_cosine: f32) -> Vec<(u32, f32)> {
        let (Some(query), Some(vectors)) = (query, &self.vectors) else {
            return Vec::new();
        };
        if query.model != vectors.model
            || vectors.vectors.first().map(Vec::len) != Some(query.vector.len())
        {
            return Vec::new();
        }
        let mut ranked: Vec<(u32, f32)> = vectors
            .vectors
            .iter()
            .enumerate()
            .map(|(i, v)| {
                (
                    u32::try_from(i).unwrap_or(u32::MAX),
                    cosine(v, query.vector),
                )
            })
            .filter(|(_, c)| *c >= min_cosine)
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked
    }
}

/// What is indexed of a chunk: its heading path and its text, so a question naming a section
/// ("eggless cakes") finds the passages under it.
pub fn indexed_text(chunk: &Chunk) -> String {
    if chunk.heading.is_empty() {
        chunk.text.clone()
    } else {
        format!("{}\n{}", chunk.heading_path(), chunk.text)
    }
}

/// The cosine similarity of two vectors of one length (0 when either is all zeros).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut aa, mut bb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        dot / (aa.sqrt() * bb.sqrt())
    }
}

/// The search terms of `text` as retrieval sees them: lowercased Unicode words, stop words
/// dropped, stemmed (what [`super::grounding`] compares a reply with its passages by).
pub fn key_terms(text: &str) -> Vec<String> {
    Analyzer::new().terms(text)
}

/// Text to search terms: lowercased Unicode words, stop words dropped, stemmed.
struct Analyzer {
    stemmer: Stemmer,
}

impl Analyzer {
    fn new() -> Analyzer {
        Analyzer {
            stemmer: Stemmer::create(Algorithm::English),
        }
    }

    fn terms(&self, text: &str) -> Vec<String> {
        text.unicode_words()
            .map(str::to_lowercase)
            .map(|w| {
                w.strip_suffix("'s")
                    .or_else(|| w.strip_suffix("’s"))
                    .map_or_else(|| w.clone(), str::to_owned)
            })
            .filter(|w| !STOP_WORDS.contains(&w.as_str()))
            .map(|w| self.stemmer.stem(&w).into_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(source: &str, heading: &[&str], text: &str) -> Chunk {
        Chunk {
            source: source.to_owned(),
            heading: heading.iter().map(|h| (*h).to_owned()).collect(),
            text: text.to_owned(),
        }
    }

    fn bakery() -> Vec<Chunk> {
        vec![
            chunk(
                "faq.md",
                &["Cakes", "Eggless"],
                "Every cake on our menu can be made eggless. Tell us when you order.",
            ),
            chunk(
                "faq.md",
                &["Opening hours"],
                "We are open 7am to 8pm every day and closed on Diwali.",
            ),
            chunk(
                "faq.md",
                &["Delivery"],
                "We deliver within 5 km of FC Road for ₹50. Orders above ₹1000 are delivered free.",
            ),
            chunk(
                "menu.csv",
                &["Chocolate truffle cake"],
                "Item: Chocolate truffle cake; Price: ₹900 per kg; Notes: 48 hours' notice",
            ),
            chunk(
                "menu.csv",
                &["Sourdough loaf"],
                "Item: Sourdough loaf; Price: ₹180; Notes: baked every morning",
            ),
        ]
    }

    fn top(index: &Index, question: &str) -> Vec<String> {
        index
            .search(question, None, &SearchOptions::default())
            .iter()
            .map(|h| format!("{} {}", h.chunk.source, h.chunk.heading_path()))
            .collect()
    }

    #[test]
    fn keywords_find_the_passage_that_answers_in_other_word_forms() {
        let index = Index::new(bakery());
        assert_eq!(
            top(&index, "Do you have eggless cakes?")[0],
            "faq.md Cakes > Eggless"
        );
        assert_eq!(top(&index, "when do u open")[0], "faq.md Opening hours");
        assert_eq!(
            top(&index, "how much is the sourdough")[0],
            "menu.csv Sourdough loaf"
        );
        assert_eq!(
            top(&index, "Do you deliver to Baner?")[0],
            "faq.md Delivery"
        );
    }

    #[test]
    fn a_question_the_documents_do_not_cover_finds_nothing() {
        let index = Index::new(bakery());
        assert!(top(&index, "Do you sell pizza?").is_empty());
        assert!(top(&index, "What is the wifi password").is_empty());
        assert!(
            top(&index, "hi").is_empty(),
            "only stop words: nothing to look for"
        );
        assert!(top(&index, "").is_empty());
    }

    #[test]
    fn results_are_cut_to_k_best_first_and_ties_keep_the_documents_order() {
        let chunks = vec![
            chunk("a.md", &[], "cake cake"),
            chunk("b.md", &[], "cake"),
            chunk("c.md", &[], "cake"),
        ];
        let index = Index::new(chunks);
        let options = SearchOptions {
            k: 2,
            ..SearchOptions::default()
        };
        let hits = index.search("cake", None, &options);
        let sources: Vec<&str> = hits.iter().map(|h| h.chunk.source.as_str()).collect();
        assert_eq!(sources, ["a.md", "b.md"]);
        assert!(hits[0].score >= hits[1].score);
        let none = SearchOptions {
            k: 0,
            ..SearchOptions::default()
        };
        assert!(index.search("cake", None, &none).is_empty());
    }

    #[test]
    fn an_index_answers_only_from_its_own_chunks() {
        let bakery = Index::new(bakery());
        let clinic = Index::new(vec![chunk(
            "clinic.md",
            &["Vaccines"],
            "We give flu vaccines on weekdays.",
        )]);
        assert!(top(&bakery, "flu vaccines").is_empty());
        assert_eq!(top(&clinic, "flu vaccines"), ["clinic.md Vaccines"]);
    }

    #[test]
    fn vectors_find_what_keywords_miss_and_fuse_with_them() {
        let chunks = bakery();
        // Toy 3-d embeddings: axis 0 "eggs", axis 1 "time", axis 2 "money".
        let vectors = Vectors {
            model: "toy".into(),
            vectors: vec![
                vec![1.0, 0.0, 0.0],
                vec![0.0, 1.0, 0.0],
                vec![0.0, 0.2, 1.0],
                vec![0.3, 0.0, 1.0],
                vec![0.0, 0.0, 1.0],
            ],
        };
        let index = Index::with_vectors(chunks, vectors).expect("index");
        assert_eq!(index.embedding_model(), Some("toy"));
        let q = QueryVector {
            model: "toy",
            vector: &[0.1, 0.9, 0.0],
        };
        // No shared keyword with "Opening hours", but the vector is close.
        let hits = index.search(
            "what time shall I come by",
            Some(q),
            &SearchOptions::default(),
        );
        assert_eq!(hits[0].chunk.heading_path(), "Opening hours");
        assert!(hits[0].keyword.is_none() && hits[0].cosine.is_some());
        // A chunk both signals rank first beats one only the vector ranks first.
        let q = QueryVector {
            model: "toy",
            vector: &[0.0, 0.0, 1.0],
        };
        let hits = index.search("sourdough price", Some(q), &SearchOptions::default());
        assert_eq!(hits[0].chunk.heading_path(), "Sourdough loaf");
        assert!(hits[0].keyword.is_some() && hits[0].cosine.is_some());
        // Another model's vector, or another length, is not compared: keywords only.
        for q in [
            QueryVector {
                model: "other",
                vector: &[0.1, 0.9, 0.0],
            },
            QueryVector {
                model: "toy",
                vector: &[0.1, 0.9],
            },
        ] {
            assert!(index
                .search(
                    "what time shall I come by",
                    Some(q),
                    &SearchOptions::default()
                )
                .is_empty());
        }
    }

    #[test]
    fn vectors_that_do_not_match_the_chunks_are_refused() {
        let err = Index::with_vectors(
            bakery(),
            Vectors {
                model: "toy".into(),
                vectors: vec![vec![1.0]],
            },
        )
        .expect_err("count");
        assert_eq!(
            err,
            IndexError::VectorCount {
                chunks: 5,
                vectors: 1
            }
        );
        let ragged = Vectors {
            model: "toy".into(),
            vectors: vec![vec![1.0, 0.0], vec![1.0], vec![1.0], vec![1.0], vec![1.0]],
        };
        assert_eq!(
            Index::with_vectors(bakery(), ragged).expect_err("length"),
            IndexError::VectorLength
        );
    }

    #[test]
    fn cosine_is_scale_free_and_zero_for_a_zero_vector() {
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
    }

    proptest::proptest! {
        #[test]
        fn search_is_deterministic_bounded_and_sorted(
            texts in proptest::collection::vec("[a-e ]{0,30}", 0..12),
            question in "[a-e ]{0,12}",
            k in 0usize..6,
        ) {
            let chunks: Vec<Chunk> = texts.iter().enumerate()
                .map(|(i, t)| chunk(&format!("{i}.txt"), &[], t)).collect();
            let index = Index::new(chunks);
            let options = SearchOptions { k, ..SearchOptions::default() };
            let a = index.search(&question, None, &options);
            let b = index.search(&question, None, &options);
            proptest::prop_assert_eq!(&a, &b);
            proptest::prop_assert!(a.len() <= k);
            proptest::prop_assert!(a.windows(2).all(|w| w[0].score >= w[1].score));
        }
    }
}
