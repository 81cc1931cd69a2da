//! An OpenAI-compatible model provider (`/chat/completions`, `/embeddings`, bearer key): OpenAI,
//! Workers AI's REST API, Ollama, vLLM, llama.cpp's server.
//!
//! It implements the core's [`AiProvider`] port with a blocking HTTP client: the CLI drives the
//! engine one event at a time on one thread, so blocking inside the port is what we want.
//!
//! Configuration comes from the environment ([`from_env`]):
//! - `CONCIERGE_AI_URL`: the API base, e.g. `https://api.openai.com/v1` or
//!   `http://127.0.0.1:11434/v1`;
//! - `CONCIERGE_AI_KEY`: sent as `Authorization: Bearer ...` when set;
//! - `CONCIERGE_AI_MODEL`, `CONCIERGE_AI_FAST_MODEL`, `CONCIERGE_EMBEDDING_MODEL`: model ids
//!   (see [`engine_config`]);
//! - `CONCIERGE_LOCAL_MODEL`: a GGUF file for the offline model (builds with the `local-model`
//!   feature only; see [`provider_from_env`]);
//! - `CONCIERGE_LOCAL_EMBEDDING_MODEL`: the directory of all-MiniLM-L6-v2
//!   (`scripts/fetch-model.sh --embedding`): embeddings computed here, whatever model chats
//!   (`local-model` builds only).

use std::time::Duration;

use async_trait::async_trait;
use concierge_core::ai_wire;
use concierge_core::ports::{AiError, AiProvider, ChatRequest};
use concierge_core::EngineConfig;
use serde_json::Value;

use crate::error::CliError;

/// Environment variable with the API base URL.
pub const ENV_URL: &str = "CONCIERGE_AI_URL";
/// Environment variable with the bearer key.
pub const ENV_KEY: &str = "CONCIERGE_AI_KEY";
/// Environment variable naming an offline model file (the `local-model` feature).
pub const ENV_LOCAL_MODEL: &str = "CONCIERGE_LOCAL_MODEL";
/// Environment variable naming an offline embedding model's directory (the `local-model`
/// feature).
pub const ENV_LOCAL_EMBEDDING_MODEL: &str = "CONCIERGE_LOCAL_EMBEDDING_MODEL";
/// The embedding model id the engine labels local embeddings with (the server's).
pub const LOCAL_EMBEDDING_MODEL_ID: &str = "all-MiniLM-L6-v2";

/// How long one model call may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A model behind an OpenAI-compatible HTTP API.
#[derive(Debug, Clone)]
pub struct OpenAiCompatible {
    base_url: String,
    api_key: Option<String>,
    agent: ureq::Agent,
}

impl OpenAiCompatible {
    /// A provider for `base_url` (with or without a trailing `/`).
    pub fn new(base_url: &str, api_key: Option<String>, timeout: Duration) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build();
        OpenAiCompatible {
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.filter(|k| !k.trim().is_empty()),
            agent: ureq::Agent::new_with_config(config),
        }
    }

    /// The API base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn post(&self, path: &str, body: &Value) -> Result<Vec<u8>, AiError> {
        let url = format!("{}{path}", self.base_url);
        let mut request = self.agent.post(&url);
        if let Some(key) = &self.api_key {
            request = request.header("Authorization", &format!("Bearer {key}"));
        }
        let mut response = request.send_json(body).map_err(|e| match e {
            ureq::Error::Timeout(_) => AiError::Timeout,
            other => AiError::Provider(format!("{url}: {other}")),
        })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| AiError::BadResponse(format!("{url}: {e}")))?;
        if !(200..300).contains(&status) {
            let snippet: String = text.chars().take(200).collect();
            return Err(AiError::Provider(format!(
                "{url}: HTTP {status}: {snippet}"
            )));
        }
        Ok(text.into_bytes())
    }
}

#[async_trait]
impl AiProvider for OpenAiCompatible {
    async fn chat(&self, request: &ChatRequest) -> Result<String, AiError> {
        let body = self.post("/chat/completions", &ai_wire::openai_chat_body(request))?;
        ai_wire::parse_openai_chat(&body)
    }

    async fn embed(&self, model: &str, texts: &[String]) -> Result<Vec<Vec<f32>>, AiError> {
        let body = self.post("/embeddings", &ai_wire::openai_embed_body(model, texts))?;
        ai_wire::parse_openai_embeddings(&body, texts.len())
    }
}

/// The model the environment configures, of any kind: the offline model when
/// `CONCIERGE_LOCAL_MODEL` is set (with the `local-model` feature), an OpenAI-compatible one when
/// `CONCIERGE_AI_URL` is set, else `None`; with `CONCIERGE_LOCAL_EMBEDDING_MODEL` (and the
/// feature) its embeddings come from that local model instead (and there is a provider even
/// with no chat model: intent rules and the knowledge base still get vectors).
///
/// # Errors
/// As [`from_env`], and [`CliError::BadInput`] when a model file cannot be loaded.
pub fn provider_from_env() -> Result<Option<std::sync::Arc<dyn AiProvider>>, CliError> {
    let chat = chat_provider_from_env()?;
    #[cfg(feature = "local-model")]
    if let Some(dir) = std::env::var(ENV_LOCAL_EMBEDDING_MODEL)
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        let embedder =
            concierge_server::ai::embedding::LocalEmbedder::load(std::path::Path::new(dir.trim()))
                .map_err(|e| CliError::bad_input(e.to_string()))?;
        let chat = chat.unwrap_or_else(|| std::sync::Arc::new(concierge_core::ports::NoAi));
        return Ok(Some(std::sync::Arc::new(LocalEmbeddings {
            chat,
            embedder,
        })));
    }
    Ok(chat)
}

fn chat_provider_from_env() -> Result<Option<std::sync::Arc<dyn AiProvider>>, CliError> {
    #[cfg(feature = "local-model")]
    if let Some(path) = std::env::var(ENV_LOCAL_MODEL)
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        from_env()?; // refuses a URL set at the same time
        let model =
            concierge_server::ai::local::LocalModel::load(std::path::Path::new(path.trim()))
                .map_err(|e| CliError::bad_input(e.to_string()))?;
        return Ok(Some(std::sync::Arc::new(OfflineModel(model))));
    }
    Ok(from_env()?.map(|p| std::sync::Arc::new(p) as std::sync::Arc<dyn AiProvider>))
}

/// The server's offline model, called inline: the CLI runs one event at a time on one thread.
#[cfg(feature = "local-model")]
#[derive(Debug)]
struct OfflineModel(concierge_server::ai::local::LocalModel);

#[cfg(feature = "local-model")]
#[async_trait]
impl AiProvider for OfflineModel {
    async fn chat(&self, request: &ChatRequest) -> Result<String, AiError> {
        self.0.run_blocking(request).map(|(text, _)| text)
    }

    async fn embed(&self, model: &str, texts: &[String]) -> Result<Vec<Vec<f32>>, AiError> {
        self.0.embed(model, texts).await
    }
}

/// Chat through another provider, embeddings from the server's local embedding model, called
/// inline (as [`OfflineModel`]).
#[cfg(feature = "local-model")]
struct LocalEmbeddings {
    chat: std::sync::Arc<dyn AiProvider>,
    embedder: concierge_server::ai::embedding::LocalEmbedder,
}

#[cfg(feature = "local-model")]
impl std::fmt::Debug for LocalEmbeddings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEmbeddings")
            .field("embedder", &self.embedder)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "local-model")]
#[async_trait]
impl AiProvider for LocalEmbeddings {
    async fn chat(&self, request: &ChatRequest) -> Result<String, AiError> {
        self.chat.chat(request).await
    }

    async fn embed(&self, _model: &str, texts: &[String]) -> Result<Vec<Vec<f32>>, AiError> {
        self.embedder.embed_blocking(texts)
    }
}

/// Whether the environment names a chat model (`CONCIERGE_AI_URL` or `CONCIERGE_LOCAL_MODEL`),
/// not only an embedding model: whether replies can be made.
pub fn chat_model_configured() -> bool {
    [ENV_URL, ENV_LOCAL_MODEL]
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()))
}

/// The provider the environment configures: `Some` when `CONCIERGE_AI_URL` is set.
///
/// # Errors
/// [`CliError::BadInput`] when `CONCIERGE_LOCAL_MODEL` is set (the offline model is not part of
/// this build) or the URL is not `http(s)://`.
pub fn from_env() -> Result<Option<OpenAiCompatible>, CliError> {
    from_vars(|name| std::env::var(name).ok())
}

/// [`from_env`] over any variable source (for tests).
///
/// # Errors
/// As [`from_env`].
pub fn from_vars(
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<OpenAiCompatible>, CliError> {
    if !cfg!(feature = "local-model")
        && var(ENV_LOCAL_EMBEDDING_MODEL).is_some_and(|v| !v.trim().is_empty())
    {
        return Err(CliError::bad_input(format!(
            "{ENV_LOCAL_EMBEDDING_MODEL} is set, but local embeddings are not supported in this \
             build (build with `--features local-model`); unset it"
        )));
    }
    if var(ENV_LOCAL_MODEL).is_some_and(|v| !v.trim().is_empty()) {
        if cfg!(feature = "local-model") {
            if var(ENV_URL).is_some_and(|v| !v.trim().is_empty()) {
                return Err(CliError::bad_input(format!(
                    "set {ENV_URL} or {ENV_LOCAL_MODEL}, not both"
                )));
            }
            return Ok(None);
        }
        return Err(CliError::bad_input(format!(
            "{ENV_LOCAL_MODEL} is set, but the offline model is not supported in this build \
             (build with `--features local-model`); unset it and use {ENV_URL} (any \
             OpenAI-compatible server, e.g. a local Ollama)"
        )));
    }
    let Some(url) = var(ENV_URL).filter(|u| !u.trim().is_empty()) else {
        return Ok(None);
    };
    let url = url.trim();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(CliError::bad_input(format!(
            "{ENV_URL} must start with http:// or https://, got `{url}`"
        )));
    }
    Ok(Some(OpenAiCompatible::new(
        url,
        var(ENV_KEY),
        DEFAULT_TIMEOUT,
    )))
}

/// The engine configuration with model ids from `CONCIERGE_AI_MODEL`,
/// `CONCIERGE_AI_FAST_MODEL` and `CONCIERGE_EMBEDDING_MODEL` when set (the embedding model is
/// `all-MiniLM-L6-v2` when `CONCIERGE_LOCAL_EMBEDDING_MODEL` is set and it is not).
pub fn engine_config() -> EngineConfig {
    config_from_vars(|name| std::env::var(name).ok())
}

/// [`engine_config`] over any variable source (for tests).
pub fn config_from_vars(var: impl Fn(&str) -> Option<String>) -> EngineConfig {
    let mut config = EngineConfig::default();
    let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    if let Some(m) = var("CONCIERGE_AI_MODEL") {
        config.reply_model = m;
    }
    if let Some(m) = var("CONCIERGE_AI_FAST_MODEL") {
        config.fast_model = m;
    }
    if let Some(m) = var("CONCIERGE_EMBEDDING_MODEL") {
        config.embedding_model = m;
    } else if var(ENV_LOCAL_EMBEDDING_MODEL).is_some() {
        LOCAL_EMBEDDING_MODEL_ID.clone_into(&mut config.embedding_model);
    }
    // The offline model is small: hold it to the knowledge base, as the server does;
    // CONCIERGE_STRICT_GROUNDING=1 or 0 says so for any model.
    config.strict_grounding = match var("CONCIERGE_STRICT_GROUNDING").as_deref() {
        Some("1" | "true") => true,
        Some(_) => false,
        None => cfg!(feature = "local-model") && var(ENV_LOCAL_MODEL).is_some(),
    };
    // And give it the compact envelope with short replies (CONCIERGE_COMPACT_PROMPT=1 or 0).
    config.compact_prompt = match var("CONCIERGE_COMPACT_PROMPT").as_deref() {
        Some("1" | "true") => true,
        Some(_) => false,
        None => cfg!(feature = "local-model") && var(ENV_LOCAL_MODEL).is_some(),
    };
    config
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use serde_json::json;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;
    use std::thread;

    use concierge_core::conversation::Turn;
    use futures::executor::block_on;

    use super::*;

    /// A one-connection-per-answer fake HTTP server: returns its base URL and a channel of
    /// `(request line, authorization header, body)`.
    fn fake_server(
        answers: Vec<(u16, String)>,
    ) -> (String, mpsc::Receiver<(String, String, Value)>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for (status, body) in answers {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream);
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                let (mut length, mut auth) = (0usize, String::new());
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    let (name, value) = line.split_once(':').unwrap();
                    match name.to_ascii_lowercase().as_str() {
                        "content-length" => length = value.trim().parse().unwrap(),
                        "authorization" => auth = value.trim().to_owned(),
                        _ => {}
                    }
                }
                let mut raw = vec![0; length];
                reader.read_exact(&mut raw).unwrap();
                let json: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
                tx.send((request_line.trim_end().to_owned(), auth, json))
                    .unwrap();
                let mut stream = reader.into_inner();
                write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
            }
        });
        (url, rx)
    }

    fn request() -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            system: "sys".into(),
            history: vec![Turn::user("hi"), Turn::assistant("hello")],
            user: "cakes?".into(),
            max_tokens: 50,
        }
    }

    #[test]
    fn chat_posts_the_conversation_with_the_bearer_key() {
        let (url, rx) = fake_server(vec![(
            200,
            r#"{"choices":[{"message":{"role":"assistant","content":"We have cakes."}}]}"#.into(),
        )]);
        let ai = OpenAiCompatible::new(&url, Some("sk-test".into()), DEFAULT_TIMEOUT);
        assert_eq!(block_on(ai.chat(&request())).unwrap(), "We have cakes.");
        let (line, auth, body) = rx.recv().unwrap();
        assert_eq!(line, "POST /v1/chat/completions HTTP/1.1");
        assert_eq!(auth, "Bearer sk-test");
        assert_eq!(body["model"], "m");
        let roles: Vec<&str> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
        assert_eq!(body["messages"][3]["content"], "cakes?");
    }

    #[test]
    fn embeddings_come_back_in_input_order() {
        let (url, rx) = fake_server(vec![(
            200,
            r#"{"data":[{"index":1,"embedding":[0.0,1.0]},{"index":0,"embedding":[1.0,0.0]}]}"#
                .into(),
        )]);
        let ai = OpenAiCompatible::new(&url, None, DEFAULT_TIMEOUT);
        let v = block_on(ai.embed("e", &["a".into(), "b".into()])).unwrap();
        assert_eq!(v, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
        let (line, auth, body) = rx.recv().unwrap();
        assert_eq!(line, "POST /v1/embeddings HTTP/1.1");
        assert_eq!(auth, "");
        assert_eq!(body["input"], json!(["a", "b"]));
    }

    #[test]
    fn failures_are_typed_errors() {
        let (url, _rx) = fake_server(vec![
            (500, r#"{"error":"boom"}"#.into()),
            (200, r#"{"choices":[]}"#.into()),
            (200, "not json".into()),
        ]);
        let ai = OpenAiCompatible::new(&url, None, DEFAULT_TIMEOUT);
        assert!(
            matches!(block_on(ai.chat(&request())), Err(AiError::Provider(m)) if m.contains("500"))
        );
        assert!(matches!(
            block_on(ai.chat(&request())),
            Err(AiError::BadResponse(_))
        ));
        assert!(matches!(
            block_on(ai.chat(&request())),
            Err(AiError::BadResponse(_))
        ));
        // Nothing listens any more: a connection error, not a panic.
        let gone = OpenAiCompatible::new("http://127.0.0.1:9/v1", None, Duration::from_secs(2));
        assert!(block_on(gone.chat(&request())).is_err());
    }

    #[test]
    fn the_environment_selects_the_provider() {
        let none = from_vars(|_| None).unwrap();
        assert!(none.is_none());
        let some = from_vars(|n| (n == ENV_URL).then(|| "http://localhost:1/v1/".to_owned()))
            .unwrap()
            .unwrap();
        assert_eq!(some.base_url(), "http://localhost:1/v1");
        let local = from_vars(|n| (n == ENV_LOCAL_MODEL).then(|| "model.gguf".to_owned()));
        if cfg!(feature = "local-model") {
            // The offline model is loaded by the caller; no HTTP provider, and not both.
            assert!(matches!(local, Ok(None)));
            let both = from_vars(|n| {
                (n == ENV_LOCAL_MODEL || n == ENV_URL).then(|| "http://localhost:1/v1".to_owned())
            });
            assert!(matches!(both, Err(CliError::BadInput(m)) if m.contains("not both")));
        } else {
            assert!(
                matches!(local, Err(CliError::BadInput(m)) if m.contains("not supported in this build"))
            );
        }
        let bad = from_vars(|n| (n == ENV_URL).then(|| "ftp://x".to_owned()));
        assert!(bad.is_err());
        // Local embeddings go with any chat model, or none (the embedder is loaded by the
        // caller); a build without the feature refuses them.
        let embeddings = from_vars(|n| {
            (n == ENV_LOCAL_EMBEDDING_MODEL).then(|| "models/all-MiniLM-L6-v2".to_owned())
        });
        let with_url = from_vars(|n| match n {
            ENV_LOCAL_EMBEDDING_MODEL => Some("models/all-MiniLM-L6-v2".to_owned()),
            ENV_URL => Some("http://localhost:1/v1".to_owned()),
            _ => None,
        });
        if cfg!(feature = "local-model") {
            assert!(matches!(embeddings, Ok(None)));
            assert!(matches!(with_url, Ok(Some(_))));
        } else {
            assert!(
                matches!(embeddings, Err(CliError::BadInput(m)) if m.contains("not supported in this build"))
            );
            assert!(with_url.is_err());
        }
    }

    #[test]
    fn local_embeddings_set_the_embedding_model_id_unless_one_is_named() {
        let default = config_from_vars(|_| None);
        assert_eq!(
            default.embedding_model,
            concierge_core::engine::DEFAULT_EMBEDDING_MODEL
        );
        let local =
            config_from_vars(|n| (n == ENV_LOCAL_EMBEDDING_MODEL).then(|| "dir".to_owned()));
        assert_eq!(local.embedding_model, "all-MiniLM-L6-v2");
        assert!(
            !local.strict_grounding && !local.compact_prompt,
            "embeddings alone are no small chat model"
        );
        let named = config_from_vars(|n| match n {
            ENV_LOCAL_EMBEDDING_MODEL => Some("dir".to_owned()),
            "CONCIERGE_EMBEDDING_MODEL" => Some("minilm-v2".to_owned()),
            _ => None,
        });
        assert_eq!(named.embedding_model, "minilm-v2");
        #[cfg(feature = "local-model")]
        assert_eq!(
            LOCAL_EMBEDDING_MODEL_ID,
            concierge_server::ai::LOCAL_EMBEDDING_MODEL_ID
        );
    }
}
