//! The listed option chain: which contracts the broker's instrument dump has for an
//! underlying, and how its quotes become [`Quote`]s that strike selection scores — the live
//! counterpart of the synthetic [`super::chain`].
//!
//! - [`expiries`]: the listed expiries of an underlying from a day on; with the `monthly`
//!   preference only the last listed expiry of each month.
//! - [`around_atm`]: the contracts of one expiry and type within `each_side` strikes of the
//!   spot.
//! - [`to_quotes`]: quotes with IV (from the LTP, "Let's Be Rational") and delta; a price
//!   with no time value gets IV 0 and the intrinsic delta.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate};
use messages::{MarketOption, OptionType};

use super::bs::{greeks, implied_vol, BsInput};
use super::chain::Quote;
use super::instruments::OptionContract;
use crate::config::ExpiryPreference;
use crate::kite::Instrument;

const YEAR_SECS: f64 = 365.0 * 86_400.0;

fn kind_of(i: &Instrument) -> Option<OptionType> {
    match i.instrument_type.as_str() {
        "CE" => Some(OptionType::CE),
        "PE" => Some(OptionType::PE),
        _ => None,
    }
}

/// The listed expiries of `underlying` on or after `from`, ascending.
pub fn expiries(
    dump: &[Instrument],
    underlying: &str,
    from: NaiveDate,
    pref: ExpiryPreference,
) -> Vec<NaiveDate> {
    let all: BTreeSet<NaiveDate> = dump
        .iter()
        .filter(|i| i.name == underlying && kind_of(i).is_some())
        .filter_map(|i| i.expiry)
        .filter(|e| *e >= from)
        .collect();
    match pref {
        ExpiryPreference::Weekly => all.into_iter().collect(),
        ExpiryPreference::Monthly => {
            let mut last: Vec<NaiveDate> = Vec::new();
            for e in all {
                match last.last_mut() {
                    Some(l) if (l.year(), l.month()) == (e.year(), e.month()) => *l = e,
                    _ => last.push(e),
                }
            }
            last
        }
    }
}

/// The contracts of `underlying`, `expiry` and `kind` whose strikes are among the `each_side`
/// nearest on either side of `spot` (the ATM strike included), ascending by strike.
pub fn around_atm<'a>(
    dump: &'a [Instrument],
    underlying: &str,
    expiry: NaiveDate,
    kind: OptionType,
    spot: f64,
    each_side: usize,
) -> Vec<&'a Instrument> {
    let mut list: Vec<&Instrument> = dump
        .iter()
        .filter(|i| i.name == underlying && i.expiry == Some(expiry) && kind_of(i) == Some(kind))
        .collect();
    list.sort_by(|a, b| a.strike.total_cmp(&b.strike));
    let Some(atm) = list
        .iter()
        .enumerate()
        .min_by(|a, b| {
            (a.1.strike - spot)
                .abs()
                .total_cmp(&(b.1.strike - spot).abs())
        })
        .map(|(i, _)| i)
    else {
        return list;
    };
    let lo = atm.saturating_sub(each_side);
    let hi = (atm + each_side + 1).min(list.len());
    list[lo..hi].to_vec()
}

/// Strike selection's quotes of the listed `options` with the underlying at `spot` at `now`.
/// `expiry_ts` maps an expiry to its close; `rate` and `div_yield` price the greeks.
pub fn to_quotes(
    options: &[MarketOption],
    spot: f64,
    now: i64,
    rate: f64,
    div_yield: f64,
    expiry_ts: impl Fn(NaiveDate) -> i64,
) -> Vec<Quote> {
    let mut strikes: Vec<f64> = options.iter().map(|o| o.strike).collect();
    strikes.sort_by(|a, b| a.total_cmp(b));
    strikes.dedup();
    let atm_idx = strikes
        .iter()
        .enumerate()
        .min_by(|a, b| (a.1 - spot).abs().total_cmp(&(b.1 - spot).abs()))
        .map(|(i, _)| i as i32)
        .unwrap_or(0);
    options
        .iter()
        .filter(|o| o.ltp > 0.0)
        .map(|o| {
            let t = ((expiry_ts(o.expiry) - now) as f64 / YEAR_SECS).max(0.0);
            let mut input = BsInput {
                spot,
                strike: o.strike,
                t_years: t,
                rate,
                div_yield,
                vol: 0.0,
            };
            let iv = implied_vol(o.kind, spot, o.strike, t, rate, div_yield, o.ltp).unwrap_or(0.0);
            let delta = if iv > 0.0 {
                input.vol = iv;
                greeks(o.kind, &input).delta
            } else {
                // No time value to invert: the intrinsic delta.
                match (o.kind, spot > o.strike) {
                    (OptionType::CE, true) => 1.0,
                    (OptionType::PE, false) => -1.0,
                    _ => 0.0,
                }
            };
            let idx = strikes
                .iter()
                .position(|k| *k == o.strike)
                .unwrap_or_default() as i32;
            let tick = o.tick_size;
            Quote {
                contract: OptionContract {
                    underlying: o.underlying.clone(),
                    expiry: o.expiry,
                    strike: o.strike,
                    kind: o.kind,
                    lot_size: o.lot_size,
                    tick_size: tick,
                    tradingsymbol: o.tradingsymbol.clone(),
                },
                ltp: o.ltp,
                bid: if o.bid > 0.0 {
                    o.bid
                } else {
                    (o.ltp - tick).max(tick)
                },
                ask: if o.ask > 0.0 { o.ask } else { o.ltp + tick },
                iv,
                delta,
                volume: o.volume,
                oi: o.oi,
                steps_from_atm: idx - atm_idx,
                t_years: t,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ins(strike: f64, kind: &str, expiry: &str, name: &str) -> Instrument {
        Instrument {
            instrument_token: strike as u64,
            exchange_token: 0,
            tradingsymbol: format!("{name}{expiry}{strike}{kind}"),
            name: name.into(),
            last_price: 0.0,
            expiry: Some(expiry.parse().unwrap()),
            strike,
            tick_size: 0.05,
            lot_size: 75,
            instrument_type: kind.into(),
            segment: "NFO-OPT".into(),
            exchange: "NFO".into(),
        }
    }

    fn dump() -> Vec<Instrument> {
        let mut v = Vec::new();
        for e in [
            "2025-12-02",
            "2025-12-09",
            "2025-12-30",
            "2026-01-06",
            "2026-01-27",
        ] {
            for k in 0..9 {
                for t in ["CE", "PE"] {
                    v.push(ins(23_800.0 + 50.0 * k as f64, t, e, "NIFTY"));
                }
            }
        }
        v.push(ins(50_000.0, "CE", "2025-12-03", "BANKNIFTY"));
        v
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn weekly_and_monthly_expiries_from_the_dump() {
        let dump = dump();
        let from = d("2025-12-03");
        assert_eq!(
            expiries(&dump, "NIFTY", from, ExpiryPreference::Weekly),
            vec![
                d("2025-12-09"),
                d("2025-12-30"),
                d("2026-01-06"),
                d("2026-01-27")
            ]
        );
        assert_eq!(
            expiries(&dump, "NIFTY", from, ExpiryPreference::Monthly),
            vec![d("2025-12-30"), d("2026-01-27")]
        );
        assert!(expiries(&dump, "FINNIFTY", from, ExpiryPreference::Weekly).is_empty());
    }

    #[test]
    fn strikes_around_the_money_of_one_expiry_and_type() {
        let dump = dump();
        let got = around_atm(&dump, "NIFTY", d("2025-12-09"), OptionType::PE, 24_013.0, 2);
        let strikes: Vec<f64> = got.iter().map(|i| i.strike).collect();
        assert_eq!(
            strikes,
            vec![23_900.0, 23_950.0, 24_000.0, 24_050.0, 24_100.0]
        );
        assert!(got.iter().all(|i| i.instrument_type == "PE"));
        // Near the edge of the listed strikes: what there is.
        let edge = around_atm(&dump, "NIFTY", d("2025-12-09"), OptionType::CE, 23_700.0, 2);
        assert_eq!(edge.len(), 3);
        assert!(
            around_atm(&dump, "NIFTY", d("2025-12-10"), OptionType::CE, 24_000.0, 2).is_empty()
        );
    }

    #[test]
    fn quotes_carry_iv_delta_and_steps() {
        let expiry = d("2025-12-09");
        let close = |e: NaiveDate| e.and_hms_opt(10, 0, 0).unwrap().and_utc().timestamp();
        let now = close(expiry) - 5 * 86_400;
        // Prices from a 15 % vol: the IV comes back.
        let opt = |k: f64, kind| {
            let i = BsInput::new(24_000.0, k, 5.0 / 365.0, 0.065, 0.15);
            MarketOption {
                tradingsymbol: format!("X{k}"),
                exchange: "NFO".into(),
                underlying: "NIFTY".into(),
                expiry,
                strike: k,
                kind,
                lot_size: 75,
                tick_size: 0.05,
                ltp: super::super::bs::price(kind, &i),
                bid: 0.0,
                ask: 0.0,
                volume: 1000,
                oi: 5000,
            }
        };
        let opts = vec![
            opt(23_950.0, OptionType::CE),
            opt(24_000.0, OptionType::CE),
            opt(24_050.0, OptionType::CE),
        ];
        let q = to_quotes(&opts, 24_000.0, now, 0.065, 0.0, close);
        assert_eq!(q.len(), 3);
        assert_eq!(
            q.iter().map(|q| q.steps_from_atm).collect::<Vec<_>>(),
            vec![-1, 0, 1]
        );
        assert!((q[1].iv - 0.15).abs() < 1e-6, "{}", q[1].iv);
        assert!(q[1].delta > 0.45 && q[1].delta < 0.6, "{}", q[1].delta);
        assert!(q[0].delta > q[1].delta && q[1].delta > q[2].delta);
        // An empty book side falls back to a tick around the LTP.
        assert!((q[1].ask - q[1].bid - 0.10).abs() < 1e-9);
        // At intrinsic: IV 0, intrinsic delta.
        let mut deep = opt(23_000.0, OptionType::CE);
        deep.ltp = 1_000.0;
        let q = to_quotes(&[deep], 24_000.0, now, 0.0, 0.0, close);
        assert_eq!((q[0].iv, q[0].delta), (0.0, 1.0));
    }
}
