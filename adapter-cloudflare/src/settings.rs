//! The Worker's settings, read from `[vars]` and secrets through a lookup function and
//! validated before any request is served: a missing or weak secret is an error that names the
//! setting (never its value), not a silent default.
//!
//! Pure (compiled and unit-tested on the native host too); `worker_app::config` binds it to the
//! Worker's `Env`.

use concierge_core::channels::discord::DiscordPublicKey;
use concierge_core::engine::{DEFAULT_AI_FAST_MODEL, DEFAULT_AI_MODEL, DEFAULT_EMBEDDING_MODEL};
use concierge_core::front::{AccessPolicy, FrontConfig, OAuthClient, OAuthConfig};
use concierge_core::secrets::SecretBox;
use concierge_core::time::Span;
use concierge_core::EngineConfig;

/// The shortest `SIGNING_KEY` accepted, in bytes (`openssl rand -hex 32` gives 64).
pub const MIN_SIGNING_KEY_BYTES: usize = 32;

/// How long an in-doubt WhatsApp part waits for its status webhook by default (as on the
/// server).
pub const DEFAULT_RECONCILE_WINDOW: Span = Span::seconds(60);

/// Which model provider answers the engine's AI port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AiChoice {
    /// The Workers AI binding `AI` (production default).
    WorkersAi,
    /// An OpenAI-compatible endpoint at this base URL (e.g. `https://api.openai.com/v1`).
    OpenAi(String),
    /// No model: canned rules answer, AI rules record "no AI provider".
    None,
}

/// A setting that stops the Worker from serving.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettingsError {
    /// `SIGNING_KEY` is unset or blank: approval buttons and links would be forgeable.
    MissingSigningKey,
    /// `SIGNING_KEY` is shorter than [`MIN_SIGNING_KEY_BYTES`].
    ShortSigningKey {
        /// Its length in bytes.
        len: usize,
    },
    /// `AI_PROVIDER` names no provider this Worker knows.
    UnknownAiProvider(String),
    /// `AI_PROVIDER = "openai"` without `OPENAI_BASE_URL`.
    MissingOpenAiBaseUrl,
    /// A setting that counts seconds is not a whole number of them.
    NotSeconds(&'static str),
    /// A setting that counts something is not a whole number in its range.
    NotANumber(&'static str),
    /// `DISCORD_PUBLIC_KEY` is not the developer portal's 64-hex-character key.
    BadDiscordPublicKey,
    /// `CONCIERGE_ADMIN_TOKEN` is shorter than 16 characters.
    ShortAdminToken,
    /// `ENCRYPTION_KEY` is not 32 bytes as 64 hex digits or base64.
    BadEncryptionKey,
    /// A switch is not `1` or `0` (also `true`/`false`, `yes`/`no`, `on`/`off`).
    NotAFlag(&'static str),
    /// One of two settings that go together (an identity provider's id and secret, Access's
    /// team domain and AUD tag) is set without the other.
    HalfOAuthClient(&'static str, &'static str),
}

impl std::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingsError::MissingSigningKey => write!(
                f,
                "SIGNING_KEY is not set: set it to {MIN_SIGNING_KEY_BYTES}+ random bytes \
                 (`openssl rand -hex 32 | wrangler secret put SIGNING_KEY`)"
            ),
            SettingsError::ShortSigningKey { len } => write!(
                f,
                "SIGNING_KEY is {len} bytes: use at least {MIN_SIGNING_KEY_BYTES} random bytes"
            ),
            SettingsError::UnknownAiProvider(name) => write!(
                f,
                "AI_PROVIDER `{name}` is not one of `workers-ai`, `openai`, `none`"
            ),
            SettingsError::MissingOpenAiBaseUrl => {
                write!(f, "AI_PROVIDER is `openai` but OPENAI_BASE_URL is not set")
            }
            SettingsError::NotSeconds(name) => {
                write!(f, "{name} must be a whole number of seconds")
            }
            SettingsError::NotANumber(name) => {
                write!(f, "{name} must be a whole number from 0 to 100000")
            }
            SettingsError::BadDiscordPublicKey => write!(
                f,
                "DISCORD_PUBLIC_KEY must be the 64 hex characters of the developer portal's Public Key"
            ),
            SettingsError::ShortAdminToken => {
                write!(f, "CONCIERGE_ADMIN_TOKEN must be at least 16 characters")
            }
            SettingsError::BadEncryptionKey => write!(
                f,
                "ENCRYPTION_KEY must be 32 bytes as 64 hex digits or base64 \
                 (`openssl rand -hex 32 | wrangler secret put ENCRYPTION_KEY`)"
            ),
            SettingsError::NotAFlag(name) => write!(f, "{name} must be 1 or 0"),
            SettingsError::HalfOAuthClient(id, secret) => write!(
                f,
                "set both {id} and {secret}, or neither"
            ),
        }
    }
}

impl std::error::Error for SettingsError {}

/// The Worker's settings.
#[derive(Clone)]
pub struct Settings {
    /// The model provider.
    pub ai: AiChoice,
    /// The OpenAI-compatible endpoint's key, if any.
    pub openai_api_key: Option<String>,
    /// The reply model.
    pub reply_model: String,
    /// The fast model (classifiers).
    pub fast_model: String,
    /// The embedding model.
    pub embedding_model: String,
    /// The Graph API base URL.
    pub graph_base: String,
    /// The Discord API base URL.
    pub discord_base: String,
    /// The Meta access token.
    pub meta_token: Option<String>,
    /// The Discord bot token.
    pub discord_bot_token: Option<String>,
    /// The key of approval links and Discord button ids.
    pub signing_key: Vec<u8>,
    /// The Worker's public URL (approval links).
    pub public_base_url: String,
    /// The `From` of system mail.
    pub system_from: String,
    /// Whether the injection scan runs.
    pub injection_scan: bool,
    /// Whether turns past the history cap are folded into a summary (`ROLLING_SUMMARY`,
    /// default on; `0` or `false` drops them unread as before).
    pub rolling_summary: bool,
    /// How long after an in-doubt WhatsApp attempt its status webhook is waited for before the
    /// part is sent again (`RECONCILE_WINDOW_SECS`).
    pub reconcile_window: Span,
    /// Meta's `hub.verify_token` for the WhatsApp webhook.
    pub whatsapp_verify_token: Option<String>,
    /// The Meta app secret of the WhatsApp webhook.
    pub whatsapp_app_secret: Option<String>,
    /// Meta's `hub.verify_token` for the Instagram webhook (default: WhatsApp's).
    pub instagram_verify_token: Option<String>,
    /// The Meta app secret of the Instagram webhook (default: WhatsApp's).
    pub instagram_app_secret: Option<String>,
    /// The Discord application's public key (validated).
    pub discord_public_key: Option<DiscordPublicKey>,
    /// The shared bot's Discord user id.
    pub discord_bot_user_id: String,
    /// The bearer secret of `POST /email/inbound`.
    pub email_secret: Option<String>,
    /// The bearer token of `/api/v1` (off when unset).
    pub admin_token: Option<String>,
    /// Demo chat turns per client per minute and isolate (`DEMO_PER_MINUTE`, default 10; 0
    /// turns the demo chat off).
    pub demo_per_minute: u32,
    /// The key sealing per-tenant channel tokens at rest (`ENCRYPTION_KEY`); without it,
    /// tokens cannot be stored and every Graph send uses `META_ACCESS_TOKEN`.
    pub encryption_key: Option<SecretBox>,
    /// `DRY_RUN=1`: sends are recorded in the outbox (with the message), never performed.
    pub dry_run: bool,
    /// `OPEN_SIGNUP=1`: anyone may create a business and its owner at `/dashboard/signup`
    /// (default off: the operator creates owners through the admin API).
    pub open_signup: bool,
    /// Owner sign-in with Google (`GOOGLE_CLIENT_ID` + `GOOGLE_CLIENT_SECRET`; endpoints
    /// overridable with `GOOGLE_AUTH_URL`, `GOOGLE_TOKEN_URL`, `GOOGLE_USERINFO_URL`) and
    /// Facebook (`FACEBOOK_APP_ID` + `FACEBOOK_APP_SECRET`; token and profile on
    /// `GRAPH_API_BASE`, the dialog on `FACEBOOK_DIALOG_URL`).
    pub oauth: OAuthConfig,
    /// Cloudflare Access in front of `/manage` (`ACCESS_TEAM_DOMAIN`, e.g.
    /// `https://acme.cloudflareaccess.com`, and `ACCESS_AUD`, the application's AUD tag; both
    /// or neither). Set, the panel admits only the team's signed operators.
    pub access: Option<AccessPolicy>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets stay out of every log line.
        f.debug_struct("Settings")
            .field("ai", &self.ai)
            .field("reply_model", &self.reply_model)
            .field("graph_base", &self.graph_base)
            .field("discord_base", &self.discord_base)
            .field("encryption_key", &self.encryption_key.is_some())
            .field("dry_run", &self.dry_run)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Reads and validates every setting; `lookup(name)` returns a var or secret, blank as
    /// `None`. Unset models take the engine's defaults.
    ///
    /// # Errors
    /// The first [`SettingsError`] found.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let text = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let ai = match text("AI_PROVIDER").as_deref().map(str::trim) {
            None | Some("workers-ai") => AiChoice::WorkersAi,
            Some("openai") => match text("OPENAI_BASE_URL") {
                Some(base) => AiChoice::OpenAi(base.trim().trim_end_matches('/').to_owned()),
                None => return Err(SettingsError::MissingOpenAiBaseUrl),
            },
            Some("none") => AiChoice::None,
            Some(other) => return Err(SettingsError::UnknownAiProvider(other.to_owned())),
        };
        let signing_key = text("SIGNING_KEY")
            .ok_or(SettingsError::MissingSigningKey)?
            .into_bytes();
        if signing_key.len() < MIN_SIGNING_KEY_BYTES {
            return Err(SettingsError::ShortSigningKey {
                len: signing_key.len(),
            });
        }
        let reconcile_window = match text("RECONCILE_WINDOW_SECS") {
            None => DEFAULT_RECONCILE_WINDOW,
            Some(v) => v
                .trim()
                .parse::<u32>()
                .map(|secs| Span::seconds(i64::from(secs)))
                .map_err(|_| SettingsError::NotSeconds("RECONCILE_WINDOW_SECS"))?,
        };
        let discord_public_key = match text("DISCORD_PUBLIC_KEY") {
            None => None,
            Some(k) => Some(
                DiscordPublicKey::parse(k.trim())
                    .map_err(|_| SettingsError::BadDiscordPublicKey)?,
            ),
        };
        let admin_token = text("CONCIERGE_ADMIN_TOKEN");
        if admin_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(SettingsError::ShortAdminToken);
        }
        let demo_per_minute = match text("DEMO_PER_MINUTE") {
            None => 10,
            Some(v) => v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= 100_000)
                .ok_or(SettingsError::NotANumber("DEMO_PER_MINUTE"))?,
        };
        let encryption_key = match text("ENCRYPTION_KEY") {
            None => None,
            Some(k) => {
                Some(SecretBox::from_config(&k).map_err(|_| SettingsError::BadEncryptionKey)?)
            }
        };
        let dry_run = match text("DRY_RUN").as_deref().map(str::trim) {
            None | Some("0" | "false" | "no" | "off") => false,
            Some("1" | "true" | "yes" | "on") => true,
            Some(_) => return Err(SettingsError::NotAFlag("DRY_RUN")),
        };
        let open_signup = match text("OPEN_SIGNUP").as_deref().map(str::trim) {
            None | Some("0" | "false" | "no" | "off") => false,
            Some("1" | "true" | "yes" | "on") => true,
            Some(_) => return Err(SettingsError::NotAFlag("OPEN_SIGNUP")),
        };
        let pair = |id: &'static str, secret: &'static str| match (text(id), text(secret)) {
            (Some(id), Some(secret)) => Ok(Some((id.trim().to_owned(), secret))),
            (None, None) => Ok(None),
            _ => Err(SettingsError::HalfOAuthClient(id, secret)),
        };
        let graph_base =
            text("GRAPH_API_BASE").unwrap_or_else(|| "https://graph.facebook.com".to_owned());
        let oauth = OAuthConfig {
            google: pair("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET")?.map(|(id, secret)| {
                let default = OAuthClient::google(id, secret);
                OAuthClient {
                    authorize_url: text("GOOGLE_AUTH_URL")
                        .unwrap_or_else(|| default.authorize_url.clone()),
                    token_url: text("GOOGLE_TOKEN_URL")
                        .unwrap_or_else(|| default.token_url.clone()),
                    userinfo_url: text("GOOGLE_USERINFO_URL")
                        .unwrap_or_else(|| default.userinfo_url.clone()),
                    ..default
                }
            }),
            facebook: pair("FACEBOOK_APP_ID", "FACEBOOK_APP_SECRET")?.map(|(id, secret)| {
                let graph = format!(
                    "{}/{}",
                    graph_base.trim_end_matches('/'),
                    concierge_core::channels::meta::GRAPH_API_VERSION
                );
                let default = OAuthClient::facebook(id, secret, &graph);
                OAuthClient {
                    authorize_url: text("FACEBOOK_DIALOG_URL")
                        .unwrap_or_else(|| default.authorize_url.clone()),
                    ..default
                }
            }),
        };
        let access = match (text("ACCESS_TEAM_DOMAIN"), text("ACCESS_AUD")) {
            (Some(team), Some(aud)) => {
                let team = team.trim().trim_end_matches('/');
                // A bare team name, a host, or a full URL (a test's local http:// key server).
                let issuer = if team.starts_with("https://") || team.starts_with("http://") {
                    team.to_owned()
                } else if team.contains('.') {
                    format!("https://{team}")
                } else {
                    format!("https://{team}.cloudflareaccess.com")
                };
                Some(AccessPolicy {
                    issuer,
                    audience: aud.trim().to_owned(),
                })
            }
            (None, None) => None,
            _ => {
                return Err(SettingsError::HalfOAuthClient(
                    "ACCESS_TEAM_DOMAIN",
                    "ACCESS_AUD",
                ))
            }
        };
        let whatsapp_verify_token = text("WHATSAPP_VERIFY_TOKEN");
        let whatsapp_app_secret = text("WHATSAPP_APP_SECRET");
        Ok(Settings {
            oauth,
            access,
            instagram_verify_token: text("INSTAGRAM_VERIFY_TOKEN")
                .or_else(|| whatsapp_verify_token.clone()),
            instagram_app_secret: text("INSTAGRAM_APP_SECRET")
                .or_else(|| whatsapp_app_secret.clone()),
            whatsapp_verify_token,
            whatsapp_app_secret,
            discord_public_key,
            discord_bot_user_id: text("DISCORD_BOT_USER_ID").unwrap_or_default(),
            email_secret: text("CONCIERGE_EMAIL_SECRET"),
            admin_token,
            demo_per_minute,
            encryption_key,
            dry_run,
            open_signup,
            ai,
            openai_api_key: text("OPENAI_API_KEY"),
            reply_model: text("AI_MODEL").unwrap_or_else(|| DEFAULT_AI_MODEL.to_owned()),
            fast_model: text("AI_FAST_MODEL").unwrap_or_else(|| DEFAULT_AI_FAST_MODEL.to_owned()),
            embedding_model: text("EMBEDDING_MODEL")
                .unwrap_or_else(|| DEFAULT_EMBEDDING_MODEL.to_owned()),
            graph_base,
            discord_base: text("DISCORD_API_BASE")
                .unwrap_or_else(|| "https://discord.com".to_owned()),
            meta_token: text("META_ACCESS_TOKEN"),
            discord_bot_token: text("DISCORD_BOT_TOKEN"),
            signing_key,
            public_base_url: text("PUBLIC_BASE_URL")
                .unwrap_or_else(|| "http://127.0.0.1:8787".to_owned()),
            system_from: text("SYSTEM_FROM").unwrap_or_else(|| "concierge@cncg.email".to_owned()),
            injection_scan: text("INJECTION_SCAN").as_deref() != Some("false"),
            rolling_summary: !matches!(
                text("ROLLING_SUMMARY").as_deref(),
                Some("0" | "false" | "no" | "off")
            ),
            reconcile_window,
        })
    }

    /// The front's secrets and switches.
    pub fn front_config(&self) -> FrontConfig {
        FrontConfig {
            whatsapp_verify_token: self.whatsapp_verify_token.clone(),
            whatsapp_app_secret: self.whatsapp_app_secret.clone(),
            instagram_verify_token: self.instagram_verify_token.clone(),
            instagram_app_secret: self.instagram_app_secret.clone(),
            discord_public_key: self.discord_public_key.clone(),
            discord_bot_user_id: self.discord_bot_user_id.clone(),
            email_secret: self.email_secret.clone(),
            admin_token: self.admin_token.clone(),
            ai_setup_hint: "the demo needs an AI provider (AI_PROVIDER)",
            open_signup: self.open_signup,
            oauth: self.oauth.clone(),
            // The gate (and its cached key set) is per isolate: routes.rs sets it.
            access: None,
        }
    }

    /// The engine's configuration.
    pub fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            reply_model: self.reply_model.clone(),
            fast_model: self.fast_model.clone(),
            embedding_model: self.embedding_model.clone(),
            signing_key: self.signing_key.clone(),
            public_base_url: self.public_base_url.clone(),
            injection_scan: self.injection_scan,
            rolling_summary: self.rolling_summary,
            ..EngineConfig::default()
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        Settings::from_lookup(|name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn a_signing_key_is_required_and_must_be_long_enough() {
        assert_eq!(settings(&[]).unwrap_err(), SettingsError::MissingSigningKey);
        assert_eq!(
            settings(&[("SIGNING_KEY", "   ")]).unwrap_err(),
            SettingsError::MissingSigningKey,
            "blank is unset"
        );
        let short = settings(&[("SIGNING_KEY", "short")]).unwrap_err();
        assert_eq!(short, SettingsError::ShortSigningKey { len: 5 });
        assert!(
            !short.to_string().contains("short"),
            "the value is never shown"
        );
        let s = settings(&[("SIGNING_KEY", KEY)]).unwrap();
        assert_eq!(s.signing_key, KEY.as_bytes());
        assert_eq!(s.engine_config().signing_key, KEY.as_bytes());
    }

    #[test]
    fn the_ai_provider_is_one_we_know() {
        let ai = |p: &[(&str, &str)]| {
            let mut pairs = vec![("SIGNING_KEY", KEY)];
            pairs.extend_from_slice(p);
            settings(&pairs).map(|s| s.ai)
        };
        assert_eq!(ai(&[]).unwrap(), AiChoice::WorkersAi);
        assert_eq!(ai(&[("AI_PROVIDER", "none")]).unwrap(), AiChoice::None);
        assert_eq!(
            ai(&[
                ("AI_PROVIDER", "openai"),
                ("OPENAI_BASE_URL", "http://x/v1/")
            ])
            .unwrap(),
            AiChoice::OpenAi("http://x/v1".into())
        );
        assert_eq!(
            ai(&[("AI_PROVIDER", "openai")]).unwrap_err(),
            SettingsError::MissingOpenAiBaseUrl
        );
        assert_eq!(
            ai(&[("AI_PROVIDER", "gpt")]).unwrap_err(),
            SettingsError::UnknownAiProvider("gpt".into())
        );
    }

    #[test]
    fn identity_providers_and_access_need_both_of_their_settings() {
        let with = |p: &[(&str, &str)]| {
            let mut pairs = vec![("SIGNING_KEY", KEY)];
            pairs.extend_from_slice(p);
            settings(&pairs)
        };
        let none = with(&[]).unwrap();
        assert!(
            none.oauth.google.is_none() && none.oauth.facebook.is_none() && none.access.is_none()
        );
        assert_eq!(
            with(&[("GOOGLE_CLIENT_ID", "id")]).unwrap_err(),
            SettingsError::HalfOAuthClient("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET")
        );
        assert_eq!(
            with(&[("FACEBOOK_APP_SECRET", "s")]).unwrap_err(),
            SettingsError::HalfOAuthClient("FACEBOOK_APP_ID", "FACEBOOK_APP_SECRET")
        );
        assert_eq!(
            with(&[("ACCESS_AUD", "aud")]).unwrap_err(),
            SettingsError::HalfOAuthClient("ACCESS_TEAM_DOMAIN", "ACCESS_AUD")
        );
        let s = with(&[
            ("GOOGLE_CLIENT_ID", "gid"),
            ("GOOGLE_CLIENT_SECRET", "gsecret-value"),
            ("FACEBOOK_APP_ID", "fid"),
            ("FACEBOOK_APP_SECRET", "fsecret-value"),
            ("GRAPH_API_BASE", "http://127.0.0.1:9/"),
            ("ACCESS_TEAM_DOMAIN", "acme"),
            ("ACCESS_AUD", "aud-tag"),
        ])
        .unwrap();
        let google = s.oauth.google.as_ref().unwrap();
        assert_eq!(google.token_url, "https://oauth2.googleapis.com/token");
        let facebook = s.oauth.facebook.as_ref().unwrap();
        assert_eq!(
            facebook.token_url,
            "http://127.0.0.1:9/v21.0/oauth/access_token"
        );
        assert_eq!(
            facebook.authorize_url,
            "https://www.facebook.com/v21.0/dialog/oauth"
        );
        let access = s.access.as_ref().unwrap();
        assert_eq!(access.issuer, "https://acme.cloudflareaccess.com");
        assert_eq!(
            access.certs_url(),
            "https://acme.cloudflareaccess.com/cdn-cgi/access/certs"
        );
        let debug = format!("{:?}", s.front_config());
        assert!(
            !debug.contains("gsecret-value") && !debug.contains("fsecret-value"),
            "{debug}"
        );
    }

    #[test]
    fn unset_settings_take_the_defaults() {
        let s = settings(&[("SIGNING_KEY", KEY)]).unwrap();
        assert_eq!(s.reply_model, DEFAULT_AI_MODEL);
        assert_eq!(s.graph_base, "https://graph.facebook.com");
        assert!(s.injection_scan);
        assert!(s.rolling_summary && s.engine_config().rolling_summary);
        let off = settings(&[("SIGNING_KEY", KEY), ("ROLLING_SUMMARY", "0")]).unwrap();
        assert!(!off.engine_config().rolling_summary);
        assert_eq!(s.reconcile_window, DEFAULT_RECONCILE_WINDOW);
        assert!(!format!("{s:?}").contains(KEY), "Debug hides secrets");
    }

    #[test]
    fn front_secrets_are_validated_and_instagram_defaults_to_whatsapp() {
        let with = |p: &[(&str, &str)]| {
            let mut pairs = vec![("SIGNING_KEY", KEY)];
            pairs.extend_from_slice(p);
            settings(&pairs)
        };
        assert_eq!(
            with(&[("DISCORD_PUBLIC_KEY", "abc")]).unwrap_err(),
            SettingsError::BadDiscordPublicKey
        );
        assert_eq!(
            with(&[("CONCIERGE_ADMIN_TOKEN", "short")]).unwrap_err(),
            SettingsError::ShortAdminToken
        );
        assert_eq!(
            with(&[("DEMO_PER_MINUTE", "lots")]).unwrap_err(),
            SettingsError::NotANumber("DEMO_PER_MINUTE")
        );
        let s = with(&[("WHATSAPP_APP_SECRET", "meta-secret")]).unwrap();
        assert_eq!(s.instagram_app_secret.as_deref(), Some("meta-secret"));
        assert_eq!(s.demo_per_minute, 10);
        assert!(!format!("{:?}", s.front_config()).contains("meta-secret"));
    }

    #[test]
    fn the_encryption_key_is_32_bytes_and_dry_run_a_flag() {
        let with = |p: &[(&str, &str)]| {
            let mut pairs = vec![("SIGNING_KEY", KEY)];
            pairs.extend_from_slice(p);
            settings(&pairs)
        };
        let s = with(&[]).unwrap();
        assert!(s.encryption_key.is_none(), "optional");
        assert!(!s.dry_run);
        let hex = "ab".repeat(32);
        let s = with(&[("ENCRYPTION_KEY", &hex), ("DRY_RUN", "1")]).unwrap();
        assert!(s.dry_run);
        let sealed = s
            .encryption_key
            .as_ref()
            .unwrap()
            .seal("wa_phone:1", "token", [0; 12])
            .unwrap();
        assert_eq!(
            SecretBox::from_config(&hex)
                .unwrap()
                .open("wa_phone:1", &sealed)
                .unwrap(),
            "token"
        );
        assert!(!format!("{s:?}").contains(&hex), "Debug hides the key");
        for bad in ["short", &"ab".repeat(31)] {
            let e = with(&[("ENCRYPTION_KEY", bad)]).unwrap_err();
            assert_eq!(e, SettingsError::BadEncryptionKey);
            assert!(!e.to_string().contains(bad), "the value is never shown");
        }
        assert!(!with(&[("DRY_RUN", "0")]).unwrap().dry_run);
        assert!(with(&[("DRY_RUN", " true ")]).unwrap().dry_run);
        assert!(!s.open_signup, "signup is closed by default");
        assert!(with(&[("OPEN_SIGNUP", "1")]).unwrap().open_signup);
        assert_eq!(
            with(&[("OPEN_SIGNUP", "sure")]).unwrap_err(),
            SettingsError::NotAFlag("OPEN_SIGNUP")
        );
        assert_eq!(
            with(&[("DRY_RUN", "maybe")]).unwrap_err(),
            SettingsError::NotAFlag("DRY_RUN")
        );
    }

    #[test]
    fn the_reconcile_window_is_whole_seconds() {
        let window = |v: &str| {
            settings(&[("SIGNING_KEY", KEY), ("RECONCILE_WINDOW_SECS", v)])
                .map(|s| s.reconcile_window)
        };
        assert_eq!(window("3").unwrap(), Span::seconds(3));
        assert_eq!(window(" 0 ").unwrap(), Span::ZERO);
        for bad in ["-1", "1.5", "soon"] {
            assert_eq!(
                window(bad).unwrap_err(),
                SettingsError::NotSeconds("RECONCILE_WINDOW_SECS")
            );
        }
    }
}
