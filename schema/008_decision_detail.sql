-- 008: executor_decisions.detail — the trade or the rejection in words (strike, lots, or which
-- limit one lot exceeds). Added by migration, not by editing 007, so existing databases gain the
-- column; rows written before it read as ''.
ALTER TABLE alphastocks.executor_decisions ADD COLUMN detail String DEFAULT '';
