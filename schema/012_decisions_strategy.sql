-- 012: executor_decisions.strategy — the strategy instance whose signal was decided
-- (`strategies.NAME`), for per-instance accounting. Rows written before read as ''.
ALTER TABLE alphastocks.executor_decisions ADD COLUMN strategy String DEFAULT '';
