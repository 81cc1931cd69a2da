//! What the engine reports back: typed outcomes an adapter renders and a test asserts.

use serde::{Deserialize, Serialize};

use crate::conversation::FieldError;
use crate::ids::{ChannelAccount, ConversationId, ConversationKey, Milli};
use crate::ports::{AiError, OutboundError, StoreError};
use crate::rules::{RuleNote, RuleRef};
use crate::safety::{SafetyStatus, VerdictError};
use crate::time::Timestamp;

/// Why an inbound message got no turn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum IgnoreReason {
    /// The tenant has not connected this channel.
    ChannelNotConfigured,
    /// Replies are disabled on this channel.
    RepliesDisabled,
    /// Nothing to answer (a reaction, an unsupported message type).
    NothingToAnswer,
}

/// The result of an inbound message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum InboundOutcome {
    /// Seen before: nothing happened.
    Duplicate,
    /// No tenant owns the account: logged and dropped.
    UnknownAccount {
        /// The account.
        account: ChannelAccount,
    },
    /// No turn, for the given reason.
    Ignored {
        /// Why.
        #[serde(flatten)]
        reason: IgnoreReason,
    },
    /// The injection scan rejected the message: no rule, no reply.
    InjectionRejected,
    /// Waiting in the reply buffer until `until`.
    Buffered {
        /// The conversation.
        key: ConversationKey,
        /// When the buffer fires unless more messages arrive.
        until: Timestamp,
        /// The turn of the earlier batch this message closed: that batch fell due before this
        /// message was acknowledged (its flush had not run yet, e.g. behind a backlog), so it
        /// was answered first, on its own.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        closed: Option<TurnReport>,
    },
    /// A turn ran.
    Turn(TurnReport),
}

impl InboundOutcome {
    /// The turn report, if a turn ran.
    pub fn turn(&self) -> Option<&TurnReport> {
        match self {
            InboundOutcome::Turn(t) => Some(t),
            _ => None,
        }
    }
}

/// Why a turn sent nothing to the customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum NoReplyReason {
    /// Handed off and past the cooldown: silent until the idle gap.
    HandoffSilence,
    /// The persona is not approved (or changed since approval): AI replies are blocked.
    PersonaNotApproved,
    /// Not enough credit for an AI reply.
    InsufficientCredit {
        /// The balance.
        balance: Milli,
    },
    /// No AI provider is configured.
    NoAiProvider,
    /// The operator has not priced the tenant's currency.
    Unpriced,
    /// The 24-hour customer-service window is closed (WhatsApp, Instagram).
    OutsideWindow {
        /// When the customer last wrote.
        last_inbound_at: Timestamp,
    },
    /// The platform refused the send for good.
    SendFailed {
        /// What it said.
        error: String,
    },
}

/// What the customer got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reply {
    /// A canned rule's text, sent verbatim.
    Canned {
        /// The text.
        text: String,
    },
    /// A model reply.
    Ai {
        /// The text sent (sentinel stripped).
        text: String,
    },
    /// A holding-pattern reply during the handoff cooldown.
    Holding {
        /// The text sent.
        text: String,
    },
    /// A draft waiting for the owner's approval.
    Drafted {
        /// The draft.
        draft_id: String,
        /// Its text.
        text: String,
    },
    /// Nothing.
    None {
        /// Why.
        #[serde(flatten)]
        reason: NoReplyReason,
    },
}

impl Reply {
    /// The text that went (or will go, for drafts) to the customer.
    pub fn text(&self) -> Option<&str> {
        match self {
            Reply::Canned { text }
            | Reply::Ai { text }
            | Reply::Holding { text }
            | Reply::Drafted { text, .. } => Some(text),
            Reply::None { .. } => None,
        }
    }

    /// Whether something was sent to the customer now.
    pub fn was_sent(&self) -> bool {
        matches!(
            self,
            Reply::Canned { .. } | Reply::Ai { .. } | Reply::Holding { .. }
        )
    }
}

/// One turn, reported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TurnReport {
    /// The conversation.
    pub key: ConversationKey,
    /// Its current id.
    pub conversation_id: ConversationId,
    /// Whether this message started a new conversation (first contact or idle gap).
    pub new_conversation: bool,
    /// The provider ids answered by this turn (several after a buffered burst).
    pub answered: Vec<String>,
    /// The rule that matched (`None` during a handoff).
    pub rule: Option<RuleRef>,
    /// What the customer got.
    pub reply: Reply,
    /// What was charged for it.
    pub charged: Option<Milli>,
    /// Whether the model asked for a human in this turn.
    pub handoff: bool,
    /// Whether the tenant was paged in this turn.
    pub paged: bool,
    /// Notes about rule evaluation.
    pub notes: Vec<RuleNote>,
    /// How the AI reply used the tenant's knowledge base; `None` when the tenant has no
    /// documents or no AI reply was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knowledge: Option<KnowledgeUse>,
}

/// How an AI reply used the knowledge base.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnowledgeUse {
    /// How many passages the envelope carried (0: nothing relevant was found).
    pub passages: u32,
    /// The passages the reply used.
    pub citations: Vec<crate::knowledge::Citation>,
    /// Whether the reply rests on the passages.
    pub grounded: bool,
    /// How the reply was made, when not by the model alone: `best_passage` (the model's text
    /// used no passage) or `unknown` (nothing answers the question; the tenant's line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

/// The result of firing a reply buffer.
#[allow(clippy::large_enum_variant)] // short-lived; boxing would only add an allocation
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum FlushOutcome {
    /// The buffer is empty (a fire already drained it).
    NothingDue,
    /// Messages wait, but the (re-armed) deadline is later: fire again at `until`.
    NotYet {
        /// The current deadline.
        until: crate::time::Timestamp,
    },
    /// A turn ran for the batch.
    Turn(TurnReport),
}

/// The result of a safety job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SafetyOutcome {
    /// The persona changed since the job was queued: a newer job will review it.
    Drifted,
    /// That text was already reviewed.
    AlreadyReviewed,
    /// The tenant is gone.
    UnknownTenant,
    /// Reviewed; the new status.
    Reviewed {
        /// Approved or Rejected.
        status: SafetyStatus,
    },
}

/// The result of saving a catalog entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogSaveOutcome {
    /// The entry as stored.
    pub entry: crate::catalog::CatalogPersona,
    /// Whether its text changed, so it is a draft again and a review was queued.
    pub review_queued: bool,
}

/// The result of saving a persona.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonaSaveOutcome {
    /// The status after the save.
    pub status: SafetyStatus,
    /// Whether a review was queued (the text changed).
    pub review_queued: bool,
}

/// The result of an approval decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ApprovalOutcome {
    /// Sent to the customer.
    Sent {
        /// The text sent.
        text: String,
        /// The conversation it was stamped with.
        conversation_id: ConversationId,
    },
    /// Rejected: nothing sent.
    Rejected,
    /// No live draft with that id (expired, or already decided).
    NotFound,
    /// The draft could not be delivered.
    NotSent {
        /// Why.
        #[serde(flatten)]
        reason: NoReplyReason,
    },
}

/// The result of importing a tenant file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportOutcome {
    /// Whether the tenant is new.
    pub created: bool,
    /// The stored revision.
    pub revision: u64,
    /// Whether starting credits were granted now.
    pub credits_granted: bool,
    /// Whether a persona review was queued.
    pub review_queued: bool,
}

/// The result of running a job.
#[allow(clippy::large_enum_variant)] // short-lived; boxing would only add an allocation
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum JobOutcome {
    /// A buffer flush.
    Flush(FlushOutcome),
    /// A safety review.
    Safety(SafetyOutcome),
    /// An approval digest with this many drafts (0: nothing sent).
    Digest {
        /// Drafts listed.
        drafts: usize,
    },
}

/// An engine failure. [`EngineError::is_retryable`] tells the adapter whether to retry the
/// event later (with backoff) or give up and dead-letter it.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The model failed after a debit (which was refunded).
    #[error("AI reply failed (charge refunded): {0}")]
    Ai(#[source] AiError),
    /// A classifier answered something other than its strict verdict.
    #[error(transparent)]
    Verdict(#[from] VerdictError),
    /// A send failed and should be retried (any charge was refunded).
    #[error(transparent)]
    Outbound(#[from] OutboundError),
    /// The tenant does not exist.
    #[error("unknown tenant {0}")]
    UnknownTenant(String),
    /// The input is not what the channel sends (maps to 400).
    #[error(transparent)]
    Malformed(#[from] crate::channels::ChannelError),
    /// Invalid input: every field error.
    #[error("invalid input: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
}

impl EngineError {
    /// Whether retrying the same event later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            EngineError::Store(StoreError::Corrupt { .. }) => false,
            // Retrying cannot configure a provider.
            EngineError::Ai(AiError::NotConfigured) => false,
            EngineError::Store(_) | EngineError::Ai(_) | EngineError::Verdict(_) => true,
            EngineError::Outbound(OutboundError::Retryable(_)) => true,
            EngineError::Outbound(OutboundError::Permanent(_))
            | EngineError::UnknownTenant(_)
            | EngineError::Malformed(_)
            | EngineError::Invalid(_) => false,
        }
    }
}

/// The result of an inbound email.
#[allow(clippy::large_enum_variant)] // short-lived; boxing would only add an allocation
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum EmailOutcome {
    /// Seen before (same Message-ID or content): nothing happened.
    Duplicate,
    /// An auto-reply, bounce, list mail or our own forward: never answered (no mail loops).
    NotAnswered {
        /// Why.
        reason: crate::channels::email::NoReplyReason,
    },
    /// No tenant receives mail for the recipient's domain.
    UnknownDomain {
        /// The domain.
        domain: String,
    },
    /// A routing rule dropped it.
    Dropped {
        /// The rule.
        rule: String,
    },
    /// A routing rule filed it as spam.
    Spam {
        /// The rule.
        rule: String,
    },
    /// Forwarded to an address, from a reverse alias.
    Forwarded {
        /// The rule.
        rule: String,
        /// Where to.
        to: String,
        /// The alias replies come back through.
        alias: String,
    },
    /// Posted to a Discord channel.
    PostedToDiscord {
        /// The rule.
        rule: String,
        /// The channel.
        channel_id: String,
    },
    /// A reply to a reverse alias, relayed to the customer it stands for.
    Relayed {
        /// The customer.
        to: String,
    },
    /// Mail to an alias that is unknown or expired: dropped.
    UnknownAlias,
    /// Handed to the AI concierge.
    Answered {
        /// What the engine did with it.
        inbound: InboundOutcome,
    },
}
