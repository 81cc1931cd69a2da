//! AI providers: any OpenAI-compatible HTTP endpoint (OpenAI, Workers AI's REST API, Ollama,
//! vLLM, llama.cpp server), a local GGUF model (feature `local-model`: the offline/basic
//! mode), or none; and local embeddings from all-MiniLM-L6-v2 (feature `local-model`) in
//! front of any of them.

pub mod chatml;
#[cfg(feature = "local-model")]
pub mod embedding;
#[cfg(feature = "local-model")]
pub mod local;

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use concierge_core::ai_wire;
use concierge_core::ports::{AiError, AiProvider, ChatRequest};
use serde_json::Value;

use crate::configuration::Secret;

/// The id the engine labels local embeddings with (`CONCIERGE_LOCAL_EMBEDDING_MODEL`) unless
/// `EMBEDDING_MODEL` names another.
pub const LOCAL_EMBEDDING_MODEL_ID: &str = "all-MiniLM-L6-v2";

/// The files of a local embedding model's directory (`CONCIERGE_LOCAL_EMBEDDING_MODEL`), as
/// `scripts/fetch-model.sh --embedding` lays them out.
pub const EMBEDDING_MODEL_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// What is wrong with `dir` as a local embedding model's directory, if anything: it must be a
/// directory holding [`EMBEDDING_MODEL_FILES`]. (Whether they load is seen at start.)
pub fn embedding_model_problem(dir: &Path) -> Option<String> {
    if !dir.is_dir() {
        return Some(format!(
            "{} is not a directory (scripts/fetch-model.sh --embedding prints one)",
            dir.display()
        ));
    }
    let missing: Vec<&str> = EMBEDDING_MODEL_FILES
        .into_iter()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "{} has no {} (it needs {})",
            dir.display(),
            missing.join(", "),
            EMBEDDING_MODEL_FILES.join(", ")
        )
    })
}

/// An OpenAI-compatible provider: `POST {base}/chat/completions` and `POST {base}/embeddings`.
#[derive(Clone)]
pub struct OpenAiCompatible {
    client: reqwest::Client,
    base: String,
    key: Option<Secret>,
}

impl std::fmt::Debug for OpenAiCompatible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiCompatible")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl OpenAiCompatible {
    /// A provider at `base` (e.g. `https://api.openai.com/v1`), with an optional bearer key.
    pub fn new(client: reqwest::Client, base: &str, key: Option<Secret>) -> Self {
        OpenAiCompatible {
            client,
            base: base.trim_end_matches('/').to_owned(),
            key,
        }
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Vec<u8>, AiError> {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .timeout(Duration::from_secs(60))
            .json(body);
        if let Some(key) = &self.key {
            request = request.bearer_auth(key.expose());
        }
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                AiError::Timeout
            } else {
                AiError::Provider(format!("request failed: {}", e.without_url()))
            }
        })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| AiError::Provider(format!("reading the answer: {}", e.without_url())))?;
        if !status.is_success() {
            // The provider's error text may echo the prompt: keep only the status.
            return Err(AiError::Provider(format!("HTTP {}", status.as_u16())));
        }
        Ok(bytes.to_vec())
    }
}

#[async_trait]
impl AiProvider for OpenAiCompatible {
    async fn chat(&self, request: &ChatRequest) -> Result<String, AiError> {
        let bytes = self
            .post("/chat/completions", &ai_wire::openai_chat_body(request))
            .await?;
        ai_wire::parse_openai_chat(&bytes)
    }

    async fn embed(&self, model: &str, texts: &[String]) -> Result<Vec<Vec<f32>>, AiError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let bytes = self
            .post("/embeddings", &ai_wire::openai_embed_body(model, texts))
            .await?;
        ai_wire::parse_openai_embeddings(&bytes, texts.len())
    }
}
