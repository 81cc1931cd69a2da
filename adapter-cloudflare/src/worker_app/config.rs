//! Configuration from `[vars]` and secrets, bound to the Worker's `Env`. The settings and their
//! validation live in [`crate::settings`]; secrets are read here and nowhere logged.

use worker::Env;

pub(crate) use crate::settings::{AiChoice, Settings as Config};

/// A text binding (a `[vars]` entry or a secret); blank counts as unset.
pub(crate) fn text(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.to_string())
        .or_else(|_| env.secret(name).map(|v| v.to_string()))
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// Reads and validates the settings.
///
/// # Errors
/// A misconfiguration, as a `worker::Error` naming the setting (never its value).
pub(crate) fn from_env(env: &Env) -> worker::Result<Config> {
    Config::from_lookup(|name| text(env, name))
        .map_err(|e| worker::Error::RustError(format!("misconfigured: {e}")))
}
