-- The personas catalog: the curated sample businesses of the live demo and the onboarding
-- wizard, deployment-wide. D1 applies this file too: plain CREATE TABLE only.
--
-- `doc` is the entry as JSON (label, greeting, persona and its safety review); `revision`
-- makes every write compare-and-set, so a review finishing while the operator saves an edit
-- never overwrites the edit. Empty until the engine seeds the built-ins on first read.
CREATE TABLE persona_catalog (
    slug TEXT PRIMARY KEY,
    revision BIGINT NOT NULL,
    doc TEXT NOT NULL
);
