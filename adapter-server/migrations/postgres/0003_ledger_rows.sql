-- The ledger as rows: one per grant, one per debit (idempotency key), instead of one JSON book
-- per tenant that every AI reply rewrote whole. The arithmetic stays in concierge-core
-- (billing::draw / billing::restore), applied to the locked grant rows of one tenant.
DROP TABLE ledger_books;

CREATE TABLE ledger_grants (
    tenant_id  TEXT   NOT NULL,
    grant_id   TEXT   NOT NULL,
    amount     BIGINT NOT NULL,
    remaining  BIGINT NOT NULL,
    granted_at BIGINT NOT NULL,
    expires_at BIGINT,
    reason     TEXT   NOT NULL,
    PRIMARY KEY (tenant_id, grant_id),
    CHECK (remaining >= 0 AND remaining <= amount)
);

CREATE TABLE ledger_debits (
    tenant_id TEXT    NOT NULL,
    debit_key TEXT    NOT NULL,
    amount    BIGINT  NOT NULL,
    at        BIGINT  NOT NULL,
    drawn     TEXT    NOT NULL,
    refunded  BOOLEAN NOT NULL,
    PRIMARY KEY (tenant_id, debit_key)
);

CREATE INDEX idx_ledger_debits_age ON ledger_debits (tenant_id, at);
