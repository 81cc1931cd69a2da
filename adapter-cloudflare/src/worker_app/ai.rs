//! The AI port: the Workers AI binding, or an OpenAI-compatible endpoint over `Fetch`.

use std::sync::Arc;

use async_trait::async_trait;
use concierge_core::ports::{AiError, AiProvider, ChatRequest, NoAi};
use worker::wasm_bindgen::JsValue;
use worker::{Env, Fetch, Headers, Method, RequestRedirect, Result};

use super::config::{AiChoice, Config};
use concierge_core::ai_wire;

/// The provider the configuration selects.
pub(crate) fn provider(env: &Env, config: &Config) -> Result<Arc<dyn AiProvider>> {
    Ok(match &config.ai {
        AiChoice::WorkersAi => match env.ai("AI") {
            Ok(ai) => Arc::new(WorkersAi { ai }),
            Err(_) => {
                worker::console_warn!("AI binding missing: AI replies are off");
                Arc::new(NoAi)
            }
        },
        AiChoice::OpenAi(base) => Arc::new(OpenAiHttp {
            base: base.clone(),
            api_key: config.openai_api_key.clone(),
        }),
        AiChoice::None => Arc::new(NoAi),
    })
}

/// The Workers AI binding (`[ai] binding = "AI"`). It does not run under local wrangler.
#[derive(Debug)]
struct WorkersAi {
    ai: worker::Ai,
}

fn provider_error(e: worker::Error) -> AiError {
    AiError::Provider(e.to_string())
}

#[async_trait(?Send)]
impl AiProvider for WorkersAi {
    async fn chat(&self, request: &ChatRequest) -> std::result::Result<String, AiError> {
        let output: serde_json::Value = self
            .ai
            .run(&request.model, ai_wire::workers_ai_chat_input(request))
            .await
            .map_err(provider_error)?;
        ai_wire::parse_workers_ai_chat(&output)
    }

    async fn embed(
        &self,
        model: &str,
        texts: &[String],
    ) -> std::result::Result<Vec<Vec<f32>>, AiError> {
        let output: serde_json::Value = self
            .ai
            .run(model, ai_wire::workers_ai_embed_input(texts))
            .await
            .map_err(provider_error)?;
        ai_wire::parse_workers_ai_embeddings(&output, texts.len())
    }
}

/// An OpenAI-compatible endpoint (OpenAI, Workers AI REST, vLLM, llama.cpp, Ollama).
struct OpenAiHttp {
    base: String,
    api_key: Option<String>,
}

impl std::fmt::Debug for OpenAiHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiHttp")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl OpenAiHttp {
    async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> std::result::Result<Vec<u8>, AiError> {
        let send = async {
            let headers = Headers::new();
            headers.set("content-type", "application/json")?;
            if let Some(key) = &self.api_key {
                headers.set("authorization", &format!("Bearer {key}"))?;
            }
            let request = super::new_request(
                &format!("{}{path}", self.base),
                &Method::Post,
                &headers,
                Some(&JsValue::from_str(&body.to_string())),
                RequestRedirect::default(),
            )?;
            let mut response = Fetch::Request(request).send().await?;
            let status = response.status_code();
            let bytes = response.bytes().await?;
            Ok::<_, worker::Error>((status, bytes))
        };
        let (status, bytes) = send.await.map_err(provider_error)?;
        if (200..300).contains(&status) {
            Ok(bytes)
        } else {
            Err(AiError::Provider(format!("{path} answered HTTP {status}")))
        }
    }
}

#[async_trait(?Send)]
impl AiProvider for OpenAiHttp {
    async fn chat(&self, request: &ChatRequest) -> std::result::Result<String, AiError> {
        let body = self
            .post("/chat/completions", &ai_wire::openai_chat_body(request))
            .await?;
        ai_wire::parse_openai_chat(&body)
    }

    async fn embed(
        &self,
        model: &str,
        texts: &[String],
    ) -> std::result::Result<Vec<Vec<f32>>, AiError> {
        let body = self
            .post("/embeddings", &ai_wire::openai_embed_body(model, texts))
            .await?;
        ai_wire::parse_openai_embeddings(&body, texts.len())
    }
}
