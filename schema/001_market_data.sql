-- market_data: raw market ticks (last traded price, volume, open interest) as they arrive from
-- the feed, one row per tick per symbol. Append-only: nothing is updated or deduplicated.
--
-- Key: PARTITION BY toYYYYMM(timestamp) (monthly parts: old months can be dropped with
--      ALTER TABLE ... DROP PARTITION), ORDER BY (symbol, timestamp).
-- Serves: "latest ticks for one symbol"           WHERE symbol = ? ORDER BY timestamp DESC LIMIT n
--         "ticks for one symbol in a time range"  WHERE symbol = ? AND timestamp BETWEEN ? AND ?
--         "last price per symbol"                 SELECT symbol, argMax(ltp, timestamp) ... GROUP BY symbol
--         candle building from ticks              GROUP BY symbol, toStartOfMinute(timestamp)
-- timestamp   = exchange tick time (UTC, second resolution: DateTime64 is not available on 18.16)
-- received_at = when the engine received the tick (UTC), for feed-latency monitoring.
-- Insert in batches: every INSERT creates a new data part.
CREATE TABLE IF NOT EXISTS alphastocks.market_data
(
    timestamp   DateTime,
    symbol      String,
    ltp         Float64,
    volume      UInt64,
    oi          UInt64,
    received_at DateTime
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(timestamp)
ORDER BY (symbol, timestamp);
