-- sweep_results: one row per run of a parameter sweep (`alphastocks sweep --store clickhouse`):
-- the run's settings and its tearsheet figures (the same as its row of sweep.csv and its
-- report.json). Shards of one sweep, on one machine or many, share the sweep_id (derived
-- from the grid, the config and the data files' names and sizes), so one query sees them all.
--
-- Key: ReplacingMergeTree(finished_at), ORDER BY (sweep_id, run): a run swept again replaces
--      its row on merge; read with FINAL.
-- Serves: "the best runs of sweep S" WHERE sweep_id = ? ORDER BY sharpe DESC LIMIT 20
--         "which sweeps ran"        SELECT sweep_id, count(), max(finished_at) GROUP BY sweep_id
-- Settings as two parallel arrays (path, value); money in rupees; a ratio with no defined
-- value is NULL, as in report.json.
CREATE TABLE IF NOT EXISTS alphastocks.sweep_results
(
    sweep_id               UUID,
    run                    UInt32,
    shard                  String,
    host                   String,
    param_paths            Array(String),
    param_values           Array(Float64),
    trades                 UInt64,
    wins                   UInt64,
    losses                 UInt64,
    win_rate_pct           Float64,
    gross_pnl              Float64,
    charges                Float64,
    net_pnl                Float64,
    profit_factor          Nullable(Float64),
    expectancy             Float64,
    avg_win                Float64,
    avg_loss               Float64,
    payoff_ratio           Nullable(Float64),
    max_consecutive_wins   UInt64,
    max_consecutive_losses UInt64,
    max_drawdown           Float64,
    max_drawdown_pct       Float64,
    max_drawdown_days      UInt64,
    cagr_pct               Nullable(Float64),
    sharpe                 Nullable(Float64),
    sortino                Nullable(Float64),
    calmar                 Nullable(Float64),
    exposure_pct           Float64,
    trades_per_day         Float64,
    finished_at            DateTime
)
ENGINE = ReplacingMergeTree(finished_at)
ORDER BY (sweep_id, run);
