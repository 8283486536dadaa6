-- executor_decisions: one row per signal the executor has decided on (opened a position,
-- skipped it, rejected it ...). This is the executor's idempotency record: before acting on a
-- signal it checks here, so a restart or a replayed signal is never executed twice.
--
-- Key: ReplacingMergeTree(), ORDER BY signal_id, no partitioning (small table).
--      A repeated insert for the same signal_id collapses on merge. The check
--          SELECT count() FROM alphastocks.executor_decisions WHERE signal_id = ?
--      is a primary-key lookup and is correct whether or not merges have run (count() > 0).
--      To read the decision itself without duplicates use FINAL.
-- Serves: idempotency check by signal_id. Audit "what happened to signal X and why",
--         decision counts by outcome/mode over time (scan, small table).
-- outcome = e.g. 'OPENED', 'SKIPPED', 'REJECTED', 'ERROR'. reason = human-readable detail.
-- underlying_price = price of the underlying when the decision was made.
CREATE TABLE IF NOT EXISTS alphastocks.executor_decisions
(
    signal_id        UUID,
    decided_at       DateTime,
    symbol           String,
    mode             Enum8('LOGGING' = 1, 'PAPER' = 2, 'LIVE' = 3),
    outcome          String,
    reason           String,
    underlying_price Float64
)
ENGINE = ReplacingMergeTree()
ORDER BY signal_id;
