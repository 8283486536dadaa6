//! The underlying prices PositionManager has seen lately, for catching up a position opened
//! after them, and each symbol's last price.
//!
//! One ring for all symbols, bounded by what a position can need rather than per symbol: a
//! position opened for a signal at data time T is marked over the prices after T that arrived
//! before its opening. A replay decides every signal of a batch before the batch after next is
//! sent, so those prices belong to two batches at most (a replay batch is at most 16 384 bars,
//! ≤ 2 events per bar); a live feed opens within the pipeline's latency (about a
//! commit interval). The ring keeps [`RecentPrices::CAPACITY`] events (4× a replay batch's), in
//! 3 MiB whatever the number of symbols — per-symbol rings of 16 384 prices grew to 256 MiB at
//! 1 000 symbols.

use std::collections::VecDeque;

/// Recent prices of every symbol, in arrival order, and each symbol's last one.
#[derive(Debug, Clone, Default)]
pub struct RecentPrices {
    ring: VecDeque<(i64, f64, u16)>,
    last: Vec<Option<(i64, f64)>>,
    /// Adjacent pairs in the ring whose time goes backwards: with none, the ring is in time
    /// order and [`RecentPrices::after`] finds its start by bisection.
    descents: usize,
}

impl RecentPrices {
    /// Events kept, all symbols together.
    pub const CAPACITY: usize = 131_072;

    /// Empty, for `symbols` symbols (ids `0..symbols`). Grows as prices arrive.
    pub fn new(symbols: usize) -> Self {
        RecentPrices {
            ring: VecDeque::new(),
            last: vec![None; symbols],
            descents: 0,
        }
    }

    /// Records `price` of symbol `sym` at data time `at` (an unknown symbol is ignored).
    /// O(1), no allocation once the ring is full.
    pub fn push(&mut self, sym: usize, at: i64, price: f64) {
        let Some(slot) = self.last.get_mut(sym) else {
            return;
        };
        *slot = Some((at, price));
        if self.ring.len() == Self::CAPACITY {
            if let (Some(a), Some(b)) = (self.ring.front(), self.ring.get(1)) {
                if b.0 < a.0 {
                    self.descents -= 1;
                }
            }
            self.ring.pop_front();
        }
        if self.ring.back().is_some_and(|b| at < b.0) {
            self.descents += 1;
        }
        self.ring.push_back((at, price, sym as u16));
    }

    /// Symbol `sym`'s last price and its time.
    pub fn last(&self, sym: usize) -> Option<(i64, f64)> {
        self.last.get(sym).copied().flatten()
    }

    /// Number of symbols.
    pub fn symbols(&self) -> usize {
        self.last.len()
    }

    /// The latest data time of any price.
    pub fn latest(&self) -> Option<i64> {
        self.last.iter().filter_map(|p| p.map(|(t, _)| t)).max()
    }

    /// Symbol `sym`'s prices later than `after`, oldest first, collected (the tests' view of
    /// [`RecentPrices::next_after`]).
    #[cfg(test)]
    pub fn after(&self, sym: usize, after: i64) -> Vec<(i64, f64)> {
        let mut at = self.start_after(after);
        std::iter::from_fn(|| self.next_after(sym, after, &mut at)).collect()
    }

    /// Where a walk over the prices later than `after` starts ([`RecentPrices::next_after`]):
    /// found by bisection while the ring is in time order (always in a replay: O(log n)), its
    /// start otherwise.
    pub fn start_after(&self, after: i64) -> usize {
        if self.descents == 0 {
            self.ring.partition_point(|e| e.0 <= after)
        } else {
            0
        }
    }

    /// The next price of `sym` later than `after` from ring position `*at` on, moving `*at`
    /// past it; `None` at the end. Walks without allocating, and lets the caller stop early.
    pub fn next_after(&self, sym: usize, after: i64, at: &mut usize) -> Option<(i64, f64)> {
        while let Some(&(t, p, s)) = self.ring.get(*at) {
            *at += 1;
            if s as usize == sym && t > after {
                return Some((t, p));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_each_symbols_prices_in_order_and_its_last() {
        let mut r = RecentPrices::new(3);
        r.push(0, 10, 100.0);
        r.push(1, 10, 200.0);
        r.push(0, 15, 101.0);
        r.push(1, 15, 201.0);
        r.push(0, 20, 102.0);
        r.push(7, 20, 9.0); // unknown symbol: ignored
        assert_eq!(r.after(0, 10), vec![(15, 101.0), (20, 102.0)]);
        assert_eq!(r.after(1, 0), vec![(10, 200.0), (15, 201.0)]);
        assert_eq!(r.after(2, 0), vec![]);
        assert_eq!(r.last(0), Some((20, 102.0)));
        assert_eq!(r.last(2), None);
        assert_eq!(r.last(7), None);
        assert_eq!(r.latest(), Some(20));
        assert_eq!(r.symbols(), 3);
    }

    #[test]
    fn bounded_across_symbols_keeping_the_newest() {
        let mut r = RecentPrices::new(1000);
        let n = RecentPrices::CAPACITY + 5_000;
        for i in 0..n {
            r.push(i % 1000, i as i64, i as f64);
        }
        assert_eq!(r.ring.len(), RecentPrices::CAPACITY);
        // The oldest kept is event n − CAPACITY.
        let first = (n - RecentPrices::CAPACITY) as i64;
        assert_eq!(r.ring.front().map(|e| e.0), Some(first));
        let s = (first as usize) % 1000;
        assert_eq!(r.after(s, i64::MIN).first().map(|e| e.0), Some(first));
        assert_eq!(r.last((n - 1) % 1000), Some((n as i64 - 1, (n - 1) as f64)));
    }

    #[test]
    fn prices_out_of_time_order_are_still_all_found() {
        // Two feeds whose times interleave backwards: bisection would miss (7, 70.0).
        let mut r = RecentPrices::new(2);
        for (sym, at, px) in [(0, 10, 1.0), (1, 12, 2.0), (0, 7, 70.0), (0, 15, 3.0)] {
            r.push(sym, at, px);
        }
        assert_eq!(r.descents, 1);
        assert_eq!(r.after(0, 5), vec![(10, 1.0), (7, 70.0), (15, 3.0)]);
        assert_eq!(r.after(0, 9), vec![(10, 1.0), (15, 3.0)]);
        // The same answers as a plain scan, with the descent pushed out of a full ring.
        let mut r = RecentPrices::new(2);
        r.push(0, 100, 1.0);
        r.push(0, 50, 2.0);
        for i in 0..RecentPrices::CAPACITY as i64 {
            r.push((i % 2) as usize, 200 + i, i as f64);
        }
        assert_eq!(r.descents, 0, "the descent left with the oldest prices");
        let scan: Vec<(i64, f64)> = r
            .ring
            .iter()
            .filter(|e| e.2 == 1 && e.0 > 60_000)
            .map(|e| (e.0, e.1))
            .collect();
        assert_eq!(r.after(1, 60_000), scan);
        assert!(!scan.is_empty());
    }
}
