#![doc = include_str!("../README.md")]
#![warn(missing_docs, unreachable_pub)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod accounts;
pub mod ai_wire;
pub mod approval;
pub mod audit;
pub mod billing;
pub mod buffer;
pub mod catalog;
pub mod channels;
pub mod conversation;
pub mod delivery;
pub mod email;
pub mod engine;
pub mod front;
pub mod i18n;
pub mod ids;
pub mod knowledge;
pub mod memory;
pub mod persona;
pub mod ports;
pub mod prompt;
pub mod retry;
pub mod rolling_summary;
pub mod rules;
pub mod safety;
pub mod secrets;
mod sort;
pub mod tenant;
pub mod time;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use engine::{Engine, EngineConfig};
pub use ids::{
    Channel, ChannelAccount, ConversationId, ConversationKey, Currency, Milli, TenantId,
};
pub use time::Timestamp;

/// The workspace README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct WorkspaceReadme;
