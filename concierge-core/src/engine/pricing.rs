//! The effective price of an AI reply (the operator's stored price over the configured
//! default) and the audit log's append.
//!
//! Prices are read from the store when they are needed (one point read per AI turn), never
//! cached in a process: a change made on one server replica or Worker isolate is charged by
//! every other one from the next turn on.

use serde::Serialize;

use super::{Engine, EngineError};
use crate::audit::{AuditAction, AuditEntry};
use crate::billing::{check_price, BillingError, Pricing};
use crate::conversation::FieldError;
use crate::ids::{Currency, Milli, TenantId};
use crate::ports::StoredPrice;
use crate::time::Timestamp;

/// One currency's price of an AI reply as the operator sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PriceListing {
    /// The currency.
    pub currency: Currency,
    /// What one AI reply costs now: the stored price, else the default.
    pub per_ai_reply: Milli,
    /// The configured default, if the deployment has one for this currency.
    pub default: Option<Milli>,
    /// When the operator stored a price (`None`: the default applies).
    pub updated_at: Option<Timestamp>,
}

/// What [`Engine::set_price`] changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PriceChange {
    /// The currency.
    pub currency: Currency,
    /// The effective price before (`None`: the currency was not priced).
    pub previous: Option<Milli>,
    /// The price now.
    pub per_ai_reply: Milli,
}

impl Engine {
    /// The price of one AI reply in `currency`: the operator's stored price, else the
    /// configured default, else `None` (the currency is not priced). One store read.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn ai_reply_price(&self, currency: &Currency) -> Result<Option<Milli>, EngineError> {
        Ok(match self.store().stored_price(currency).await? {
            Some(stored) => Some(stored.per_ai_reply),
            None => self.config().pricing.ai_reply(currency).ok(),
        })
    }

    /// Every priced currency with its effective price.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn pricing(&self) -> Result<Pricing, EngineError> {
        let stored = self.store().stored_prices().await?;
        Ok(self
            .config()
            .pricing
            .with_stored(stored.into_iter().map(|p| (p.currency, p.per_ai_reply))))
    }

    /// Every priced currency, by code, with where its price comes from.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn price_list(&self) -> Result<Vec<PriceListing>, EngineError> {
        let defaults = &self.config().pricing.per_ai_reply;
        // Inserted one by one, not collected: `collect` into a map compiles a sort of its
        // own (docs/benchmarks.md, "Worker bundle"), and the defaults are a map already.
        let mut rows = std::collections::BTreeMap::new();
        for (c, p) in defaults {
            let row = PriceListing {
                currency: c.clone(),
                per_ai_reply: *p,
                default: Some(*p),
                updated_at: None,
            };
            rows.insert(c.clone(), row);
        }
        for stored in self.store().stored_prices().await? {
            let row = rows
                .entry(stored.currency.clone())
                .or_insert_with(|| PriceListing {
                    currency: stored.currency.clone(),
                    per_ai_reply: stored.per_ai_reply,
                    default: None,
                    updated_at: None,
                });
            row.per_ai_reply = stored.per_ai_reply;
            row.updated_at = Some(stored.updated_at);
        }
        Ok(rows.into_values().collect())
    }

    /// Sets the price of one AI reply in `currency` (deployment-wide, from the next AI turn
    /// on, on every replica).
    ///
    /// # Errors
    /// [`EngineError::Invalid`] (field `price`) for a price that is not positive or is above
    /// [`MAX_AI_REPLY_PRICE`](crate::billing::MAX_AI_REPLY_PRICE), nothing saved; storage
    /// errors.
    pub async fn set_price(
        &self,
        currency: &Currency,
        price: Milli,
    ) -> Result<PriceChange, EngineError> {
        check_price(price).map_err(|e| {
            let message = match e {
                BillingError::TooExpensive(_) => {
                    "must be at most 1000000 credits per AI reply".to_owned()
                }
                _ => "must be more than 0 credits".to_owned(),
            };
            EngineError::Invalid(vec![FieldError::new("price", message)])
        })?;
        let previous = self.ai_reply_price(currency).await?;
        self.store()
            .put_price(&StoredPrice {
                currency: currency.clone(),
                per_ai_reply: price,
                updated_at: self.clock().now(),
            })
            .await?;
        Ok(PriceChange {
            currency: currency.clone(),
            previous,
            per_ai_reply: price,
        })
    }

    /// Appends a management action to the audit log, stamped now. Callers record after the
    /// action succeeded and fail their request when this fails (the action stays done; the
    /// error says the record is missing).
    ///
    /// # Errors
    /// Storage errors.
    pub async fn record_audit(
        &self,
        actor: &str,
        action: AuditAction,
        tenant: Option<&TenantId>,
        detail: &str,
    ) -> Result<u64, EngineError> {
        let entry = AuditEntry::new(self.clock().now(), actor, action, tenant.cloned(), detail);
        Ok(self.store().append_audit(&entry).await?)
    }
}
