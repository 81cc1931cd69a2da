//! The Concierge server: the `concierge-core` engine bound to tokio, axum and SQL.
//!
//! - [`store`]: every storage port over SQLite (embedded default) or PostgreSQL (replicas),
//!   plus durable jobs with leases and the outbox.
//! - [`jobs`]: the workers that run inbound turns, engine jobs and outbox sends.
//! - [`routes`] and [`startup`]: the HTTP surface.
//! - [`panic_guard`]: a panic is a logged 500 or a retryable job failure, never a dropped
//!   connection or a dead worker.
//!
//! **Architecture Invariant:** the core decides, this crate does I/O. No rule matching,
//! billing arithmetic, session rotation, prompt text or handoff logic lives here.
#![warn(missing_docs, unreachable_pub)]

pub mod ai;
pub mod clock;
pub mod configuration;
pub mod ingress;
pub mod jobs;
pub mod knowledge_files;
pub mod outbound;
pub mod panic_guard;
pub mod routes;
pub mod startup;
pub mod store;
pub mod telemetry;
