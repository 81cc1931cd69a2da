-- Concierge schema for Cloudflare D1 (SQLite). The tables, columns and keys are the server
-- adapter's SQLite migration (adapter-server/migrations/sqlite/0001_init.sql and
-- 0002_email_aliases.sql) for every table the Worker uses, so one schema serves both; the
-- Worker does not need the server's `sessions` (Durable Object storage), `jobs` (Queues and
-- alarms) or `channel_secrets` (Worker secrets) tables.
-- Times are milliseconds since the Unix epoch; documents are JSON written by the core's serde
-- types. No message bodies are stored here.

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    revision BIGINT NOT NULL,
    doc TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Reverse index: wa_phone:…, ig_page:…, discord_guild:…, email_domain:…, web_site:… → tenant.
-- The primary key is what makes an account belong to one tenant. KV mirrors it for reads.
CREATE TABLE tenant_accounts (
    account_key TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL
);
CREATE INDEX idx_tenant_accounts_tenant ON tenant_accounts (tenant_id);

-- One row per tenant: the core's LedgerBook as JSON, written back only by a conditional
-- UPDATE … WHERE book = <the book read> (compare-and-set).
CREATE TABLE ledger_books (
    tenant_id TEXT PRIMARY KEY,
    book TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE idempotency_keys (
    idem_key TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX idx_idempotency_expires ON idempotency_keys (expires_at);

-- Metadata only: there is no body column.
CREATE TABLE messages (
    tenant_id TEXT NOT NULL,
    direction TEXT NOT NULL,
    message_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    action_taken TEXT NOT NULL,
    conversation_id TEXT,
    at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, direction, message_id)
);
CREATE INDEX idx_messages_tenant_time ON messages (tenant_id, at);
CREATE INDEX idx_messages_conversation ON messages (conversation_id, at);

CREATE TABLE drafts (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    doc TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- One row per OutboundMessage key once sent (the Worker sends inline, so payload stays '').
CREATE TABLE outbox (
    msg_key TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    purpose TEXT NOT NULL,
    conversation_id TEXT,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    provider_ids TEXT,
    dry_run BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX idx_outbox_tenant ON outbox (tenant_id, created_at);

-- Reverse email aliases (email_reverse:* in the seed): 30-day records, per tenant.
CREATE TABLE email_aliases (
    tenant_id TEXT NOT NULL,
    alias TEXT NOT NULL,
    doc TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, alias)
);
CREATE INDEX idx_email_aliases_expires ON email_aliases (expires_at);
