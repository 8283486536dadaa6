//! Options: pricing and greeks, instruments and expiries, synthetic chains, strike selection,
//! sizing, and the position rules. Plain code, no actix.

pub mod bs;
pub mod chain;
pub mod instruments;
pub mod listed;
pub mod position;
pub mod sizing;
pub mod slicing;
pub mod strike;
