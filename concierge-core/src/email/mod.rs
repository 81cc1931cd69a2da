//! Email routing: per-domain rules and reverse aliases, as pure functions.
//!
//! A tenant's email domain (`shop.cncg.email`) has an ordered list of [`EmailRule`]s (stored at
//! `email_rules:{tenant}:{domain}`). Each inbound message that is not automatic (see
//! [`ParsedEmail::auto`](crate::channels::email::ParsedEmail::auto)) goes through
//! [`CompiledRules::route`]: the first rule whose [`MatchCriteria`] all match decides the
//! [`EmailAction`].
//!
//! **When no rule matches, `route` returns `None` and the caller decides.** The engine's default
//! is its own policy (typically `ai_reply` for a tenant that enabled email replies); this module
//! does not guess.
//!
//! Forwarding rewrites `From` to a [reverse alias](reverse_alias_for) on the tenant's domain so
//! the tenant's reply comes back through Concierge and is delivered to the original sender with
//! [`deliver_reply_via_alias`]; the engine stores the [`ReverseAlias`] mapping (key
//! [`reverse_alias_key`], TTL [`REVERSE_ALIAS_TTL`]).
//!
//! **Architecture Invariant:** nothing here does I/O or reads the clock; storage of rules and
//! aliases is the engine's job.

mod alias;
mod glob;
mod rules;

pub use alias::{
    deliver_reply_via_alias, forward, is_reverse_alias, normalize_alias, reverse_alias_for,
    reverse_alias_key, ReverseAlias, REVERSE_ALIAS_TTL,
};
pub use rules::{CompiledRules, EmailAction, EmailRule, EmailRuleError, MatchCriteria};
