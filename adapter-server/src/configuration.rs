//! Configuration from the environment and an optional TOML file, validated at start.
//!
//! Every problem is reported (one line each), not just the first. Environment variables win
//! over the file. Secrets are held in [`Secret`], whose `Debug` never prints them.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use concierge_core::front::{OAuthClient, OAuthConfig};
use serde::Deserialize;

/// A secret string: never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself; use it, don't log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Every setting, as named in the environment (`DATABASE_URL`, ...).
pub const ENV_KEYS: &[&str] = &[
    "DATABASE_URL",
    "CONCIERGE_BIND",
    "WHATSAPP_APP_SECRET",
    "WHATSAPP_VERIFY_TOKEN",
    "INSTAGRAM_APP_SECRET",
    "INSTAGRAM_VERIFY_TOKEN",
    "DISCORD_PUBLIC_KEY",
    "DISCORD_BOT_TOKEN",
    "DISCORD_BOT_USER_ID",
    "ENCRYPTION_KEY",
    "CONCIERGE_SIGNING_KEY",
    "CONCIERGE_AI_URL",
    "CONCIERGE_AI_KEY",
    "AI_MODEL",
    "AI_FAST_MODEL",
    "EMBEDDING_MODEL",
    "CONCIERGE_GRAPH_API_URL",
    "CONCIERGE_DISCORD_API_URL",
    "CONCIERGE_SMTP_URL",
    "CONCIERGE_SMTP_FROM",
    "CONCIERGE_EMAIL_SECRET",
    "CONCIERGE_DRY_RUN",
    "CONCIERGE_ADMIN_TOKEN",
    "CONCIERGE_PUBLIC_URL",
    "CONCIERGE_WORKERS",
    "CONCIERGE_MAX_ATTEMPTS",
    "CONCIERGE_SHUTDOWN_SECONDS",
    "CONCIERGE_INJECTION_SCAN",
    "CONCIERGE_ROLLING_SUMMARY",
    "CONCIERGE_STRICT_GROUNDING",
    "CONCIERGE_COMPACT_PROMPT",
    "CONCIERGE_LOCAL_MODEL",
    "CONCIERGE_LOCAL_EMBEDDING_MODEL",
    "CONCIERGE_DEMO_PER_MINUTE",
    "CONCIERGE_DEMO_CONCURRENCY",
    "CONCIERGE_LEASE_SECONDS",
    "CONCIERGE_RETRY_BASE_MS",
    "CONCIERGE_RECONCILE_WINDOW_SECS",
    "CONCIERGE_OPEN_SIGNUP",
    "CONCIERGE_GOOGLE_CLIENT_ID",
    "CONCIERGE_GOOGLE_CLIENT_SECRET",
    "CONCIERGE_GOOGLE_AUTH_URL",
    "CONCIERGE_GOOGLE_TOKEN_URL",
    "CONCIERGE_GOOGLE_USERINFO_URL",
    "CONCIERGE_FACEBOOK_APP_ID",
    "CONCIERGE_FACEBOOK_APP_SECRET",
    "CONCIERGE_FACEBOOK_DIALOG_URL",
];

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `DATABASE_URL`: `sqlite:concierge.db` (default) or `postgres://…`.
    pub database_url: String,
    /// `CONCIERGE_BIND`: default `127.0.0.1:8080`.
    pub bind: SocketAddr,
    /// `WHATSAPP_APP_SECRET`: the Meta app secret (X-Hub-Signature-256).
    pub whatsapp_app_secret: Option<Secret>,
    /// `WHATSAPP_VERIFY_TOKEN`: the webhook subscription handshake token.
    pub whatsapp_verify_token: Option<Secret>,
    /// `INSTAGRAM_APP_SECRET`: defaults to the WhatsApp app secret (one Meta app).
    pub instagram_app_secret: Option<Secret>,
    /// `INSTAGRAM_VERIFY_TOKEN`: defaults to the WhatsApp verify token.
    pub instagram_verify_token: Option<Secret>,
    /// `DISCORD_PUBLIC_KEY`: hex Ed25519 key of the Discord application.
    pub discord_public_key: Option<String>,
    /// `DISCORD_BOT_TOKEN`: the shared bot's token.
    pub discord_bot_token: Option<Secret>,
    /// `DISCORD_BOT_USER_ID`: the bot's user id (mentions, own messages).
    pub discord_bot_user_id: String,
    /// `ENCRYPTION_KEY`: 32 bytes (hex or base64) sealing channel tokens (AES-256-GCM).
    pub encryption_key: Option<Secret>,
    /// `CONCIERGE_SIGNING_KEY`: key for approval links and Discord button ids.
    pub signing_key: Option<Secret>,
    /// `CONCIERGE_AI_URL`: an OpenAI-compatible base URL (`…/v1`); none → no AI provider.
    pub ai_url: Option<String>,
    /// `CONCIERGE_AI_KEY`: its bearer key.
    pub ai_key: Option<Secret>,
    /// `AI_MODEL`.
    pub ai_model: Option<String>,
    /// `AI_FAST_MODEL`.
    pub ai_fast_model: Option<String>,
    /// `EMBEDDING_MODEL`.
    pub embedding_model: Option<String>,
    /// `CONCIERGE_GRAPH_API_URL`: default `https://graph.facebook.com`.
    pub graph_api_url: String,
    /// `CONCIERGE_DISCORD_API_URL`: default `https://discord.com`.
    pub discord_api_url: String,
    /// `CONCIERGE_SMTP_URL`: `smtp://host:25`, `smtps://user:pass@host`, ...
    pub smtp_url: Option<Secret>,
    /// `CONCIERGE_SMTP_FROM`: the sender of pages and digests.
    pub smtp_from: String,
    /// `CONCIERGE_EMAIL_SECRET`: shared secret for `POST /email/inbound`.
    pub email_secret: Option<Secret>,
    /// `CONCIERGE_DRY_RUN=1`: record sends, don't perform them.
    pub dry_run: bool,
    /// `CONCIERGE_ADMIN_TOKEN`: bearer token of `/api/v1`; none → the admin API is off.
    pub admin_token: Option<Secret>,
    /// `CONCIERGE_PUBLIC_URL`: base of approval links.
    pub public_url: String,
    /// `CONCIERGE_WORKERS`: concurrent job workers (default 4; 0 = an ingress-only replica
    /// that stores webhooks and runs no jobs — another replica must run them).
    pub workers: usize,
    /// `CONCIERGE_MAX_ATTEMPTS`: attempts before dead-lettering (default 8).
    pub max_attempts: u32,
    /// `CONCIERGE_SHUTDOWN_SECONDS`: graceful shutdown deadline (default 10).
    pub shutdown_seconds: u64,
    /// `CONCIERGE_INJECTION_SCAN=0` turns the injection scan off.
    pub injection_scan: bool,
    /// `CONCIERGE_ROLLING_SUMMARY`: fold the turns past the history cap into a summary with the
    /// fast model. Default: on, off with the offline model (one small local model would spend
    /// a long call on every fold while other customers wait for it).
    pub rolling_summary: bool,
    /// `CONCIERGE_LOCAL_MODEL`: a GGUF file (feature `local-model`): the offline/basic mode.
    pub local_model: Option<PathBuf>,
    /// `CONCIERGE_LOCAL_EMBEDDING_MODEL`: the directory of all-MiniLM-L6-v2 (`config.json`,
    /// `tokenizer.json`, `model.safetensors`; feature `local-model`): embeddings computed here,
    /// with any chat model or none. The engine's embedding model id becomes
    /// `all-MiniLM-L6-v2` unless `EMBEDDING_MODEL` is set.
    pub local_embedding_model: Option<PathBuf>,
    /// `CONCIERGE_STRICT_GROUNDING`: hold the reply model to the knowledge base (an ungrounded
    /// reply becomes the best passage; a question nothing answers gets the "I don't know"
    /// line). Default: on with the offline model, off otherwise.
    pub strict_grounding: bool,
    /// `CONCIERGE_COMPACT_PROMPT`: the compact envelope and short replies for a small reply
    /// model (every prompt token costs it prefill time). Default: on with the offline model,
    /// off otherwise.
    pub compact_prompt: bool,
    /// `CONCIERGE_DEMO_PER_MINUTE`: demo chat turns per client IP per minute (a token bucket
    /// holding as many tokens); 0 turns `POST /demo/chat` off. Default 10.
    pub demo_per_minute: u32,
    /// `CONCIERGE_DEMO_CONCURRENCY`: demo chat turns in flight at once, all clients together
    /// (more wait in line for up to 5 s, then get 503). Default 4.
    pub demo_concurrency: usize,
    /// `CONCIERGE_LEASE_SECONDS`: how long a claimed job is held without a heartbeat before
    /// another worker rescues it (a killed process's jobs wait this long). Default 30.
    pub lease_seconds: u64,
    /// `CONCIERGE_RETRY_BASE_MS`: the first retry delay of a failed job, doubled per attempt
    /// (±25% jitter, at most 15 minutes). Default 2000.
    pub retry_base_ms: u64,
    /// `CONCIERGE_RECONCILE_WINDOW_SECS`: how long after a WhatsApp send attempt whose outcome
    /// is unknown (the process was killed, the request timed out) its status webhook is waited
    /// for before the part is sent again. 0 sends again at once (at-least-once). Default 60.
    pub reconcile_window_secs: u64,
    /// `CONCIERGE_OPEN_SIGNUP=1`: anyone may create a business and its owner account at
    /// `/dashboard/signup`. Default off: owners are created through the admin API
    /// (`PUT /api/v1/tenants/{tenant}/owners`).
    pub open_signup: bool,
    /// Owner sign-in with Google (`CONCIERGE_GOOGLE_CLIENT_ID` + `CONCIERGE_GOOGLE_CLIENT_SECRET`;
    /// endpoints overridable with `CONCIERGE_GOOGLE_AUTH_URL`, `_TOKEN_URL`, `_USERINFO_URL`)
    /// and Facebook (`CONCIERGE_FACEBOOK_APP_ID` + `CONCIERGE_FACEBOOK_APP_SECRET`; token and
    /// profile on `CONCIERGE_GRAPH_API_URL`, the dialog on `CONCIERGE_FACEBOOK_DIALOG_URL`).
    /// Register `{CONCIERGE_PUBLIC_URL}/auth/callback` and `/auth/facebook/callback`.
    pub oauth: OAuthConfig,
}

/// One configuration problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The setting.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// The configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file could not be read or parsed.
    #[error("configuration file {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Invalid settings, every one of them.
    #[error("invalid configuration:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
}

/// Raw values by environment name.
#[derive(Clone, Debug, Default)]
pub struct RawConfig {
    values: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct FileConfig(BTreeMap<String, toml::Value>);

impl RawConfig {
    /// Reads the process environment, over an optional TOML file whose keys are the same
    /// names (upper or lower case: `database_url = "…"`).
    ///
    /// # Errors
    /// [`ConfigError::File`].
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        let mut raw = RawConfig::default();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
            let parsed: FileConfig = toml::from_str(&text).map_err(|e| ConfigError::File {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
            for (k, v) in parsed.0 {
                let value = match v {
                    toml::Value::String(s) => s,
                    other => other.to_string(),
                };
                raw.values.insert(k.to_ascii_uppercase(), value);
            }
        }
        for key in ENV_KEYS {
            if let Ok(v) = std::env::var(key) {
                raw.values.insert((*key).to_owned(), v);
            }
        }
        Ok(raw)
    }

    /// From explicit pairs (tests).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        RawConfig {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    /// Sets one value.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.values.insert(key.to_owned(), value.into());
    }

    /// Removes a setting, as if it were not given (tests).
    pub fn remove(&mut self, key: &str) {
        self.values.remove(key);
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }

    /// Validates everything, reporting every problem.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`].
    pub fn validate(&self) -> Result<Settings, ConfigError> {
        let mut problems = Vec::new();
        let mut problem = |key: &str, message: String| {
            problems.push(Problem {
                key: key.to_owned(),
                message,
            })
        };
        let secret = |key: &str| self.get(key).map(Secret::new);

        let database_url = self
            .get("DATABASE_URL")
            .unwrap_or("sqlite:concierge.db")
            .to_owned();
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            problem(
                "DATABASE_URL",
                "must start with sqlite:, postgres:// or postgresql://".into(),
            );
        }
        let bind = match self
            .get("CONCIERGE_BIND")
            .unwrap_or("127.0.0.1:8080")
            .parse()
        {
            Ok(a) => a,
            Err(_) => {
                problem(
                    "CONCIERGE_BIND",
                    "must be an address and port, like 127.0.0.1:8080".into(),
                );
                SocketAddr::from(([127, 0, 0, 1], 8080))
            }
        };
        let discord_public_key = self.get("DISCORD_PUBLIC_KEY").map(str::to_owned);
        if let Some(k) = &discord_public_key {
            if concierge_core::channels::discord::DiscordPublicKey::parse(k).is_err() {
                problem(
                    "DISCORD_PUBLIC_KEY",
                    "must be the application's public key: 64 hex digits".into(),
                );
            }
        }
        let encryption_key = secret("ENCRYPTION_KEY");
        if let Some(k) = &encryption_key {
            if crate::store::SecretBox::from_config(k.expose()).is_err() {
                problem(
                    "ENCRYPTION_KEY",
                    "must be 32 bytes as 64 hex digits or base64 (e.g. `openssl rand -hex 32`)"
                        .into(),
                );
            }
        }
        let mut url = |key: &str, default: Option<&str>| -> Option<String> {
            let value = self.get(key).or(default)?;
            if value.starts_with("http://") || value.starts_with("https://") {
                Some(value.trim_end_matches('/').to_owned())
            } else {
                problem(key, "must be an http:// or https:// URL".into());
                None
            }
        };
        let ai_url = url("CONCIERGE_AI_URL", None);
        let graph_api_url = url(
            "CONCIERGE_GRAPH_API_URL",
            Some("https://graph.facebook.com"),
        )
        .unwrap_or_default();
        let discord_api_url =
            url("CONCIERGE_DISCORD_API_URL", Some("https://discord.com")).unwrap_or_default();
        let public_url =
            url("CONCIERGE_PUBLIC_URL", Some("http://127.0.0.1:8080")).unwrap_or_default();
        // Google's endpoints, overridable for a test's fake; Facebook's follow the Graph URL.
        let google_urls = [
            url(
                "CONCIERGE_GOOGLE_AUTH_URL",
                Some("https://accounts.google.com/o/oauth2/v2/auth"),
            ),
            url(
                "CONCIERGE_GOOGLE_TOKEN_URL",
                Some("https://oauth2.googleapis.com/token"),
            ),
            url(
                "CONCIERGE_GOOGLE_USERINFO_URL",
                Some("https://openidconnect.googleapis.com/v1/userinfo"),
            ),
        ];
        let facebook_dialog_url = url("CONCIERGE_FACEBOOK_DIALOG_URL", None);
        let smtp_url = secret("CONCIERGE_SMTP_URL");
        if let Some(s) = &smtp_url {
            let v = s.expose();
            if !(v.starts_with("smtp://") || v.starts_with("smtps://")) {
                problem(
                    "CONCIERGE_SMTP_URL",
                    "must start with smtp:// or smtps://".into(),
                );
            }
        }
        let flag =
            |key: &str, default: bool, problem: &mut dyn FnMut(&str, String)| match self.get(key) {
                None => default,
                Some("1" | "true" | "yes" | "on") => true,
                Some("0" | "false" | "no" | "off") => false,
                Some(_) => {
                    problem(key, "must be 1 or 0".into());
                    default
                }
            };
        let mut pair = |id: &str, secret_key: &str| match (self.get(id), secret(secret_key)) {
            (Some(id), Some(secret)) => Some((id.to_owned(), secret.expose().to_owned())),
            (None, None) => None,
            _ => {
                problem(
                    id,
                    format!("set both {id} and {secret_key} to turn this sign-in on, or neither"),
                );
                None
            }
        };
        let google = pair(
            "CONCIERGE_GOOGLE_CLIENT_ID",
            "CONCIERGE_GOOGLE_CLIENT_SECRET",
        );
        let facebook = pair("CONCIERGE_FACEBOOK_APP_ID", "CONCIERGE_FACEBOOK_APP_SECRET");
        let oauth = OAuthConfig {
            google: google.map(|(id, secret)| {
                let [auth, token, userinfo] = google_urls.map(Option::unwrap_or_default);
                OAuthClient {
                    authorize_url: auth,
                    token_url: token,
                    userinfo_url: userinfo,
                    ..OAuthClient::google(id, secret)
                }
            }),
            facebook: facebook.map(|(id, secret)| {
                let graph = format!(
                    "{graph_api_url}/{}",
                    concierge_core::channels::meta::GRAPH_API_VERSION
                );
                let client = OAuthClient::facebook(id, secret, &graph);
                match facebook_dialog_url {
                    Some(dialog) => OAuthClient {
                        authorize_url: dialog,
                        ..client
                    },
                    None => client,
                }
            }),
        };
        let dry_run = flag("CONCIERGE_DRY_RUN", false, &mut problem);
        let injection_scan = flag("CONCIERGE_INJECTION_SCAN", true, &mut problem);
        let rolling_summary = flag(
            "CONCIERGE_ROLLING_SUMMARY",
            self.get("CONCIERGE_LOCAL_MODEL").is_none(),
            &mut problem,
        );
        let open_signup = flag("CONCIERGE_OPEN_SIGNUP", false, &mut problem);
        let mut number = |key: &str, default: u64, range: std::ops::RangeInclusive<u64>| -> u64 {
            match self.get(key) {
                None => default,
                Some(v) => match v.parse::<u64>() {
                    Ok(n) if range.contains(&n) => n,
                    _ => {
                        problem(
                            key,
                            format!(
                                "must be a whole number from {} to {}",
                                range.start(),
                                range.end()
                            ),
                        );
                        default
                    }
                },
            }
        };
        let workers = number("CONCIERGE_WORKERS", 4, 0..=64);
        let max_attempts = number("CONCIERGE_MAX_ATTEMPTS", 8, 1..=100);
        let shutdown_seconds = number("CONCIERGE_SHUTDOWN_SECONDS", 10, 0..=600);
        let demo_per_minute = number("CONCIERGE_DEMO_PER_MINUTE", 10, 0..=100_000);
        let demo_concurrency = number("CONCIERGE_DEMO_CONCURRENCY", 4, 1..=1024);
        let lease_seconds = number("CONCIERGE_LEASE_SECONDS", 30, 2..=3600);
        let retry_base_ms = number("CONCIERGE_RETRY_BASE_MS", 2000, 10..=600_000);
        let reconcile_window_secs = number("CONCIERGE_RECONCILE_WINDOW_SECS", 60, 0..=86_400);
        let admin_token = secret("CONCIERGE_ADMIN_TOKEN");
        if admin_token.as_ref().is_some_and(|t| t.expose().len() < 16) {
            problem(
                "CONCIERGE_ADMIN_TOKEN",
                "must be at least 16 characters".into(),
            );
        }
        let local_model = self.get("CONCIERGE_LOCAL_MODEL").map(PathBuf::from);
        if let Some(p) = &local_model {
            if !p.is_file() {
                problem(
                    "CONCIERGE_LOCAL_MODEL",
                    format!("{} is not a readable file", p.display()),
                );
            } else if !cfg!(feature = "local-model") {
                problem(
                    "CONCIERGE_LOCAL_MODEL",
                    "this binary was built without the `local-model` feature (cargo build --features local-model)".into(),
                );
            } else if ai_url.is_some() {
                problem(
                    "CONCIERGE_LOCAL_MODEL",
                    "set either CONCIERGE_AI_URL or CONCIERGE_LOCAL_MODEL, not both".into(),
                );
            }
        }
        let local_embedding_model = self
            .get("CONCIERGE_LOCAL_EMBEDDING_MODEL")
            .map(PathBuf::from);
        if let Some(dir) = &local_embedding_model {
            if let Some(message) = crate::ai::embedding_model_problem(dir) {
                problem("CONCIERGE_LOCAL_EMBEDDING_MODEL", message);
            } else if !cfg!(feature = "local-model") {
                problem(
                    "CONCIERGE_LOCAL_EMBEDDING_MODEL",
                    "this binary was built without the `local-model` feature (cargo build --features local-model)".into(),
                );
            }
        }
        let strict_grounding = flag(
            "CONCIERGE_STRICT_GROUNDING",
            local_model.is_some(),
            &mut problem,
        );
        let compact_prompt = flag(
            "CONCIERGE_COMPACT_PROMPT",
            local_model.is_some(),
            &mut problem,
        );

        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        let whatsapp_app_secret = secret("WHATSAPP_APP_SECRET");
        let whatsapp_verify_token = secret("WHATSAPP_VERIFY_TOKEN");
        Ok(Settings {
            database_url,
            bind,
            instagram_app_secret: secret("INSTAGRAM_APP_SECRET")
                .or_else(|| whatsapp_app_secret.clone()),
            instagram_verify_token: secret("INSTAGRAM_VERIFY_TOKEN")
                .or_else(|| whatsapp_verify_token.clone()),
            whatsapp_app_secret,
            whatsapp_verify_token,
            discord_public_key,
            discord_bot_token: secret("DISCORD_BOT_TOKEN"),
            discord_bot_user_id: self.get("DISCORD_BOT_USER_ID").unwrap_or("").to_owned(),
            encryption_key,
            signing_key: secret("CONCIERGE_SIGNING_KEY"),
            ai_url,
            ai_key: secret("CONCIERGE_AI_KEY"),
            ai_model: self.get("AI_MODEL").map(str::to_owned),
            ai_fast_model: self.get("AI_FAST_MODEL").map(str::to_owned),
            embedding_model: self.get("EMBEDDING_MODEL").map(str::to_owned),
            graph_api_url,
            discord_api_url,
            smtp_url,
            smtp_from: self
                .get("CONCIERGE_SMTP_FROM")
                .unwrap_or("concierge@localhost")
                .to_owned(),
            email_secret: secret("CONCIERGE_EMAIL_SECRET"),
            dry_run,
            admin_token,
            public_url,
            workers: usize::try_from(workers).unwrap_or(4),
            max_attempts: u32::try_from(max_attempts).unwrap_or(8),
            shutdown_seconds,
            injection_scan,
            rolling_summary,
            local_model,
            local_embedding_model,
            strict_grounding,
            compact_prompt,
            demo_per_minute: u32::try_from(demo_per_minute).unwrap_or(10),
            demo_concurrency: usize::try_from(demo_concurrency).unwrap_or(4),
            lease_seconds,
            retry_base_ms,
            reconcile_window_secs,
            open_signup,
            oauth,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn every_variable_the_configuration_reads_is_read_from_the_environment() {
        // A key missing from ENV_KEYS can be set only in a config file: the environment's
        // value is silently ignored (CONCIERGE_STRICT_GROUNDING was, until this test).
        let source = include_str!("configuration.rs");
        let code = &source[..source.find("#[cfg(test)]").expect("the test module")];
        let read: Vec<&str> = code
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| {
                s.len() > 3
                    && s.starts_with(|c: char| c.is_ascii_uppercase())
                    && s.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            })
            .collect();
        assert!(read.contains(&"CONCIERGE_STRICT_GROUNDING"), "{read:?}");
        let missing: Vec<&&str> = read.iter().filter(|k| !ENV_KEYS.contains(k)).collect();
        assert!(missing.is_empty(), "not in ENV_KEYS: {missing:?}");
    }

    #[test]
    fn defaults_need_nothing() {
        let s = RawConfig::default().validate().expect("defaults");
        assert_eq!(s.database_url, "sqlite:concierge.db");
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert!(!s.dry_run);
        assert!(s.ai_url.is_none());
    }

    #[test]
    fn every_problem_is_reported() {
        let raw = RawConfig::from_pairs([
            ("DATABASE_URL", "mysql://x"),
            ("CONCIERGE_BIND", "nowhere"),
            ("ENCRYPTION_KEY", "short"),
            ("DISCORD_PUBLIC_KEY", "zz"),
            ("CONCIERGE_DRY_RUN", "maybe"),
            ("CONCIERGE_AI_URL", "ftp://x"),
            ("CONCIERGE_RECONCILE_WINDOW_SECS", "soon"),
        ]);
        let ConfigError::Invalid(problems) = raw.validate().expect_err("invalid") else {
            panic!("expected problems");
        };
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        for key in [
            "DATABASE_URL",
            "CONCIERGE_BIND",
            "ENCRYPTION_KEY",
            "DISCORD_PUBLIC_KEY",
            "CONCIERGE_DRY_RUN",
            "CONCIERGE_AI_URL",
            "CONCIERGE_RECONCILE_WINDOW_SECS",
        ] {
            assert!(keys.contains(&key), "{key} missing from {keys:?}");
        }
    }

    #[test]
    fn the_rolling_summary_is_on_unless_turned_off() {
        let summary = |pairs: &[(&str, &str)]| {
            RawConfig::from_pairs(pairs.iter().copied())
                .validate()
                .map(|s| s.rolling_summary)
        };
        assert!(summary(&[]).expect("default"));
        assert!(!summary(&[("CONCIERGE_ROLLING_SUMMARY", "0")]).expect("off"));
        assert!(summary(&[("CONCIERGE_ROLLING_SUMMARY", "maybe")]).is_err());
        assert!(ENV_KEYS.contains(&"CONCIERGE_ROLLING_SUMMARY"));
    }

    #[test]
    fn the_reconcile_window_is_seconds_within_a_day() {
        let window = |v: &str| {
            RawConfig::from_pairs([("CONCIERGE_RECONCILE_WINDOW_SECS", v)])
                .validate()
                .map(|s| s.reconcile_window_secs)
        };
        assert_eq!(
            RawConfig::default()
                .validate()
                .unwrap()
                .reconcile_window_secs,
            60
        );
        assert_eq!(window("0").unwrap(), 0);
        assert_eq!(window("5").unwrap(), 5);
        for bad in ["-1", "86401", "1.5", "1m"] {
            let Err(ConfigError::Invalid(problems)) = window(bad) else {
                panic!("{bad} accepted");
            };
            assert_eq!(problems.len(), 1, "one clear error for {bad}");
            assert_eq!(problems[0].key, "CONCIERGE_RECONCILE_WINDOW_SECS");
            assert!(
                problems[0].message.contains("0 to 86400"),
                "{}",
                problems[0]
            );
        }
    }

    #[test]
    fn a_local_model_must_exist_and_be_the_only_ai() {
        let raw = RawConfig::from_pairs([("CONCIERGE_LOCAL_MODEL", "/nonexistent/model.gguf")]);
        let ConfigError::Invalid(problems) = raw.validate().expect_err("missing file") else {
            panic!("expected problems");
        };
        assert_eq!(problems[0].key, "CONCIERGE_LOCAL_MODEL");
        assert!(problems[0].message.contains("not a readable file"));

        let file = tempfile::NamedTempFile::new().expect("temp file");
        let path = file.path().to_str().expect("utf-8 path");
        let alone = RawConfig::from_pairs([("CONCIERGE_LOCAL_MODEL", path)]).validate();
        let both = RawConfig::from_pairs([
            ("CONCIERGE_LOCAL_MODEL", path),
            ("CONCIERGE_AI_URL", "http://127.0.0.1:11434/v1"),
        ])
        .validate();
        if cfg!(feature = "local-model") {
            assert!(alone.is_ok());
            let ConfigError::Invalid(problems) = both.expect_err("both") else {
                panic!("expected problems");
            };
            assert!(problems[0].message.contains("not both"), "{problems:?}");
        } else {
            let ConfigError::Invalid(problems) = alone.expect_err("no feature") else {
                panic!("expected problems");
            };
            assert!(problems[0].message.contains("`local-model` feature"));
            assert!(both.is_err());
        }
    }

    #[test]
    fn a_local_model_for_embeddings_is_a_directory_with_its_three_files() {
        let problems_of = |dir: &str| match RawConfig::from_pairs([
            ("CONCIERGE_LOCAL_EMBEDDING_MODEL", dir),
            ("CONCIERGE_AI_URL", "http://127.0.0.1:11434/v1"),
        ])
        .validate()
        {
            Ok(s) => {
                assert_eq!(s.local_embedding_model.as_deref(), Some(Path::new(dir)));
                Vec::new()
            }
            Err(ConfigError::Invalid(problems)) => problems,
            Err(e) => panic!("{e}"),
        };
        let missing = problems_of("/nonexistent/all-MiniLM-L6-v2");
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert_eq!(missing[0].key, "CONCIERGE_LOCAL_EMBEDDING_MODEL");
        assert!(
            missing[0].message.contains("not a directory"),
            "{missing:?}"
        );

        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().to_str().expect("utf-8 path");
        std::fs::write(dir.path().join("config.json"), "{}").expect("write");
        let partial = problems_of(path);
        assert_eq!(partial.len(), 1, "{partial:?}");
        assert!(
            partial[0]
                .message
                .contains("has no tokenizer.json, model.safetensors"),
            "{partial:?}"
        );

        for f in ["tokenizer.json", "model.safetensors"] {
            std::fs::write(dir.path().join(f), "{}").expect("write");
        }
        // With an API chat model (above), with the local chat model, or alone.
        let file = tempfile::NamedTempFile::new().expect("temp file");
        let gguf = file.path().to_str().expect("utf-8 path");
        let with_local = RawConfig::from_pairs([
            ("CONCIERGE_LOCAL_EMBEDDING_MODEL", path),
            ("CONCIERGE_LOCAL_MODEL", gguf),
        ])
        .validate();
        let alone = RawConfig::from_pairs([("CONCIERGE_LOCAL_EMBEDDING_MODEL", path)]).validate();
        if cfg!(feature = "local-model") {
            assert!(problems_of(path).is_empty());
            assert!(with_local.is_ok());
            let alone = alone.expect("alone");
            assert!(
                !alone.strict_grounding && !alone.compact_prompt,
                "embeddings alone do not make the chat model small"
            );
        } else {
            let complete = problems_of(path);
            assert_eq!(complete.len(), 1, "{complete:?}");
            assert!(complete[0].message.contains("`local-model` feature"));
            assert!(with_local.is_err());
            assert!(alone.is_err());
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let s = RawConfig::from_pairs([("CONCIERGE_ADMIN_TOKEN", "0123456789abcdef-secret")])
            .validate()
            .expect("valid");
        assert!(!format!("{s:?}").contains("0123456789abcdef-secret"));
    }
}
