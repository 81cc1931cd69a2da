-- Operator accounts: who signs in to the operator panel (/manage) where Cloudflare Access is
-- not in front. Keyed by the normalized email; no tenant. D1 applies this file too.
CREATE TABLE operators (
    email TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    session_epoch BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
