//! Cloudflare Access in front of the operator panel: verifying the `Cf-Access-Jwt-Assertion`
//! header, a JWT signed RS256 with one of the team's keys (`https://{team}.cloudflareaccess.com
//! /cdn-cgi/access/certs`, a JWKS the host fetches and caches). Pure: the token, the key set's
//! JSON, the expected issuer and audience (the application's AUD tag) and the time go in; the
//! operator's email comes out, or why not.
//!
//! Checked: three base64url parts; `alg` is `RS256` (never `none`, never HMAC); the `kid` names
//! an RSA key of the set (2048 to 8192 bits); the PKCS#1 v1.5 SHA-256 signature over
//! `header.payload`, by the host ([`Host::verify_rs256`](crate::front::Host::verify_rs256):
//! the `rsa` crate with the `rsa-verify` feature, WebCrypto on the Worker); `iss` equals the team domain; `aud` contains the AUD tag; `exp` is in the future and
//! `nbf`/`iat` not in the future (one minute of leeway for clock skew); an `email` is present.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;

use crate::time::Timestamp;

/// Seconds of clock skew tolerated on `exp`, `nbf` and `iat`.
const LEEWAY_SECS: i64 = 60;

/// The largest token accepted (Access tokens are ~1–2 KB).
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// What an Access token must be issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPolicy {
    /// The team domain, the token's issuer: `https://{team}.cloudflareaccess.com`.
    pub issuer: String,
    /// The Access application's AUD tag.
    pub audience: String,
}

impl AccessPolicy {
    /// Where the team's signing keys are published.
    pub fn certs_url(&self) -> String {
        format!("{}/cdn-cgi/access/certs", self.issuer.trim_end_matches('/'))
    }
}

/// Why an Access token was refused. The messages name no key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// No `Cf-Access-Jwt-Assertion` header.
    #[error("no Access token")]
    Missing,
    /// Not a JWT, or a part does not decode.
    #[error("malformed Access token")]
    Malformed,
    /// An algorithm other than RS256.
    #[error("Access token algorithm {0} is not accepted")]
    Algorithm(String),
    /// The key set does not parse, or has no RSA key with the token's `kid`.
    #[error("no signing key for the Access token")]
    UnknownKey,
    /// The signature does not verify.
    #[error("Access token signature does not verify")]
    BadSignature,
    /// Issued by another team.
    #[error("Access token issued by another team")]
    Issuer,
    /// Issued for another application.
    #[error("Access token issued for another application")]
    Audience,
    /// Expired, or not valid yet.
    #[error("Access token expired or not yet valid")]
    Expired,
    /// No email claim.
    #[error("Access token carries no email")]
    NoEmail,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    iss: String,
    aud: Option<Audience>,
    exp: Option<i64>,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    email: Option<String>,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    #[serde(default)]
    kid: Option<String>,
    kty: String,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

fn decode(part: &str) -> Result<Vec<u8>, AccessError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AccessError::Malformed)
}

fn key_for(jwks: &[u8], kid: Option<&str>) -> Result<RsaKey, AccessError> {
    let set: Jwks = serde_json::from_slice(jwks).map_err(|_| AccessError::UnknownKey)?;
    let jwk = set
        .keys
        .iter()
        .filter(|k| k.kty == "RSA")
        .find(|k| kid.is_none() || k.kid.as_deref() == kid)
        .ok_or(AccessError::UnknownKey)?;
    let (Some(n), Some(e)) = (&jwk.n, &jwk.e) else {
        return Err(AccessError::UnknownKey);
    };
    let n = decode(n).map_err(|_| AccessError::UnknownKey)?;
    let e = decode(e).map_err(|_| AccessError::UnknownKey)?;
    // RSA keys of 2048 to 8192 bits (Access signs with 2048), a small odd public exponent.
    let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
    if !(2048..=8192).contains(&bits) || e.is_empty() || e.len() > 8 {
        return Err(AccessError::UnknownKey);
    }
    Ok(RsaKey { n, e })
}

/// An RSA public key of the team's set: the big-endian modulus and exponent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaKey {
    /// The modulus `n`, big-endian.
    pub n: Vec<u8>,
    /// The public exponent `e`, big-endian.
    pub e: Vec<u8>,
}

/// A token whose shape, algorithm and key were checked: what is left is its RS256 signature
/// (PKCS#1 v1.5 over SHA-256 of `message` with `key`), which the host verifies
/// ([`Host::verify_rs256`](crate::front::Host::verify_rs256): WebCrypto on the Worker), then
/// [`SignedToken::claims`] checks the claims.
#[derive(Debug, Clone)]
pub struct SignedToken {
    /// The key the token's `kid` names.
    pub key: RsaKey,
    /// `header.payload`, the signed bytes.
    pub message: Vec<u8>,
    /// The signature.
    pub signature: Vec<u8>,
    payload: Vec<u8>,
}

/// Checks a token's shape, algorithm and key against the team's key set (JWKS JSON), without
/// the signature or the claims.
///
/// # Errors
/// [`AccessError`] naming the first check that failed.
pub fn prepare_access_jwt(token: &str, jwks: &[u8]) -> Result<SignedToken, AccessError> {
    let token = token.trim();
    if token.is_empty() {
        return Err(AccessError::Missing);
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AccessError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AccessError::Malformed);
    };
    let header: Header = serde_json::from_slice(&decode(h)?).map_err(|_| AccessError::Malformed)?;
    if header.alg != "RS256" {
        return Err(AccessError::Algorithm(
            header.alg.chars().take(16).collect(),
        ));
    }
    let key = key_for(jwks, header.kid.as_deref())?;
    let signature = decode(s)?;
    if signature.is_empty() || signature.len() > key.n.len() {
        return Err(AccessError::Malformed);
    }
    Ok(SignedToken {
        key,
        message: format!("{h}.{p}").into_bytes(),
        signature,
        payload: decode(p)?,
    })
}

impl SignedToken {
    /// The operator's email (lower-cased), once the signature verified: the issuer is the
    /// team, the audience has the AUD tag, it is live at `now`, it names an email.
    ///
    /// # Errors
    /// [`AccessError`] naming the first claim that failed.
    pub fn claims(&self, policy: &AccessPolicy, now: Timestamp) -> Result<String, AccessError> {
        let claims: Claims =
            serde_json::from_slice(&self.payload).map_err(|_| AccessError::Malformed)?;
        if claims.iss.trim_end_matches('/') != policy.issuer.trim_end_matches('/') {
            return Err(AccessError::Issuer);
        }
        let audience_ok = match &claims.aud {
            Some(Audience::One(a)) => *a == policy.audience,
            Some(Audience::Many(all)) => all.contains(&policy.audience),
            None => false,
        };
        if !audience_ok {
            return Err(AccessError::Audience);
        }
        let now = now.as_secs();
        let expired = claims.exp.is_none_or(|exp| exp + LEEWAY_SECS <= now);
        let early = [claims.nbf, claims.iat]
            .into_iter()
            .flatten()
            .any(|t| t - LEEWAY_SECS > now);
        if expired || early {
            return Err(AccessError::Expired);
        }
        claims
            .email
            .map(|e| e.trim().to_ascii_lowercase())
            .filter(|e| e.contains('@'))
            .ok_or(AccessError::NoEmail)
    }
}

/// RS256 (PKCS#1 v1.5, SHA-256) with the pure-Rust `rsa` crate: the server's and the test
/// hosts' [`Host::verify_rs256`](crate::front::Host::verify_rs256) (feature `rsa-verify`; the
/// Worker uses WebCrypto and leaves the crate out of its bundle).
#[cfg(feature = "rsa-verify")]
pub fn verify_rs256(key: &RsaKey, message: &[u8], signature: &[u8]) -> bool {
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier;
    let Ok(public) = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&key.n),
        rsa::BigUint::from_bytes_be(&key.e),
    ) else {
        return false;
    };
    let Ok(signature) = Signature::try_from(signature) else {
        return false;
    };
    VerifyingKey::<sha2::Sha256>::new(public)
        .verify(message, &signature)
        .is_ok()
}

/// Verifies an Access token against the team's key set (JWKS JSON) at `now` with the `rsa`
/// crate; returns the operator's email (lower-cased).
///
/// # Errors
/// [`AccessError`] naming the first check that failed.
#[cfg(feature = "rsa-verify")]
pub fn verify_access_jwt(
    token: &str,
    jwks: &[u8],
    policy: &AccessPolicy,
    now: Timestamp,
) -> Result<String, AccessError> {
    let signed = prepare_access_jwt(token, jwks)?;
    if !verify_rs256(&signed.key, &signed.message, &signed.signature) {
        return Err(AccessError::BadSignature);
    }
    signed.claims(policy, now)
}

/// How long a fetched key set is used before it is fetched again (a token naming a key the
/// cached set lacks refetches at once: Access rotates its keys).
pub const ACCESS_KEYS_TTL: crate::time::Span = crate::time::Span::hours(1);

/// Cloudflare Access in front of the operator panel: the policy, and the team's key set as
/// last fetched through [`Host::fetch`](crate::front::Host::fetch). Keep one per process or
/// isolate (it is the cache) and share it through [`FrontConfig::access`](crate::front::FrontConfig::access).
#[derive(Debug)]
pub struct AccessGate {
    policy: AccessPolicy,
    keys: std::sync::Mutex<Option<(bytes::Bytes, Timestamp)>>,
}

impl AccessGate {
    /// A gate for `policy` with nothing fetched yet.
    pub fn new(policy: AccessPolicy) -> Self {
        AccessGate {
            policy,
            keys: std::sync::Mutex::new(None),
        }
    }

    /// What tokens must be issued for.
    pub fn policy(&self) -> &AccessPolicy {
        &self.policy
    }

    fn cached(&self, now: Timestamp) -> Option<bytes::Bytes> {
        let keys = self
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        keys.as_ref()
            .filter(|(_, at)| now < *at + ACCESS_KEYS_TTL)
            .map(|(jwks, _)| jwks.clone())
    }

    async fn fetch(
        &self,
        host: &dyn crate::front::Host,
        now: Timestamp,
    ) -> Result<bytes::Bytes, crate::front::ApiError> {
        let unavailable = || {
            crate::front::ApiError::BadGateway("could not fetch the Cloudflare Access signing keys")
        };
        let request = http::Request::get(self.policy.certs_url())
            .header(http::header::ACCEPT, "application/json")
            .body(bytes::Bytes::new())
            .map_err(|e| crate::front::ApiError::Internal(e.to_string()))?;
        let response = host.fetch(request).await.map_err(|e| {
            tracing::warn!(error = %e, "Access certs: fetch failed");
            unavailable()
        })?;
        if !response.status().is_success() {
            tracing::warn!(status = response.status().as_u16(), "Access certs: not 2xx");
            return Err(unavailable());
        }
        let jwks = response.into_body();
        *self
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((jwks.clone(), now));
        Ok(jwks)
    }

    /// The operator's email from the request's `Cf-Access-Jwt-Assertion` header (or, for a
    /// browser, the `CF_Authorization` cookie Access sets), verified at `now`: `Ok(Err(_))`
    /// when the token is refused, `Err` when the keys could not be fetched.
    pub(crate) async fn operator(
        &self,
        host: &dyn crate::front::Host,
        req: &crate::front::Request,
        now: Timestamp,
    ) -> Result<Result<String, AccessError>, crate::front::ApiError> {
        let token = req
            .headers()
            .get("cf-access-jwt-assertion")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| super::cookies::get(req, "CF_Authorization").map(str::to_owned));
        let Some(token) = token else {
            return Ok(Err(AccessError::Missing));
        };
        let (jwks, fresh) = match self.cached(now) {
            Some(jwks) => (jwks, false),
            None => (self.fetch(host, now).await?, true),
        };
        let signed = match prepare_access_jwt(&token, &jwks) {
            // A key the cached set lacks: Access rotated its keys since the fetch.
            Err(AccessError::UnknownKey) if !fresh => {
                let jwks = self.fetch(host, now).await?;
                prepare_access_jwt(&token, &jwks)
            }
            prepared => prepared,
        };
        let signed = match signed {
            Ok(signed) => signed,
            Err(why) => return Ok(Err(why)),
        };
        if !host
            .verify_rs256(&signed.key, &signed.message, &signed.signature)
            .await?
        {
            return Ok(Err(AccessError::BadSignature));
        }
        Ok(signed.claims(&self.policy, now))
    }
}

#[cfg(all(test, feature = "rsa-verify"))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use rsa::pkcs1v15::SigningKey;
    use rsa::signature::{SignatureEncoding, Signer};
    use rsa::traits::PublicKeyParts;
    use rsa::RsaPrivateKey;
    use serde_json::json;
    use sha2::Sha256;

    const NOW: i64 = 1_800_000_000;

    fn policy() -> AccessPolicy {
        AccessPolicy {
            issuer: "https://acme.cloudflareaccess.com".into(),
            audience: "aud-tag-123".into(),
        }
    }

    struct Team {
        key: RsaPrivateKey,
        kid: &'static str,
    }

    /// Two 2048-bit keys, generated once for every test.
    fn keys() -> &'static [RsaPrivateKey; 2] {
        static KEYS: std::sync::OnceLock<[RsaPrivateKey; 2]> = std::sync::OnceLock::new();
        KEYS.get_or_init(|| {
            let mut rng = rand::thread_rng();
            [
                RsaPrivateKey::new(&mut rng, 2048).unwrap(),
                RsaPrivateKey::new(&mut rng, 2048).unwrap(),
            ]
        })
    }

    impl Team {
        fn new(which: usize, kid: &'static str) -> Team {
            Team {
                key: keys()[which].clone(),
                kid,
            }
        }

        fn jwks(&self) -> Vec<u8> {
            let public = self.key.to_public_key();
            serde_json::to_vec(&json!({ "keys": [{
                "kid": self.kid, "kty": "RSA", "alg": "RS256", "use": "sig",
                "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
            }]}))
            .unwrap()
        }

        fn sign(&self, header: serde_json::Value, claims: serde_json::Value) -> String {
            let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
            let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
            let signer = SigningKey::<Sha256>::new(self.key.clone());
            let s = signer.sign(format!("{h}.{p}").as_bytes());
            format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(s.to_bytes()))
        }

        fn token(&self, claims: serde_json::Value) -> String {
            self.sign(
                json!({ "alg": "RS256", "kid": self.kid, "typ": "JWT" }),
                claims,
            )
        }
    }

    fn claims() -> serde_json::Value {
        json!({
            "aud": ["aud-tag-123"], "email": "Ops@Acme.example", "exp": NOW + 3600,
            "iat": NOW - 10, "nbf": NOW - 10, "iss": "https://acme.cloudflareaccess.com",
            "sub": "7335d417", "type": "app",
        })
    }

    fn verify(token: &str, jwks: &[u8]) -> Result<String, AccessError> {
        verify_access_jwt(token, jwks, &policy(), Timestamp::from_secs(NOW))
    }

    #[test]
    fn a_token_of_the_team_for_the_app_gives_the_operator() {
        let team = Team::new(0, "k1");
        assert_eq!(
            verify(&team.token(claims()), &team.jwks()),
            Ok("ops@acme.example".into())
        );
        assert_eq!(
            policy().certs_url(),
            "https://acme.cloudflareaccess.com/cdn-cgi/access/certs"
        );
    }

    #[test]
    fn forged_foreign_and_stale_tokens_are_refused() {
        let team = Team::new(0, "k1");
        let other = Team::new(1, "k1");
        let jwks = team.jwks();
        // Signed by someone else's key with the same kid.
        assert_eq!(
            verify(&other.token(claims()), &jwks),
            Err(AccessError::BadSignature)
        );
        // A payload changed after signing.
        let token = team.token(claims());
        let mut parts: Vec<&str> = token.split('.').collect();
        let mut forged = claims();
        forged["email"] = json!("attacker@evil.example");
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        parts[1] = &payload;
        assert_eq!(
            verify(&parts.join("."), &jwks),
            Err(AccessError::BadSignature)
        );
        // alg=none and HMAC are never accepted.
        for alg in ["none", "HS256"] {
            let t = team.sign(json!({ "alg": alg, "kid": "k1" }), claims());
            assert!(
                matches!(verify(&t, &jwks), Err(AccessError::Algorithm(_))),
                "{alg}"
            );
        }
        let unknown = team.sign(json!({ "alg": "RS256", "kid": "k9" }), claims());
        assert_eq!(verify(&unknown, &jwks), Err(AccessError::UnknownKey));
        let mut c = claims();
        c["iss"] = json!("https://evil.cloudflareaccess.com");
        assert_eq!(verify(&team.token(c), &jwks), Err(AccessError::Issuer));
        let mut c = claims();
        c["aud"] = json!("another-app");
        assert_eq!(verify(&team.token(c), &jwks), Err(AccessError::Audience));
        let mut c = claims();
        c["exp"] = json!(NOW - 61);
        assert_eq!(verify(&team.token(c), &jwks), Err(AccessError::Expired));
        let mut c = claims();
        c["nbf"] = json!(NOW + 600);
        assert_eq!(verify(&team.token(c), &jwks), Err(AccessError::Expired));
        let mut c = claims();
        c.as_object_mut().unwrap().remove("email");
        assert_eq!(verify(&team.token(c), &jwks), Err(AccessError::NoEmail));
        for junk in ["", "a.b", "a.b.c.d", "!!.??.**"] {
            assert!(verify(junk, &jwks).is_err(), "{junk:?}");
        }
        assert_eq!(
            verify(&team.token(claims()), b"not json"),
            Err(AccessError::UnknownKey)
        );
    }
}
