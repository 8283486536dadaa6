-- 009 audit_events: every operator action through the control socket (pause, resume, mode,
-- halt, flatten, shutdown, crash), with its arguments and whether it was accepted.
-- Key: MergeTree ORDER BY timestamp; append-only, read newest first.
CREATE TABLE IF NOT EXISTS alphastocks.audit_events
(
    timestamp DateTime,
    action    String,
    detail    String,
    ok        UInt8
)
ENGINE = MergeTree()
ORDER BY timestamp;
