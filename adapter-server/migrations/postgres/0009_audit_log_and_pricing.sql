-- The audit log of management actions (operator panel, admin API) and the operator's prices
-- per currency (the SQLite file of the same name, which D1 also applies).
--
-- `seq` orders the log (newest first is `ORDER BY seq DESC`) and is the paging cursor. A
-- sequence hands out numbers at insert, not at commit: two appends committing at the same
-- moment may become visible in the other order, which a page read in between can skip. The
-- log is an operator's record read by people, so that is accepted.
CREATE TABLE audit_log (
    seq BIGSERIAL PRIMARY KEY,
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
