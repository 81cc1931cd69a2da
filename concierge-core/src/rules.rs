//! Reply rules: which answer an inbound message gets.
//!
//! Each channel has a [`ReplyConfig`]: ordered rules, a mandatory default, and the reply-buffer
//! wait. Rules are tried in order and the first match wins. A `Keywords` matcher is a
//! case-insensitive (Unicode-aware) substring test; an `Intent` matcher compares the inbound
//! message's embedding with the rule's stored embedding by cosine similarity.

use serde::{Deserialize, Serialize};

/// The default cosine threshold of an intent matcher.
pub const DEFAULT_INTENT_THRESHOLD: f32 = 0.72;

fn default_threshold() -> f32 {
    DEFAULT_INTENT_THRESHOLD
}

fn default_true() -> bool {
    true
}

/// A channel's reply configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyConfig {
    /// Whether Concierge answers on this channel at all.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Ordered rules; the first match wins.
    #[serde(default)]
    pub rules: Vec<ReplyRule>,
    /// What to answer when no rule matches.
    pub default_rule: ReplyResponse,
    /// Seconds to wait for more messages before answering a burst as one (0 answers at once).
    #[serde(default)]
    pub wait_seconds: u32,
}

/// One reply rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyRule {
    /// A name for logs, reports and tests.
    pub name: String,
    /// When the rule applies.
    #[serde(rename = "match")]
    pub matcher: Matcher,
    /// What it answers.
    #[serde(rename = "reply")]
    pub response: ReplyResponse,
}

/// When a rule applies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Matcher {
    /// Any keyword is a case-insensitive substring of the message (the seed's `StaticText`;
    /// `kind = "static_text"` is accepted too).
    #[serde(alias = "static_text")]
    Keywords {
        /// The keywords.
        keywords: Vec<String>,
    },
    /// The message's meaning is close to `description` (the seed's `Prompt` matcher;
    /// `kind = "prompt"` is accepted too).
    #[serde(alias = "prompt")]
    Intent {
        /// What the intent is, in words; embedded when the rule is saved.
        description: String,
        /// The stored embedding of `description`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        embedding: Option<Vec<f32>>,
        /// The embedding model that made `embedding`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
        /// Minimum cosine similarity to match.
        #[serde(default = "default_threshold")]
        threshold: f32,
    },
}

/// What a rule answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ReplyResponse {
    /// Sent verbatim; free.
    Canned {
        /// The text.
        text: String,
    },
    /// Appended to the persona and answered by the model; metered.
    Prompt {
        /// The rule's instructions for the model (may be empty).
        #[serde(default)]
        text: String,
    },
}

/// Which rule was chosen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum RuleRef {
    /// The named rule at this position.
    Rule(String),
    /// The default rule.
    Default,
}

impl RuleRef {
    /// The rule's name, or `default`.
    pub fn name(&self) -> &str {
        match self {
            RuleRef::Rule(name) => name,
            RuleRef::Default => "default",
        }
    }
}

/// Something worth telling an operator about how rules were evaluated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RuleNote {
    /// An intent rule has no embedding yet (save the rules again with an AI provider).
    MissingEmbedding {
        /// The rule.
        rule: String,
    },
    /// An intent rule's embedding was made by another model than the current one, so it was
    /// not compared (similarities across models are meaningless).
    StaleEmbedding {
        /// The rule.
        rule: String,
        /// The model that made the stored embedding.
        stored_model: String,
        /// The model that embedded the message.
        current_model: String,
    },
    /// The message could not be embedded, so intent rules were skipped.
    EmbeddingUnavailable,
}

/// The outcome of rule selection.
#[derive(Clone, Debug, PartialEq)]
pub struct Selection<'a> {
    /// The chosen rule.
    pub rule: RuleRef,
    /// Its response.
    pub response: &'a ReplyResponse,
    /// The similarity that matched, for intent rules.
    pub similarity: Option<f32>,
    /// Operator notes gathered on the way.
    pub notes: Vec<RuleNote>,
}

/// The inbound message's embedding, made once per delivery.
#[derive(Clone, Debug, PartialEq)]
pub struct InboundEmbedding<'a> {
    /// The vector.
    pub vector: &'a [f32],
    /// The model that made it.
    pub model: &'a str,
}

impl ReplyConfig {
    /// A config that answers everything with the model and has no rules.
    pub fn ai_only() -> Self {
        ReplyConfig {
            enabled: true,
            rules: Vec::new(),
            default_rule: ReplyResponse::Prompt {
                text: String::new(),
            },
            wait_seconds: 0,
        }
    }

    /// Whether any answer of this config comes from the model (a prompt rule or the default).
    pub fn uses_model(&self) -> bool {
        matches!(self.default_rule, ReplyResponse::Prompt { .. })
            || self
                .rules
                .iter()
                .any(|r| matches!(r.response, ReplyResponse::Prompt { .. }))
    }

    /// Whether any rule needs the inbound message's embedding.
    pub fn needs_embedding(&self) -> bool {
        self.rules
            .iter()
            .any(|r| matches!(r.matcher, Matcher::Intent { .. }))
    }

    /// Checks the config for mistakes a tenant can fix.
    ///
    /// # Errors
    /// One message per problem: empty names, duplicate names, empty keyword lists, thresholds
    /// outside `(0, 1]`, stored embeddings with a NaN or infinite value, empty canned text.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let at = format!("rules[{i}]");
            if rule.name.trim().is_empty() {
                errors.push(format!("{at}.name: must not be empty"));
            } else if !seen.insert(rule.name.as_str()) {
                errors.push(format!("{at}.name: `{}` is used twice", rule.name));
            }
            match &rule.matcher {
                Matcher::Keywords { keywords } => {
                    if keywords.iter().all(|k| k.trim().is_empty()) {
                        errors.push(format!("{at}.match.keywords: needs at least one keyword"));
                    }
                }
                Matcher::Intent {
                    description,
                    embedding,
                    threshold,
                    ..
                } => {
                    if description.trim().is_empty() {
                        errors.push(format!("{at}.match.description: must not be empty"));
                    }
                    // JSON has no NaN or infinity: serde_json would store them as `null`, and
                    // the tenant could no longer be read back.
                    if embedding_has_non_finite(embedding.as_deref()) {
                        errors.push(format!(
                            "{at}.match.embedding: every value must be a finite number"
                        ));
                    }
                    if !(*threshold > 0.0 && *threshold <= 1.0) {
                        errors.push(format!(
                            "{at}.match.threshold: must be in (0, 1], got {threshold}"
                        ));
                    }
                }
            }
            if let ReplyResponse::Canned { text } = &rule.response {
                if text.trim().is_empty() {
                    errors.push(format!("{at}.reply.text: canned text must not be empty"));
                }
            }
        }
        if let ReplyResponse::Canned { text } = &self.default_rule {
            if text.trim().is_empty() {
                errors.push("default_rule.text: canned text must not be empty".to_owned());
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Picks the first matching rule, else the default.
    ///
    /// `embedding` is the inbound message's embedding, or `None` when it could not be made (then
    /// intent rules are skipped with [`RuleNote::EmbeddingUnavailable`]).
    pub fn select<'a>(
        &'a self,
        text: &str,
        embedding: Option<InboundEmbedding<'_>>,
    ) -> Selection<'a> {
        let mut notes = Vec::new();
        let lowered = text.to_lowercase();
        let mut reported_unavailable = false;
        for rule in &self.rules {
            match &rule.matcher {
                Matcher::Keywords { keywords } => {
                    let hit = keywords
                        .iter()
                        .map(|k| k.trim())
                        .filter(|k| !k.is_empty())
                        .any(|k| contains_folded(&lowered, k));
                    if hit {
                        return Selection {
                            rule: RuleRef::Rule(rule.name.clone()),
                            response: &rule.response,
                            similarity: None,
                            notes,
                        };
                    }
                }
                Matcher::Intent {
                    embedding: stored,
                    model,
                    threshold,
                    ..
                } => {
                    let Some(inbound) = &embedding else {
                        if !reported_unavailable {
                            notes.push(RuleNote::EmbeddingUnavailable);
                            reported_unavailable = true;
                        }
                        continue;
                    };
                    let (Some(stored), Some(model)) = (stored, model) else {
                        notes.push(RuleNote::MissingEmbedding {
                            rule: rule.name.clone(),
                        });
                        continue;
                    };
                    if model != inbound.model {
                        notes.push(RuleNote::StaleEmbedding {
                            rule: rule.name.clone(),
                            stored_model: model.clone(),
                            current_model: inbound.model.to_owned(),
                        });
                        continue;
                    }
                    if let Some(sim) = cosine(stored, inbound.vector) {
                        if sim >= *threshold {
                            return Selection {
                                rule: RuleRef::Rule(rule.name.clone()),
                                response: &rule.response,
                                similarity: Some(sim),
                                notes,
                            };
                        }
                    }
                }
            }
        }
        Selection {
            rule: RuleRef::Default,
            response: &self.default_rule,
            similarity: None,
            notes,
        }
    }
}

/// Whether a stored embedding holds a NaN or an infinity (TOML accepts `nan` and `inf`).
fn embedding_has_non_finite(embedding: Option<&[f32]>) -> bool {
    embedding.is_some_and(|v| v.iter().any(|x| !x.is_finite()))
}

/// Whether the lower-cased `haystack` contains `keyword` in any letter case (allocating only for
/// keywords that have upper-case letters).
fn contains_folded(lowered_haystack: &str, keyword: &str) -> bool {
    if keyword.chars().any(char::is_uppercase) {
        lowered_haystack.contains(&keyword.to_lowercase())
    } else {
        lowered_haystack.contains(keyword)
    }
}

/// Cosine similarity of two vectors; `None` when their lengths differ or either is zero.
pub fn cosine(a: &[f32], b: &[f32]) -> Option<f32> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        return None;
    }
    Some((dot / (na.sqrt() * nb.sqrt())) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kw(name: &str, words: &[&str], reply: &str) -> ReplyRule {
        ReplyRule {
            name: name.into(),
            matcher: Matcher::Keywords {
                keywords: words.iter().map(|w| (*w).to_owned()).collect(),
            },
            response: ReplyResponse::Canned { text: reply.into() },
        }
    }

    fn intent(name: &str, v: Vec<f32>, model: &str) -> ReplyRule {
        ReplyRule {
            name: name.into(),
            matcher: Matcher::Intent {
                description: name.into(),
                embedding: Some(v),
                model: Some(model.into()),
                threshold: DEFAULT_INTENT_THRESHOLD,
            },
            response: ReplyResponse::Prompt {
                text: format!("about {name}"),
            },
        }
    }

    fn config(rules: Vec<ReplyRule>) -> ReplyConfig {
        ReplyConfig {
            enabled: true,
            rules,
            default_rule: ReplyResponse::Prompt {
                text: String::new(),
            },
            wait_seconds: 0,
        }
    }

    #[test]
    fn keywords_match_case_insensitively_including_non_ascii() {
        let c = config(vec![kw("hours", &["Öffnungszeiten", "HOURS"], "9-5")]);
        assert_eq!(
            c.select("what are your hours?", None).rule,
            RuleRef::Rule("hours".into())
        );
        assert_eq!(
            c.select("ÖFFNUNGSZEITEN bitte", None).rule,
            RuleRef::Rule("hours".into())
        );
        assert_eq!(c.select("hello", None).rule, RuleRef::Default);
    }

    #[test]
    fn the_seeds_matcher_names_are_accepted() {
        let m: Matcher =
            serde_json::from_str(r#"{"kind":"static_text","keywords":["a"]}"#).unwrap();
        assert!(matches!(m, Matcher::Keywords { .. }));
        let m: Matcher = serde_json::from_str(r#"{"kind":"prompt","description":"d"}"#).unwrap();
        assert!(
            matches!(m, Matcher::Intent { threshold, .. } if threshold == DEFAULT_INTENT_THRESHOLD)
        );
    }

    #[test]
    fn first_match_wins() {
        let c = config(vec![kw("a", &["cake"], "A"), kw("b", &["cake"], "B")]);
        assert_eq!(c.select("cake?", None).rule.name(), "a");
    }

    #[test]
    fn intent_rules_compare_by_cosine_with_the_threshold() {
        let c = config(vec![intent("booking", vec![1.0, 0.0], "bge")]);
        let close = [0.9f32, 0.1];
        let far = [0.1f32, 0.9];
        let hit = c.select(
            "x",
            Some(InboundEmbedding {
                vector: &close,
                model: "bge",
            }),
        );
        assert_eq!(hit.rule.name(), "booking");
        assert!(hit.similarity.unwrap() > 0.72);
        let miss = c.select(
            "x",
            Some(InboundEmbedding {
                vector: &far,
                model: "bge",
            }),
        );
        assert_eq!(miss.rule, RuleRef::Default);
    }

    #[test]
    fn an_embedding_from_another_model_is_reported_not_compared() {
        let c = config(vec![intent("booking", vec![1.0, 0.0], "old-model")]);
        let v = [1.0f32, 0.0];
        let s = c.select(
            "x",
            Some(InboundEmbedding {
                vector: &v,
                model: "bge",
            }),
        );
        assert_eq!(s.rule, RuleRef::Default);
        assert_eq!(
            s.notes,
            vec![RuleNote::StaleEmbedding {
                rule: "booking".into(),
                stored_model: "old-model".into(),
                current_model: "bge".into()
            }]
        );
    }

    #[test]
    fn validation_reports_each_problem() {
        let mut c = config(vec![
            kw("", &[], ""),
            kw("x", &["a"], "A"),
            kw("x", &["b"], "B"),
        ]);
        c.default_rule = ReplyResponse::Canned { text: " ".into() };
        let errors = c.validate().unwrap_err();
        assert_eq!(errors.len(), 5, "{errors:?}");
    }

    #[test]
    fn embeddings_with_nan_or_infinity_are_invalid() {
        // Found by the `tenant_toml` fuzz target: `embedding = [nan]` passed validation, then
        // stored as JSON `null` and the tenant could not be read back.
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let errors = config(vec![intent("refund", vec![0.5, bad], "m")])
                .validate()
                .unwrap_err();
            assert_eq!(
                errors,
                vec!["rules[0].match.embedding: every value must be a finite number".to_owned()]
            );
        }
        assert_eq!(
            config(vec![intent("refund", vec![0.5, -1.0], "m")]).validate(),
            Ok(())
        );
    }

    fn oracle(c: &ReplyConfig, text: &str) -> RuleRef {
        for r in &c.rules {
            if let Matcher::Keywords { keywords } = &r.matcher {
                if keywords.iter().any(|k| {
                    !k.trim().is_empty() && text.to_lowercase().contains(&k.trim().to_lowercase())
                }) {
                    return RuleRef::Rule(r.name.clone());
                }
            }
        }
        RuleRef::Default
    }

    proptest! {
        #[test]
        fn selection_equals_a_first_match_oracle(
            rules in proptest::collection::vec(proptest::collection::vec("[a-dA-D]{1,3}", 0..4), 0..6),
            text in "[a-dA-D ]{0,20}",
        ) {
            let c = config(rules.iter().enumerate().map(|(i, words)| ReplyRule {
                name: format!("r{i}"),
                matcher: Matcher::Keywords { keywords: words.clone() },
                response: ReplyResponse::Canned { text: format!("{i}") },
            }).collect());
            prop_assert_eq!(c.select(&text, None).rule, oracle(&c, &text));
        }

        #[test]
        fn cosine_is_bounded(a in proptest::collection::vec(-10f32..10.0, 3), b in proptest::collection::vec(-10f32..10.0, 3)) {
            if let Some(s) = cosine(&a, &b) {
                prop_assert!((-1.0001..=1.0001).contains(&s));
            }
        }
    }
}
