-- 011: positions.strategy — the strategy instance whose signal opened the position
-- (`strategies.NAME`), for per-instance results. Rows written before read as ''.
ALTER TABLE alphastocks.positions ADD COLUMN strategy String DEFAULT '';
