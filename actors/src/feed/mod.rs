//! Market-data sources, as plain code: the replay CSV reader and the simulated (GBM) market.
//! The drivers that push their output into DataManager live in the binary.

pub mod replay;
pub mod sim;
