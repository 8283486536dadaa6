//! The simulated market: seeded geometric Brownian motion per underlying, stepped on a data
//! clock that walks through exchange sessions (skipping nights and non-trading days).
//!
//! The same seed and start always give the same ticks, so runs and the sample dataset are
//! reproducible.

use messages::{Bar, SymbolId, Tick};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::logic::price::{round_to_tick, TICK};
use crate::logic::session::Session;

/// Trading seconds in a year: 252 sessions of 6¼ hours.
const YEAR_SECS: f64 = 252.0 * 22_500.0;

/// A seeded random walk for a set of instruments.
#[derive(Debug, Clone)]
pub struct SimMarket {
    rng: ChaCha8Rng,
    session: Session,
    sigma: f64,
    step_secs: i64,
    prices: Vec<f64>,
    now: i64,
}

impl SimMarket {
    /// Starts at the first session open at or after `start` (epoch seconds), with one price per
    /// symbol id (in id order).
    pub fn new(
        seed: u64,
        session: Session,
        sigma: f64,
        step_secs: i64,
        prices: Vec<f64>,
        start: i64,
    ) -> Self {
        let mut m = SimMarket {
            rng: ChaCha8Rng::seed_from_u64(seed),
            session,
            sigma,
            step_secs: step_secs.max(1),
            prices,
            now: start,
        };
        m.now = m.next_session_time(start);
        m
    }

    /// The data time of the next step.
    pub fn now(&self) -> i64 {
        self.now
    }

    /// `t` if it is in a session, else the next session open.
    fn next_session_time(&self, mut t: i64) -> i64 {
        for _ in 0..30 {
            if self.session.contains(t) {
                return t;
            }
            let open = self.session.open_of(t);
            if t < open && self.session.is_trading_day(t) {
                return open;
            }
            t = self.session.day_start(t) + 86_400 + self.session.open;
        }
        t
    }

    fn step_price(&mut self, i: usize, dt_secs: f64) -> f64 {
        let dt = dt_secs / YEAR_SECS;
        let z: f64 = self.rng.sample(StandardNormal);
        let p = self.prices[i]
            * ((-0.5 * self.sigma * self.sigma) * dt + self.sigma * dt.sqrt() * z).exp();
        self.prices[i] = p;
        round_to_tick(p, TICK).max(TICK)
    }

    /// One step: a tick for every symbol at the current data time; the clock then advances.
    pub fn step(&mut self, out: &mut Vec<Tick>) {
        let ts = self.now;
        for i in 0..self.prices.len() {
            let price = self.step_price(i, self.step_secs as f64);
            let volume = self.rng.gen_range(1..=400) as f64 * 25.0;
            out.push(Tick {
                symbol: SymbolId(i as u16),
                ts,
                price,
                volume,
            });
        }
        self.now = self.next_session_time(ts + self.step_secs);
    }

    /// `count` bars of `bar_secs` for symbol 0, each built from `sub` random steps.
    pub fn bars(&mut self, count: usize, bar_secs: i64, sub: usize) -> Vec<Bar> {
        let mut bars = Vec::with_capacity(count);
        let sub = sub.max(1);
        let dt = bar_secs as f64 / sub as f64;
        for _ in 0..count {
            let ts = self.now;
            let open = round_to_tick(self.prices[0], TICK);
            let (mut high, mut low, mut close) = (open, open, open);
            for _ in 0..sub {
                close = self.step_price(0, dt);
                high = high.max(close);
                low = low.min(close);
            }
            let volume = self.rng.gen_range(1_000..=50_000) as f64 * 25.0;
            bars.push(Bar {
                ts,
                open,
                high,
                low,
                close,
                volume,
            });
            self.now = self.next_session_time(ts + bar_secs);
        }
        bars
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_ticks_inside_sessions() {
        let start = 1_704_153_600; // 2024-01-02 00:00 UTC (05:30 IST)
        let mut a = SimMarket::new(7, Session::nse(), 0.15, 5, vec![24000.0, 52000.0], start);
        let mut b = a.clone();
        let (mut ta, mut tb) = (Vec::new(), Vec::new());
        for _ in 0..20_000 {
            a.step(&mut ta);
            b.step(&mut tb);
        }
        assert_eq!(ta, tb);
        let s = Session::nse();
        assert!(ta.iter().all(|t| s.contains(t.ts)));
        assert!(ta
            .iter()
            .all(|t| t.price > 0.0 && ((t.price * 20.0).round() - t.price * 20.0).abs() < 1e-6));
        let last = ta.iter().rev().find(|t| t.symbol == SymbolId(0)).unwrap();
        assert!((15_000.0..40_000.0).contains(&last.price), "{}", last.price);
        assert!(ta.first().unwrap().ts == s.open_of(start));
    }

    #[test]
    fn bars_are_consistent() {
        let mut m = SimMarket::new(1, Session::nse(), 0.2, 60, vec![24000.0], 1_704_153_600);
        let bars = m.bars(100, 900, 15);
        assert!(bars.windows(2).all(|w| w[1].ts > w[0].ts));
        assert!(bars
            .iter()
            .all(|b| b.high >= b.open.max(b.close) && b.low <= b.open.min(b.close)));
    }
}
