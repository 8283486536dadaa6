-- strategy_performance: one strategy instance's results on one underlying over a period —
-- the whole of a paper replay, or one trading day of `run` (written at the day's end).
--
-- Key: ReplacingMergeTree(computed_at), ORDER BY (strategy, symbol, mode, period_start,
--      period_end): rewriting a period (a replay run again, a day recomputed after a restart)
--      replaces its row on merge; read with FINAL.
-- Serves: "how did instance X do on NIFTY, day by day"
--             WHERE strategy = ? AND symbol = ? AND period_start = period_end ORDER BY period_start
--         "all instances over a replay" WHERE period_start = ? AND period_end = ?
-- Money in rupees (summed in paise); sharpe_ratio is NULL with fewer than two days or no
-- variation; avg_loss is negative.
CREATE TABLE IF NOT EXISTS alphastocks.strategy_performance
(
    strategy       String,
    symbol         String,
    mode           Enum8('LOGGING' = 1, 'PAPER' = 2, 'LIVE' = 3),
    period_start   Date,
    period_end     Date,
    total_trades   UInt64,
    winning_trades UInt64,
    losing_trades  UInt64,
    total_pnl      Float64,
    max_drawdown   Float64,
    sharpe_ratio   Nullable(Float64),
    win_rate       Float64,
    avg_win        Float64,
    avg_loss       Float64,
    computed_at    DateTime
)
ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(period_start)
ORDER BY (strategy, symbol, mode, period_start, period_end);
