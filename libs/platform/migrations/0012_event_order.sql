-- The ordering guard of the consumer runner (platform `ordering`): per
-- consumer, per producing service and per case, the highest case_version
-- applied so far. An event is applied only when it is the next one; an
-- earlier one is stale, a later one waits (NAK with delay) for its
-- predecessor.
CREATE TABLE event_order (
    consumer  TEXT   NOT NULL,
    source    TEXT   NOT NULL,
    case_id   UUID   NOT NULL,
    version   BIGINT NOT NULL,
    PRIMARY KEY (consumer, source, case_id)
);
