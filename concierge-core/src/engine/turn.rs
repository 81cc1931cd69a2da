//! The turn: from a customer message to a reply (seed 000, "AI reply pipeline").

use sha2::{Digest, Sha256};

use super::outcome::{
    IgnoreReason, InboundOutcome, KnowledgeUse, NoReplyReason, Reply, TurnReport,
};
use super::{Engine, EngineError};
use crate::approval::Draft;
use crate::buffer::{BufferedMessage, Push};
use crate::channels::{email, meta, InboundMessage, ReplyRoute};
use crate::conversation::{HandoffPhase, HandoffState, Rotation, Session, Turn};
use crate::ids::{Channel, ChannelAccount, ConversationKey};
#[cfg(feature = "knowledge")]
use crate::knowledge::grounding;
#[cfg(feature = "knowledge")]
use crate::knowledge::retrieval::{QueryVector, SearchOptions};
use crate::knowledge::{Chunk, WhenUnknown};
use crate::ports::{
    AiError, ChatRequest, Direction, Job, MessageRecord, OutboundBody, OutboundError,
    OutboundMessage, Purpose,
};
use crate::prompt::{self, HOLDING_PATTERN_MIDDLE};
use crate::rules::{InboundEmbedding, ReplyResponse, RuleRef};
use crate::safety::{self, Verdict, INJECTION_CLASSIFIER_PROMPT};
use crate::tenant::Tenant;
use crate::time::{Span, Timestamp};

/// Sent when the model asks for a human but writes nothing else.
pub(super) const HANDOFF_FALLBACK_TEXT: &str =
    "Thanks for your message. A member of our team will get back to you shortly.";

pub(super) enum Scan {
    Allowed,
    Rejected(Option<String>),
}

impl Engine {
    /// Runs a customer message through the pipeline without the idempotency check: tenant
    /// lookup, injection scan, session rotation, reply buffer, then the turn.
    ///
    /// For adapters that deduplicate durably themselves (the server records the provider id and
    /// a job in one transaction). Running the same message twice is safe for the debit and the
    /// send (both keyed by the turn); a buffered message is not buffered again once waiting or
    /// answered, but an unbuffered one is appended to the history twice: deduplicate first.
    ///
    /// The message's time is [`InboundMessage::acked_at`] (or now, when the adapter gave none):
    /// the session's idle gap and the reply buffer's window run from it. A message
    /// acknowledged after the waiting batch's deadline first closes that batch, which is
    /// answered in this call ([`InboundOutcome::Buffered`]'s `closed`).
    ///
    /// # Errors
    /// [`EngineError`]; nothing is saved for this message when an error is returned.
    pub async fn process_inbound(
        &self,
        message: InboundMessage,
    ) -> Result<InboundOutcome, EngineError> {
        let now = self.clock().now();
        // When the message arrived: the adapter's acknowledgement, never later than now.
        let at = message.acked_at.map_or(now, |acked| acked.min(now));
        let Some(tenant_id) = self.store().find_tenant(&message.account).await? else {
            tracing::info!(account = %message.account.index_key(), "message for an unknown account dropped");
            return Ok(InboundOutcome::UnknownAccount {
                account: message.account,
            });
        };
        let Some(tenant) = self.store().get_tenant(&tenant_id).await? else {
            return Ok(InboundOutcome::UnknownAccount {
                account: message.account,
            });
        };
        let Some(replies) = tenant.channels.replies(message.channel) else {
            return Ok(InboundOutcome::Ignored {
                reason: IgnoreReason::ChannelNotConfigured,
            });
        };
        let key = message.conversation_key(&tenant.id);
        let Some(text) = message.content.text_for_reply() else {
            self.log_inbound(&tenant, &message, "ignored:nothing_to_answer", at)
                .await?;
            return Ok(InboundOutcome::Ignored {
                reason: IgnoreReason::NothingToAnswer,
            });
        };

        if let Scan::Rejected(category) = self.scan_injection(&text).await {
            tracing::warn!(tenant = %tenant.id, category = category.as_deref().unwrap_or("-"), "inbound message rejected by the injection scan");
            self.log_inbound(&tenant, &message, "injection_rejected", at)
                .await?;
            return Ok(InboundOutcome::InjectionRejected);
        }

        let existing = self.store().load_session(&key).await?;
        let (mut session, rotation) =
            Session::observe_inbound(existing, &key, at, &tenant.conversation);
        let buffered = BufferedMessage {
            provider_id: message.provider_id.clone(),
            text,
            received_at: at,
            account: message.account.clone(),
            route: message.route.clone(),
        };
        if !replies.enabled {
            self.store().save_session(&key, &session).await?;
            self.log_inbound(&tenant, &message, "ignored:replies_disabled", at)
                .await?;
            return Ok(InboundOutcome::Ignored {
                reason: IgnoreReason::RepliesDisabled,
            });
        }
        if replies.wait_seconds > 0 {
            let wait = Span::seconds(i64::from(replies.wait_seconds));
            let (closed, until) = match session.buffer.push(buffered, wait) {
                Push::Buffered { closed, deadline } => (closed, deadline),
                Push::AlreadyAnswered => {
                    // A job retried after its batch was flushed: answered once already.
                    tracing::debug!(tenant = %tenant.id, "message already answered in an earlier batch");
                    return Ok(InboundOutcome::Duplicate);
                }
            };
            let closed = match closed {
                // The waiting batch fell due before this message arrived: answer it on its
                // own first. The turn saves the session, with this message now waiting.
                Some(batch) => {
                    let new_conversation = batch
                        .first()
                        .is_some_and(|m| m.received_at <= session.started_at);
                    Some(
                        self.run_turn(&tenant, &key, session, batch, new_conversation, now)
                            .await?,
                    )
                }
                None => {
                    self.store().save_session(&key, &session).await?;
                    None
                }
            };
            self.store()
                .schedule(&Job::FlushBuffer { key: key.clone() }, until)
                .await?;
            self.log_inbound(&tenant, &message, "buffered", at).await?;
            return Ok(InboundOutcome::Buffered { key, until, closed });
        }
        let new_conversation = !matches!(rotation, Rotation::Continued);
        let report = self
            .run_turn(
                &tenant,
                &key,
                session,
                vec![buffered],
                new_conversation,
                now,
            )
            .await?;
        Ok(InboundOutcome::Turn(report))
    }

    /// The injection scan. A classifier that is unavailable or answers garbage lets the
    /// message through (logged): an AI outage must not silence canned rules, and the envelope's
    /// house rules still stand.
    pub(super) async fn scan_injection(&self, text: &str) -> Scan {
        if !self.config.injection_scan {
            return Scan::Allowed;
        }
        let request = ChatRequest {
            model: self.config.fast_model.clone(),
            system: INJECTION_CLASSIFIER_PROMPT.to_owned(),
            history: Vec::new(),
            user: safety::injection_scan_input(text).to_owned(),
            max_tokens: 40,
        };
        match self.ai().chat(&request).await {
            Ok(answer) => match safety::parse_injection_verdict(&answer) {
                Ok(Verdict::Pass) => Scan::Allowed,
                Ok(Verdict::Reject { category }) => Scan::Rejected(category),
                Err(e) => {
                    tracing::warn!(error = %e, "injection scan unreadable; message allowed");
                    Scan::Allowed
                }
            },
            Err(AiError::NotConfigured) => Scan::Allowed,
            Err(e) => {
                tracing::warn!(error = %e, "injection scan unavailable; message allowed");
                Scan::Allowed
            }
        }
    }

    /// Runs one turn for a batch of messages (one, or a buffered burst) and saves the session.
    pub(super) async fn run_turn(
        &self,
        tenant: &Tenant,
        key: &ConversationKey,
        mut session: Session,
        batch: Vec<BufferedMessage>,
        new_conversation: bool,
        now: Timestamp,
    ) -> Result<TurnReport, EngineError> {
        let Some(last) = batch.last().cloned() else {
            return Err(EngineError::Invalid(Vec::new()));
        };
        let text = batch
            .iter()
            .map(|m| m.text.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let turn_key = format!("turn:{}:{}", key.channel, last.provider_id);
        let conversation = tenant.conversation;
        session.push_turn(Turn::user(text.clone()), conversation.history_bound());

        let mut report = TurnReport {
            key: key.clone(),
            conversation_id: session.conversation_id.clone(),
            new_conversation,
            answered: batch.iter().map(|m| m.provider_id.clone()).collect(),
            rule: None,
            reply: Reply::None {
                reason: NoReplyReason::HandoffSilence,
            },
            charged: None,
            handoff: false,
            paged: false,
            notes: Vec::new(),
            knowledge: None,
        };
        let ctx = TurnCtx {
            tenant,
            key,
            target: Target {
                account: last.account.clone(),
                route: last.route.clone(),
                reply_to: Some(last.provider_id.clone()),
            },
            turn_key,
            user_text: text,
            now,
        };
        let text = &ctx.user_text;

        #[cfg_attr(not(feature = "knowledge"), allow(unused_mut))]
        let mut grounding: Option<Grounding> = None;
        let ai_middle = match session.handoff_phase(now, &conversation) {
            HandoffPhase::Silent => None,
            HandoffPhase::Holding => Some((HOLDING_PATTERN_MIDDLE.to_owned(), true)),
            HandoffPhase::None => {
                let replies = tenant
                    .channels
                    .replies(key.channel)
                    .ok_or_else(|| EngineError::UnknownTenant(tenant.id.to_string()))?;
                #[cfg(feature = "knowledge")]
                let index = self.knowledge_index(&tenant.id).await?;
                // One embedding per delivery, shared by the intent rules and the passages.
                #[cfg(feature = "knowledge")]
                let vectors_match = index
                    .as_ref()
                    .is_some_and(|i| i.embedding_model() == Some(&self.config.embedding_model));
                #[cfg(not(feature = "knowledge"))]
                let vectors_match = false;
                let vector = if replies.needs_embedding() || vectors_match {
                    self.embed_inbound(text).await
                } else {
                    None
                };
                let selection = replies.select(
                    text,
                    vector.as_deref().map(|v| InboundEmbedding {
                        vector: v,
                        model: &self.config.embedding_model,
                    }),
                );
                report.rule = Some(selection.rule.clone());
                report.notes = selection.notes;
                match selection.response {
                    ReplyResponse::Canned { text: canned } => {
                        report.reply = self
                            .deliver_canned(&ctx, &mut session, canned, &selection.rule)
                            .await?;
                        None
                    }
                    ReplyResponse::Prompt { text: rule_prompt } => {
                        #[cfg(feature = "knowledge")]
                        {
                            grounding = index.map(|index| {
                                let query = vector.as_deref().map(|v| QueryVector {
                                    model: &self.config.embedding_model,
                                    vector: v,
                                });
                                // A small model (strict grounding) reads fewer passages:
                                // each costs prefill time and its attention.
                                let options = SearchOptions {
                                    k: if self.config.strict_grounding { 3 } else { 5 },
                                    ..SearchOptions::default()
                                };
                                let passages = index
                                    .search(text, query, &options)
                                    .into_iter()
                                    .map(|hit| hit.chunk.clone())
                                    .collect();
                                Grounding {
                                    passages,
                                    when_unknown: tenant.when_unknown,
                                }
                            });
                        }
                        Some((
                            prompt::middle(&tenant.persona.active_prompt(), rule_prompt),
                            false,
                        ))
                    }
                }
            }
        };

        if let Some((middle, holding)) = ai_middle {
            let grounding = grounding.as_ref();
            self.ai_turn(&ctx, &mut session, &middle, holding, grounding, &mut report)
                .await?;
        }

        self.store().save_session(key, &session).await?;
        let ai_flow = !matches!(report.reply, Reply::Canned { .. });
        for m in &batch {
            let action = format!(
                "{}:{}",
                reply_kind(&report.reply),
                report.rule.as_ref().map_or("handoff", RuleRef::name)
            );
            self.store()
                .record_message(&MessageRecord {
                    tenant: tenant.id.clone(),
                    channel: key.channel,
                    direction: Direction::Inbound,
                    sender: key.sender.clone(),
                    recipient: m.account.id().to_owned(),
                    message_id: m.provider_id.clone(),
                    action_taken: action,
                    conversation_id: ai_flow.then(|| session.conversation_id.clone()),
                    at: m.received_at,
                })
                .await?;
        }
        // The reply is out and the turn saved and logged: a full history is folded last, and
        // a fold that fails or cannot be saved leaves the saved turns as they are.
        if self.fold_history(tenant, key, &mut session, now).await {
            if let Err(e) = self.store().save_session(key, &session).await {
                tracing::warn!(tenant = %tenant.id, error = %e, "could not save the folded summary; the turns wait for the next fold");
            }
        }
        Ok(report)
    }

    /// The system prompt: the envelope, with the knowledge section when the tenant has
    /// documents (the same text `concierge prompt` and View prompt show).
    pub(crate) fn envelope(&self, middle: &str, grounding: Option<&Grounding>) -> String {
        if self.config.compact_envelope() {
            let section = grounding.map(|g| prompt::KnowledgeSection {
                passages: &g.passages,
                when_unknown: g.when_unknown,
            });
            return prompt::compact::wrap_compact(middle, section.as_ref());
        }
        match grounding {
            Some(g) => prompt::wrap_grounded(
                middle,
                &prompt::KnowledgeSection {
                    passages: &g.passages,
                    when_unknown: g.when_unknown,
                },
            ),
            None => prompt::wrap(middle),
        }
    }

    /// The most tokens a reply may have: [`EngineConfig::max_reply_tokens`], and at most
    /// [`prompt::compact::COMPACT_REPLY_TOKENS`] under the compact envelope (a small model's
    /// reply is one to three sentences; past them it only rambles on).
    pub(crate) fn reply_max_tokens(&self) -> u32 {
        if self.config.compact_envelope() {
            self.config
                .max_reply_tokens
                .min(prompt::compact::COMPACT_REPLY_TOKENS)
        } else {
            self.config.max_reply_tokens
        }
    }

    /// Strict grounding's line for a question nothing in the knowledge base answers (with
    /// the handoff token when the tenant hands off); `None` otherwise.
    #[cfg(not(feature = "knowledge"))]
    fn unknown_line(&self, _: &Grounding, _: &str) -> Option<String> {
        None
    }

    /// Strict grounding's line for a question nothing in the knowledge base answers (with
    /// the handoff token when the tenant hands off); `None` otherwise.
    #[cfg(feature = "knowledge")]
    fn unknown_line(&self, grounding: &Grounding, question: &str) -> Option<String> {
        if !self.config.strict_grounding
            || !grounding.passages.is_empty()
            || !grounding::is_question(question)
        {
            return None;
        }
        Some(match grounding.when_unknown {
            WhenUnknown::Offer => grounding::UNKNOWN_OFFER_TEXT.to_owned(),
            WhenUnknown::Handoff => {
                format!("{} {}", grounding::UNKNOWN_HANDOFF_TEXT, prompt::HANDOFF)
            }
        })
    }

    /// The reply read against its passages: markers stripped, citations found, and under
    /// strict grounding an ungrounded reply replaced by the best passage.
    #[cfg(not(feature = "knowledge"))]
    fn ground(&self, g: &Grounding, text: &str, _: bool, _: bool) -> (String, KnowledgeUse) {
        let used = KnowledgeUse {
            passages: u32::try_from(g.passages.len()).unwrap_or(u32::MAX),
            citations: Vec::new(),
            grounded: false,
            fallback: None,
        };
        (text.to_owned(), used)
    }

    /// The reply read against its passages: markers stripped, citations found, and under
    /// strict grounding an ungrounded reply replaced by the best passage. A reply of which
    /// nothing is left once its `echoed` envelope text is cut becomes the best passage too.
    #[cfg(feature = "knowledge")]
    fn ground(
        &self,
        g: &Grounding,
        text: &str,
        premade: bool,
        echoed: bool,
    ) -> (String, KnowledgeUse) {
        let passages = u32::try_from(g.passages.len()).unwrap_or(u32::MAX);
        if premade {
            let used = KnowledgeUse {
                passages,
                citations: Vec::new(),
                grounded: false,
                fallback: Some("unknown".into()),
            };
            return (text.to_owned(), used);
        }
        let cited = grounding::cite(text, &g.passages);
        match g.passages.first() {
            Some(best)
                if (self.config.strict_grounding && !cited.grounded)
                    || (echoed && cited.text.trim().is_empty()) =>
            {
                (
                    grounding::best_passage_reply(best),
                    KnowledgeUse {
                        passages,
                        citations: vec![crate::knowledge::Citation::of(best)],
                        grounded: true,
                        fallback: Some("best_passage".into()),
                    },
                )
            }
            _ => (
                cited.text,
                KnowledgeUse {
                    passages,
                    citations: cited.citations,
                    grounded: cited.grounded,
                    fallback: None,
                },
            ),
        }
    }

    pub(super) async fn embed_inbound(&self, text: &str) -> Option<Vec<f32>> {
        match self
            .ai()
            .embed(&self.config.embedding_model, &[text.to_owned()])
            .await
        {
            Ok(mut v) if v.len() == 1 => v.pop(),
            Ok(_) => None,
            Err(AiError::NotConfigured) => None,
            Err(e) => {
                tracing::warn!(error = %e, "could not embed the inbound message; intent rules skipped");
                None
            }
        }
    }

    async fn deliver_canned(
        &self,
        ctx: &TurnCtx<'_>,
        session: &mut Session,
        text: &str,
        rule: &RuleRef,
    ) -> Result<Reply, EngineError> {
        let TurnCtx {
            tenant, key, now, ..
        } = *ctx;
        if let Some(reason) = window_closed(key.channel, session, now) {
            return Ok(Reply::None { reason });
        }
        match self
            .send_reply(tenant, key, &ctx.target, text, &ctx.turn_key, None, now)
            .await
        {
            Ok(()) => {
                session.push_turn(Turn::assistant(text), tenant.conversation.history_bound());
                tracing::debug!(tenant = %tenant.id, rule = rule.name(), "canned reply sent");
                Ok(Reply::Canned {
                    text: text.to_owned(),
                })
            }
            Err(OutboundError::Permanent(reason)) => Ok(Reply::None {
                reason: NoReplyReason::SendFailed { error: reason },
            }),
            Err(e) => Err(e.into()),
        }
    }

    async fn ai_turn(
        &self,
        ctx: &TurnCtx<'_>,
        session: &mut Session,
        middle: &str,
        holding: bool,
        grounding: Option<&Grounding>,
        report: &mut TurnReport,
    ) -> Result<(), EngineError> {
        let TurnCtx {
            tenant, key, now, ..
        } = *ctx;
        let turn_key = ctx.turn_key.as_str();
        let reply = |reason| Reply::None { reason };
        if !tenant.persona.cleared_for_ai() {
            report.reply = reply(NoReplyReason::PersonaNotApproved);
            return Ok(());
        }
        if let Some(reason) = window_closed(key.channel, session, now) {
            report.reply = reply(reason);
            return Ok(());
        }
        if let Some(line) = grounding.and_then(|g| self.unknown_line(g, &ctx.user_text)) {
            // Strict grounding: nothing answers the question, so no model is asked (and
            // nothing is charged); the tenant's line says so.
            return self
                .generate_and_deliver(ctx, session, middle, holding, grounding, Some(line), report)
                .await;
        }
        // One point read per AI turn: a price the operator set on any replica applies now.
        let Some(price) = self.ai_reply_price(&tenant.currency).await? else {
            tracing::error!(tenant = %tenant.id, currency = %tenant.currency, "no price configured; AI reply skipped");
            report.reply = reply(NoReplyReason::Unpriced);
            return Ok(());
        };
        let debit = self
            .store()
            .try_debit(&tenant.id, turn_key, price, now)
            .await?;
        if !debit.is_charged() {
            let balance = self.store().balance(&tenant.id, now).await?;
            report.reply = reply(NoReplyReason::InsufficientCredit { balance });
            return Ok(());
        }

        // From here on, every failure path refunds.
        let result = self
            .generate_and_deliver(ctx, session, middle, holding, grounding, None, report)
            .await;
        let refund = match &result {
            Ok(()) => matches!(report.reply, Reply::None { .. }),
            Err(_) => true,
        };
        if refund {
            self.store().refund(&tenant.id, turn_key, now).await?;
        } else {
            report.charged = Some(price);
        }
        result
    }

    /// Generates the reply with the model (or takes `premade`, the strict-grounding line),
    /// reads it against the passages, and sends it, drafts it or hands off.
    #[allow(clippy::too_many_arguments)]
    async fn generate_and_deliver(
        &self,
        ctx: &TurnCtx<'_>,
        session: &mut Session,
        middle: &str,
        holding: bool,
        grounding: Option<&Grounding>,
        premade: Option<String>,
        report: &mut TurnReport,
    ) -> Result<(), EngineError> {
        let TurnCtx {
            tenant, key, now, ..
        } = *ctx;
        let (target, turn_key, user_text) =
            (&ctx.target, ctx.turn_key.as_str(), ctx.user_text.as_str());
        let premade_line = premade.is_some();
        let raw = match premade {
            Some(line) => line,
            None => {
                // The newest turns up to the cap; the summary holds the ones before them.
                let window = session.window(tenant.conversation.max_history());
                let summary = session.summary.as_ref().map(|s| s.text.as_str());
                let request = ChatRequest {
                    model: self.config.reply_model.clone(),
                    system: prompt::with_summary(self.envelope(middle, grounding), summary),
                    // The session ends with the current user turn, which goes last as `user`.
                    history: window[..window.len().saturating_sub(1)].to_vec(),
                    user: user_text.to_owned(),
                    max_tokens: self.reply_max_tokens(),
                };
                match self.ai().chat(&request).await {
                    Ok(raw) => raw,
                    Err(AiError::NotConfigured) => {
                        report.reply = Reply::None {
                            reason: NoReplyReason::NoAiProvider,
                        };
                        return Ok(());
                    }
                    Err(e) => return Err(EngineError::Ai(e)),
                }
            }
        };
        // A small model may copy the envelope after its answer: the customer never sees it
        // (and a rule it copies, such as the handoff instruction, never acts).
        let (raw, echoed) = if premade_line {
            (raw.as_str(), false)
        } else {
            prompt::cut_envelope_echo(&raw)
        };
        if echoed {
            tracing::info!(
                tenant = %tenant.id,
                kept_chars = raw.len(),
                "the reply echoed the envelope; cut at the first marker"
            );
        }
        let (mut text, handoff) = prompt::detect_and_strip_handoff(raw);
        if let (Some(g), false) = (grounding, holding) {
            let (grounded_text, used) = self.ground(g, &text, premade_line, echoed);
            text = grounded_text;
            report.knowledge = Some(used);
        }
        let handoff = handoff && !holding && session.handoff.is_none();
        if text.is_empty() {
            if !handoff {
                let what = if echoed {
                    "the reply only echoed its instructions"
                } else {
                    "empty reply"
                };
                return Err(EngineError::Ai(AiError::BadResponse(what.into())));
            }
            HANDOFF_FALLBACK_TEXT.clone_into(&mut text);
        }
        if handoff {
            session.handoff = Some(HandoffState { since: now });
            report.handoff = true;
            report.paged = self
                .page_tenant(tenant, key, session, user_text, turn_key)
                .await?;
        }

        if tenant.approval.required {
            let draft = Draft {
                id: draft_id(turn_key),
                key: key.clone(),
                conversation_id: session.conversation_id.clone(),
                account: target.account.clone(),
                route: target.route.clone(),
                reply_to: target.reply_to.clone(),
                inbound_excerpt: excerpt(user_text, 300),
                text: text.clone(),
                turn_key: turn_key.to_owned(),
                created_at: now,
            };
            self.store().put_draft(&tenant.id, &draft).await?;
            self.request_approval(tenant, &draft, now).await?;
            report.reply = Reply::Drafted {
                draft_id: draft.id,
                text,
            };
            return Ok(());
        }

        match self
            .send_reply(
                tenant,
                key,
                target,
                &text,
                turn_key,
                Some(&session.conversation_id),
                now,
            )
            .await
        {
            Ok(()) => {
                session.push_turn(
                    Turn::assistant(text.clone()),
                    tenant.conversation.history_bound(),
                );
                report.reply = if holding {
                    Reply::Holding { text }
                } else {
                    Reply::Ai { text }
                };
                Ok(())
            }
            Err(OutboundError::Permanent(reason)) => {
                report.reply = Reply::None {
                    reason: NoReplyReason::SendFailed { error: reason },
                };
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Sends a reply to the customer and logs the outbound row.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn send_reply(
        &self,
        tenant: &Tenant,
        key: &ConversationKey,
        target: &Target,
        text: &str,
        send_key: &str,
        conversation_id: Option<&crate::ids::ConversationId>,
        now: Timestamp,
    ) -> Result<(), OutboundError> {
        let message = OutboundMessage {
            key: format!("reply:{send_key}"),
            tenant: tenant.id.clone(),
            channel: key.channel,
            account: Some(target.account.clone()),
            to: key.sender.clone(),
            route: target.route.clone(),
            body: reply_body(&key.sender, text, target),
            purpose: Purpose::Reply,
            conversation_id: conversation_id.cloned(),
        };
        let receipt = self.outbound().send(&message).await?;
        let record = MessageRecord {
            tenant: tenant.id.clone(),
            channel: key.channel,
            direction: Direction::Outbound,
            sender: target.account.id().to_owned(),
            recipient: key.sender.clone(),
            message_id: receipt
                .provider_ids
                .first()
                .cloned()
                .unwrap_or_else(|| message.key.clone()),
            action_taken: "sent".to_owned(),
            conversation_id: conversation_id.cloned(),
            at: now,
        };
        if let Err(e) = self.store().record_message(&record).await {
            // The send happened; a missing metadata row must not cause a second send.
            tracing::warn!(error = %e, "could not log an outbound message");
        }
        Ok(())
    }

    /// Pages the tenant once for a handoff, on every notification target it has set.
    /// Returns whether any page was sent.
    async fn page_tenant(
        &self,
        tenant: &Tenant,
        key: &ConversationKey,
        session: &Session,
        user_text: &str,
        turn_key: &str,
    ) -> Result<bool, EngineError> {
        let summary = format!(
            "A customer on {} ({}) needs a human. Conversation {}.\n\nTheir last message: {}",
            key.channel,
            key.sender,
            session.conversation_id,
            excerpt(user_text, 500)
        );
        let mut paged = false;
        for (channel, to, body) in
            self.owner_targets(tenant, "Handoff: a customer needs a human", &summary)
        {
            let message = OutboundMessage {
                key: format!("page:{channel}:{turn_key}"),
                tenant: tenant.id.clone(),
                channel,
                account: None,
                to,
                route: ReplyRoute::Direct,
                body,
                purpose: Purpose::HandoffPage,
                conversation_id: Some(session.conversation_id.clone()),
            };
            match self.outbound().send(&message).await {
                Ok(_) => paged = true,
                Err(OutboundError::Permanent(reason)) => {
                    tracing::error!(tenant = %tenant.id, %reason, "handoff page refused");
                }
                Err(e) => return Err(e.into()),
            }
        }
        if !paged {
            tracing::warn!(tenant = %tenant.id, "handoff with no notification target configured");
        }
        Ok(paged)
    }

    /// The owner's notification targets as `(channel, to, body)`.
    pub(super) fn owner_targets(
        &self,
        tenant: &Tenant,
        subject: &str,
        text: &str,
    ) -> Vec<(Channel, String, OutboundBody)> {
        let mut out = Vec::new();
        if let Some(channel_id) = &tenant.notifications.discord_channel_id {
            out.push((
                Channel::Discord,
                channel_id.clone(),
                OutboundBody::Text {
                    text: text.to_owned(),
                    reply_to: None,
                },
            ));
        }
        if let Some(email) = &tenant.notifications.email {
            out.push((
                Channel::Email,
                email.clone(),
                OutboundBody::Email {
                    subject: subject.to_owned(),
                    text: text.to_owned(),
                },
            ));
        }
        out
    }

    /// Posts a draft for approval: a Discord card when a Discord channel is set, else it waits
    /// for the next email digest.
    async fn request_approval(
        &self,
        tenant: &Tenant,
        draft: &Draft,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        if let Some(channel_id) = &tenant.notifications.discord_channel_id {
            let message = OutboundMessage {
                key: format!("approval:{}", draft.id),
                tenant: tenant.id.clone(),
                channel: Channel::Discord,
                account: None,
                to: channel_id.clone(),
                route: ReplyRoute::Direct,
                body: OutboundBody::ApprovalCard {
                    draft_id: draft.id.clone(),
                    customer_channel: draft.key.channel,
                    customer: draft.key.sender.clone(),
                    inbound_excerpt: draft.inbound_excerpt.clone(),
                    draft_text: draft.text.clone(),
                },
                purpose: Purpose::ApprovalRequest,
                conversation_id: Some(draft.conversation_id.clone()),
            };
            self.outbound().send(&message).await?;
        } else {
            let cadence = Span::minutes(i64::from(tenant.approval.digest_cadence_mins));
            let pending = self.store().list_drafts(&tenant.id, now).await?;
            // The digest goes out one cadence after the oldest waiting draft.
            let first = pending.iter().map(|d| d.created_at).min().unwrap_or(now);
            self.store()
                .schedule(
                    &Job::ApprovalDigest {
                        tenant: tenant.id.clone(),
                    },
                    first + cadence,
                )
                .await?;
        }
        Ok(())
    }

    pub(super) async fn log_inbound(
        &self,
        tenant: &Tenant,
        message: &InboundMessage,
        action: &str,
        at: Timestamp,
    ) -> Result<(), EngineError> {
        self.store()
            .record_message(&MessageRecord {
                tenant: tenant.id.clone(),
                channel: message.channel,
                direction: Direction::Inbound,
                sender: message.sender.clone(),
                recipient: message.account.id().to_owned(),
                message_id: message.provider_id.clone(),
                action_taken: action.to_owned(),
                conversation_id: None,
                at,
            })
            .await?;
        Ok(())
    }
}

/// What every step of one turn needs to know.
/// The knowledge base's part in one turn: the passages found for the customer's message.
#[derive(Debug)]
pub(crate) struct Grounding {
    /// Best first; empty when nothing relevant was found.
    pub(crate) passages: Vec<Chunk>,
    /// The tenant's choice for what the passages do not say.
    pub(crate) when_unknown: WhenUnknown,
}

struct TurnCtx<'a> {
    tenant: &'a Tenant,
    key: &'a ConversationKey,
    target: Target,
    /// `turn:{channel}:{provider id}`: keys the debit, the reply, the page and the draft.
    turn_key: String,
    /// The customer's text (a buffered burst joined by newlines).
    user_text: String,
    now: Timestamp,
}

/// Where a reply goes.
#[derive(Clone, Debug)]
pub(super) struct Target {
    pub(super) account: ChannelAccount,
    pub(super) route: ReplyRoute,
    pub(super) reply_to: Option<String>,
}

fn reply_body(customer: &str, text: &str, target: &Target) -> OutboundBody {
    match email::reply_for_route(&target.route, customer, text) {
        Some(mail) => OutboundBody::FullEmail(mail),
        None => OutboundBody::Text {
            text: text.to_owned(),
            reply_to: target.reply_to.clone(),
        },
    }
}

/// Whether a free-form send is blocked by the 24-hour customer-service window (WhatsApp and
/// Instagram only).
pub(super) fn window_closed(
    channel: Channel,
    session: &Session,
    now: Timestamp,
) -> Option<NoReplyReason> {
    if !matches!(channel, Channel::WhatsApp | Channel::Instagram) {
        return None;
    }
    meta::check_service_window(Some(session.last_inbound_at), now)
        .err()
        .map(|_| NoReplyReason::OutsideWindow {
            last_inbound_at: session.last_inbound_at,
        })
}

fn reply_kind(reply: &Reply) -> &'static str {
    match reply {
        Reply::Canned { .. } => "canned",
        Reply::Ai { .. } => "ai",
        Reply::Holding { .. } => "holding",
        Reply::Drafted { .. } => "drafted",
        Reply::None { .. } => "no_reply",
    }
}

/// A draft's id: derived from the turn, so a retried turn makes the same draft.
fn draft_id(turn_key: &str) -> String {
    let digest = Sha256::digest(turn_key.as_bytes());
    format!("d_{}", hex::encode(&digest[..12]))
}

/// The first `max` characters of `text`, with an ellipsis when cut.
pub(super) fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((byte, _)) => format!("{}…", &text[..byte]),
        None => text.to_owned(),
    }
}
