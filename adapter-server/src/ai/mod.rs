//! AI providers: any OpenAI-compatible HTTP endpoint (OpenAI, Workers AI's REST API, Ollama,
//! vLLM, llama.cpp server), a local GGUF model (feature `local-model`: the offline/basic
//! mode), or none.

pub mod chatml;
#[cfg(feature = "local-model")]
pub mod local;

use std::time::Duration;

use async_trait::async_trait;
use concierge_core::conversation::Role;
use concierge_core::ports::{AiError, AiProvider, ChatRequest};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::configuration::Secret;

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

#[derive(Deserialize)]
struct ChatResponse {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChoiceMessage,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    content: Option<String>,
}

#[derive(Deserialize)]
struct EmbeddingResponse {
    data: Vec<EmbeddingItem>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    embedding: Vec<f32>,
    #[serde(default)]
    index: Option<usize>,
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

fn role(r: Role) -> &'static str {
    match r {
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

#[async_trait]
impl AiProvider for OpenAiCompatible {
    async fn chat(&self, request: &ChatRequest) -> Result<String, AiError> {
        let mut messages = Vec::with_capacity(request.history.len() + 2);
        messages.push(json!({ "role": "system", "content": request.system }));
        for turn in &request.history {
            messages.push(json!({ "role": role(turn.role), "content": turn.content }));
        }
        messages.push(json!({ "role": "user", "content": request.user }));
        let body = json!({
            "model": request.model,
            "messages": messages,
            "max_tokens": request.max_tokens,
            "stream": false,
        });
        let bytes = self.post("/chat/completions", &body).await?;
        let parsed: ChatResponse = serde_json::from_slice(&bytes)
            .map_err(|e| AiError::BadResponse(format!("chat completion JSON: {e}")))?;
        let text = parsed
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .unwrap_or_default();
        if text.trim().is_empty() {
            return Err(AiError::BadResponse("empty completion".into()));
        }
        Ok(text)
    }

    async fn embed(&self, model: &str, texts: &[String]) -> Result<Vec<Vec<f32>>, AiError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let body = json!({ "model": model, "input": texts });
        let bytes = self.post("/embeddings", &body).await?;
        let mut parsed: EmbeddingResponse = serde_json::from_slice(&bytes)
            .map_err(|e| AiError::BadResponse(format!("embeddings JSON: {e}")))?;
        if parsed.data.len() != texts.len() {
            return Err(AiError::BadResponse(format!(
                "{} embeddings for {} texts",
                parsed.data.len(),
                texts.len()
            )));
        }
        parsed.data.sort_by_key(|d| d.index.unwrap_or(0));
        Ok(parsed.data.into_iter().map(|d| d.embedding).collect())
    }
}
