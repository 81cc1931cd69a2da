-- The audit log of management actions (operator panel, admin API) and the operator's prices
-- per currency. D1 applies this file too: plain CREATE TABLE / CREATE INDEX only.
--
-- `seq` orders the log (newest first is `ORDER BY seq DESC`) and is the paging cursor;
-- AUTOINCREMENT so a number is never reused. `detail` is short text without secrets or
-- message bodies (the core composes and caps it).
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    tenant_id TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX idx_audit_log_tenant ON audit_log (tenant_id, seq);

-- The price of one AI reply per currency, in milli-units, over the deployment's configured
-- defaults (a currency without a row charges the default).
CREATE TABLE pricing (
    currency TEXT PRIMARY KEY,
    per_ai_reply BIGINT NOT NULL CHECK (per_ai_reply > 0),
    updated_at BIGINT NOT NULL
);
