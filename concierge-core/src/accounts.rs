//! Owner accounts: the people who run a tenant and sign in to its dashboard.
//!
//! Pure and deterministic: email normalization, the password policy, argon2id hashing with
//! the OWASP-recommended parameters (19 MiB, 2 passes, 1 lane) over a salt the caller supplies
//! (the host's randomness: the core has none), constant-time verification, and
//! [`verify_or_dummy`], which costs the same whether or not the account exists.
//!
//! Storage is the [`OwnerStore`](crate::ports::OwnerStore) port; the login flow (sessions,
//! CSRF, rate limits) is the front's (`front::web::auth`).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};

use crate::conversation::FieldError;
use crate::ids::TenantId;
use crate::time::Timestamp;

/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest password accepted, in characters (argon2 hashes anything; this bounds the work
/// a request can ask for).
pub const MAX_PASSWORD_CHARS: usize = 256;
/// The longest email address accepted, in bytes (RFC 5321's path limit).
pub const MAX_EMAIL_BYTES: usize = 254;
/// Bytes of salt per password hash.
pub const SALT_BYTES: usize = 16;

/// argon2id memory cost in KiB (OWASP Password Storage Cheat Sheet: m = 19 MiB, t = 2, p = 1).
const M_COST_KIB: u32 = 19_456;
/// argon2id passes.
const T_COST: u32 = 2;
/// argon2id lanes.
const P_COST: u32 = 1;

/// A hash of a password nobody has, with the same parameters as every real hash: verifying
/// against it costs what verifying against a real account costs, so a login for an unknown
/// email takes as long as one with a wrong password.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$Y29uY2llcmdlLWR1bW15$\
                          yAHx9nFPdy/5Ek1+SnmEQjFtGgEd0oiHn2JwGHZ3EJo";

/// The password hash of an owner who signs in only with Google or Facebook: not a PHC
/// string, so no password ever verifies against it.
pub const NO_PASSWORD: &str = "!no-password";

/// An owner account.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The owner's id (`own_` and 32 hex digits from the host's randomness).
    pub id: String,
    /// The tenant this owner runs (one per owner).
    pub tenant: TenantId,
    /// The sign-in email, normalized ([`normalize_email`]); unique across tenants.
    pub email: String,
    /// The argon2id hash in PHC string form (`$argon2id$v=19$...`).
    pub password_hash: String,
    /// Bumped by "log out everywhere" and by a password change: a session made in an
    /// earlier epoch no longer signs anyone in.
    pub session_epoch: u64,
    /// When the account was created.
    pub created_at: Timestamp,
}

impl std::fmt::Debug for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The hash stays out of every log line.
        f.debug_struct("Owner")
            .field("id", &self.id)
            .field("tenant", &self.tenant)
            .field("session_epoch", &self.session_epoch)
            .finish_non_exhaustive()
    }
}

/// An operator account: someone who signs in to the operator panel (`/manage`) of a
/// deployment that is not behind Cloudflare Access. Operators belong to no tenant; they are
/// created, given a new password and removed through the admin API (`/api/v1/operators`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// The sign-in email, normalized ([`normalize_email`]); the account's key.
    pub email: String,
    /// The argon2id hash in PHC string form (`$argon2id$v=19$...`).
    pub password_hash: String,
    /// Bumped by a new password and by "sign out everywhere": a panel session made in an
    /// earlier epoch no longer signs anyone in.
    pub session_epoch: u64,
    /// When the account was created.
    pub created_at: Timestamp,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The hash (and the address) stay out of every log line.
        f.debug_struct("Operator")
            .field("session_epoch", &self.session_epoch)
            .finish_non_exhaustive()
    }
}

/// Why a password could not be hashed (never for a policy-conforming password and a salt of
/// [`SALT_BYTES`]).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// The email as accounts store and look it up: trimmed and lowercased.
pub fn normalize_email(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// Checks a normalized email's shape: one `@`, a non-empty local part, a dotted domain, no
/// spaces or control characters, at most [`MAX_EMAIL_BYTES`].
///
/// # Errors
/// A [`FieldError`] on `email`.
pub fn check_email(email: &str) -> Result<(), FieldError> {
    let bad = |m: &str| Err(FieldError::new("email", m));
    if email.is_empty() {
        return bad("is required");
    }
    if email.len() > MAX_EMAIL_BYTES {
        return bad("must be at most 254 characters");
    }
    if email
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
    {
        return bad("must not contain spaces or control characters");
    }
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.') =>
        {
            Ok(())
        }
        _ => bad("must be an email address such as owner@example.com"),
    }
}

/// Checks the password policy: [`MIN_PASSWORD_CHARS`] to [`MAX_PASSWORD_CHARS`] characters.
///
/// # Errors
/// A [`FieldError`] on `password` (it never quotes the password).
pub fn check_password(password: &str) -> Result<(), FieldError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        Err(FieldError::new(
            "password",
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ))
    } else if chars > MAX_PASSWORD_CHARS {
        Err(FieldError::new(
            "password",
            format!("must be at most {MAX_PASSWORD_CHARS} characters"),
        ))
    } else {
        Ok(())
    }
}

fn hasher() -> Argon2<'static> {
    // The parameters are constants inside argon2's accepted ranges.
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes `password` with argon2id under `salt` (random bytes from the host), as a PHC
/// string.
///
/// # Errors
/// [`HashError`] when argon2 refuses the input (a salt shorter than 8 bytes).
pub fn hash_password(password: &str, salt: &[u8; SALT_BYTES]) -> Result<String, HashError> {
    let salt = SaltString::encode_b64(salt).map_err(|e| HashError(e.to_string()))?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches the PHC string `hash` (argon2 compares in constant time). A
/// malformed stored hash matches nothing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Verifies `password` against the account's hash, or, without an account, against a dummy
/// hash of the same cost, so both answers take the same time. `false` without an account.
/// A password longer than [`MAX_PASSWORD_CHARS`] is hashed as an empty one (the same cost,
/// no unbounded work a request can ask for) and never matches.
pub fn verify_or_dummy(password: &str, hash: Option<&str>) -> bool {
    if password.chars().count() > MAX_PASSWORD_CHARS {
        let _ = verify_or_dummy("", hash);
        return false;
    }
    match hash.filter(|h| PasswordHash::new(h).is_ok()) {
        Some(hash) => verify_password(password, hash),
        // No account, or one without a password: the same cost, never a match.
        None => {
            let _ = verify_password(password, DUMMY_HASH);
            false
        }
    }
}

/// A tenant id made from a business name: lowercase ASCII letters and digits, other runs as
/// one `-`, at most 48 characters (room for a `-N` suffix); `"business"` when nothing is left.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 48 {
            break;
        }
    }
    let out = out.trim_matches('-').to_owned();
    if out.is_empty() {
        "business".to_owned()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(normalize_email("  Owner@Example.COM "), "owner@example.com");
        assert!(check_email("owner@example.com").is_ok());
        for bad in [
            "",
            "owner",
            "@example.com",
            "a@b",
            "a b@c.d",
            "a@@b.c",
            "a@b.c.",
        ] {
            assert!(check_email(bad).is_err(), "{bad:?}");
        }
        assert!(check_email(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn the_password_policy_counts_characters() {
        assert!(check_password("short").is_err());
        assert!(check_password("exactly10!").is_ok());
        assert!(
            check_password(&"é".repeat(10)).is_ok(),
            "characters, not bytes"
        );
        assert!(check_password(&"x".repeat(257)).is_err());
        let e = check_password("hunter2").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "never quoted");
    }

    #[test]
    fn hashes_verify_only_their_password_and_use_the_owasp_parameters() {
        let hash = hash_password("correct horse battery", &[7; SALT_BYTES]).unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("x", "not a hash"));
        assert_ne!(
            hash,
            hash_password("correct horse battery", &[8; SALT_BYTES]).unwrap(),
            "salted"
        );
        assert!(!verify_or_dummy("correct horse battery", None));
        assert!(verify_or_dummy("correct horse battery", Some(&hash)));
        let long = "x".repeat(MAX_PASSWORD_CHARS + 1);
        let long_hash = hash_password(&long, &[3; SALT_BYTES]).unwrap();
        assert!(
            !verify_or_dummy(&long, Some(&long_hash)),
            "over-long never matches"
        );
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_costs() {
        let parsed = PasswordHash::new(DUMMY_HASH).unwrap();
        let real = hash_password("anything at all", &[1; SALT_BYTES]).unwrap();
        let real = PasswordHash::new(&real).unwrap();
        assert_eq!(parsed.algorithm, real.algorithm);
        assert_eq!(parsed.params, real.params);
        assert_eq!(parsed.hash.map(|h| h.len()), real.hash.map(|h| h.len()));
    }

    #[test]
    fn slugs_are_tenant_ids() {
        assert_eq!(slug("Sunrise Bakery"), "sunrise-bakery");
        assert_eq!(slug("  Café  Ñandú & Co. "), "caf-and-co");
        assert_eq!(slug("!!!"), "business");
        assert_eq!(slug("मिठाई"), "business");
        let long = slug(&"ab ".repeat(40));
        assert!(long.len() <= 48 && !long.ends_with('-'));
        for s in ["Sunrise Bakery", "!!!", &"x".repeat(100)] {
            assert!(TenantId::parse(&slug(s)).is_ok());
        }
    }
}
