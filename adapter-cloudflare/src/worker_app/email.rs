//! The `email` event (Email Routing): the raw message is parsed with the core only to find the
//! conversation's object, where `Engine::handle_email` runs it (loop prevention, aliases,
//! routing rules, the turn).

use concierge_core::channels::email::{parse_email, recipient_account, ParsedEmail};
use concierge_core::ports::TenantStore;
use worker::wasm_bindgen::JsValue;
use worker::{Env, ForwardableEmailMessage};

use super::reply_buffer::{self, engine_error};
use super::store::CfStore;
use super::{engine, Sessions};

/// Handles one inbound email. Mail that is not an email is rejected (`setReject`); a retryable
/// failure is returned as an error so Email Routing retries the delivery.
pub(crate) async fn receive(message: ForwardableEmailMessage, env: Env) -> worker::Result<()> {
    let raw = message.raw_bytes().await?;
    let recipient = message.to().trim().to_ascii_lowercase();
    let parsed = match parse_email(&raw) {
        Ok(p) => p,
        Err(e) => {
            message.set_reject(&format!("not an email: {}", e.status()));
            return Ok(());
        }
    };
    let status = deliver(&env, &raw, &recipient, &parsed).await?;
    match status {
        200..=299 => Ok(()),
        400..=499 => {
            message.set_reject("message refused");
            Ok(())
        }
        _ => Err(worker::Error::RustError(format!(
            "email processing answered HTTP {status}, will retry"
        ))),
    }
}

/// Runs a parsed mail in its conversation's object (an unknown domain: recorded and dropped
/// by the engine without touching a session). Returns the HTTP status of the processing:
/// 2xx done, 4xx refused, 5xx retry.
pub(crate) async fn deliver(
    env: &Env,
    raw: &[u8],
    recipient: &str,
    parsed: &ParsedEmail,
) -> worker::Result<u16> {
    let store = CfStore::new(env, Sessions::Elsewhere)?;
    let tenant = store
        .find_tenant(&recipient_account(recipient))
        .await
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
    Ok(match tenant {
        Some(tenant) => {
            // The object of the conversation the engine keys this mail's turn with.
            let key = parsed.conversation_key(&tenant);
            let query = format!("?to={}", js_encode(recipient));
            reply_buffer::call(env, &key, "/email", &query, js_sys_bytes(raw))
                .await?
                .status_code()
        }
        None => match engine(env, Sessions::Elsewhere)?
            .handle_email(raw, recipient)
            .await
        {
            Ok(_) => 200,
            Err(e) => engine_error(&e)?.status_code(),
        },
    })
}

fn js_encode(value: &str) -> String {
    String::from(worker::js_sys::encode_uri_component(value))
}

fn js_sys_bytes(raw: &[u8]) -> JsValue {
    worker::js_sys::Uint8Array::from(raw).into()
}
