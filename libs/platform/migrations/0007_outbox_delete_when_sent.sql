-- A published row is deleted instead of marked sent: JetStream is the record
-- of what was published, and an UPDATE of sent_at was a non-HOT update that
-- rewrote every index of the row (measured: PostgreSQL CPU was the limit of
-- the pipeline). The outbox now holds exactly the unsent events, ordered by
-- seq through its primary key; the event id needs no second unique index
-- (ids are UUIDv7 from the writer, and JetStream dedups on them).
DROP INDEX outbox_unsent;
ALTER TABLE outbox DROP CONSTRAINT outbox_event_id_key;
DELETE FROM outbox WHERE sent_at IS NOT NULL;
ALTER TABLE outbox DROP COLUMN sent_at;
