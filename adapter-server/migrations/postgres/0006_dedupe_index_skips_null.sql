-- Ingress jobs carry no dedupe key (their idempotency key is claimed in `idempotency_keys`),
-- yet every one of them was an entry in this unique index: NULLs are indexed. Only keyed jobs
-- dedupe, so only they are indexed; at ingress that is one index write fewer per webhook.
-- The upsert's conflict target names the same predicate (adapter-server/src/store/jobs.rs).
DROP INDEX jobs_pending_dedupe;
CREATE UNIQUE INDEX jobs_pending_dedupe ON jobs (dedupe_key)
    WHERE state = 'pending' AND dedupe_key IS NOT NULL;
