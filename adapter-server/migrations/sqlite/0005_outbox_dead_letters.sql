-- Dead letters that live on the outbox row itself: the Cloudflare Worker has no job table of
-- its own (Queues carry its send jobs), so its failed sends end as `state = 'dead'` outbox rows
-- that `GET /api/v1/dead-letters` lists with these. The server keeps its dead letters in
-- `jobs` and leaves these columns at their defaults. Plain ALTER TABLE ADD COLUMN with constant
-- defaults: D1 applies this file too.

-- Failed attempts of the send when it died, its last error (no message body, no token), and
-- when the row last changed state (ms since the epoch).
ALTER TABLE outbox ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN last_error TEXT;
ALTER TABLE outbox ADD COLUMN updated_at BIGINT;
