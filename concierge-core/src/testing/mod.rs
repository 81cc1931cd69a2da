//! The testing kit (feature `testing`): fakes, the conversation harness and the store contract
//! tests.
//!
//! - [`ScriptedAi`], [`RecordingOutbound`], [`ManualClock`]: fakes of the non-storage ports.
//! - [`Harness`]: a whole tenant in memory; a scenario reads like the conversation.
//! - [`MemoryHost`]: the front's host port in memory, to drive the HTTP surface in tests.
//! - [`store_contract_tests!`](crate::store_contract_tests): the suite every storage
//!   implementation (memory, SQLite, Postgres, D1) must pass.

pub mod contract;
mod fakes;
mod harness;
mod host;

pub use fakes::{
    ManualClock, RecordingOutbound, ScriptedAi, ScriptedFailure, SCRIPTED_EMBEDDING_DIMS,
};
pub use harness::{Harness, Step};
pub use host::{FakeUpstream, Fetched, MemoryHost};

/// A small but complete tenant file used by the docs and quick tests: a bakery on WhatsApp
/// with one canned rule and the AI as default.
pub const EXAMPLE_TENANT: &str = r#"
id = "sunrise-bakery"
name = "Sunrise Bakery"
locale = "en-IN"
currency = "INR"
starting_credits = "10"

[persona.builder]
voice = "warm"
assistant_name = "Asha"
business_name = "Sunrise Bakery"
business_type = "bakery"
city = "Pune"
goal = "answer questions about cakes and take pre-orders"
facts = ["Open 7am to 8pm every day"]
handoff_conditions = ["a complaint about an order"]

[notifications]
discord_channel_id = "900000000000000999"

[channels.whatsapp]
phone_number_id = "106540352242922"

[channels.whatsapp.replies]
default_rule = { kind = "prompt", text = "Answer briefly." }

[[channels.whatsapp.replies.rules]]
name = "hours"
match = { kind = "keywords", keywords = ["hours", "open"] }
reply = { kind = "canned", text = "We're open 7am to 8pm every day." }
"#;
