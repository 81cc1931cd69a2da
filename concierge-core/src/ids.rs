//! Parsed domain values: identifiers, channels, money.
//!
//! Every value here is validated when it is made, so an invalid tenant id or a negative price
//! never reaches the engine.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::time::Timestamp;

/// A value that failed to parse into a domain type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// A tenant id must be 1..=64 characters of `a-z`, `0-9`, `-` and `_`.
    #[error("invalid tenant id `{0}`: use 1 to 64 characters of a-z, 0-9, '-' and '_'")]
    TenantId(String),
    /// An unknown channel name.
    #[error("unknown channel `{0}`: expected whatsapp, instagram, discord, email or web")]
    Channel(String),
    /// A currency must be three upper-case ASCII letters (ISO 4217).
    #[error("invalid currency `{0}`: use a three-letter ISO 4217 code such as INR or USD")]
    Currency(String),
    /// A money amount that is not a decimal with at most three fraction digits.
    #[error("invalid amount `{0}`: use a decimal with at most three fraction digits, e.g. 12.5")]
    Amount(String),
    /// An empty or overlong identifier.
    #[error("invalid {what}: {reason}")]
    Other {
        /// Which identifier.
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },
}

/// The id of a business using Concierge.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct TenantId(String);

impl TenantId {
    /// Validates and wraps a tenant id.
    ///
    /// # Errors
    /// [`IdError::TenantId`] unless the id is 1..=64 characters of `a-z0-9-_`.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(TenantId(raw.to_owned()))
        } else {
            Err(IdError::TenantId(raw.to_owned()))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        TenantId::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TenantId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        TenantId::parse(s)
    }
}

/// A messaging channel a customer can write on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// WhatsApp Business (Meta Cloud API).
    #[serde(rename = "whatsapp")]
    WhatsApp,
    /// Instagram direct messages (Messenger platform).
    Instagram,
    /// Discord guild channels (application webhook events).
    Discord,
    /// Email (raw RFC 5322 messages).
    Email,
    /// The web chat widget and demo.
    Web,
}

impl Channel {
    /// Every channel, in a stable order.
    pub const ALL: [Channel; 5] = [
        Channel::WhatsApp,
        Channel::Instagram,
        Channel::Discord,
        Channel::Email,
        Channel::Web,
    ];

    /// The lower-case name used in files, keys and URLs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::WhatsApp => "whatsapp",
            Channel::Instagram => "instagram",
            Channel::Discord => "discord",
            Channel::Email => "email",
            Channel::Web => "web",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| IdError::Channel(s.to_owned()))
    }
}

/// The business-side account an event arrived on; it routes the event to a tenant through the
/// reverse indexes (`wa_phone:`, `ig_page:`, `discord_guild:`, `email_domain:` in the seed).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum ChannelAccount {
    /// A WhatsApp Business phone number id (`metadata.phone_number_id`).
    WhatsAppPhone(String),
    /// An Instagram business account / page id (`entry[].id`, the message recipient).
    InstagramPage(String),
    /// A Discord guild id.
    DiscordGuild(String),
    /// An email domain, lower-case (`shop.cncg.email`).
    EmailDomain(String),
    /// A web chat site key.
    WebSite(String),
}

impl ChannelAccount {
    /// The channel this account belongs to.
    pub fn channel(&self) -> Channel {
        match self {
            ChannelAccount::WhatsAppPhone(_) => Channel::WhatsApp,
            ChannelAccount::InstagramPage(_) => Channel::Instagram,
            ChannelAccount::DiscordGuild(_) => Channel::Discord,
            ChannelAccount::EmailDomain(_) => Channel::Email,
            ChannelAccount::WebSite(_) => Channel::Web,
        }
    }

    /// The provider's id of the account.
    pub fn id(&self) -> &str {
        match self {
            ChannelAccount::WhatsAppPhone(id)
            | ChannelAccount::InstagramPage(id)
            | ChannelAccount::DiscordGuild(id)
            | ChannelAccount::EmailDomain(id)
            | ChannelAccount::WebSite(id) => id,
        }
    }

    /// The reverse-index key, e.g. `wa_phone:1234`.
    pub fn index_key(&self) -> String {
        let prefix = match self {
            ChannelAccount::WhatsAppPhone(_) => "wa_phone",
            ChannelAccount::InstagramPage(_) => "ig_page",
            ChannelAccount::DiscordGuild(_) => "discord_guild",
            ChannelAccount::EmailDomain(_) => "email_domain",
            ChannelAccount::WebSite(_) => "web_site",
        };
        format!("{prefix}:{}", self.id())
    }
}

/// One customer's conversation with one tenant on one channel: the session key
/// (`convsession:{tenant}:{channel}:{sender}` in the seed).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConversationKey {
    /// The business.
    pub tenant: TenantId,
    /// The channel the customer writes on.
    pub channel: Channel,
    /// The customer's id on that channel (wa_id, IGSID, Discord user id, email address).
    pub sender: String,
}

impl ConversationKey {
    /// A key from its parts.
    pub fn new(tenant: TenantId, channel: Channel, sender: impl Into<String>) -> Self {
        ConversationKey {
            tenant,
            channel,
            sender: sender.into(),
        }
    }

    /// The storage key `convsession:{tenant}:{channel}:{sender}`.
    pub fn storage_key(&self) -> String {
        format!(
            "convsession:{}:{}:{}",
            self.tenant, self.channel, self.sender
        )
    }
}

impl fmt::Display for ConversationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.tenant, self.channel, self.sender)
    }
}

/// A stable id for one conversation; a new one is minted when the idle gap rotates the session.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConversationId(String);

impl ConversationId {
    /// Derives the id deterministically from the conversation key and the instant it started,
    /// so that time is the only input and a replayed turn mints the same id.
    pub fn derive(key: &ConversationKey, started_at: Timestamp) -> Self {
        let mut h = Sha256::new();
        h.update(key.storage_key().as_bytes());
        h.update(b"\0");
        h.update(started_at.as_millis().to_be_bytes());
        let digest = h.finalize();
        ConversationId(format!("c_{}", hex::encode(&digest[..12])))
    }

    /// Wraps an id read back from storage.
    ///
    /// # Errors
    /// [`IdError::Other`] if the id is empty or longer than 128 bytes.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        if raw.is_empty() || raw.len() > 128 {
            return Err(IdError::Other {
                what: "conversation id",
                reason: "must be 1 to 128 bytes".into(),
            });
        }
        Ok(ConversationId(raw.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConversationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An ISO 4217 currency code.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Currency(String);

impl Currency {
    /// Validates a three-letter upper-case code.
    ///
    /// # Errors
    /// [`IdError::Currency`] otherwise.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        if raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Currency(raw.to_owned()))
        } else {
            Err(IdError::Currency(raw.to_owned()))
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Currency::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An amount of money in thousandths of a currency unit (milli-units), never fractional.
///
/// Serialized as a decimal string (`"12.5"`) in tenant files and as an integer elsewhere is
/// avoided on purpose: people write prices, not milli-units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Milli(pub(crate) i64);

impl Milli {
    /// Zero.
    pub const ZERO: Milli = Milli(0);

    /// Parses a decimal such as `12`, `12.5` or `0.125` into milli-units.
    ///
    /// # Errors
    /// [`IdError::Amount`] for anything else (signs, more than three fraction digits, overflow).
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let err = || IdError::Amount(raw.to_owned());
        let (whole, frac) = raw.trim().split_once('.').unwrap_or((raw.trim(), ""));
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 3 {
            return Err(err());
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let whole: i64 = whole.parse().map_err(|_| err())?;
        let mut frac_val: i64 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| err())?
        };
        for _ in frac.len()..3 {
            frac_val *= 10;
        }
        whole
            .checked_mul(1000)
            .and_then(|w| w.checked_add(frac_val))
            .map(Milli)
            .ok_or_else(err)
    }

    /// An amount of `milli` thousandths of a unit.
    pub const fn from_milli(milli: i64) -> Self {
        Milli(milli)
    }

    /// The amount in milli-units.
    pub const fn as_milli(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Milli {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let (whole, frac) = (abs / 1000, abs % 1000);
        if frac == 0 {
            write!(f, "{sign}{whole}")
        } else {
            let s = format!("{frac:03}");
            write!(f, "{sign}{whole}.{}", s.trim_end_matches('0'))
        }
    }
}

impl Serialize for Milli {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Milli {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Int(u64),
        }
        match Raw::deserialize(d)? {
            Raw::Text(t) => Milli::parse(&t).map_err(serde::de::Error::custom),
            Raw::Int(n) => i64::try_from(n)
                .ok()
                .and_then(|n| n.checked_mul(1000))
                .map(Milli)
                .ok_or_else(|| serde::de::Error::custom("amount too large")),
        }
    }
}

/// A BCP-47 language tag such as `en-IN` (the tenant's locale).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Locale(String);

impl Locale {
    /// Checks the tag's shape: a 2–3 letter language, then `-`-separated subtags of 1–8
    /// letters or digits.
    ///
    /// # Errors
    /// [`IdError::Other`] when the shape is wrong.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let mut parts = raw.split('-');
        let lang_ok = parts.next().is_some_and(|l| {
            (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic())
        });
        let rest_ok = parts
            .all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
        if lang_ok && rest_ok {
            Ok(Locale(raw.to_owned()))
        } else {
            Err(IdError::Other {
                what: "locale",
                reason: format!("`{raw}` is not a BCP-47 tag such as en-IN or en-US"),
            })
        }
    }

    /// The tag as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Locale {
    fn default() -> Self {
        Locale("en-IN".to_owned())
    }
}

impl<'de> Deserialize<'de> for Locale {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Locale::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_validated() {
        assert!(TenantId::parse("bakery-1").is_ok());
        assert!(TenantId::parse("").is_err());
        assert!(TenantId::parse("Bakery").is_err());
        assert!(TenantId::parse("a:b").is_err());
        assert!(TenantId::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn milli_round_trips_decimal_text() {
        assert_eq!(Milli::parse("12.5"), Ok(Milli(12_500)));
        assert_eq!(Milli::parse("0.125"), Ok(Milli(125)));
        assert_eq!(Milli::parse("7"), Ok(Milli(7_000)));
        assert!(Milli::parse("-1").is_err());
        assert!(Milli::parse("1.2345").is_err());
        assert!(Milli::parse("1.").is_ok());
        assert!(Milli::parse(".5").is_err());
        assert_eq!(Milli(12_500).to_string(), "12.5");
        assert_eq!(Milli(-250).to_string(), "-0.25");
    }

    #[test]
    fn conversation_ids_are_deterministic_and_distinct() {
        let key = ConversationKey::new(TenantId::parse("t").unwrap(), Channel::WhatsApp, "1");
        let a = ConversationId::derive(&key, Timestamp(1));
        assert_eq!(a, ConversationId::derive(&key, Timestamp(1)));
        assert_ne!(a, ConversationId::derive(&key, Timestamp(2)));
    }

    #[test]
    fn channels_parse_case_insensitively() {
        assert_eq!("WhatsApp".parse::<Channel>(), Ok(Channel::WhatsApp));
        assert!("sms".parse::<Channel>().is_err());
    }
}
