//! StrikeSelector: which option to trade for a signal (seed's `strike_selection`).
//!
//! - Type: CE for a BUY signal, PE for a SELL signal.
//! - Expiry ([`choose_expiry`]): `weekly` → the nearest listed expiry (weekly where the
//!   underlying has weeklies, else its monthly); `monthly` → the nearest monthly; never one that
//!   ends within `expiry_cutoff_hours`; within the rules' days-to-expiry range when set.
//! - Strikes: at most `max_strikes_from_atm` steps from ATM, `volume ≥ min_volume`,
//!   `oi ≥ min_oi`, and the rules' spread and premium range when set.
//! - Score (highest wins): `100 − 15·|n − target|` where n is the strike's steps from ATM on the
//!   out-of-the-money side and target is 0 with `prefer_atm` (1 step OTM without), plus up to 10
//!   for open interest (`10·min(1, oi / (10·min_oi))`), minus the spread in % of the premium.
//!   Ties go to the strike nearer ATM, then the lower strike.

use chrono::NaiveDate;
use messages::{Action, OptionType};

use super::chain::Quote;
use super::instruments::ExpiryCalendar;
use crate::config::{ExpiryPreference, Rules, StrikeSelection};

/// The chosen strike with its score.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub quote: Quote,
    pub score: f64,
}

/// The option type a signal trades.
pub fn option_type(action: Action) -> OptionType {
    match action {
        Action::Buy => OptionType::CE,
        Action::Sell => OptionType::PE,
    }
}

/// The expiry to trade, or why there is none. `expiry_ts` maps an expiry to its close.
#[allow(clippy::too_many_arguments)]
pub fn choose_expiry(
    cal: &ExpiryCalendar,
    today: NaiveDate,
    now: i64,
    weekly_listed: bool,
    pref: ExpiryPreference,
    cutoff_hours: f64,
    rules: &Rules,
    expiry_ts: impl Fn(NaiveDate) -> i64,
) -> Result<NaiveDate, String> {
    let weekly = weekly_listed && pref == ExpiryPreference::Weekly;
    choose_from(
        cal.upcoming(today, weekly, 8),
        now,
        cutoff_hours,
        rules,
        expiry_ts,
    )
}

/// The first of `expiries` (ascending) beyond the cut-off and within the rules'
/// days-to-expiry range, or why there is none. Used with the calendar's expiries and with
/// the broker's listed ones alike.
pub fn choose_from(
    expiries: impl IntoIterator<Item = NaiveDate>,
    now: i64,
    cutoff_hours: f64,
    rules: &Rules,
    expiry_ts: impl Fn(NaiveDate) -> i64,
) -> Result<NaiveDate, String> {
    let mut seen = 0;
    for e in expiries {
        seen += 1;
        let hours = (expiry_ts(e) - now) as f64 / 3600.0;
        let days = hours / 24.0;
        if hours < cutoff_hours {
            continue;
        }
        if rules.min_days_to_expiry.is_some_and(|m| days < m) {
            continue;
        }
        if rules.max_days_to_expiry.is_some_and(|m| days > m) {
            return Err(format!(
                "the nearest eligible expiry {e} is {days:.1} days away, beyond max_days_to_expiry {}",
                rules.max_days_to_expiry.unwrap_or_default()
            ));
        }
        return Ok(e);
    }
    Err(format!(
        "no expiry beyond the {cutoff_hours} h cut-off in the next {seen} listed"
    ))
}

/// Why a quote was passed over (its text is written only when no strike is eligible).
enum Refused {
    Volume,
    Oi,
    Spread(f64),
    Premium,
}

/// Picks the best strike of `quotes` (one expiry, one type) or says why none is eligible.
/// The chosen quote is cloned once, and the refusals' text is written only when nothing is
/// chosen.
pub fn select(quotes: &[Quote], sel: &StrikeSelection, rules: &Rules) -> Result<Selection, String> {
    let mut best: Option<(usize, f64)> = None;
    let mut refused: Vec<(usize, Refused)> = Vec::new();
    for (i, q) in quotes.iter().enumerate() {
        // Steps on the out-of-the-money side: up for calls, down for puts.
        let otm = match q.contract.kind {
            OptionType::CE => q.steps_from_atm,
            OptionType::PE => -q.steps_from_atm,
        };
        if q.steps_from_atm.unsigned_abs() > sel.max_strikes_from_atm {
            continue;
        }
        if q.volume < sel.min_volume {
            refused.push((i, Refused::Volume));
            continue;
        }
        if q.oi < sel.min_oi {
            refused.push((i, Refused::Oi));
            continue;
        }
        let spread_pct = (q.ask - q.bid) / q.ltp * 100.0;
        if rules.max_spread_pct.is_some_and(|m| spread_pct > m) {
            refused.push((i, Refused::Spread(spread_pct)));
            continue;
        }
        if rules.min_premium.is_some_and(|m| q.ltp < m)
            || rules.max_premium.is_some_and(|m| q.ltp > m)
        {
            refused.push((i, Refused::Premium));
            continue;
        }
        let target = if sel.prefer_atm { 0 } else { 1 };
        let score = 100.0 - 15.0 * (otm - target).abs() as f64
            + 10.0 * (q.oi as f64 / (10.0 * sel.min_oi.max(1) as f64)).min(1.0)
            - spread_pct;
        let better = match best {
            None => true,
            Some((b, b_score)) => {
                let b = &quotes[b];
                score > b_score
                    || (score == b_score
                        && (q.steps_from_atm.abs(), q.contract.strike)
                            < (b.steps_from_atm.abs(), b.contract.strike))
            }
        };
        if better {
            best = Some((i, score));
        }
    }
    if let Some((i, score)) = best {
        return Ok(Selection {
            quote: quotes[i].clone(),
            score,
        });
    }
    if refused.is_empty() {
        return Err(format!(
            "no strike within {} steps of ATM",
            sel.max_strikes_from_atm
        ));
    }
    let why: Vec<String> = refused
        .iter()
        .map(|(i, r)| {
            let q = &quotes[*i];
            let name = &q.contract.tradingsymbol;
            match r {
                Refused::Volume => format!("{name} volume {} < {}", q.volume, sel.min_volume),
                Refused::Oi => format!("{name} OI {} < {}", q.oi, sel.min_oi),
                Refused::Spread(spread_pct) => format!(
                    "{name} spread {spread_pct:.2}% > {}%",
                    rules.max_spread_pct.unwrap_or_default()
                ),
                Refused::Premium => format!("{name} premium {} outside the premium range", q.ltp),
            }
        })
        .collect();
    Err(format!("no eligible strike: {}", why.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ChainSpec;
    use crate::config::UnderlyingSpec;
    use crate::logic::session::Session;
    use crate::options::chain::ChainModel;
    use chrono::Weekday;

    fn model() -> ChainModel {
        ChainModel {
            spec: ChainSpec {
                strikes_each_side: 10,
                atm_iv: 0.13,
                skew: -0.15,
                smile: 1.0,
                atm_volume: 250_000,
                atm_oi: 3_000_000,
                spread_pct: 0.5,
            },
            rate: 0.065,
            div_yield: 0.0,
            session: Session::nse(),
        }
    }
    fn sel() -> StrikeSelection {
        StrikeSelection {
            prefer_atm: true,
            max_strikes_from_atm: 3,
            min_volume: 100,
            min_oi: 1000,
            expiry_preference: ExpiryPreference::Weekly,
        }
    }
    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }
    const SPEC: UnderlyingSpec = UnderlyingSpec {
        lot_size: 65,
        strike_step: 50.0,
        tick_size: 0.05,
        weekly: true,
        freeze_qty: None,
    };

    #[test]
    fn buy_takes_the_atm_call_sell_the_atm_put() {
        let m = model();
        let cal = ExpiryCalendar::with(Weekday::Tue, []);
        let exp = d(2025, 12, 9);
        let now = m.expiry_ts(exp) - 4 * 86_400;
        let calls = m.chain(
            &cal,
            "NIFTY",
            &SPEC,
            exp,
            option_type(Action::Buy),
            24_020.0,
            now,
        );
        let s = select(&calls, &sel(), &Rules::default()).unwrap();
        assert_eq!(
            (s.quote.contract.strike, s.quote.contract.kind),
            (24_000.0, OptionType::CE)
        );
        assert_eq!(s.quote.contract.tradingsymbol, "NIFTY25D0924000CE");
        let puts = m.chain(
            &cal,
            "NIFTY",
            &SPEC,
            exp,
            option_type(Action::Sell),
            24_020.0,
            now,
        );
        let s = select(&puts, &sel(), &Rules::default()).unwrap();
        assert_eq!(
            (s.quote.contract.strike, s.quote.contract.kind),
            (24_000.0, OptionType::PE)
        );
        // Without prefer_atm, one strike out of the money.
        let s = select(
            &calls,
            &StrikeSelection {
                prefer_atm: false,
                ..sel()
            },
            &Rules::default(),
        )
        .unwrap();
        assert_eq!(s.quote.contract.strike, 24_050.0);
        let s = select(
            &puts,
            &StrikeSelection {
                prefer_atm: false,
                ..sel()
            },
            &Rules::default(),
        )
        .unwrap();
        assert_eq!(s.quote.contract.strike, 23_950.0);
    }

    #[test]
    fn liquidity_and_rules_filter_with_reasons() {
        let m = model();
        let cal = ExpiryCalendar::with(Weekday::Tue, []);
        let exp = d(2025, 12, 9);
        let now = m.expiry_ts(exp) - 4 * 86_400;
        let calls = m.chain(&cal, "NIFTY", &SPEC, exp, OptionType::CE, 24_000.0, now);
        let e = select(
            &calls,
            &StrikeSelection {
                min_oi: 10_000_000,
                ..sel()
            },
            &Rules::default(),
        )
        .unwrap_err();
        assert!(e.contains("OI") && e.contains("10000000"), "{e}");
        let rules = Rules {
            max_premium: Some(10.0),
            ..Default::default()
        };
        let e = select(&calls, &sel(), &rules).unwrap_err();
        assert!(e.contains("premium"), "{e}");
        let rules = Rules {
            max_spread_pct: Some(0.01),
            ..Default::default()
        };
        assert!(select(&calls, &sel(), &rules)
            .unwrap_err()
            .contains("spread"));
    }

    #[test]
    fn expiry_respects_cutoff_preference_and_range() {
        let m = model();
        let cal = ExpiryCalendar::with(Weekday::Tue, []);
        let ts = |e| m.expiry_ts(e);
        let r = Rules::default();
        // Monday 2025-12-08 10:00 IST: Tuesday's weekly is ~29.5 h away.
        let now = m.expiry_ts(d(2025, 12, 8)) - 5 * 3600 - 1800;
        assert_eq!(
            choose_expiry(
                &cal,
                d(2025, 12, 8),
                now,
                true,
                ExpiryPreference::Weekly,
                24.0,
                &r,
                ts
            ),
            Ok(d(2025, 12, 9))
        );
        // A 36 h cut-off skips it.
        assert_eq!(
            choose_expiry(
                &cal,
                d(2025, 12, 8),
                now,
                true,
                ExpiryPreference::Weekly,
                36.0,
                &r,
                ts
            ),
            Ok(d(2025, 12, 16))
        );
        // Monthly preference, or an underlying without weeklies.
        assert_eq!(
            choose_expiry(
                &cal,
                d(2025, 12, 8),
                now,
                true,
                ExpiryPreference::Monthly,
                24.0,
                &r,
                ts
            ),
            Ok(d(2025, 12, 30))
        );
        assert_eq!(
            choose_expiry(
                &cal,
                d(2025, 12, 8),
                now,
                false,
                ExpiryPreference::Weekly,
                24.0,
                &r,
                ts
            ),
            Ok(d(2025, 12, 30))
        );
        let r = Rules {
            min_days_to_expiry: Some(2.0),
            ..Default::default()
        };
        assert_eq!(
            choose_expiry(
                &cal,
                d(2025, 12, 8),
                now,
                true,
                ExpiryPreference::Weekly,
                24.0,
                &r,
                ts
            ),
            Ok(d(2025, 12, 16))
        );
        let r = Rules {
            max_days_to_expiry: Some(0.5),
            ..Default::default()
        };
        assert!(choose_expiry(
            &cal,
            d(2025, 12, 8),
            now,
            true,
            ExpiryPreference::Weekly,
            24.0,
            &r,
            ts
        )
        .is_err());
    }
}
