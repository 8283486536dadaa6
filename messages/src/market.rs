//! Market data: symbols, timeframes, ticks, bars and candles.
//!
//! Everything on the hot path here is `Copy` and heap-free: a symbol travels as a [`SymbolId`]
//! (an index into the engine's [`Symbols`] table, fixed at start), times as epoch seconds (UTC).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Index of a symbol in the engine's [`Symbols`] table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SymbolId(pub u16);

/// The immutable symbol table shared by all actors (names never change after start).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Symbols(Arc<[Arc<str>]>);

impl Symbols {
    /// Builds the table; duplicate names keep their first id.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> Self {
        let mut v: Vec<Arc<str>> = Vec::new();
        for n in names {
            let n: String = n.into();
            if !v.iter().any(|x| **x == *n) {
                v.push(n.into());
            }
        }
        Symbols(v.into())
    }
    /// The id of `name`, if known.
    pub fn id(&self, name: &str) -> Option<SymbolId> {
        self.0
            .iter()
            .position(|n| &**n == name)
            .map(|i| SymbolId(i as u16))
    }
    /// The name of `id` (`"?"` for an id from another table).
    pub fn name(&self, id: SymbolId) -> &str {
        self.0.get(id.0 as usize).map(|n| &**n).unwrap_or("?")
    }
    /// The name of `id`, shared (rows that carry it, such as stored candles, clone the `Arc`
    /// instead of allocating a copy); `None` for an id from another table.
    pub fn shared_name(&self, id: SymbolId) -> Option<Arc<str>> {
        self.0.get(id.0 as usize).cloned()
    }
    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True when the table is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// All (id, name) pairs.
    pub fn iter(&self) -> impl Iterator<Item = (SymbolId, &str)> {
        self.0
            .iter()
            .enumerate()
            .map(|(i, n)| (SymbolId(i as u16), &**n))
    }
}

/// A candle interval, spelled as Kite spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Timeframe {
    #[serde(rename = "minute")]
    Minute1,
    #[serde(rename = "3minute")]
    Minute3,
    #[serde(rename = "5minute")]
    Minute5,
    #[serde(rename = "10minute")]
    Minute10,
    #[serde(rename = "15minute")]
    Minute15,
    #[serde(rename = "30minute")]
    Minute30,
    #[serde(rename = "60minute")]
    Minute60,
    #[serde(rename = "day")]
    Day,
}

impl Timeframe {
    /// Every timeframe, shortest first.
    pub const ALL: [Timeframe; 8] = [
        Timeframe::Minute1,
        Timeframe::Minute3,
        Timeframe::Minute5,
        Timeframe::Minute10,
        Timeframe::Minute15,
        Timeframe::Minute30,
        Timeframe::Minute60,
        Timeframe::Day,
    ];

    /// Kite's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Timeframe::Minute1 => "minute",
            Timeframe::Minute3 => "3minute",
            Timeframe::Minute5 => "5minute",
            Timeframe::Minute10 => "10minute",
            Timeframe::Minute15 => "15minute",
            Timeframe::Minute30 => "30minute",
            Timeframe::Minute60 => "60minute",
            Timeframe::Day => "day",
        }
    }

    /// Length in seconds (a day counts as 86 400).
    pub fn seconds(self) -> i64 {
        match self {
            Timeframe::Minute1 => 60,
            Timeframe::Minute3 => 180,
            Timeframe::Minute5 => 300,
            Timeframe::Minute10 => 600,
            Timeframe::Minute15 => 900,
            Timeframe::Minute30 => 1800,
            Timeframe::Minute60 => 3600,
            Timeframe::Day => 86_400,
        }
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A timeframe name that is not one of Kite's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown timeframe {0:?}: expected one of minute, 3minute, 5minute, 10minute, 15minute, 30minute, 60minute, day")]
pub struct UnknownTimeframe(pub String);

impl FromStr for Timeframe {
    type Err = UnknownTimeframe;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timeframe::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownTimeframe(s.to_string()))
    }
}

/// One trade print (or one LTP poll) of an instrument.
///
/// `volume` is the quantity traded since the previous tick of the same symbol (not Kite's
/// cumulative day volume: the broker adapter converts).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Tick {
    pub symbol: SymbolId,
    /// Exchange time, epoch seconds UTC.
    pub ts: i64,
    pub price: f64,
    pub volume: f64,
}

/// One OHLCV bar read from a replay file; `ts` is the bar's open time (epoch seconds UTC).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    pub ts: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

/// An OHLCV candle of the strategy timeframe; `ts` is its open time (epoch seconds UTC).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Candle {
    pub symbol: SymbolId,
    pub ts: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

/// What happened to a candle: it is still forming, or it just closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CandleState {
    /// Still forming; its close is the latest price.
    Forming,
    /// Final: no later data changes it.
    Closed,
}

/// One candle update, as DataManager publishes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CandleEvent {
    pub candle: Candle,
    pub state: CandleState,
    /// End of the candle's interval (epoch seconds): the data time of a close.
    pub end_ts: i64,
    /// Data time at which this update happened (the tick or bar time, or the close).
    pub at: i64,
}

#[cfg(test)]
mod symbol_tests {
    use super::*;

    #[test]
    fn a_shared_name_is_the_tables_own_and_ids_from_elsewhere_have_none() {
        let s = Symbols::new(["NIFTY", "BANKNIFTY", "NIFTY"]);
        assert_eq!(s.len(), 2, "a duplicate keeps its first id");
        let a = s.shared_name(SymbolId(1)).expect("known id");
        let b = s.shared_name(SymbolId(1)).expect("known id");
        assert_eq!(&*a, "BANKNIFTY");
        assert!(Arc::ptr_eq(&a, &b), "one allocation per name, shared");
        assert_eq!(s.name(SymbolId(0)), "NIFTY");
        assert_eq!(s.id("BANKNIFTY"), Some(SymbolId(1)));
        assert_eq!(s.shared_name(SymbolId(2)), None);
        assert_eq!(s.name(SymbolId(2)), "?");
    }
}
