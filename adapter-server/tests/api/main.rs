//! The server's one integration-test binary: store contract tests and the HTTP API against
//! SQLite and (when `CONCIERGE_TEST_DATABASE_URL` is set) Postgres.
#![allow(clippy::unwrap_used, missing_docs)]

mod admin;
mod audit;
mod chaos;
mod demo;
mod discord;
mod email;
mod fakes;
mod health;
mod helpers;
mod jobs;
mod oauth;
#[cfg(feature = "local-model")]
mod offline_model;
mod outbox;
mod store_contract;
mod whatsapp;
