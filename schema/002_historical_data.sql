-- historical_data: OHLCV candles per symbol and timeframe (Kite's interval names: 'minute',
-- '15minute', 'day', ...),
-- imported from the broker's historical API or built from ticks. Used for indicator warm-up
-- (EMAs), backtests and charts.
--
-- Key: ReplacingMergeTree(version), PARTITION BY toYYYYMM(timestamp),
--      ORDER BY (symbol, timeframe, timestamp). (symbol, timeframe, timestamp) identifies a candle,
--      re-importing a range inserts rows with the same key and background merges keep only the row
--      with the highest `version` (e.g. import time in epoch ms). Merges are eventual: reads that
--      must not see duplicates use FINAL (or OPTIMIZE TABLE ... FINAL after a bulk import).
-- Serves: "last N candles of a symbol/interval"
--             WHERE symbol = ? AND timeframe = ? ORDER BY timestamp DESC LIMIT n   (add FINAL if exact)
--         "candles in a range"  WHERE symbol = ? AND timeframe = ? AND timestamp BETWEEN ? AND ?
-- timestamp = candle open time (UTC). The column is `timeframe`, not the seed's `interval`:
-- ClickHouse 18.16 writes the key of its metadata file without back-quotes, and a table keyed
-- on a column named interval (a keyword) then fails to load at the next server start.
CREATE TABLE IF NOT EXISTS alphastocks.historical_data
(
    symbol     String,
    timeframe  String,
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
ORDER BY (symbol, timeframe, timestamp);
