//! `/dashboard/credits`: the tenant's balance, the price of one AI reply, and the metering
//! ledger: every grant (with what is left and when it expires) and every debit, refunded or
//! not, newest first. Read-only; money is in the tenant's currency.

use askama::Template;

use crate::billing::{DebitEntry, Grant};
use crate::front::reply::Response;
use crate::front::{ApiError, Front};
use crate::i18n::UiLocale;
use crate::time::Timestamp;

use super::super::render::{page, Tr};
use super::super::Viewer;
use super::fmt::{format_count, format_money, When};

/// How many grants and how many debits the page lists (the newest).
pub(super) const LIMIT: u32 = 100;

/// A grant as the table shows it.
#[derive(Debug)]
pub(crate) struct GrantRow {
    pub id: String,
    pub reason: String,
    pub amount: String,
    pub remaining: String,
    pub granted_at: When,
    /// When what is left expires; `None` for never.
    pub expires: Option<When>,
    /// It has expired (what is left no longer counts).
    pub expired: bool,
}

/// A debit as the table shows it.
#[derive(Debug)]
pub(crate) struct DebitRow {
    pub key: String,
    pub amount: String,
    pub at: When,
    pub refunded: bool,
}

#[derive(Template)]
#[template(path = "web/credits.html")]
struct Credits<'a> {
    t: Tr,
    viewer: &'a Viewer,
    nav: &'static str,
    currency: String,
    balance: String,
    /// `None` when the operator has not priced the tenant's currency.
    price: Option<String>,
    grants: Vec<GrantRow>,
    debits: Vec<DebitRow>,
    /// The lists stop at [`LIMIT`] rows each, and there were more.
    truncated: bool,
    limit: String,
}

fn grant_row(locale: UiLocale, currency: &str, g: &Grant, now: Timestamp) -> GrantRow {
    GrantRow {
        id: g.id.clone(),
        reason: g.reason.clone(),
        amount: format_money(locale, currency, g.amount.as_milli()),
        remaining: format_money(locale, currency, g.remaining.as_milli()),
        granted_at: When::of(g.granted_at),
        expires: g.expires_at.map(When::of),
        expired: !g.live_at(now),
    }
}

fn debit_row(locale: UiLocale, currency: &str, d: &DebitEntry) -> DebitRow {
    DebitRow {
        key: d.key.clone(),
        amount: format_money(locale, currency, d.amount.as_milli()),
        at: When::of(d.at),
        refunded: d.refunded,
    }
}

/// `GET /dashboard/credits`.
pub(super) async fn show(front: &Front<'_>, viewer: &Viewer) -> Result<Response, ApiError> {
    let tenant = front.tenant(&viewer.tenant).await?;
    let now = front.engine.clock().now();
    let store = front.engine.store();
    let balance = store.balance(&tenant.id, now).await?;
    // One more than shown, to know whether there is more.
    let mut history = store.ledger_history(&tenant.id, now, LIMIT + 1).await?;
    let shown = usize::try_from(LIMIT).unwrap_or(usize::MAX);
    let truncated = history.grants.len() > shown || history.debits.len() > shown;
    history.grants.truncate(shown);
    history.debits.truncate(shown);
    let locale = viewer.locale;
    let currency = tenant.currency.as_str();
    let price = front
        .engine
        .ai_reply_price(&tenant.currency)
        .await?
        .map(|p| format_money(locale, currency, p.as_milli()));
    page(
        200,
        &Credits {
            t: Tr(locale),
            viewer,
            nav: "credits",
            currency: currency.to_owned(),
            balance: format_money(locale, currency, balance.as_milli()),
            price,
            grants: history
                .grants
                .iter()
                .map(|g| grant_row(locale, currency, g, now))
                .collect(),
            debits: history
                .debits
                .iter()
                .map(|d| debit_row(locale, currency, d))
                .collect(),
            truncated,
            limit: format_count(locale, i64::from(LIMIT)),
        },
    )
}
