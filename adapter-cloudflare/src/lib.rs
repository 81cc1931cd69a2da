//! Concierge as a Cloudflare Worker.
//!
//! A thin adapter over [`concierge_core`]: every request is verified and parsed with
//! `concierge_core::channels`, handed to the [`Engine`](concierge_core::Engine), and its typed
//! outcome rendered. The ports are implemented over Cloudflare's bindings:
//!
//! | port | binding |
//! |---|---|
//! | tenants + reverse indexes | D1 `tenants`/`tenant_accounts` (source of truth, revision CAS), KV `wa_phone:` … read cache |
//! | sessions + reply buffer | the conversation's Durable Object (`REPLY_BUFFER`), alarm → `Engine::flush_buffer` |
//! | ledger | D1 `ledger_grants`/`ledger_debits`: the core's `draw`/`restore`, written in one batch guarded by the rows read |
//! | idempotency, message log, drafts, aliases, outbox, audit log, prices per currency | D1 |
//! | jobs | DO alarms (buffer), `SAFETY_QUEUE` (+ DLQ), `WORK_QUEUE` (inbound slow path, digests) |
//! | AI | Workers AI binding `AI`, or an OpenAI-compatible endpoint over `Fetch` (`AI_PROVIDER`) |
//! | outbound | `Fetch` to Graph / Discord (base URLs configurable), the `EMAIL` binding |
//!
//! The Worker builds only for `wasm32-unknown-unknown`; on other targets only the pure
//! [`settings`] validation compiles (and is unit-tested). The AI providers' wire mapping is the
//! core's `concierge_core::ai_wire`.
#![warn(missing_docs, unreachable_pub)]

pub mod settings;

#[cfg(target_arch = "wasm32")]
mod worker_app;

#[cfg(target_arch = "wasm32")]
pub use worker_app::ReplyBuffer;

#[cfg(all(target_arch = "wasm32", feature = "store-contract"))]
pub use worker_app::ContractProbe;
