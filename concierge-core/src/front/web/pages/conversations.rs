//! `/dashboard/conversations`: the tenant's recent conversations from the message log, and
//! `/dashboard/conversations/{id}`: one conversation's rows. Metadata only (direction, channel,
//! time, what Concierge did): the log holds no message bodies, and neither do these pages.
//! Conversations of canned-only flows carry no conversation id and are not listed.

use askama::Template;

use crate::front::reply::Response;
use crate::front::{ApiError, Front};
use crate::i18n::UiLocale;
use crate::ids::ConversationId;
use crate::ports::{ConversationSummary, Direction, MessageRecord};

use super::super::render::{page, Tr};
use super::super::Viewer;
use super::fmt::{decode_segment, encode_segment, format_count, When};

/// How many conversations the list shows (the most recent).
pub(super) const LIMIT: u32 = 50;

/// A conversation as the list shows it.
#[derive(Debug)]
pub(crate) struct ConversationRow {
    pub id: String,
    /// The id, percent-encoded for the link.
    pub href: String,
    pub channel_key: String,
    pub customer: String,
    pub messages: String,
    pub first_at: When,
    pub last_at: When,
    pub last_action: String,
}

impl ConversationRow {
    fn new(locale: UiLocale, c: &ConversationSummary) -> Self {
        ConversationRow {
            id: c.conversation_id.to_string(),
            href: format!(
                "/dashboard/conversations/{}",
                encode_segment(c.conversation_id.as_str())
            ),
            channel_key: format!("channel-{}", c.channel.as_str()),
            customer: c.customer.clone(),
            messages: format_count(locale, i64::try_from(c.messages).unwrap_or(i64::MAX)),
            first_at: When::of(c.first_at),
            last_at: When::of(c.last_at),
            last_action: c.last_action.clone(),
        }
    }
}

/// A logged message as the conversation page shows it.
#[derive(Debug)]
pub(crate) struct MessageRow {
    /// `inbound` or `outbound` (a class name).
    pub direction: &'static str,
    /// The string key that names the direction.
    pub direction_key: &'static str,
    pub channel_key: String,
    pub at: When,
    pub action: String,
}

impl From<&MessageRecord> for MessageRow {
    fn from(m: &MessageRecord) -> Self {
        MessageRow {
            direction: match m.direction {
                Direction::Inbound => "inbound",
                Direction::Outbound => "outbound",
            },
            direction_key: match m.direction {
                Direction::Inbound => "conversation-direction-inbound",
                Direction::Outbound => "conversation-direction-outbound",
            },
            channel_key: format!("channel-{}", m.channel.as_str()),
            at: When::of(m.at),
            action: m.action_taken.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "web/conversations.html")]
struct Conversations<'a> {
    t: Tr,
    viewer: &'a Viewer,
    nav: &'static str,
    conversations: Vec<ConversationRow>,
    /// There are more than [`LIMIT`].
    truncated: bool,
    limit: String,
}

#[derive(Template)]
#[template(path = "web/conversation.html")]
struct Conversation<'a> {
    t: Tr,
    viewer: &'a Viewer,
    nav: &'static str,
    id: String,
    customer: String,
    channel_key: String,
    count: String,
    messages: Vec<MessageRow>,
}

/// `GET /dashboard/conversations`.
pub(super) async fn list(front: &Front<'_>, viewer: &Viewer) -> Result<Response, ApiError> {
    let mut recent = front
        .engine
        .store()
        .recent_conversations(&viewer.tenant, LIMIT + 1)
        .await?;
    let shown = usize::try_from(LIMIT).unwrap_or(usize::MAX);
    let truncated = recent.len() > shown;
    recent.truncate(shown);
    let locale = viewer.locale;
    page(
        200,
        &Conversations {
            t: Tr(locale),
            viewer,
            nav: "conversations",
            conversations: recent
                .iter()
                .map(|c| ConversationRow::new(locale, c))
                .collect(),
            truncated,
            limit: format_count(locale, i64::from(LIMIT)),
        },
    )
}

/// `GET /dashboard/conversations/{id}`: 404 unless the viewer's tenant has rows under `id`
/// (an unknown id and another tenant's conversation look the same).
pub(super) async fn show(
    front: &Front<'_>,
    viewer: &Viewer,
    raw_id: &str,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound("conversation".into());
    let id = decode_segment(raw_id)
        .and_then(|id| ConversationId::parse(&id).ok())
        .ok_or_else(not_found)?;
    let mut rows = front
        .engine
        .store()
        .conversation_messages(&viewer.tenant, &id)
        .await?;
    // Oldest first, and at one instant the customer's message before the reply (the stores
    // break ties on `at` differently; `recent_conversations` counts an outbound row as later).
    crate::sort::by_key(&mut rows, |m| (m.at, m.direction));
    let Some(latest) = rows.last() else {
        return Err(not_found());
    };
    let locale = viewer.locale;
    page(
        200,
        &Conversation {
            t: Tr(locale),
            viewer,
            nav: "conversations",
            id: id.to_string(),
            customer: ConversationSummary::customer_of(latest).to_owned(),
            channel_key: format!("channel-{}", latest.channel.as_str()),
            count: format_count(locale, i64::try_from(rows.len()).unwrap_or(i64::MAX)),
            messages: rows.iter().map(MessageRow::from).collect(),
        },
    )
}
