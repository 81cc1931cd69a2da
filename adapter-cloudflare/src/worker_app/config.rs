//! Configuration from `[vars]` and secrets. Secrets are read here and nowhere logged.

use concierge_core::engine::{DEFAULT_AI_FAST_MODEL, DEFAULT_AI_MODEL, DEFAULT_EMBEDDING_MODEL};
use concierge_core::EngineConfig;
use worker::Env;

/// A text binding (a `[vars]` entry or a secret); blank counts as unset.
pub(crate) fn text(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.to_string())
        .or_else(|_| env.secret(name).map(|v| v.to_string()))
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// Which model provider answers the engine's AI port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AiChoice {
    /// The Workers AI binding `AI` (production default).
    WorkersAi,
    /// An OpenAI-compatible endpoint at this base URL (e.g. `https://api.openai.com/v1`).
    OpenAi(String),
    /// No model: canned rules answer, AI rules record "no AI provider".
    None,
}

/// The Worker's settings.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) ai: AiChoice,
    pub(crate) openai_api_key: Option<String>,
    pub(crate) reply_model: String,
    pub(crate) fast_model: String,
    pub(crate) embedding_model: String,
    pub(crate) graph_base: String,
    pub(crate) discord_base: String,
    pub(crate) meta_token: Option<String>,
    pub(crate) discord_bot_token: Option<String>,
    pub(crate) signing_key: Vec<u8>,
    pub(crate) public_base_url: String,
    pub(crate) system_from: String,
    pub(crate) injection_scan: bool,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets stay out of every log line.
        f.debug_struct("Config")
            .field("ai", &self.ai)
            .field("reply_model", &self.reply_model)
            .field("graph_base", &self.graph_base)
            .field("discord_base", &self.discord_base)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Reads every setting, with the engine's defaults for unset models.
    pub(crate) fn from_env(env: &Env) -> Self {
        let ai = match text(env, "AI_PROVIDER").as_deref().map(str::trim) {
            Some("openai") => match text(env, "OPENAI_BASE_URL") {
                Some(base) => AiChoice::OpenAi(base.trim_end_matches('/').to_owned()),
                None => AiChoice::None,
            },
            Some("none") => AiChoice::None,
            _ => AiChoice::WorkersAi,
        };
        Config {
            ai,
            openai_api_key: text(env, "OPENAI_API_KEY"),
            reply_model: text(env, "AI_MODEL").unwrap_or_else(|| DEFAULT_AI_MODEL.to_owned()),
            fast_model: text(env, "AI_FAST_MODEL")
                .unwrap_or_else(|| DEFAULT_AI_FAST_MODEL.to_owned()),
            embedding_model: text(env, "EMBEDDING_MODEL")
                .unwrap_or_else(|| DEFAULT_EMBEDDING_MODEL.to_owned()),
            graph_base: text(env, "GRAPH_API_BASE")
                .unwrap_or_else(|| "https://graph.facebook.com".to_owned()),
            discord_base: text(env, "DISCORD_API_BASE")
                .unwrap_or_else(|| "https://discord.com".to_owned()),
            meta_token: text(env, "META_ACCESS_TOKEN"),
            discord_bot_token: text(env, "DISCORD_BOT_TOKEN"),
            signing_key: text(env, "SIGNING_KEY")
                .map(String::into_bytes)
                .unwrap_or_default(),
            public_base_url: text(env, "PUBLIC_BASE_URL")
                .unwrap_or_else(|| "http://127.0.0.1:8787".to_owned()),
            system_from: text(env, "SYSTEM_FROM")
                .unwrap_or_else(|| "concierge@cncg.email".to_owned()),
            injection_scan: text(env, "INJECTION_SCAN").as_deref() != Some("false"),
        }
    }

    /// The engine's configuration.
    pub(crate) fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            reply_model: self.reply_model.clone(),
            fast_model: self.fast_model.clone(),
            embedding_model: self.embedding_model.clone(),
            signing_key: self.signing_key.clone(),
            public_base_url: self.public_base_url.clone(),
            injection_scan: self.injection_scan,
            ..EngineConfig::default()
        }
    }
}
