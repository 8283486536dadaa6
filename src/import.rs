//! `data import`: loads a CSV of candles into `historical_data` through a DbWriter (the only
//! writer), so a later `run` starts with that history.

use std::path::Path;
use std::time::Duration;

use actix::Actor;
use actors::config::{Config, StorageBackend};
use actors::db_writer::DbWriter;
use actors::feed::replay::read_file;
use messages::msg::{Flush, Persist};
use messages::{CandleRow, Row, Timeframe};

use crate::error::AppError;

/// Rows per Persist message.
const CHUNK: usize = 10_000;

/// Imports `csv` as `interval` candles of each of `symbols`; returns the number of rows
/// written.
pub async fn import(
    cfg: &Config,
    backend: StorageBackend,
    csv: &Path,
    symbols: &[String],
    interval: Timeframe,
) -> Result<u64, AppError> {
    let data = read_file(csv)?;
    if data.bars.len() > 1 && data.bar_secs != interval.seconds() && interval != Timeframe::Day {
        return Err(AppError::Usage(format!(
            "{}: rows are {} s apart but --interval {interval} is {} s",
            csv.display(),
            data.bar_secs,
            interval.seconds()
        )));
    }
    let store = crate::system::open_store(cfg, backend)?;
    let db = DbWriter::new(
        store,
        CHUNK,
        Duration::from_millis(cfg.storage.flush_interval_ms),
        actors::metrics::Registry::new(false).db_writer,
    )
    .bulk_load()
    .start();
    let mut n = 0u64;
    // Chunks of CHUNK rows across symbols: a Persist is answered once committed, and DbWriter
    // commits when CHUNK rows are pending (or at its flush interval).
    // One shared name per symbol for all its rows.
    let names: Vec<std::sync::Arc<str>> = symbols.iter().map(|s| s.as_str().into()).collect();
    let mut rows = names
        .iter()
        .flat_map(|s| data.bars.iter().map(move |b| (s, b)))
        .filter(|(_, b)| b.open > 0.0 && b.high >= b.low && b.close > 0.0)
        .map(|(symbol, b)| {
            Row::Candle(CandleRow {
                symbol: symbol.clone(),
                interval,
                ts: b.ts,
                open: b.open,
                high: b.high,
                low: b.low,
                close: b.close,
                volume: b.volume,
            })
        })
        .peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Row> = rows.by_ref().take(CHUNK).collect();
        n += chunk.len() as u64;
        db.send(Persist(chunk))
            .await?
            .map_err(|e| AppError::Usage(format!("import failed: {e}")))?;
    }
    db.send(Flush)
        .await?
        .map_err(|e| AppError::Usage(format!("import failed: {e}")))?;
    Ok(n)
}
