//! Test-only (feature `store-contract`; never in the deployed bundle): runs the core's store
//! contract ([`concierge_core::testing::contract`]) against [`CfStore`] over the real D1, KV
//! and Durable Object storage of `wrangler dev --local`. `tests/store-contract.mjs` drives it.
//!
//! - `GET /__contract/store` → `{"checks": [...]}`: every check, from the core's one list
//!   ([`CHECKS`]), so the runner cannot forget one.
//! - `POST /__contract/store/{check}` → empties every D1 table and KV key, then runs the check in
//!   a new [`ContractProbe`] object (so `Sessions::Durable` storage exists, empty, as inside a
//!   conversation's object where the engine runs its turns); 200 `{"check":..,"ok":true}`,
//!   404 for an unknown check.
//! - `GET /__contract/panic` → `{"panic": "..."}`: the message of the last failed check.
//!
//! A failed check panics, and on wasm a panic aborts the instance (the request fails and the
//! next one starts a fresh instance): run one check per request and read the message with
//! `/__contract/panic`, which the panic hook keeps in a JS global outside the wasm memory.
//!
//! The runner's own local state must be the only user of this D1: each check starts by
//! deleting every row.

// `#[durable_object]` generates undocumented JS glue methods.
#![allow(missing_docs)]

use std::sync::Once;

use concierge_core::testing::contract::{run_check, CHECKS};
use serde::Deserialize;
use worker::js_sys::{global, Reflect};
use worker::wasm_bindgen::JsValue;
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

use super::store::CfStore;
use super::Sessions;

/// The path prefix this module answers.
pub(crate) const PREFIX: &str = "/__contract/";

/// The JS global holding the last panic message.
const PANIC_GLOBAL: &str = "__concierge_contract_panic";

/// Routes `/__contract/…` (see the module docs).
pub(crate) async fn handle(req: Request, env: Env) -> Result<Response> {
    let path = req.path();
    let rest = path.trim_start_matches(PREFIX);
    match (req.method(), rest) {
        (Method::Get, "store") => Response::from_json(&serde_json::json!({ "checks": CHECKS })),
        (Method::Get, "panic") => {
            let key = JsValue::from_str(PANIC_GLOBAL);
            let message = Reflect::get(&global(), &key)
                .ok()
                .and_then(|v| v.as_string());
            Reflect::delete_property(&global(), &key)?;
            Response::from_json(&serde_json::json!({ "panic": message }))
        }
        (Method::Post, check) if check.starts_with("store/") => {
            let check = check.trim_start_matches("store/");
            if !CHECKS.contains(&check) {
                return Ok(Response::from_json(
                    &serde_json::json!({ "check": check, "error": "unknown check" }),
                )?
                .with_status(404));
            }
            let namespace = env.durable_object("CONTRACT_PROBE")?;
            let stub = namespace.unique_id()?.get_stub()?;
            stub.fetch_with_str(&format!("https://contract-probe/{check}"))
                .await
        }
        _ => Response::error("not found", 404),
    }
}

/// Keeps every panic's message in a JS global (it outlives the aborted wasm instance), then
/// lets the hook installed before (the `worker` crate's, which logs it) run.
fn remember_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // Best effort: a panic hook has nowhere to report its own failure.
            let _ = Reflect::set(
                &global(),
                &JsValue::from_str(PANIC_GLOBAL),
                &JsValue::from_str(&info.to_string()),
            );
            previous(info);
        }));
    });
}

#[derive(Deserialize)]
struct TableRow {
    name: String,
}

/// Deletes every row of every table the migrations made (not D1's own tables, nor the
/// shadow tables of a virtual table, which follow it) and every KV key: a fresh store.
async fn reset(env: &Env) -> Result<()> {
    let db = env.d1("DB")?;
    let tables: Vec<TableRow> = db
        .prepare(
            "SELECT name FROM sqlite_master t WHERE type = 'table' \
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' \
             AND name <> 'd1_migrations' AND NOT EXISTS (SELECT 1 FROM sqlite_master v \
             WHERE v.type = 'table' AND v.sql LIKE 'CREATE VIRTUAL TABLE%' \
             AND t.name LIKE v.name || '\\_%' ESCAPE '\\') ORDER BY rowid DESC",
        )
        .all()
        .await?
        .results()?;
    let mut batch = vec![db.prepare("PRAGMA defer_foreign_keys = on")];
    for table in &tables {
        batch.push(db.prepare(format!(
            "DELETE FROM \"{}\"",
            table.name.replace('"', "\"\"")
        )));
    }
    db.batch(batch).await?;

    let kv = env.kv("KV")?;
    loop {
        let page = kv.list().execute().await?;
        for key in &page.keys {
            kv.delete(&key.name).await?;
        }
        if page.keys.is_empty() || page.list_complete {
            break;
        }
    }
    Ok(())
}

/// A test-only Durable Object (binding `CONTRACT_PROBE`, declared only in
/// `wrangler.store-contract.toml`): each object runs one check, on its own empty storage.
#[durable_object]
pub struct ContractProbe {
    state: State,
    env: Env,
}

impl std::fmt::Debug for ContractProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContractProbe").finish_non_exhaustive()
    }
}

impl DurableObject for ContractProbe {
    fn new(state: State, env: Env) -> Self {
        ContractProbe { state, env }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        remember_panics();
        let path = req.path();
        let check = path.trim_start_matches('/');
        reset(&self.env).await?;
        let store = CfStore::new(&self.env, Sessions::Durable(self.state.storage()))?;
        if run_check(check, &store).await {
            Response::from_json(&serde_json::json!({ "check": check, "ok": true }))
        } else {
            Ok(Response::from_json(
                &serde_json::json!({ "check": check, "error": "unknown check" }),
            )?
            .with_status(404))
        }
    }
}
