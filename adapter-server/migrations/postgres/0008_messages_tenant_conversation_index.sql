-- The dashboard lists a tenant's recent conversations (MessageLog::recent_conversations):
-- one GROUP BY conversation_id over the tenant's stamped rows, then each conversation's latest
-- row. (conversation_id, at) made that a lookup per row plus a temporary B-tree per page view;
-- (tenant_id, conversation_id, at) answers it from the index alone, in group order. Every
-- read by conversation is tenant-scoped (conversation_messages too), so the new index replaces
-- the old one: no extra index write per logged message.
DROP INDEX idx_messages_conversation;
CREATE INDEX idx_messages_tenant_conversation ON messages (tenant_id, conversation_id, at);
