//! From an engine [`OutboundMessage`] to what goes on the wire.
//!
//! Adapters call [`render`] and send the result with their own client: HTTP requests to the
//! Graph or Discord API (adding the authorization header from their encrypted secrets), or a
//! complete RFC 5322 message to their mail transport. Both adapters share this one mapping.

use serde::{Deserialize, Serialize};

use super::discord::{self, ApprovalCard};
use super::email::{build_email, EmailBuildError, OutgoingEmail};
use super::{instagram, whatsapp, HttpRequest, ReplyRoute};
use crate::ids::{Channel, ChannelAccount};
use crate::ports::{OutboundBody, OutboundMessage};
use crate::time::Timestamp;

/// What to send, and to which API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "api", rename_all = "snake_case")]
pub enum Rendered {
    /// Requests to the Meta Graph API, in order (paths start with the API version).
    Graph {
        /// One request per message part.
        requests: Vec<HttpRequest>,
    },
    /// Requests to the Discord REST API, in order (paths start with `/api/v10`).
    Discord {
        /// One request per message part.
        requests: Vec<HttpRequest>,
    },
    /// A complete email for the mail transport.
    Email {
        /// The envelope sender.
        from: String,
        /// The envelope recipients.
        to: Vec<String>,
        /// The RFC 5322 message.
        raw: String,
    },
}

/// Values the mapping needs from the adapter.
#[derive(Clone, Copy, Debug)]
pub struct RenderContext<'a> {
    /// Now (email Date and Message-ID).
    pub now: Timestamp,
    /// The key that signs approval buttons (the engine's `signing_key`).
    pub signing_key: &'a [u8],
    /// The sender address of system mail (pages, digests) when the message has no account.
    pub system_from: &'a str,
}

/// A message that cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// This channel cannot carry this kind of body (or the channel has no transport yet).
    #[error("{channel} cannot send {what}")]
    Unsupported {
        /// The channel.
        channel: Channel,
        /// What was asked.
        what: &'static str,
    },
    /// The message lacks the account it must be sent from.
    #[error("a {0} message needs the business account to send from")]
    MissingAccount(Channel),
    /// The email could not be built (unsafe header values).
    #[error(transparent)]
    Email(#[from] EmailBuildError),
}

/// Maps an outbound message to wire requests.
///
/// # Errors
/// [`RenderError`] for combinations no channel supports (permanent: do not retry).
pub fn render(message: &OutboundMessage, ctx: &RenderContext<'_>) -> Result<Rendered, RenderError> {
    let unsupported = |what| RenderError::Unsupported {
        channel: message.channel,
        what,
    };
    match (&message.body, message.channel) {
        (OutboundBody::Text { text, reply_to }, Channel::WhatsApp) => {
            let Some(ChannelAccount::WhatsAppPhone(phone)) = &message.account else {
                return Err(RenderError::MissingAccount(Channel::WhatsApp));
            };
            let requests = whatsapp::text_message(phone, &message.to, text, reply_to.as_deref());
            Ok(Rendered::Graph {
                requests: whatsapp::with_callback_data(requests, &message.key),
            })
        }
        (OutboundBody::Text { text, .. }, Channel::Instagram) => Ok(Rendered::Graph {
            requests: instagram::text_message(&message.to, text),
        }),
        (OutboundBody::Text { text, .. }, Channel::Discord) => {
            let requests = match &message.route {
                ReplyRoute::DiscordChannel {
                    channel_id,
                    message_id,
                } => discord::channel_message(channel_id, text, Some(message_id)),
                _ => discord::channel_message(&message.to, text, None),
            };
            Ok(Rendered::Discord {
                requests: discord::with_nonces(requests, &message.key),
            })
        }
        (
            OutboundBody::ApprovalCard {
                draft_id,
                customer_channel,
                customer,
                inbound_excerpt,
                draft_text,
            },
            Channel::Discord,
        ) => {
            let card = ApprovalCard {
                draft_id: draft_id.clone(),
                customer_channel: customer_channel.to_string(),
                customer: customer.clone(),
                inbound_excerpt: inbound_excerpt.clone(),
                draft_text: draft_text.clone(),
                conversation_id: message.conversation_id.as_ref().map(|c| c.to_string()),
            };
            let request = discord::approval_request(&message.to, &card, ctx.signing_key);
            Ok(Rendered::Discord {
                requests: discord::with_nonces(vec![request], &message.key),
            })
        }
        (OutboundBody::Email { subject, text }, Channel::Email) => {
            let from = match &message.account {
                Some(ChannelAccount::EmailDomain(domain)) => format!("hello@{domain}"),
                _ => ctx.system_from.to_owned(),
            };
            let mail = OutgoingEmail {
                from: (None, from),
                to: vec![message.to.clone()],
                subject: subject.clone(),
                text: text.clone(),
                forwarded: true,
                ..OutgoingEmail::default()
            };
            email(&mail, ctx.now)
        }
        (OutboundBody::FullEmail(mail), Channel::Email) => email(mail, ctx.now),
        (_, Channel::Web) => Err(unsupported(
            "messages: the web chat channel has no transport yet",
        )),
        (OutboundBody::Text { .. }, Channel::Email) => {
            Err(unsupported("plain text without a subject"))
        }
        (OutboundBody::ApprovalCard { .. }, _) => Err(unsupported("an approval card")),
        (OutboundBody::Email { .. } | OutboundBody::FullEmail(_), _) => {
            Err(unsupported("an email"))
        }
    }
}

fn email(mail: &OutgoingEmail, now: Timestamp) -> Result<Rendered, RenderError> {
    Ok(Rendered::Email {
        from: mail.from.1.clone(),
        to: mail.to.clone(),
        raw: build_email(mail, now)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;
    use crate::ports::Purpose;

    fn message(
        channel: Channel,
        account: Option<ChannelAccount>,
        body: OutboundBody,
        route: ReplyRoute,
    ) -> OutboundMessage {
        OutboundMessage {
            key: "reply:turn:1".into(),
            tenant: TenantId::parse("t").unwrap(),
            channel,
            account,
            to: "15551234567".into(),
            route,
            body,
            purpose: Purpose::Reply,
            conversation_id: None,
        }
    }

    const CTX: RenderContext<'static> = RenderContext {
        now: Timestamp(1_767_258_000_000),
        signing_key: b"k",
        system_from: "noreply@concierge.example",
    };

    fn text(t: &str) -> OutboundBody {
        OutboundBody::Text {
            text: t.into(),
            reply_to: Some("wamid.1".into()),
        }
    }

    #[test]
    fn whatsapp_text_goes_to_the_phone_numbers_messages_endpoint() {
        let m = message(
            Channel::WhatsApp,
            Some(ChannelAccount::WhatsAppPhone("106".into())),
            text("hi"),
            ReplyRoute::Direct,
        );
        let Rendered::Graph { requests } = render(&m, &CTX).unwrap() else {
            panic!()
        };
        assert_eq!(requests[0].path, "/v21.0/106/messages");
        assert!(requests[0].body.contains("\"context\""));
        // Each part names itself for the status webhooks, the same way on every render.
        let body: serde_json::Value = serde_json::from_str(&requests[0].body).unwrap();
        assert_eq!(
            body["biz_opaque_callback_data"],
            whatsapp::callback_data("reply:turn:1", 0).as_str()
        );
        assert_eq!(render(&m, &CTX).unwrap(), Rendered::Graph { requests });
    }

    #[test]
    fn a_whatsapp_send_needs_its_phone_number() {
        let m = message(Channel::WhatsApp, None, text("hi"), ReplyRoute::Direct);
        assert_eq!(
            render(&m, &CTX),
            Err(RenderError::MissingAccount(Channel::WhatsApp))
        );
    }

    #[test]
    fn discord_replies_reference_the_customers_message() {
        let route = ReplyRoute::DiscordChannel {
            channel_id: "55".into(),
            message_id: "77".into(),
        };
        let m = message(
            Channel::Discord,
            Some(ChannelAccount::DiscordGuild("1".into())),
            text("hi"),
            route,
        );
        let Rendered::Discord { requests } = render(&m, &CTX).unwrap() else {
            panic!()
        };
        assert_eq!(requests[0].path, "/api/v10/channels/55/messages");
        assert!(requests[0].body.contains("\"77\""));
        // A resend of the same message carries the same nonce, which Discord enforces.
        let again = render(&m, &CTX).unwrap();
        assert_eq!(
            again,
            Rendered::Discord {
                requests: requests.clone()
            }
        );
        let body: serde_json::Value = serde_json::from_str(&requests[0].body).unwrap();
        assert_eq!(body["enforce_nonce"], true);
        assert_eq!(body["nonce"].as_str().unwrap().len(), 25);
    }

    #[test]
    fn each_discord_part_has_its_own_stable_enforced_nonce() {
        let long = OutboundBody::Text {
            text: "word ".repeat(900), // 4500 characters: three Discord messages
            reply_to: None,
        };
        let m = message(
            Channel::Discord,
            Some(ChannelAccount::DiscordGuild("1".into())),
            long,
            ReplyRoute::Direct,
        );
        let Rendered::Discord { requests } = render(&m, &CTX).unwrap() else {
            panic!()
        };
        assert!(requests.len() >= 3, "{} parts", requests.len());
        let nonces: Vec<String> = requests
            .iter()
            .map(|r| {
                let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
                assert_eq!(body["enforce_nonce"], true);
                body["nonce"].as_str().unwrap().to_owned()
            })
            .collect();
        let distinct: std::collections::HashSet<&String> = nonces.iter().collect();
        assert_eq!(
            distinct.len(),
            nonces.len(),
            "a resend of part 2 is not part 1"
        );
        assert!(nonces.iter().all(|n| n.len() <= 25));
        assert_eq!(render(&m, &CTX).unwrap(), Rendered::Discord { requests });
    }

    #[test]
    fn system_mail_comes_from_the_system_sender() {
        let body = OutboundBody::Email {
            subject: "Handoff".into(),
            text: "A customer needs you".into(),
        };
        let mut m = message(Channel::Email, None, body, ReplyRoute::Direct);
        m.to = "owner@example.com".into();
        let Rendered::Email { from, to, raw } = render(&m, &CTX).unwrap() else {
            panic!()
        };
        assert_eq!(
            (from.as_str(), to),
            (
                "noreply@concierge.example",
                vec!["owner@example.com".to_owned()]
            )
        );
        assert!(raw.contains("Subject: Handoff"));
    }

    #[test]
    fn the_web_channel_says_it_is_not_supported() {
        let m = message(Channel::Web, None, text("hi"), ReplyRoute::Direct);
        assert!(matches!(
            render(&m, &CTX),
            Err(RenderError::Unsupported { .. })
        ));
    }
}
