//! Market-data sources, as plain code: the replay CSV reader (whole, or streamed, its kept bars
//! spilled to a temporary file) and the simulated (GBM) market.
//! The drivers that push their output into DataManager live in the binary.

pub mod fields;
pub mod replay;
pub mod rows;
pub mod sim;
pub mod spill;
pub mod stream;
pub mod verdict;
