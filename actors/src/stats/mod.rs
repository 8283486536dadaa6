//! Results statistics as plain functions over closed trades (no actix): what the engine
//! stores and reports about how its strategies did.

pub mod performance;
pub mod tearsheet;
