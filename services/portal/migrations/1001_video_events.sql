-- Joins and leaves the Janus video server's event handler reported
-- (POST /callbacks/janus); the same event posted twice is kept once.
-- `at` is Janus's own timestamp of the event (microseconds, which
-- TIMESTAMPTZ keeps exactly).
CREATE TABLE video_events (
    id           BIGSERIAL PRIMARY KEY,
    provider     TEXT NOT NULL,
    room_id      BIGINT NOT NULL CHECK (room_id >= 0),
    feed_id      BIGINT NOT NULL CHECK (feed_id >= 0),
    joined       BOOLEAN NOT NULL,
    display      TEXT NOT NULL,
    at           TIMESTAMPTZ NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (provider, room_id, feed_id, joined, at)
);
