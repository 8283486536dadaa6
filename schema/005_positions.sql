-- positions: option positions opened by the executor (LOGGING/PAPER/LIVE mode), as versioned rows.
-- Rows are never mutated (no ALTER UPDATE): every change (premium mark, exit) is a NEW row with
-- the same position_id and a higher version (e.g. epoch ms of the update).
--
-- Key: ReplacingMergeTree(version), PARTITION BY toYYYYMM(entry_time), ORDER BY position_id.
--      Merges keep only the highest version per position_id, but only eventually, so read the
--      latest state with either
--          SELECT * FROM alphastocks.positions FINAL WHERE status = 'OPEN'
--      or
--          SELECT position_id, argMax(status, version) AS status, argMax(current_premium, version) ...
--          FROM alphastocks.positions GROUP BY position_id
--      (filter on the latest status only AFTER collapsing: in the outer query / HAVING, never in
--      a WHERE on the raw rows, or older versions leak through).
--      entry_time must stay the same across versions of a position: it is the partition key, and
--      rows only replace each other within one partition.
-- Serves: open positions for the monitor, position history/P&L, "position for signal X"
--         (WHERE signal_id = ?: not in the key, so it scans - fine, the table is small).
-- exit_time = toDateTime(0) (epoch 0, 1970-01-01 00:00:00 UTC, which 18.16 prints as
-- 0000-00-00 00:00:00) while the position is open. exit_premium,
-- realized_pnl = 0 and exit_reason = '' until closed. quantity = lots * lot_size.
CREATE TABLE IF NOT EXISTS alphastocks.positions
(
    position_id       UUID,
    version           UInt64,
    signal_id         UUID,
    symbol            String,
    option_symbol     String,
    strike            Float64,
    option_type       Enum8('CE' = 1, 'PE' = 2),
    expiry            Date,
    mode              Enum8('LOGGING' = 1, 'PAPER' = 2, 'LIVE' = 3),
    status            Enum8('OPEN' = 1, 'CLOSED' = 2),
    lots              UInt32,
    lot_size          UInt32,
    quantity          UInt32,
    entry_time        DateTime,
    entry_premium     Float64,
    stop_loss_premium Float64,
    target_premium    Float64,
    current_premium   Float64,
    unrealized_pnl    Float64,
    exit_time         DateTime,
    exit_premium      Float64,
    exit_reason       String,
    realized_pnl      Float64,
    updated_at        DateTime
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(entry_time)
ORDER BY position_id;
