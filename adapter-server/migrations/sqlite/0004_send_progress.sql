-- Exactly one reply per turn across crashes: per-part send progress and in-doubt attempts on
-- the outbox, and the delivery receipts (WhatsApp status webhooks) that reconcile them.
-- Plain ALTER TABLE ADD COLUMN with constant defaults: D1 applies this file too.

-- Parts of the message delivered so far (a retry resumes at this index; their provider ids
-- are in provider_ids), and the part whose last attempt has no recorded outcome (the worker
-- stopped, or the request may have been written before a network error), since when.
ALTER TABLE outbox ADD COLUMN parts_sent BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN in_doubt_part BIGINT;
ALTER TABLE outbox ADD COLUMN in_doubt_since BIGINT;

-- What the platform reported about a part we sent, keyed by the opaque callback data the
-- send carried (WhatsApp biz_opaque_callback_data). No bodies, no recipients.
-- state_rank: 1 sent, 2 failed, 3 delivered/read (the strongest report wins).
CREATE TABLE send_receipts (
    callback_data TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL,
    state TEXT NOT NULL,
    state_rank BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX idx_send_receipts_age ON send_receipts (recorded_at);
