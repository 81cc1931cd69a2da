-- Owner accounts (dashboard sign-in), their failed-login counters, and the server's dashboard
-- sessions. D1 applies this file too: plain CREATE TABLE / CREATE INDEX only. The Worker keeps
-- its sessions in KV (`session:{id-hash}`) and leaves `web_sessions` empty.
CREATE TABLE owners (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    session_epoch BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX idx_owners_tenant ON owners (tenant_id);

-- Failed sign-ins per key (a hash of the email, or of the client address) in a fixed window.
CREATE TABLE login_failures (
    limiter_key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    window_start BIGINT NOT NULL
);
CREATE INDEX idx_login_failures_window ON login_failures (window_start);

-- Dashboard sessions by the SHA-256 of their id (the id itself is only in the cookie).
CREATE TABLE web_sessions (
    id_hash TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX idx_web_sessions_expires ON web_sessions (expires_at);
