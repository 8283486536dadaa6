-- trading_signals: every BUY/SELL signal a strategy emitted, with the inputs that produced it
-- (candle, EMA values) and the suggested trade (price, target, stop loss). The executor reads
-- signals from here. executor_decisions records what it did with each one.
--
-- Key: ReplacingMergeTree() (no version column: of rows with equal keys the last inserted is kept),
--      PARTITION BY toYear(timestamp), ORDER BY (symbol, strategy, timestamp, signal_id).
--      Yearly, not monthly: signals are few (thousands a day at most), and every INSERT makes one
--      part per partition it touches, so a replay of years of data with monthly partitions made
--      ~12x the parts (measured: DbWriter became the replay's bottleneck).
--      signal_id is deterministic (derived from strategy, symbol and candle), so re-inserting a
--      signal after a restart or a replay yields the same key and collapses on merge. Merges are
--      eventual: use FINAL where duplicates matter.
-- Serves: "recent signals of a symbol/strategy"
--             WHERE symbol = ? AND strategy = ? ORDER BY timestamp DESC LIMIT n
--         "signals since T" (executor polling)  WHERE timestamp > ? ORDER BY timestamp
--         lookups by signal_id alone are not a key prefix and scan (fine at signal volumes).
-- metadata = free-form JSON text (18.16 has no JSON type/JSONExtract: parse in the application).
-- timestamp = when the signal was generated. candle_time = open time of the triggering candle.
CREATE TABLE IF NOT EXISTS alphastocks.trading_signals
(
    timestamp         DateTime,
    signal_id         UUID,
    symbol            String,
    asset_type        String,
    strategy          String,
    action            Enum8('BUY' = 1, 'SELL' = 2),
    price             Float64,
    quantity          UInt32,
    confidence        Float64,
    target            Float64,
    stop_loss         Float64,
    expected_move_pct Float64,
    candle_time       DateTime,
    ema_fast          Float64,
    ema_slow          Float64,
    metadata          String,
    created_at        DateTime
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYear(timestamp)
ORDER BY (symbol, strategy, timestamp, signal_id);
