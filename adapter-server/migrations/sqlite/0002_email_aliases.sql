-- Reverse email aliases (email_reverse:* in the seed): 30-day records, per tenant.
CREATE TABLE email_aliases (
    tenant_id TEXT NOT NULL,
    alias TEXT NOT NULL,
    doc TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, alias)
);
CREATE INDEX idx_email_aliases_expires ON email_aliases (expires_at);
