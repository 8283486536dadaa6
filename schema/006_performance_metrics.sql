-- performance_metrics: the engine's own operational metrics (latencies, queue depths, counts,
-- P&L snapshots) as a generic time series: one row per (component, metric) sample. Append-only.
--
-- Key: PARTITION BY toYYYYMM(timestamp), ORDER BY (component, metric, timestamp).
-- Serves: "one metric of one component over time"
--             WHERE component = ? AND metric = ? AND timestamp >= ? ORDER BY timestamp
--         "latest value of every metric of a component"
--             WHERE component = ? ORDER BY timestamp DESC LIMIT 1 BY metric
--         per-minute aggregates   GROUP BY component, metric, toStartOfMinute(timestamp)
-- labels = extra dimensions as JSON text (e.g. {"symbol":"NIFTY"}). Parse in the application.
CREATE TABLE IF NOT EXISTS alphastocks.performance_metrics
(
    timestamp DateTime,
    component String,
    metric    String,
    value     Float64,
    labels    String
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(timestamp)
ORDER BY (component, metric, timestamp);
