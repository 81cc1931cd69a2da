//! The server's one integration-test binary.
#![allow(clippy::unwrap_used, missing_docs)]

mod helpers;
mod store_contract;
