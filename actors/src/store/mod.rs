//! The storage interface. DbWriter owns one [`Store`] and is the only writer.
//!
//! - [`sqlite`]: the embedded default (and the local outbox of the ClickHouse store).
//! - [`clickhouse`]: ClickHouse as the database of truth, with a durable SQLite outbox that
//!   takes writes while the server is down and ships them, in order, once it is back.
//! - [`ch_sweep`]: a parameter sweep's results in the shared server's `sweep_results` table.
//! - [`outbox_merge`]: what the ClickHouse store reads back — the server's rows plus the rows
//!   still in the outbox, newest version winning.

mod ch_rows;
pub mod ch_sweep;
pub mod clickhouse;
pub mod outbox_merge;
pub mod schema;
pub mod sqlite;

use messages::{
    CandleRow, PositionRecord, Recovery, Row, Signal, SignalKey, SignalQuery, StoreHealth,
    Timeframe,
};
use uuid::Uuid;

use crate::error::Result;

/// A blocking store. Every `write` is atomic for its batch (all rows accepted or none), and
/// re-writing a row with the same key never shows up twice (signals by id, candles by
/// symbol/interval/time, decisions by signal id, positions by id and version).
pub trait Store: Send {
    /// Backend name for logs and status (`"sqlite"`, `"clickhouse"`).
    fn backend(&self) -> &'static str;
    /// Writes rows. Returns once they are durable (committed, or safe in the outbox).
    fn write(&mut self, rows: &[Row]) -> Result<()>;
    /// Signals matching `q`, newest first.
    fn signals(&mut self, q: &SignalQuery) -> Result<Vec<Signal>>;
    /// How many signals match `q` (a store may count without reading them).
    fn count_signals(&mut self, q: &SignalQuery) -> Result<u64> {
        Ok(self.signals(q)?.len() as u64)
    }
    /// True when the executor already decided on this signal (or a position has it).
    fn is_signal_processed(&mut self, key: SignalKey) -> Result<bool>;
    /// [`Store::is_signal_processed`] for each key, in order (a store may answer them in one
    /// read).
    fn signals_processed(&mut self, keys: &[SignalKey]) -> Result<Vec<bool>> {
        keys.iter().map(|k| self.is_signal_processed(*k)).collect()
    }
    /// Ids of the signals decided on at or after `since` (epoch seconds).
    fn processed_since(&mut self, since: i64) -> Result<Vec<Uuid>>;
    /// The latest `limit` candles, oldest first.
    fn history(
        &mut self,
        symbol: &str,
        interval: Timeframe,
        limit: usize,
    ) -> Result<Vec<CandleRow>>;
    /// The latest version of each position opened for `signal_id`.
    fn positions_by_signal(&mut self, signal_id: Uuid) -> Result<Vec<PositionRecord>>;
    /// The latest version of every open position.
    fn open_positions(&mut self) -> Result<Vec<PositionRecord>>;
    /// The latest version of every position closed at or after `since` (epoch seconds).
    fn closed_positions_since(&mut self, since: i64) -> Result<Vec<PositionRecord>>;
    /// Row count per table.
    fn row_counts(&mut self) -> Result<Vec<(String, u64)>>;
    /// Connectivity and outbox state.
    fn health(&mut self) -> StoreHealth;
    /// Gives back what the store caches and can read again (SQLite's clean pages); called
    /// between commits, now and then.
    fn release_memory(&mut self) {}

    /// The writes are a bulk load (a replay, an import) that nobody waits for row by row: no
    /// background work for latency's sake (SQLite's checkpoint thread) — it costs CPU a bulk
    /// load would rather spend writing.
    fn bulk_writes(&mut self) {}

    /// What a restarted engine reloads.
    fn recovery(&mut self, since: i64) -> Result<Recovery> {
        let q = SignalQuery {
            start: chrono::DateTime::from_timestamp(since, 0),
            ..Default::default()
        };
        Ok(Recovery {
            active_signals: self.signals(&q)?,
            processed: self.processed_since(since)?,
            open_positions: self.open_positions()?,
        })
    }
}
