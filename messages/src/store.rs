//! Rows handed to the DbWriter, one variant per table it writes.

use serde::{Deserialize, Serialize};

use crate::{ExecutorDecision, Signal, Timeframe};

/// A closed candle as stored in `historical_data` (symbol by name: the store outlives symbol ids).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandleRow {
    pub symbol: String,
    pub interval: Timeframe,
    /// Open time, epoch seconds UTC.
    pub ts: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

/// One row for the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    Signal(Box<Signal>),
    Candle(CandleRow),
    Decision(Box<ExecutorDecision>),
}

impl Row {
    /// The table this row goes to.
    pub fn table(&self) -> &'static str {
        match self {
            Row::Signal(_) => "trading_signals",
            Row::Candle(_) => "historical_data",
            Row::Decision(_) => "executor_decisions",
        }
    }
}
