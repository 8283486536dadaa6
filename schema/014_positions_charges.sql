-- 014: positions' charges and net P&L. Every fill (the entry's buy, each exit's sale) is
-- charged at the rates of its trade date (`charges.schedule`); the items are summed per
-- position in paise. realized_pnl stays the gross figure; net_pnl = realized_pnl −
-- charges_total / 100 exactly. Rows written before this migration read 0 charges and
-- 0 net_pnl (their net is their gross).
ALTER TABLE alphastocks.positions
    ADD COLUMN charges_brokerage Int64 DEFAULT 0,
    ADD COLUMN charges_stt Int64 DEFAULT 0,
    ADD COLUMN charges_exchange_txn Int64 DEFAULT 0,
    ADD COLUMN charges_sebi Int64 DEFAULT 0,
    ADD COLUMN charges_stamp_duty Int64 DEFAULT 0,
    ADD COLUMN charges_gst Int64 DEFAULT 0,
    ADD COLUMN charges_total Int64 DEFAULT 0,
    ADD COLUMN net_pnl Float64 DEFAULT 0;
