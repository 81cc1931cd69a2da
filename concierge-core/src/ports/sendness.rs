//! `Send`/`Sync` bounds that apply on native targets only.
//!
//! Workers' futures hold JS values and are `!Send`; tokio's multi-threaded runtime needs
//! `Send`. Port traits require [`AsyncTraitDeps`], which is `Debug + Send + Sync` on native
//! targets and just `Debug` on `target_family = "wasm"`.

use std::fmt::Debug;

/// `Send` on native targets, nothing on wasm.
#[cfg(not(target_family = "wasm"))]
pub trait SendOutsideWasm: Send {}
#[cfg(not(target_family = "wasm"))]
impl<T: Send + ?Sized> SendOutsideWasm for T {}

/// `Send` on native targets, nothing on wasm.
#[cfg(target_family = "wasm")]
pub trait SendOutsideWasm {}
#[cfg(target_family = "wasm")]
impl<T: ?Sized> SendOutsideWasm for T {}

/// `Sync` on native targets, nothing on wasm.
#[cfg(not(target_family = "wasm"))]
pub trait SyncOutsideWasm: Sync {}
#[cfg(not(target_family = "wasm"))]
impl<T: Sync + ?Sized> SyncOutsideWasm for T {}

/// `Sync` on native targets, nothing on wasm.
#[cfg(target_family = "wasm")]
pub trait SyncOutsideWasm {}
#[cfg(target_family = "wasm")]
impl<T: ?Sized> SyncOutsideWasm for T {}

/// The bounds every port trait carries.
pub trait AsyncTraitDeps: Debug + SendOutsideWasm + SyncOutsideWasm {}
impl<T: Debug + SendOutsideWasm + SyncOutsideWasm + ?Sized> AsyncTraitDeps for T {}
