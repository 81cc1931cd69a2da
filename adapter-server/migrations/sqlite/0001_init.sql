-- Concierge schema for SQLite (and Cloudflare D1, which is SQLite): plain SQL, no pragmas.
-- Times are milliseconds since the Unix epoch. Documents are JSON text written by the core's
-- serde types. No message bodies are stored here except the bounded session history, the
-- reply-buffer window inside a session, and payloads of work not yet done (cleared when done).

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    revision BIGINT NOT NULL,
    doc TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Reverse index: wa_phone:…, ig_page:…, discord_guild:…, email_domain:…, web_site:… → tenant.
CREATE TABLE tenant_accounts (
    account_key TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL
);
CREATE INDEX idx_tenant_accounts_tenant ON tenant_accounts (tenant_id);

CREATE TABLE sessions (
    session_key TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX idx_sessions_tenant ON sessions (tenant_id);

-- One row per tenant: the core's LedgerBook as JSON, updated inside a write transaction.
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

-- Durable jobs with leases. kind: inbound | email | engine | send.
-- state: pending | running | done | dead.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    dedupe_key TEXT,
    conversation TEXT,
    tenant_id TEXT,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    run_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX jobs_pending_dedupe ON jobs (dedupe_key) WHERE state = 'pending';
CREATE UNIQUE INDEX jobs_one_running_per_conversation ON jobs (conversation) WHERE state = 'running';
CREATE INDEX jobs_due ON jobs (state, run_at, id);
CREATE INDEX jobs_by_conversation ON jobs (conversation, state, id);

-- The outbox: one row per OutboundMessage key, sent once by a `send` job.
-- state: pending | sent | dead. The payload is cleared once sent.
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

-- Channel tokens, AES-256-GCM encrypted (nonce || ciphertext, base64).
CREATE TABLE channel_secrets (
    account_key TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    sealed TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
