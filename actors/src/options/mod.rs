//! Options: pricing and greeks, instruments and expiries, synthetic chains, strike selection,
//! sizing, and the position rules. Plain code, no actix.

pub mod bs;
