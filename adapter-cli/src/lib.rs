//! The `concierge` command as a library: every subcommand is a function that parses its input,
//! drives [`concierge_core`]'s engine over in-memory ports, and renders the result.
//!
//! **Architecture Invariant:** nothing here decides. Rule matching, billing, sessions, prompt
//! text and handoff live in `concierge-core`; this crate reads files, calls the engine (through
//! [`concierge_core::testing::Harness`]) and prints what came back.
//!
//! | module | subcommand |
//! |---|---|
//! | [`prompt`] | `concierge prompt`: the envelope the model would receive |
//! | [`validate`] | `concierge validate`: tenant files and specs, with line and field |
//! | [`spec`], [`runner`] | `concierge test`: YAML conversation specs |
//! | [`chat`] | `concierge chat`: an interactive customer |
//! | [`replay`] | `concierge replay`: one recorded webhook through verify, parse and engine |
//! | [`ask`] | `concierge ask`: one question's reply, citations and grounding |
//! | [`kb`] | `concierge kb search`: the tenant's documents and the passages a question finds |
//! | [`eval`] | `concierge kb eval`: retrieval, answer and refusal accuracy and latency over a questions file |
//! | [`ai`] | the OpenAI-compatible model provider behind `CONCIERGE_AI_URL` |
#![warn(missing_docs, unreachable_pub)]

pub mod ai;
pub mod ask;
pub mod chat;
pub mod error;
pub mod eval;
pub mod kb;
pub mod prompt;
pub mod replay;
pub mod runner;
pub mod sandbox;
pub mod source;
pub mod spec;
pub mod validate;

pub use error::CliError;
