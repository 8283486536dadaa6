//! The last `cap` closed candles of every symbol, as DataManager keeps them (plain code, no
//! actix).
//!
//! Stored slot-major: row `k` holds every symbol's candle in ring slot `k`, side by side. On an
//! exchange every symbol's candle closes on the same boundary, so the symbols' rings advance
//! together and a batch of consecutive symbols' closes writes one stretch of a row — memory
//! the CPU streams — instead of one cold line per symbol in a ring of its own (at 1,000
//! symbols the rings are megabytes, cold again by the next boundary). Rows are allocated as
//! the rings first reach them, so an engine keeping 1,000 candles but holding 10 has 10 rows.

use messages::{Candle, SymbolId};

/// A ring slot nothing was written to yet.
const EMPTY: Candle = Candle {
    symbol: SymbolId(0),
    ts: 0,
    open: 0.0,
    high: 0.0,
    low: 0.0,
    close: 0.0,
    volume: 0.0,
};

/// Closed candles per symbol, the newest `cap` of each, oldest first.
#[derive(Debug, Clone)]
pub struct History {
    cap: usize,
    /// Row `k`: every symbol's ring slot `k` (one entry per symbol).
    rows: Vec<Box<[Candle]>>,
    /// Per symbol: the slot of its oldest candle, and how many it holds.
    head: Vec<u32>,
    len: Vec<u32>,
}

impl History {
    /// Room for the last `cap` candles of each of `symbols` symbols (`cap` is at most
    /// `u32::MAX`; 0 keeps nothing).
    pub fn new(symbols: usize, cap: usize) -> Self {
        History {
            cap: cap.min(u32::MAX as usize),
            rows: Vec::new(),
            head: vec![0; symbols],
            len: vec![0; symbols],
        }
    }

    /// How many candles `sym` holds.
    pub fn len(&self, sym: SymbolId) -> usize {
        self.len.get(sym.0 as usize).map_or(0, |l| *l as usize)
    }

    /// The slot of `sym`'s `i`-th oldest candle.
    fn slot(&self, s: usize, i: usize) -> usize {
        (self.head[s] as usize + i) % self.cap.max(1)
    }

    /// `sym`'s newest candle.
    pub fn last(&self, sym: SymbolId) -> Option<&Candle> {
        let s = sym.0 as usize;
        let n = *self.len.get(s)? as usize;
        let i = n.checked_sub(1)?;
        self.rows.get(self.slot(s, i))?.get(s)
    }

    /// Appends `c` to its symbol's ring (dropping the oldest when full) if it is newer than the
    /// newest held; false otherwise (and for a symbol outside the table, or `cap` 0).
    pub fn push(&mut self, c: Candle) -> bool {
        let s = c.symbol.0 as usize;
        if s >= self.len.len() || self.cap == 0 || self.last(c.symbol).is_some_and(|l| l.ts >= c.ts)
        {
            return false;
        }
        let n = self.len[s] as usize;
        let slot = if n == self.cap {
            // Full: the oldest slot takes the new candle and the ring turns by one.
            let oldest = self.head[s] as usize;
            self.head[s] = ((oldest + 1) % self.cap) as u32;
            oldest
        } else {
            self.len[s] += 1;
            self.slot(s, n)
        };
        let symbols = self.len.len();
        while self.rows.len() <= slot {
            self.rows.push(vec![EMPTY; symbols].into_boxed_slice());
        }
        self.rows[slot][s] = c;
        true
    }

    /// `sym`'s candles, oldest first.
    pub fn iter(&self, sym: SymbolId) -> impl Iterator<Item = &Candle> + '_ {
        let s = sym.0 as usize;
        (0..self.len(sym)).filter_map(move |i| self.rows.get(self.slot(s, i))?.get(s))
    }

    /// Replaces `sym`'s candles with `candles` (oldest first, distinct times), keeping the
    /// newest `cap`.
    pub fn replace(&mut self, sym: SymbolId, candles: &[Candle]) {
        let s = sym.0 as usize;
        if s >= self.len.len() {
            return;
        }
        self.head[s] = 0;
        self.len[s] = 0;
        let skip = candles.len().saturating_sub(self.cap);
        for c in &candles[skip..] {
            self.push(Candle { symbol: sym, ..*c });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(sym: u16, ts: i64) -> Candle {
        Candle {
            symbol: SymbolId(sym),
            ts,
            close: ts as f64,
            ..EMPTY
        }
    }

    fn times(h: &History, sym: u16) -> Vec<i64> {
        h.iter(SymbolId(sym)).map(|c| c.ts).collect()
    }

    #[test]
    fn each_symbol_keeps_its_newest_candles_oldest_first() {
        let mut h = History::new(3, 4);
        for t in 1..=6 {
            assert!(h.push(c(0, t)));
            if t % 2 == 0 {
                assert!(h.push(c(2, 10 * t)));
            }
        }
        assert_eq!(times(&h, 0), vec![3, 4, 5, 6]);
        assert_eq!(times(&h, 1), Vec::<i64>::new());
        assert_eq!(times(&h, 2), vec![20, 40, 60]);
        assert_eq!(h.last(SymbolId(0)).map(|c| c.close), Some(6.0));
        assert_eq!(h.last(SymbolId(1)), None);
        assert_eq!((h.len(SymbolId(0)), h.len(SymbolId(2))), (4, 3));
        assert_eq!(h.len(SymbolId(1)), 0);
        // Many turns of the ring: still the newest four, in order.
        for t in 7..=103 {
            assert!(h.push(c(0, t)));
        }
        assert_eq!(times(&h, 0), vec![100, 101, 102, 103]);
        assert_eq!(times(&h, 2), vec![20, 40, 60]);
    }

    #[test]
    fn a_candle_not_newer_than_the_last_or_of_no_symbol_is_refused() {
        let mut h = History::new(2, 3);
        assert!(h.push(c(1, 5)));
        assert!(!h.push(c(1, 5)));
        assert!(!h.push(c(1, 4)));
        assert!(!h.push(c(2, 9)), "symbol outside the table");
        assert_eq!(times(&h, 1), vec![5]);
        let mut none = History::new(2, 0);
        assert!(!none.push(c(0, 1)));
        assert_eq!(times(&none, 0), Vec::<i64>::new());
        assert_eq!(none.last(SymbolId(0)), None);
    }

    #[test]
    fn rows_are_allocated_as_far_as_the_rings_reach() {
        let mut h = History::new(1000, 1000);
        assert_eq!(h.rows.len(), 0);
        for t in 0..10 {
            for s in 0..1000 {
                h.push(c(s, t));
            }
        }
        assert_eq!(h.rows.len(), 10);
        // Symbols that advance together share rows: one boundary's closes fill one row.
        assert!((0..1000u16).all(|s| h.last(SymbolId(s)).map(|c| c.ts) == Some(9)));
        assert!(h.rows[9].iter().all(|c| c.ts == 9));
    }

    #[test]
    fn replacing_keeps_the_newest_and_the_ring_goes_on_from_there() {
        let mut h = History::new(2, 3);
        for t in 1..=5 {
            h.push(c(0, t));
        }
        let merged: Vec<Candle> = (10..=14).map(|t| c(0, t)).collect();
        h.replace(SymbolId(0), &merged);
        assert_eq!(times(&h, 0), vec![12, 13, 14]);
        assert!(h.push(c(0, 15)));
        assert_eq!(times(&h, 0), vec![13, 14, 15]);
        h.replace(SymbolId(0), &[c(0, 1)]);
        assert_eq!(times(&h, 0), vec![1]);
        h.replace(SymbolId(0), &[]);
        assert_eq!(times(&h, 0), Vec::<i64>::new());
        h.replace(SymbolId(7), &merged);
        assert_eq!(times(&h, 1), Vec::<i64>::new());
    }
}
