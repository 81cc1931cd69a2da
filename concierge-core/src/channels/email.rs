//! Email: the RFC 5322 wire format.
//!
//! Inbound mail arrives as raw bytes (Cloudflare Email Routing hands the worker the message as
//! received; the server's SMTP front end does the same). [`parse_email`] turns them into a
//! [`ParsedEmail`]: addresses lower-cased, the text body (HTML turned into readable text when
//! there is no text part), threading ids, and — most important — [`ParsedEmail::auto`], which says
//! when a message must never be answered (auto-replies, bulk mail, mailing lists, bounces and our
//! own forwarded mail coming back).
//!
//! Outbound mail is built as a complete RFC 5322 message by [`build_email`] from an
//! [`OutgoingEmail`]. Time is an input: `Date` and `Message-ID` are derived from the `now` the
//! caller passes, and MIME boundaries from the content, so the same input always produces the same
//! bytes and nothing reads the clock (the core runs on `wasm32-unknown-unknown`).
//!
//! Message ids are handled without their angle brackets everywhere (`abc@example.com`, not
//! `<abc@example.com>`), as `mail-parser` returns them and `mail-builder` expects them.
//!
//! Call order for one inbound message:
//! 1. [`parse_email`] on the raw bytes;
//! 2. if [`ParsedEmail::auto`] is `Some`, log the [`NoReplyReason`] and stop: no rule, no reply;
//! 3. route it (see [`crate::email`]), and for an AI reply, [`ParsedEmail::to_inbound`] with the
//!    envelope recipient gives the engine its normalized message;
//! 4. replies are made with [`reply_to`] (or [`reply_for_route`] from the normalized message)
//!    and serialized with [`build_email`].

use std::fmt;

use mail_builder::headers::address::Address as BuilderAddress;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::date::Date;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::MimePart;
use mail_builder::MessageBuilder;
use mail_parser::{Address, HeaderName, HeaderValue, Message, MessageParser, MimeHeaders};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{check_size, ChannelError, InboundMessage, MessageContent, ReplyRoute};
use crate::ids::{Channel, ChannelAccount, ConversationKey, TenantId};
use crate::time::Timestamp;

/// The header Concierge puts on every message it sends; an inbound message carrying it is our
/// own mail coming back and is never answered or forwarded again (loop prevention).
pub const FORWARDED_HEADER: &str = "X-EmailProxy-Forwarded";

/// The display-name suffix on forwarded mail: `Jane Doe via Concierge`.
pub const VIA_SUFFIX: &str = "via Concierge";

/// Why an inbound email must not be answered automatically.
///
/// Answering any of these risks a mail loop or spamming a list; the engine logs the reason and
/// stops.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", content = "value", rename_all = "snake_case")]
pub enum NoReplyReason {
    /// `Auto-Submitted` is present with a value other than `no` (RFC 3834): the value, lower-case,
    /// without parameters (`auto-replied`, `auto-generated`, ...).
    AutoSubmitted(String),
    /// `Precedence: bulk`, `list` or `junk`: the value, lower-case.
    Precedence(String),
    /// A `List-Id` header is present (RFC 2919): newsletters and mailing lists.
    MailingList,
    /// A delivery or disposition report (`multipart/report`, RFC 6522), or mail from
    /// `MAILER-DAEMON` / `postmaster`, or with the null return path `<>`.
    Bounce,
    /// Our own [`FORWARDED_HEADER`] is present: Concierge sent this message.
    OurOwnForward,
}

impl fmt::Display for NoReplyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoReplyReason::AutoSubmitted(v) => write!(f, "Auto-Submitted: {v}"),
            NoReplyReason::Precedence(v) => write!(f, "Precedence: {v}"),
            NoReplyReason::MailingList => f.write_str("mailing list (List-Id)"),
            NoReplyReason::Bounce => f.write_str("bounce or delivery report"),
            NoReplyReason::OurOwnForward => write!(f, "our own mail ({FORWARDED_HEADER})"),
        }
    }
}

/// An inbound email, reduced to what Concierge uses.
///
/// Addresses are bare (`jane@example.com`, no display name) and lower-cased; message ids carry no
/// angle brackets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedEmail {
    /// The `From` address (falling back to `Sender`, then `Return-Path`).
    pub from: String,
    /// The `From` display name, when there is a non-empty one.
    pub from_name: Option<String>,
    /// The first `Reply-To` address, when present: replies go there (RFC 5322 §3.6.2).
    pub reply_to: Option<String>,
    /// Every `To` address.
    pub to: Vec<String>,
    /// Every `Cc` address.
    pub cc: Vec<String>,
    /// The subject with RFC 2047 encoded words decoded; empty when absent.
    pub subject: String,
    /// The text/plain body parts joined; when there is only HTML, the HTML turned into text.
    pub text: String,
    /// Whether the message carries attachments (including inline images and attached messages).
    pub has_attachments: bool,
    /// The `Message-ID`, without angle brackets.
    pub message_id: Option<String>,
    /// The first `In-Reply-To` id.
    pub in_reply_to: Option<String>,
    /// The `References` chain, oldest first.
    pub references: Vec<String>,
    /// When the `Date` header parses.
    pub date: Option<Timestamp>,
    /// Set when the message must not be answered; see [`NoReplyReason`].
    pub auto: Option<NoReplyReason>,
    /// The sha256 of the raw bytes, lower-case hex (the idempotency id without a Message-ID).
    pub content_hash: String,
}

impl ParsedEmail {
    /// The idempotency id: the Message-ID, or the sha256 of the raw message when there is none.
    pub fn idempotency_id(&self) -> String {
        self.message_id
            .clone()
            .unwrap_or_else(|| self.content_hash.clone())
    }

    /// The customer: the `Reply-To` address when there is one, else `From`. Contact forms send
    /// `From: no-reply@service` with `Reply-To:` the customer; the customer is whoever replies
    /// should reach.
    pub fn sender(&self) -> &str {
        self.reply_to.as_deref().unwrap_or(&self.from)
    }

    /// The conversation this mail belongs to once `tenant` is known (the tenant owning
    /// [`recipient_account`] of the envelope recipient): the key the engine loads the session
    /// and schedules the reply-buffer flush with when it answers the mail, i.e.
    /// `self.to_inbound(recipient).conversation_key(tenant)` for any recipient.
    ///
    /// Adapters that queue raw mail serialize each mail's work on this key, whatever the
    /// engine will then do with it: mail to a reverse alias (an owner's reply relayed to the
    /// customer), forwards, drops and spam touch no session, so the same per-tenant-and-sender
    /// key is safe for them and needs no lookup of the alias at ingress.
    pub fn conversation_key(&self, tenant: &TenantId) -> ConversationKey {
        ConversationKey::new(tenant.clone(), Channel::Email, self.sender())
    }

    /// The normalized message for the engine, as received by `recipient` (the envelope `RCPT TO`,
    /// our address on the tenant's domain). The sender is [`ParsedEmail::sender`].
    ///
    /// The account is [`recipient_account`]; the reply route is the email thread
    /// (From = `recipient`, In-Reply-To = this Message-ID). Check [`ParsedEmail::auto`] first:
    /// the normalized message does not carry it.
    pub fn to_inbound(&self, recipient: &str) -> InboundMessage {
        let recipient = normalize_address(recipient);
        InboundMessage {
            channel: Channel::Email,
            account: recipient_account(&recipient),
            sender: self.sender().to_owned(),
            sender_name: self.from_name.clone(),
            provider_id: self.idempotency_id(),
            sent_at: self.date,
            content: MessageContent::Email {
                subject: self.subject.clone(),
                body: self.text.clone(),
                has_attachments: self.has_attachments,
            },
            reply_to: self.in_reply_to.clone(),
            route: ReplyRoute::EmailThread {
                to_address: recipient,
                subject: self.subject.clone(),
                message_id: self.message_id.clone(),
                references: self.references.clone(),
            },
            acked_at: None,
        }
    }
}

/// The account a mail delivered to `recipient` (the envelope `RCPT TO`) is for: the
/// recipient's domain, lower-case. The tenant owning it owns the mail's conversation
/// ([`ParsedEmail::conversation_key`]); it is [`ParsedEmail::to_inbound`]'s account.
pub fn recipient_account(recipient: &str) -> ChannelAccount {
    ChannelAccount::EmailDomain(domain_of(&normalize_address(recipient)).to_owned())
}

/// Parses a raw RFC 5322 message.
///
/// Never panics. Size is checked first.
///
/// # Errors
/// [`ChannelError::TooLarge`] over [`super::MAX_BODY_BYTES`]; [`ChannelError::Malformed`] when the
/// input is empty, has no header section, or names no sender address (no `From`, `Sender` or
/// `Return-Path` address).
pub fn parse_email(raw: &[u8]) -> Result<ParsedEmail, ChannelError> {
    check_size(raw)?;
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(ChannelError::Malformed("empty email".into()));
    }
    without_panicking(|| read_email(raw)).unwrap_or_else(|| {
        Err(ChannelError::Malformed(
            "the MIME structure could not be parsed".into(),
        ))
    })
}

/// [`parse_email`] after its cheap checks: every mail-parser call (the parse and the decoding
/// of each field) happens in here, under [`without_panicking`].
fn read_email(raw: &[u8]) -> Result<ParsedEmail, ChannelError> {
    let message = MessageParser::default()
        .parse(raw)
        .filter(|m| !m.headers().is_empty())
        .ok_or_else(|| ChannelError::Malformed("no RFC 5322 header section".into()))?;

    let from_addr = first_addr(message.from());
    let from = from_addr
        .and_then(|a| a.address.as_deref())
        .map(normalize_address)
        .filter(|a| !a.is_empty())
        .or_else(|| {
            first_addr(message.sender())
                .and_then(|a| a.address.as_deref())
                .map(normalize_address)
                .filter(|a| !a.is_empty())
        })
        .or_else(|| {
            return_path(&message)
                .map(|p| normalize_address(&p))
                .filter(|a| !a.is_empty())
        })
        .ok_or_else(|| ChannelError::Malformed("no sender address (From)".into()))?;
    let from_name = from_addr
        .and_then(|a| a.name.as_deref())
        .map(|n| clean_line(n).trim().to_owned())
        .filter(|n| !n.is_empty());

    let reply_to = first_addr(message.reply_to())
        .and_then(|a| a.address.as_deref())
        .map(normalize_address)
        .filter(|a| !a.is_empty());

    let text = (0..message.text_body_count())
        .filter_map(|i| message.body_text(i))
        .map(|t| t.replace("\r\n", "\n").trim_end().to_owned())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");

    let date = message
        .date()
        .filter(|d| d.is_valid())
        .map(|d| Timestamp::from_secs(d.to_timestamp()));

    Ok(ParsedEmail {
        from,
        from_name,
        reply_to,
        to: addresses(&message, HeaderName::To),
        cc: addresses(&message, HeaderName::Cc),
        subject: message.subject().map(clean_line).unwrap_or_default(),
        text,
        has_attachments: message.attachment_count() > 0,
        message_id: message
            .message_id()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_owned),
        in_reply_to: ids(message.in_reply_to()).into_iter().next(),
        references: ids(message.references()),
        date,
        auto: no_reply_reason(&message),
        content_hash: hex::encode(Sha256::digest(raw)),
    })
}

/// Calls `f`, or returns `None` when it panics (native targets; on wasm a panic aborts).
///
/// mail-parser 0.11 marks branches its authors believed unreachable with `debug_assert!`, and
/// malformed MIME reaches them (a `multipart` part holding `message/rfc822` without a boundary of
/// its own, `docs/known-issues.md`). Release builds compile the assertions out and recover, and
/// this workspace turns them off in every profile; an embedder's debug build does not get our
/// profiles, so on native targets the parse also runs under `catch_unwind` and a panic becomes a
/// malformed-message error. (On `wasm32` panics abort: the Worker is a release build.)
fn without_panicking<T>(f: impl FnOnce() -> T) -> Option<T> {
    #[cfg(not(target_family = "wasm"))]
    {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
    }
    #[cfg(target_family = "wasm")]
    {
        Some(f())
    }
}

/// The first address of an address header (a list or the first group's first member).
fn first_addr<'a, 'x>(addr: Option<&'a Address<'x>>) -> Option<&'a mail_parser::Addr<'x>> {
    addr.and_then(|a| a.iter().next())
}

/// Every address of every occurrence of `name`, lower-cased, without duplicates.
fn addresses(message: &Message<'_>, name: HeaderName<'static>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in message.header_values(name) {
        if let Some(list) = value.as_address() {
            for addr in list.iter() {
                if let Some(a) = addr.address.as_deref() {
                    let a = normalize_address(a);
                    if !a.is_empty() && !out.contains(&a) {
                        out.push(a);
                    }
                }
            }
        }
    }
    out
}

/// The message ids of an id header (`Message-ID`, `In-Reply-To`, `References`).
fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    let list: Vec<&str> = match value {
        HeaderValue::Text(t) => vec![t.as_ref()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.as_ref()).collect(),
        _ => Vec::new(),
    };
    list.into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The raw `Return-Path` value without angle brackets; `Some("")` for the null path `<>`.
fn return_path(message: &Message<'_>) -> Option<String> {
    message.header_raw(HeaderName::ReturnPath).map(|raw| {
        raw.trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim()
            .to_owned()
    })
}

/// A header's raw text, unfolded and trimmed (for headers mail-parser keeps raw).
/// Works for registered names (`Auto-Submitted` has its own [`HeaderName`]) and others alike.
fn raw_header(message: &Message<'_>, name: &'static str) -> Option<String> {
    message
        .header(HeaderName::from(name))
        .map(|value| match value {
            HeaderValue::Text(t) => clean_line(t),
            HeaderValue::TextList(l) => clean_line(&l.join(", ")),
            _ => String::new(),
        })
        .map(|s| s.trim().to_owned())
}

/// Why this message must not be answered, most specific reason first.
fn no_reply_reason(message: &Message<'_>) -> Option<NoReplyReason> {
    if raw_header(message, FORWARDED_HEADER).is_some() {
        return Some(NoReplyReason::OurOwnForward);
    }
    if is_bounce(message) {
        return Some(NoReplyReason::Bounce);
    }
    if let Some(value) = raw_header(message, "Auto-Submitted") {
        let token = value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if token != "no" {
            return Some(NoReplyReason::AutoSubmitted(token));
        }
    }
    if let Some(value) = raw_header(message, "Precedence") {
        let value = value.to_ascii_lowercase();
        if matches!(value.as_str(), "bulk" | "list" | "junk") {
            return Some(NoReplyReason::Precedence(value));
        }
    }
    if message.header(HeaderName::ListId).is_some() {
        return Some(NoReplyReason::MailingList);
    }
    None
}

fn is_bounce(message: &Message<'_>) -> bool {
    let is_report = message.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
    });
    if is_report || return_path(message).is_some_and(|p| p.is_empty()) {
        return true;
    }
    let from = first_addr(message.from()).and_then(|a| a.address.as_deref());
    from.map(|a| a.rsplit_once('@').map_or(a, |(local, _)| local))
        .is_some_and(|local| {
            let local = local.trim();
            local.eq_ignore_ascii_case("mailer-daemon") || local.eq_ignore_ascii_case("postmaster")
        })
}

/// An address trimmed, without angle brackets, lower-cased.
fn normalize_address(addr: &str) -> String {
    addr.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_lowercase()
}

/// The domain part of an address (empty when there is no `@`).
pub(crate) fn domain_of(addr: &str) -> &str {
    addr.rsplit_once('@').map_or("", |(_, d)| d)
}

/// Header text on one line: control characters (CR, LF, tabs, ...) become spaces.
fn clean_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// An email for Concierge to send; serialized by [`build_email`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct OutgoingEmail {
    /// The sender: optional display name and address.
    pub from: (Option<String>, String),
    /// The recipients (at least one).
    pub to: Vec<String>,
    /// Where replies should go, when not to `from`.
    pub reply_to: Option<String>,
    /// The subject.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// An HTML alternative; the message becomes `multipart/alternative` when set.
    pub html: Option<String>,
    /// The Message-ID this message answers (no angle brackets).
    pub in_reply_to: Option<String>,
    /// The References chain, oldest first (no angle brackets).
    pub references: Vec<String>,
    /// Adds [`FORWARDED_HEADER`]`: 1` so the message is recognized if it ever comes back.
    pub forwarded: bool,
    /// More headers, written as given after validation (`Auto-Submitted`, `List-Unsubscribe`...).
    pub extra_headers: Vec<(String, String)>,
}

impl OutgoingEmail {
    /// The Message-ID [`build_email`] gives this message at `now` (no angle brackets):
    /// 128 bits of a sha256 over every field and the time, at the sender's domain, so a retry of
    /// the same send produces the same id and any other message a different one.
    pub fn message_id(&self, now: Timestamp) -> String {
        let domain = match domain_of(&self.from.1) {
            "" => "concierge.invalid",
            d => d,
        };
        let digest = self.digest(now);
        format!("{}@{}", &hex::encode(digest)[..32], domain.to_lowercase())
    }

    fn digest(&self, now: Timestamp) -> [u8; 32] {
        let mut h = Sha256::new();
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        };
        field(self.from.1.as_bytes());
        field(self.from.0.as_deref().unwrap_or_default().as_bytes());
        for to in &self.to {
            field(to.as_bytes());
        }
        field(self.subject.as_bytes());
        field(self.text.as_bytes());
        field(self.html.as_deref().unwrap_or_default().as_bytes());
        field(self.in_reply_to.as_deref().unwrap_or_default().as_bytes());
        field(self.reply_to.as_deref().unwrap_or_default().as_bytes());
        for r in &self.references {
            field(r.as_bytes());
        }
        for (name, value) in &self.extra_headers {
            field(name.as_bytes());
            field(value.as_bytes());
        }
        field(&[u8::from(self.forwarded)]);
        field(&now.as_millis().to_be_bytes());
        h.finalize().into()
    }
}

/// Why [`build_email`] refused a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailBuildError {
    /// An address is empty, lacks an `@`, or contains spaces, control or structural characters
    /// (`<>,;:"()[]\`), which would let it inject headers or recipients.
    #[error("invalid {field} address `{address}`")]
    InvalidAddress {
        /// Which field (`from`, `to`, `reply_to`).
        field: &'static str,
        /// The address as given.
        address: String,
    },
    /// The message has no recipient.
    #[error("an email needs at least one recipient")]
    NoRecipients,
    /// An extra header has an invalid name (not RFC 5322 `ftext`) or a value with CR/LF, or
    /// tries to replace a header the builder owns (`From`, `Date`, `Message-ID`...).
    #[error("invalid extra header `{0}`")]
    InvalidHeader(String),
    /// A message id is empty or contains spaces, angle brackets or control characters.
    #[error("invalid message id `{0}`")]
    InvalidMessageId(String),
    /// The MIME writer failed (should not happen when writing to memory).
    #[error("could not write the message: {0}")]
    Write(String),
}

/// Headers [`build_email`] writes itself; extra headers may not repeat them.
const OWNED_HEADERS: [&str; 11] = [
    "from",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "mime-version",
];

/// Serializes `msg` into a complete RFC 5322 message (CRLF line endings), dated `now`.
///
/// `Date` is `now`; `Message-ID` is [`OutgoingEmail::message_id`]; MIME boundaries are derived
/// from the content, so the output is deterministic. Subjects and display names are
/// RFC 2047-encoded when not plain ASCII, and have line breaks replaced by spaces.
///
/// # Errors
/// [`EmailBuildError`] for an invalid address, missing recipients, an invalid extra header or
/// message id. Nothing is partially written.
pub fn build_email(msg: &OutgoingEmail, now: Timestamp) -> Result<String, EmailBuildError> {
    let from = check_address("from", &msg.from.1)?;
    if msg.to.is_empty() {
        return Err(EmailBuildError::NoRecipients);
    }
    let to = msg
        .to
        .iter()
        .map(|a| check_address("to", a))
        .collect::<Result<Vec<_>, _>>()?;
    let reply_to = msg
        .reply_to
        .as_deref()
        .map(|a| check_address("reply_to", a))
        .transpose()?;
    let in_reply_to = msg.in_reply_to.as_deref().map(check_id).transpose()?;
    let references = msg
        .references
        .iter()
        .map(|r| check_id(r))
        .collect::<Result<Vec<_>, _>>()?;
    for (name, value) in &msg.extra_headers {
        let name_ok = !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
            && !OWNED_HEADERS.contains(&name.to_ascii_lowercase().as_str());
        if !name_ok || value.contains(['\r', '\n']) {
            return Err(EmailBuildError::InvalidHeader(name.clone()));
        }
    }

    let message_id = msg.message_id(now);
    let digest = hex::encode(msg.digest(now));

    let from_header = match msg.from.0.as_deref().map(clean_line) {
        Some(name) if !name.trim().is_empty() => {
            BuilderAddress::new_address(Some(name.trim().to_owned()), from)
        }
        _ => BuilderAddress::new_address(None::<String>, from),
    };
    let to_header = BuilderAddress::new_list(
        to.into_iter()
            .map(|a| BuilderAddress::new_address(None::<String>, a))
            .collect(),
    );

    let mut builder = MessageBuilder::new()
        .from(from_header)
        .to(to_header)
        .subject(clean_line(&msg.subject))
        .date(Date::new(now.as_secs()))
        .message_id(message_id);
    if let Some(r) = reply_to {
        builder = builder.reply_to(BuilderAddress::new_address(None::<String>, r));
    }
    if let Some(id) = in_reply_to {
        builder = builder.in_reply_to(MessageId::new(id));
    }
    if !references.is_empty() {
        builder = builder.references(MessageId::new_list(references.into_iter()));
    }
    if msg.forwarded {
        builder = builder.header(FORWARDED_HEADER, Raw::new("1"));
    }
    for (name, value) in &msg.extra_headers {
        builder = builder.header(name.clone(), Raw::new(value.trim().to_owned()));
    }

    let text = MimePart::new(
        ContentType::new("text/plain").attribute("charset", "utf-8"),
        msg.text.clone(),
    );
    let body = match &msg.html {
        Some(html) => MimePart::new(
            ContentType::new("multipart/alternative")
                .attribute("boundary", format!("concierge-{}", &digest[..40])),
            vec![
                text,
                MimePart::new(
                    ContentType::new("text/html").attribute("charset", "utf-8"),
                    html.clone(),
                ),
            ],
        ),
        None => text,
    };
    builder
        .body(body)
        .write_to_string()
        .map_err(|e| EmailBuildError::Write(e.to_string()))
}

fn check_address(field: &'static str, addr: &str) -> Result<String, EmailBuildError> {
    let trimmed = addr.trim();
    let ok = trimmed.len() <= 254
        && trimmed
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'))
        && !trimmed
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;:\"()[]\\".contains(c));
    if ok {
        Ok(trimmed.to_owned())
    } else {
        Err(EmailBuildError::InvalidAddress {
            field,
            address: addr.to_owned(),
        })
    }
}

fn check_id(id: &str) -> Result<String, EmailBuildError> {
    let id = id.trim().trim_start_matches('<').trim_end_matches('>');
    let ok = !id.is_empty()
        && !id
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
    if ok {
        Ok(id.to_owned())
    } else {
        Err(EmailBuildError::InvalidMessageId(id.to_owned()))
    }
}

/// `Re: ` + the subject, unless it already starts with `Re:` (any case).
pub fn reply_subject(subject: &str) -> String {
    let s = subject.trim();
    let already = s.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("re:"));
    if already {
        s.to_owned()
    } else if s.is_empty() {
        "Re:".to_owned()
    } else {
        format!("Re: {s}")
    }
}

/// A reply to `parsed` from `our_address` with body `text`.
///
/// Goes to the customer's `Reply-To` (or `From`), on the same thread: `Re: ` subject without
/// doubling, `In-Reply-To` = their Message-ID, `References` = their references + their
/// Message-ID. It is always marked [`OutgoingEmail::forwarded`] and `Auto-Submitted:
/// auto-replied` (RFC 3834) so neither we nor the customer's autoresponder answer it in a loop.
pub fn reply_to(parsed: &ParsedEmail, our_address: &str, text: &str) -> OutgoingEmail {
    let route = ReplyRoute::EmailThread {
        to_address: our_address.to_owned(),
        subject: parsed.subject.clone(),
        message_id: parsed.message_id.clone(),
        references: parsed.references.clone(),
    };
    let customer = parsed.reply_to.as_deref().unwrap_or(&parsed.from);
    reply_for_route(&route, customer, text).unwrap_or_default()
}

/// The reply to a normalized email for the engine, which keeps only the [`InboundMessage`]:
/// the same message [`reply_to`] makes, from the thread's `to_address` to `customer` (the
/// inbound `sender`). `None` when `route` is not an email thread.
pub fn reply_for_route(route: &ReplyRoute, customer: &str, text: &str) -> Option<OutgoingEmail> {
    let ReplyRoute::EmailThread {
        to_address,
        subject,
        message_id,
        references,
    } = route
    else {
        return None;
    };
    let mut references = references.clone();
    if let Some(id) = message_id {
        if !references.contains(id) {
            references.push(id.clone());
        }
    }
    Some(OutgoingEmail {
        from: (None, to_address.clone()),
        to: vec![customer.to_owned()],
        reply_to: None,
        subject: reply_subject(subject),
        text: text.to_owned(),
        html: None,
        in_reply_to: message_id.clone(),
        references,
        forwarded: true,
        extra_headers: vec![("Auto-Submitted".into(), "auto-replied".into())],
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_not_doubled() {
        assert_eq!(reply_subject("Hello"), "Re: Hello");
        assert_eq!(reply_subject("RE: Hello"), "RE: Hello");
        assert_eq!(reply_subject("re:Hello"), "re:Hello");
        assert_eq!(reply_subject(""), "Re:");
        assert_eq!(reply_subject("Réservation"), "Re: Réservation");
    }

    #[test]
    fn a_panic_inside_the_mime_parser_becomes_none() {
        assert_eq!(without_panicking(|| 7), Some(7));
        let quiet = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let caught = without_panicking(|| -> u8 { panic!("Invalid part ID") });
        std::panic::set_hook(quiet);
        assert_eq!(caught, None);
    }

    #[test]
    fn a_mails_conversation_is_the_one_the_engine_keys_its_turn_with() {
        let tenant = TenantId::parse("shop").unwrap();
        let direct = parse_email(
            b"From: Jane <Jane@Example.org>\r\nTo: hello@shop.example\r\nMessage-ID: <a@x>\r\n\r\nhi\r\n",
        )
        .unwrap();
        let form = parse_email(
            b"From: no-reply@forms.example\r\nReply-To: jane@example.org\r\nTo: hello@shop.example\r\n\r\nhi\r\n",
        )
        .unwrap();
        let expected = ConversationKey::new(tenant.clone(), Channel::Email, "jane@example.org");
        for mail in [&direct, &form] {
            assert_eq!(mail.sender(), "jane@example.org");
            assert_eq!(mail.conversation_key(&tenant), expected);
            for recipient in [
                "hello@shop.example",
                " <Hello@Shop.Example> ",
                "r-00@shop.example",
            ] {
                let inbound = mail.to_inbound(recipient);
                assert_eq!(inbound.conversation_key(&tenant), expected);
                assert_eq!(recipient_account(recipient), inbound.account);
                assert_eq!(
                    recipient_account(recipient),
                    ChannelAccount::EmailDomain("shop.example".into())
                );
            }
        }
    }

    #[test]
    fn addresses_with_header_injection_are_refused() {
        assert!(check_address("to", "a@b.c").is_ok());
        assert!(check_address("to", "a@b.c\r\nBcc: x@y.z").is_err());
        assert!(check_address("to", "a@b.c, x@y.z").is_err());
        assert!(check_address("to", "nobody").is_err());
        assert!(check_id("abc@d").is_ok());
        assert!(check_id("<abc@d>").is_ok());
        assert!(check_id("a b").is_err());
    }
}
