-- historical_data: OHLCV candles per symbol and interval ('1minute', '5minute', 'day', ...),
-- imported from the broker's historical API or built from ticks. Used for indicator warm-up
-- (EMAs), backtests and charts.
--
-- Key: ReplacingMergeTree(version), PARTITION BY toYYYYMM(timestamp),
--      ORDER BY (symbol, interval, timestamp). (symbol, interval, timestamp) identifies a candle,
--      re-importing a range inserts rows with the same key and background merges keep only the row
--      with the highest `version` (e.g. import time in epoch ms). Merges are eventual: reads that
--      must not see duplicates use FINAL (or OPTIMIZE TABLE ... FINAL after a bulk import).
-- Serves: "last N candles of a symbol/interval"
--             WHERE symbol = ? AND interval = ? ORDER BY timestamp DESC LIMIT n   (add FINAL if exact)
--         "candles in a range"  WHERE symbol = ? AND interval = ? AND timestamp BETWEEN ? AND ?
-- timestamp = candle open time (UTC). `interval` is back-quoted as it is also an SQL keyword.
CREATE TABLE IF NOT EXISTS alphastocks.historical_data
(
    symbol     String,
    `interval` String,
    timestamp  DateTime,
    open       Float64,
    high       Float64,
    low        Float64,
    close      Float64,
    volume     UInt64,
    vwap       Float64,
    trades     UInt32,
    version    UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (symbol, `interval`, timestamp);
