-- A tenant's knowledge base (mirrors migrations/sqlite/0012_knowledge.sql; keep them in step):
-- its documents, each cut into passages, and one revision per tenant that every write bumps.
--
-- `source` is `COLLATE "C"` so documents and passages order byte-wise, as in SQLite, D1 and
-- the memory store. `heading` is a JSON array of strings; `embedding` is base64 of
-- little-endian f32s (the core's `knowledge::encode_vector`).
CREATE TABLE knowledge_documents (
    tenant_id TEXT NOT NULL,
    source TEXT COLLATE "C" NOT NULL,
    kind TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    chunks BIGINT NOT NULL,
    embedding_model TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, source)
);

CREATE TABLE knowledge_chunks (
    tenant_id TEXT NOT NULL,
    source TEXT COLLATE "C" NOT NULL,
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
