//! Discord's two endpoints, decided once for every adapter: how to answer a verified
//! interaction (PING, slash command, approval button), and which `MESSAGE_CREATE` events are
//! customer messages.
//!
//! An adapter verifies the request ([`verify_request`](crate::channels::discord::verify_request)),
//! parses it ([`parse_interaction_with_key`](crate::channels::discord::parse_interaction_with_key)
//! with [`EngineConfig::signing_key`](super::EngineConfig::signing_key), or
//! [`parse_event`](crate::channels::discord::parse_event)), calls one of these, and renders:
//!
//! - [`Engine::discord_interaction_response`]: the JSON body answering an interaction, with an
//!   approval decision applied in place.
//! - [`Engine::discord_interaction`] when the decision must run elsewhere (the Worker applies
//!   it in the draft's conversation object): [`InteractionAnswer::Decide`], then
//!   [`approval_response`] of the [`ApprovalOutcome`].
//! - [`Engine::discord_inbound`]: the customer message to hand to durable work, or why not.

use serde_json::Value;

use super::{ApprovalOutcome, Engine, EngineError, NoReplyReason};
use crate::approval::DraftDecision;
use crate::channels::discord::{
    self, message_to_inbound, DiscordMessage, DiscordTriggers, IgnoredReason, Interaction,
};
use crate::channels::InboundMessage;
use crate::ids::{ChannelAccount, TenantId};

/// Said to a guild no tenant has connected.
pub(super) const NOT_CONNECTED: &str = "This server is not connected to a Concierge account yet.";
/// A slash command used in a DM: there is no guild to answer for.
const COMMANDS_IN_SERVER_ONLY: &str = "Concierge commands work inside your server only.";
/// A button clicked outside a guild.
const APPROVALS_IN_SERVER_ONLY: &str = "Approvals work inside your server only.";
/// A button whose `custom_id` does not verify under this deployment's key.
const BUTTON_EXPIRED: &str = "This button has expired.";
/// A Reply button without the owner's text (approval cards carry no Reply button yet).
const REPLY_NOT_SUPPORTED: &str = "Writing another reply is not supported yet.";
/// Modal submits and interaction types Concierge does not handle.
const NOT_AVAILABLE: &str = "This action is not available.";

/// How to answer a verified interaction.
#[derive(Clone, Debug, PartialEq)]
pub enum InteractionAnswer {
    /// Answer with this body now (`200`, JSON).
    Respond(Value),
    /// An approval button: apply the decision with [`Engine::decide_approval`], serialized with
    /// the draft's conversation, then answer with [`approval_response`] of its outcome
    /// ([`ApprovalOutcome::NotFound`] when the draft is already gone).
    Decide {
        /// The tenant of the guild the button was clicked in.
        tenant: TenantId,
        /// Which draft, and what to do with it.
        decision: DraftDecision,
    },
}

/// The line that replaces an approval card's text once the owner's decision has run: one
/// wording for every adapter.
pub fn approval_reply_text(outcome: &ApprovalOutcome) -> &'static str {
    match outcome {
        ApprovalOutcome::Sent { .. } => "Approved and sent.",
        ApprovalOutcome::Rejected => "Rejected: nothing was sent.",
        ApprovalOutcome::NotFound => "This draft was already decided or has expired.",
        ApprovalOutcome::NotSent { reason } => match reason {
            NoReplyReason::OutsideWindow { .. } => {
                "The reply could not be delivered: the customer's 24-hour reply window has closed."
            }
            // The platform's own words stay in the logs.
            NoReplyReason::SendFailed { .. } => {
                "The reply could not be delivered: the platform refused it."
            }
            NoReplyReason::HandoffSilence
            | NoReplyReason::PersonaNotApproved
            | NoReplyReason::InsufficientCredit { .. }
            | NoReplyReason::NoAiProvider
            | NoReplyReason::Unpriced => "The reply could not be delivered.",
        },
    }
}

/// The interaction response to an approval button once its decision has run: the card's text
/// becomes [`approval_reply_text`] and its buttons are removed
/// ([`update_message`](discord::update_message)), so a draft is not decided twice.
pub fn approval_response(outcome: &ApprovalOutcome) -> Value {
    discord::update_message(approval_reply_text(outcome))
}

fn ephemeral(text: &str) -> InteractionAnswer {
    InteractionAnswer::Respond(discord::message_response(text, true))
}

impl Engine {
    /// How to answer a verified interaction, without running an approval decision:
    ///
    /// | interaction | answer |
    /// |---|---|
    /// | PING | PONG |
    /// | slash command in a guild | [`Engine::discord_command`]'s text, ephemeral |
    /// | slash command in a DM | "inside your server only", ephemeral |
    /// | approval button of a connected guild | [`InteractionAnswer::Decide`] |
    /// | button that does not verify, outside a guild, of an unknown guild, or Reply | a reason, ephemeral (the card stays) |
    /// | autocomplete | no choices |
    /// | modal submit, unknown type | "not available", ephemeral |
    ///
    /// Every answer except `Decide` is final; none changes anything.
    ///
    /// # Errors
    /// Storage errors only.
    pub async fn discord_interaction(
        &self,
        interaction: &Interaction,
    ) -> Result<InteractionAnswer, EngineError> {
        match interaction {
            Interaction::Ping => Ok(InteractionAnswer::Respond(discord::pong())),
            Interaction::Command {
                guild_id, command, ..
            } => {
                // Answered inline (the core reads only the tenant and its ledger: milliseconds),
                // and ephemeral: only the member who asked sees the tenant's status.
                let text = match guild_id {
                    Some(guild) => self.discord_command(guild, command).await?,
                    None => COMMANDS_IN_SERVER_ONLY.to_owned(),
                };
                Ok(ephemeral(&text))
            }
            Interaction::Component { button: None, .. } => Ok(ephemeral(BUTTON_EXPIRED)),
            Interaction::Component { guild_id: None, .. } => {
                Ok(ephemeral(APPROVALS_IN_SERVER_ONLY))
            }
            Interaction::Component {
                guild_id: Some(guild),
                button: Some(button),
                ..
            } => {
                // Modal submits are not parsed yet, so a Reply button never carries text.
                let Some(decision) = DraftDecision::from_button(button, None) else {
                    return Ok(ephemeral(REPLY_NOT_SUPPORTED));
                };
                let account = ChannelAccount::DiscordGuild(guild.clone());
                Ok(match self.store().find_tenant(&account).await? {
                    Some(tenant) => InteractionAnswer::Decide { tenant, decision },
                    None => ephemeral(NOT_CONNECTED),
                })
            }
            Interaction::Autocomplete { .. } => Ok(InteractionAnswer::Respond(
                discord::autocomplete_result(&[]),
            )),
            Interaction::Unsupported { .. } => Ok(ephemeral(NOT_AVAILABLE)),
        }
    }

    /// The whole answer to a verified interaction: [`Engine::discord_interaction`], with an
    /// approval decision run here ([`Engine::decide_approval`]) and rendered with
    /// [`approval_response`]. For adapters that may decide a draft outside its conversation's
    /// executor.
    ///
    /// # Errors
    /// Storage errors, or a retryable send failure of an approved draft (the draft is kept).
    pub async fn discord_interaction_response(
        &self,
        interaction: &Interaction,
    ) -> Result<Value, EngineError> {
        match self.discord_interaction(interaction).await? {
            InteractionAnswer::Respond(body) => Ok(body),
            InteractionAnswer::Decide { tenant, decision } => {
                let outcome = self
                    .decide_approval(&tenant, &decision.draft_id, decision.decision)
                    .await?;
                Ok(approval_response(&outcome))
            }
        }
    }

    /// Whether a verified `MESSAGE_CREATE` is a customer message, for the tenant that connected
    /// its guild, with the shared bot's user id `bot_user_id`: the message to hand to durable
    /// work, or why it is not answered (bots, system messages and DMs are refused before any
    /// tenant lookup; a guild no tenant connected is [`IgnoredReason::NotConnected`]).
    ///
    /// # Errors
    /// Storage errors only.
    pub async fn discord_inbound(
        &self,
        message: &DiscordMessage,
        bot_user_id: &str,
    ) -> Result<Result<InboundMessage, IgnoredReason>, EngineError> {
        let guild = match discord::screen(message, bot_user_id) {
            Ok(guild) => guild,
            Err(reason) => return Ok(Err(reason)),
        };
        let account = ChannelAccount::DiscordGuild(guild.to_owned());
        let tenant = match self.store().find_tenant(&account).await? {
            Some(id) => self.store().get_tenant(&id).await?,
            None => None,
        };
        let Some(triggers) = tenant
            .as_ref()
            .and_then(|t| DiscordTriggers::for_tenant(t, bot_user_id))
        else {
            return Ok(Err(IgnoredReason::NotConnected));
        };
        Ok(message_to_inbound(message, &triggers))
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use expect_test::expect;

    use super::*;
    use crate::ids::ConversationId;
    use crate::time::Timestamp;

    fn every_outcome() -> Vec<ApprovalOutcome> {
        let not_sent = |reason| ApprovalOutcome::NotSent { reason };
        vec![
            ApprovalOutcome::Sent {
                text: "See you Friday.".into(),
                conversation_id: ConversationId::parse("c_1").unwrap_or_else(|_| unreachable!()),
            },
            ApprovalOutcome::Rejected,
            ApprovalOutcome::NotFound,
            not_sent(NoReplyReason::OutsideWindow {
                last_inbound_at: Timestamp::from_secs(0),
            }),
            not_sent(NoReplyReason::SendFailed {
                error: "(#131047) Re-engagement message".into(),
            }),
            not_sent(NoReplyReason::HandoffSilence),
            not_sent(NoReplyReason::PersonaNotApproved),
            not_sent(NoReplyReason::InsufficientCredit {
                balance: crate::ids::Milli(0),
            }),
            not_sent(NoReplyReason::NoAiProvider),
            not_sent(NoReplyReason::Unpriced),
        ]
    }

    #[test]
    fn every_approval_outcome_has_one_reply_text() {
        let mut out = String::new();
        for outcome in every_outcome() {
            let tag = serde_json::to_value(&outcome).unwrap_or_default();
            let _ = writeln!(
                out,
                "{} {}: {}",
                tag["outcome"].as_str().unwrap_or_default(),
                tag["reason"].as_str().unwrap_or_default(),
                approval_reply_text(&outcome)
            );
        }
        expect![[r#"
            sent : Approved and sent.
            rejected : Rejected: nothing was sent.
            not_found : This draft was already decided or has expired.
            not_sent outside_window: The reply could not be delivered: the customer's 24-hour reply window has closed.
            not_sent send_failed: The reply could not be delivered: the platform refused it.
            not_sent handoff_silence: The reply could not be delivered.
            not_sent persona_not_approved: The reply could not be delivered.
            not_sent insufficient_credit: The reply could not be delivered.
            not_sent no_ai_provider: The reply could not be delivered.
            not_sent unpriced: The reply could not be delivered.
        "#]]
        .assert_eq(&out);
    }

    #[test]
    fn provider_text_never_reaches_the_card() {
        for outcome in every_outcome() {
            assert!(!approval_reply_text(&outcome).contains("131047"));
        }
    }

    #[test]
    fn the_approval_response_replaces_the_card_and_removes_its_buttons() {
        expect![[r#"
            {
              "data": {
                "allowed_mentions": {
                  "parse": []
                },
                "components": [],
                "content": "Approved and sent."
              },
              "type": 7
            }"#]]
        .assert_eq(
            &serde_json::to_string_pretty(&approval_response(&every_outcome()[0]))
                .unwrap_or_default(),
        );
    }
}
