-- A tenant's knowledge base: its documents, each cut into passages, and one revision per
-- tenant that every write bumps (an index cached at a revision is rebuilt when it moves).
-- D1 applies this file too: plain CREATE TABLE only.
--
-- A put replaces a document and all of its passages in one transaction; `position` keeps the
-- passages in the order they were put. `heading` is the heading path as a JSON array of
-- strings; `embedding` is the vector as base64 of little-endian f32s (the core's
-- `knowledge::encode_vector`), with the model that made it. Sources order byte-wise (SQLite's
-- BINARY collation), as on Postgres (`COLLATE "C"`).
CREATE TABLE knowledge_documents (
    tenant_id TEXT NOT NULL,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    chunks BIGINT NOT NULL,
    embedding_model TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, source)
);

CREATE TABLE knowledge_chunks (
    tenant_id TEXT NOT NULL,
    source TEXT NOT NULL,
    position BIGINT NOT NULL,
    heading TEXT NOT NULL,
    text TEXT NOT NULL,
    embedding_model TEXT,
    embedding TEXT,
    PRIMARY KEY (tenant_id, source, position)
);

CREATE TABLE knowledge_revisions (
    tenant_id TEXT PRIMARY KEY,
    revision BIGINT NOT NULL
);
