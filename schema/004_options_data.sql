-- options_data: option chain snapshots (quote, volume, OI and greeks) per contract, used to pick
-- the strike/premium when a signal on the underlying is executed as an option trade, and for
-- later analysis of IV and greeks. Append-only.
--
-- Key: PARTITION BY toYYYYMM(expiry) (whole expired series can be dropped per month),
--      ORDER BY (underlying, expiry, strike, option_type, timestamp).
-- Serves: "chain of an underlying for one expiry"  WHERE underlying = ? AND expiry = ?
--         "strikes near the money"                 ... AND strike BETWEEN ? AND ?
--         "latest quote per contract"              SELECT ... ORDER BY timestamp DESC LIMIT 1 BY tradingsymbol
--         "history of one contract"                WHERE underlying = ? AND expiry = ? AND strike = ? AND option_type = ?
-- timestamp = snapshot time (UTC). expiry = contract expiry date.
CREATE TABLE IF NOT EXISTS alphastocks.options_data
(
    timestamp     DateTime,
    underlying    String,
    tradingsymbol String,
    expiry        Date,
    strike        Float64,
    option_type   Enum8('CE' = 1, 'PE' = 2),
    ltp           Float64,
    bid           Float64,
    ask           Float64,
    volume        UInt64,
    oi            UInt64,
    iv            Float64,
    delta         Float64,
    gamma         Float64,
    theta         Float64,
    vega          Float64
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(expiry)
ORDER BY (underlying, expiry, strike, option_type, timestamp);
