//! The storage interface. DbWriter owns one [`Store`] and is the only writer; the embedded
//! SQLite store is the default, and a ClickHouse store implements the same trait.

pub mod sqlite;

use messages::{CandleRow, Row, Signal, SignalQuery, Timeframe};
use uuid::Uuid;

use crate::error::Result;

/// A blocking store. Every `write` is one atomic transaction: all rows or none.
pub trait Store: Send {
    /// Backend name for logs and status (`"sqlite"`).
    fn backend(&self) -> &'static str;
    /// Writes rows atomically. Re-writing a row with the same key changes nothing
    /// (signals by id, candles by symbol/interval/time, decisions by signal id).
    fn write(&mut self, rows: &[Row]) -> Result<()>;
    /// Signals matching `q`, newest first.
    fn signals(&mut self, q: &SignalQuery) -> Result<Vec<Signal>>;
    /// True when a decision on this signal is stored.
    fn is_signal_processed(&mut self, id: Uuid) -> Result<bool>;
    /// The latest `limit` candles, oldest first.
    fn history(
        &mut self,
        symbol: &str,
        interval: Timeframe,
        limit: usize,
    ) -> Result<Vec<CandleRow>>;
    /// Row count per table.
    fn row_counts(&mut self) -> Result<Vec<(String, u64)>>;
}
