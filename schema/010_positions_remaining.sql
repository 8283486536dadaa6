-- 010: positions.remaining_quantity — what is still held after partial exits, so a position
-- recovered after a restart sells only that (and its partial booking is not repeated). Added by
-- migration so existing databases gain it; rows written before read as 0, which recovery takes
-- as "all of quantity" for an open position.
ALTER TABLE alphastocks.positions ADD COLUMN remaining_quantity UInt32 DEFAULT 0;
