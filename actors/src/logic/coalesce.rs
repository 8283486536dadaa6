//! A live feed's gate in front of DataManager: while DataManager's mailbox is behind, only the
//! latest tick per symbol is kept (the others are counted as dropped); once it has caught up,
//! what was kept goes first, then every new tick in order.
//!
//! Ticks are not persisted: a tick replaced here loses nothing stored (its candle still gets
//! the newest price). Candles and everything after them travel through counted, unbounded
//! sends.

use messages::Tick;

/// What to do with one step's ticks.
#[derive(Debug, Clone, PartialEq)]
pub enum Gate {
    /// Hand this batch to DataManager: the ticks kept while behind, then the new ones.
    Send(Vec<Tick>),
    /// Behind: kept for later; `dropped` ticks were replaced by newer ones of their symbol
    /// (or had no symbol slot).
    Held { dropped: u64 },
}

/// The latest tick per symbol id while DataManager is behind.
#[derive(Debug, Clone)]
pub struct Coalescer {
    latest: Vec<Option<Tick>>,
}

impl Coalescer {
    /// For `symbols` symbol ids (0..symbols).
    pub fn new(symbols: usize) -> Self {
        Coalescer {
            latest: vec![None; symbols],
        }
    }

    /// One step's `ticks`, with DataManager `behind` (its mailbox deeper than the feed's
    /// limit) or not.
    pub fn offer(&mut self, ticks: &[Tick], behind: bool) -> Gate {
        if !behind {
            let mut batch: Vec<Tick> = self.latest.iter_mut().filter_map(Option::take).collect();
            batch.extend_from_slice(ticks);
            return Gate::Send(batch);
        }
        let mut dropped = 0;
        for t in ticks {
            match self.latest.get_mut(t.symbol.0 as usize) {
                Some(slot) => {
                    dropped += slot.is_some() as u64;
                    *slot = Some(*t);
                }
                None => dropped += 1,
            }
        }
        Gate::Held { dropped }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use messages::SymbolId;

    fn tick(s: u16, ts: i64, price: f64) -> Tick {
        Tick {
            symbol: SymbolId(s),
            ts,
            price,
            volume: 1.0,
        }
    }

    #[test]
    fn passes_every_tick_in_order_when_not_behind() {
        let mut c = Coalescer::new(2);
        let ticks = [tick(0, 1, 10.0), tick(1, 1, 20.0), tick(0, 2, 11.0)];
        assert_eq!(c.offer(&ticks, false), Gate::Send(ticks.to_vec()));
        assert_eq!(c.offer(&[], false), Gate::Send(vec![]));
    }

    #[test]
    fn keeps_the_latest_per_symbol_while_behind_then_sends_it_first() {
        let mut c = Coalescer::new(3);
        assert_eq!(
            c.offer(&[tick(0, 1, 10.0), tick(1, 1, 20.0)], true),
            Gate::Held { dropped: 0 }
        );
        assert_eq!(
            c.offer(
                &[tick(0, 2, 11.0), tick(1, 2, 21.0), tick(0, 3, 12.0)],
                true
            ),
            Gate::Held { dropped: 3 },
            "two replace the first step's, one replaces the same step's"
        );
        // Caught up: the kept ones (symbol order), then the new step's ticks.
        assert_eq!(
            c.offer(&[tick(2, 4, 30.0)], false),
            Gate::Send(vec![tick(0, 3, 12.0), tick(1, 2, 21.0), tick(2, 4, 30.0)])
        );
        assert_eq!(
            c.offer(&[], false),
            Gate::Send(vec![]),
            "nothing kept twice"
        );
    }

    #[test]
    fn a_tick_without_a_symbol_slot_is_dropped_not_a_panic() {
        let mut c = Coalescer::new(1);
        assert_eq!(
            c.offer(&[tick(7, 1, 10.0)], true),
            Gate::Held { dropped: 1 }
        );
        assert_eq!(c.offer(&[], false), Gate::Send(vec![]));
    }
}
