-- The 64 chain heads sat on one heap page, updated by every audited
-- transaction: with dozens of sessions pinning that page, PostgreSQL rarely
-- got the cleanup lock to prune old row versions, the page filled, updates
-- stopped being HOT, and the head lookups slowed as dead index entries
-- piled up. Keep at most a few heads per page.
ALTER TABLE audit_chains SET (fillfactor = 10);
CLUSTER audit_chains USING audit_chains_pkey;
