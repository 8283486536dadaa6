//! The synthetic option chain of replay and simulation: every strike priced by Black-Scholes
//! from the underlying, with an IV smile and deterministic volume and open interest, so strike
//! selection has a real chain to filter and positions a premium to follow.
//!
//! - IV(K) = atm_iv + skew·x + smile·x², x = ln(K/S), floored at 1 %.
//! - Premium = BS price rounded to the tick (at least one tick); bid/ask = premium ∓ half the
//!   spread (`spread_pct` % of the premium, at least one tick).
//! - Volume = atm_volume·e^(−|n|/3), OI = atm_oi·e^(−|n|/5) for a strike n steps from ATM, times
//!   a fixed ±10 % factor from the strike itself — the same strike always has the same figures.

use chrono::NaiveDate;
use messages::OptionType;

use super::bs::{greeks, BsInput};
use super::instruments::{
    contract_at, contract_into, tradingsymbol_prefix, ExpiryCalendar, OptionContract,
};
use crate::config::{ChainSpec, UnderlyingSpec};
use crate::logic::price::round_to_tick;
use crate::logic::session::Session;

/// One quoted option.
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    pub contract: OptionContract,
    pub ltp: f64,
    pub bid: f64,
    pub ask: f64,
    pub iv: f64,
    pub delta: f64,
    pub volume: u64,
    pub oi: u64,
    /// Strikes from ATM (+ above, − below).
    pub steps_from_atm: i32,
    /// Years to the expiry's close.
    pub t_years: f64,
}

/// Prices options from the underlying.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainModel {
    pub spec: ChainSpec,
    pub rate: f64,
    pub div_yield: f64,
    pub session: Session,
}

const YEAR_SECS: f64 = 365.0 * 86_400.0;

impl ChainModel {
    /// The implied volatility of strike `k` with the underlying at `s`.
    pub fn iv(&self, s: f64, k: f64) -> f64 {
        let x = (k / s).ln();
        (self.spec.atm_iv + self.spec.skew * x + self.spec.smile * x * x).max(0.01)
    }

    /// Epoch seconds of an expiry's close (15:30 exchange time).
    pub fn expiry_ts(&self, expiry: NaiveDate) -> i64 {
        let midnight = expiry
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp())
            .unwrap_or(0);
        midnight - self.session.offset + self.session.close
    }

    /// The fair premium (unrounded) of a contract with the underlying at `spot` at `now`.
    pub fn fair(&self, c: &OptionContract, spot: f64, now: i64) -> (f64, f64, f64) {
        let t = ((self.expiry_ts(c.expiry) - now) as f64 / YEAR_SECS).max(0.0);
        let iv = self.iv(spot, c.strike);
        let g = greeks(
            c.kind,
            &BsInput {
                spot,
                strike: c.strike,
                t_years: t,
                rate: self.rate,
                div_yield: self.div_yield,
                vol: iv,
            },
        );
        (g.price, g.delta, iv)
    }

    /// The traded premium: fair value on the tick, at least one tick.
    pub fn premium(&self, c: &OptionContract, spot: f64, now: i64) -> f64 {
        round_to_tick(self.fair(c, spot, now).0, c.tick_size).max(c.tick_size)
    }

    /// A full quote of one contract.
    pub fn quote(&self, c: OptionContract, spot: f64, now: i64, step: f64) -> Quote {
        let mut q = Quote {
            contract: c,
            ltp: 0.0,
            bid: 0.0,
            ask: 0.0,
            iv: 0.0,
            delta: 0.0,
            volume: 0,
            oi: 0,
            steps_from_atm: 0,
            t_years: 0.0,
        };
        self.price(&mut q, spot, now, step);
        q
    }

    /// Sets every figure of `q` from its contract (the quote [`quote`](Self::quote) gives).
    fn price(&self, q: &mut Quote, spot: f64, now: i64, step: f64) {
        let c = &q.contract;
        let (fair, delta, iv) = self.fair(c, spot, now);
        let tick = c.tick_size;
        let ltp = round_to_tick(fair, tick).max(tick);
        let half =
            round_to_tick((ltp * self.spec.spread_pct / 100.0 / 2.0).max(tick), tick).max(tick);
        let atm = (spot / step).round() * step;
        let n = ((c.strike - atm) / step).round() as i32;
        // ±10 % fixed by the strike: deterministic, not uniform.
        let jitter = 0.9 + ((c.strike as u64).wrapping_mul(2_654_435_761) % 1000) as f64 / 5000.0;
        let volume =
            (self.spec.atm_volume as f64 * (-(n.abs() as f64) / 3.0).exp() * jitter) as u64;
        let oi = (self.spec.atm_oi as f64 * (-(n.abs() as f64) / 5.0).exp() * jitter) as u64;
        q.t_years = ((self.expiry_ts(c.expiry) - now) as f64 / YEAR_SECS).max(0.0);
        q.ltp = ltp;
        q.bid = (ltp - half).max(tick);
        q.ask = ltp + half;
        q.iv = iv;
        q.delta = delta;
        q.volume = volume;
        q.oi = oi;
        q.steps_from_atm = n;
    }

    /// Quotes of `kind` at every listed strike (ATM ± `strikes_each_side`) of one expiry.
    #[allow(clippy::too_many_arguments)]
    pub fn chain(
        &self,
        cal: &ExpiryCalendar,
        name: &str,
        spec: &UnderlyingSpec,
        expiry: NaiveDate,
        kind: OptionType,
        spot: f64,
        now: i64,
    ) -> Vec<Quote> {
        let mut quotes = Vec::new();
        self.chain_near_into(
            &mut quotes,
            cal,
            name,
            spec,
            expiry,
            kind,
            spot,
            now,
            u32::MAX,
        );
        quotes
    }

    /// [`chain`](Self::chain) at the listed strikes at most `max_steps` from ATM only (the
    /// quotes a strike selection that looks no further needs, the same as the whole chain's),
    /// written over `quotes`: a caller that prices a chain per signal keeps one buffer, whose
    /// quotes' strings are reused too, instead of allocating a chain's worth each time.
    #[allow(clippy::too_many_arguments)]
    pub fn chain_near_into(
        &self,
        quotes: &mut Vec<Quote>,
        cal: &ExpiryCalendar,
        name: &str,
        spec: &UnderlyingSpec,
        expiry: NaiveDate,
        kind: OptionType,
        spot: f64,
        now: i64,
        max_steps: u32,
    ) {
        let step = spec.strike_step;
        let atm = (spot / step).round() * step;
        let n = self.spec.strikes_each_side.min(max_steps) as i32;
        // The symbol's expiry part once for the chain (it looks up the monthly expiry).
        let prefix = tradingsymbol_prefix(cal, name, expiry);
        let mut used = 0;
        for k in (-n..=n).map(|i| atm + i as f64 * step).filter(|k| *k > 0.0) {
            match quotes.get_mut(used) {
                Some(q) => {
                    contract_into(&mut q.contract, &prefix, name, spec, expiry, k, kind);
                    self.price(q, spot, now, step);
                }
                None => {
                    let c = contract_at(&prefix, name, spec, expiry, k, kind);
                    quotes.push(self.quote(c, spot, now, step));
                }
            }
            used += 1;
        }
        quotes.truncate(used);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Weekday;

    fn model() -> ChainModel {
        ChainModel {
            spec: ChainSpec {
                strikes_each_side: 5,
                atm_iv: 0.13,
                skew: -0.15,
                smile: 1.0,
                atm_volume: 100_000,
                atm_oi: 1_000_000,
                spread_pct: 0.5,
            },
            rate: 0.065,
            div_yield: 0.0,
            session: Session::nse(),
        }
    }

    /// NIFTY's contract spec with lot `lot` (strikes 50 apart, weekly).
    fn nifty(lot: u32) -> UnderlyingSpec {
        UnderlyingSpec {
            lot_size: lot,
            strike_step: 50.0,
            tick_size: 0.05,
            weekly: true,
            freeze_qty: None,
        }
    }

    /// The near chain into a fresh buffer.
    #[allow(clippy::too_many_arguments)]
    fn near(
        m: &ChainModel,
        cal: &ExpiryCalendar,
        spec: &UnderlyingSpec,
        exp: NaiveDate,
        kind: OptionType,
        spot: f64,
        now: i64,
        max: u32,
    ) -> Vec<Quote> {
        let mut v = Vec::new();
        m.chain_near_into(&mut v, cal, "NIFTY", spec, exp, kind, spot, now, max);
        v
    }

    #[test]
    fn a_near_chain_is_the_whole_chain_near_atm() {
        let m = model();
        let cal = ExpiryCalendar::with(Weekday::Tue, []);
        let spec = nifty(65);
        let exp = NaiveDate::from_ymd_opt(2025, 12, 9).unwrap();
        let now = m.expiry_ts(exp) - 5 * 86_400;
        for spot in [24_010.0, 24_024.99, 24_025.0, 60.0] {
            let all = m.chain(&cal, "NIFTY", &spec, exp, OptionType::PE, spot, now);
            for max in [0, 1, 3, 5, 9] {
                let near = near(&m, &cal, &spec, exp, OptionType::PE, spot, now, max);
                let want: Vec<Quote> = all
                    .iter()
                    .filter(|q| q.steps_from_atm.unsigned_abs() <= max)
                    .cloned()
                    .collect();
                assert_eq!(near, want, "spot {spot} max {max}");
                assert!(!near.is_empty() || spot < 50.0 * max as f64);
            }
        }
        // One buffer for every call, as the executor keeps it: a longer chain before a shorter
        // one leaves nothing behind.
        let mut buf = Vec::new();
        for (spot, max, kind) in [
            (24_010.0, 9, OptionType::CE),
            (24_010.0, 1, OptionType::PE),
            (60.0, 5, OptionType::CE),
            (24_500.0, 3, OptionType::PE),
        ] {
            m.chain_near_into(&mut buf, &cal, "NIFTY", &spec, exp, kind, spot, now, max);
            let fresh = near(&m, &cal, &spec, exp, kind, spot, now, max);
            assert_eq!(buf, fresh, "spot {spot} max {max} {kind:?}");
        }
    }

    #[test]
    fn chain_is_priced_and_deterministic() {
        let m = model();
        let cal = ExpiryCalendar::with(Weekday::Tue, []);
        let spec = nifty(65);
        let exp = NaiveDate::from_ymd_opt(2025, 12, 9).unwrap();
        let now = m.expiry_ts(exp) - 5 * 86_400;
        let calls = m.chain(&cal, "NIFTY", &spec, exp, OptionType::CE, 24_010.0, now);
        assert_eq!(calls.len(), 11);
        assert_eq!(calls[5].contract.strike, 24_000.0);
        assert_eq!(calls[5].steps_from_atm, 0);
        assert!(
            calls.windows(2).all(|w| w[0].ltp >= w[1].ltp),
            "calls cheaper as strikes rise"
        );
        assert!(calls
            .iter()
            .all(|q| q.bid < q.ltp && q.ltp < q.ask && q.bid >= 0.05));
        assert!(
            calls
                .iter()
                .all(|q| ((q.ltp * 20.0).round() - q.ltp * 20.0).abs() < 1e-9),
            "on the tick"
        );
        assert!(calls[5].volume > calls[0].volume && calls[5].oi > calls[10].oi);
        assert_eq!(
            calls,
            m.chain(&cal, "NIFTY", &spec, exp, OptionType::CE, 24_010.0, now)
        );
        // Puts are richer below spot (negative skew): IV at 23 750 above IV at 24 250.
        assert!(m.iv(24_000.0, 23_750.0) > m.iv(24_000.0, 24_250.0));
        // 5 days ATM at 13 %: 0.4·S·σ·√T ≈ 146, plus the carry (r·T·S/2 ≈ 11) and spot 10 above.
        assert!((140.0..180.0).contains(&calls[5].ltp), "{}", calls[5].ltp);
    }

    #[test]
    fn a_chains_symbols_are_those_of_each_contract() {
        let m = model();
        let spec = nifty(75);
        let cal = ExpiryCalendar::with(chrono::Weekday::Thu, []);
        // A weekly and a monthly expiry (the last Thursday of December 2024).
        for exp in [
            NaiveDate::from_ymd_opt(2024, 12, 19).unwrap(),
            NaiveDate::from_ymd_opt(2024, 12, 26).unwrap(),
        ] {
            for kind in [OptionType::CE, OptionType::PE] {
                let q = m.chain(&cal, "NIFTY", &spec, exp, kind, 24_010.0, 1_734_500_000);
                assert_eq!(q.len(), 11);
                for x in &q {
                    let want = super::super::instruments::tradingsymbol(
                        &cal,
                        "NIFTY",
                        exp,
                        x.contract.strike,
                        kind,
                    );
                    assert_eq!(x.contract.tradingsymbol, want);
                }
            }
        }
        let weekly = m.chain(
            &cal,
            "NIFTY",
            &spec,
            NaiveDate::from_ymd_opt(2024, 12, 19).unwrap(),
            OptionType::CE,
            24_010.0,
            1_734_500_000,
        );
        assert_eq!(weekly[5].contract.tradingsymbol, "NIFTY24D1924000CE");
    }
}
