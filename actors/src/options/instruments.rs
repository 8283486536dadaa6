//! Underlyings, option contracts, the expiry calendar and Kite trading symbols.
//!
//! Everything contract-specific (lot, strike step, tick, whether weekly expiries exist, the
//! expiry weekday, holidays) comes from config — later from Kite's instrument dump — never
//! from constants here.
//!
//! - Weekly expiries: every expiry weekday (NSE: Tuesday); monthly: the last one of the month.
//!   An expiry falling on a holiday or weekend moves to the previous trading day.
//! - Contracts expire at the session close (15:30 IST).
//! - Trading symbols: monthly `<NAME><YY><MON><STRIKE><CE|PE>` (`NIFTY25DEC24000CE`); weekly
//!   `<NAME><YY><M><DD><STRIKE><CE|PE>` with M = 1–9, O, N, D (`NIFTY25D0924000CE`). The month's
//!   last expiry always uses the monthly form.

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use messages::OptionType;

use crate::config::{Instruments, UnderlyingSpec};

/// The expiry calendar of the exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryCalendar {
    weekday: Weekday,
    holidays: BTreeSet<NaiveDate>,
}

impl ExpiryCalendar {
    /// From config (`expiry_weekday` is validated there; `Tue` on a bad value).
    pub fn new(ins: &Instruments) -> Self {
        ExpiryCalendar {
            weekday: ins.expiry_weekday.parse().unwrap_or(Weekday::Tue),
            holidays: ins.holidays.iter().copied().collect(),
        }
    }

    /// A calendar with the given weekday and holidays (tests, tools).
    pub fn with(weekday: Weekday, holidays: impl IntoIterator<Item = NaiveDate>) -> Self {
        ExpiryCalendar {
            weekday,
            holidays: holidays.into_iter().collect(),
        }
    }

    /// A weekday that is not a holiday.
    pub fn is_trading_day(&self, d: NaiveDate) -> bool {
        !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !self.holidays.contains(&d)
    }

    /// `d`, or the closest trading day before it.
    fn roll_back(&self, mut d: NaiveDate) -> NaiveDate {
        for _ in 0..10 {
            if self.is_trading_day(d) {
                return d;
            }
            d -= Duration::days(1);
        }
        d
    }

    /// The nominal expiry weekday on or after `d`.
    fn next_nominal(&self, d: NaiveDate) -> NaiveDate {
        let ahead = (7 + self.weekday.num_days_from_monday() as i64
            - d.weekday().num_days_from_monday() as i64)
            % 7;
        d + Duration::days(ahead)
    }

    /// The monthly expiry of `year`/`month`: its last expiry weekday, rolled back over holidays.
    pub fn monthly(&self, year: i32, month: u32) -> Option<NaiveDate> {
        let first_next = if month == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)?
        } else {
            NaiveDate::from_ymd_opt(year, month + 1, 1)?
        };
        let last = first_next - Duration::days(1);
        let back = (7 + last.weekday().num_days_from_monday() as i64
            - self.weekday.num_days_from_monday() as i64)
            % 7;
        Some(self.roll_back(last - Duration::days(back)))
    }

    /// True when `e` is its month's monthly expiry.
    pub fn is_monthly(&self, e: NaiveDate) -> bool {
        // A roll-back can move the last Tuesday into the previous week but never across months
        // except for a month starting on a holiday Tuesday: compare against both months.
        self.monthly(e.year(), e.month()) == Some(e)
    }

    /// The next `n` expiries on or after `from` (weekly ones when `weekly`, else monthly only).
    pub fn upcoming(&self, from: NaiveDate, weekly: bool, n: usize) -> Vec<NaiveDate> {
        let mut out = Vec::with_capacity(n);
        if weekly {
            let mut d = self.next_nominal(from);
            while out.len() < n {
                let e = self.roll_back(d);
                if e >= from && out.last() != Some(&e) {
                    out.push(e);
                }
                d += Duration::days(7);
            }
        } else {
            let (mut y, mut m) = (from.year(), from.month());
            while out.len() < n {
                if let Some(e) = self.monthly(y, m) {
                    if e >= from {
                        out.push(e);
                    }
                }
                if m == 12 {
                    y += 1;
                    m = 1;
                } else {
                    m += 1;
                }
            }
        }
        out
    }
}

/// One option contract.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionContract {
    pub underlying: String,
    pub expiry: NaiveDate,
    pub strike: f64,
    pub kind: OptionType,
    pub lot_size: u32,
    pub tick_size: f64,
    pub tradingsymbol: String,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

/// Kite's trading symbol of an option.
pub fn tradingsymbol(
    cal: &ExpiryCalendar,
    name: &str,
    expiry: NaiveDate,
    strike: f64,
    kind: OptionType,
) -> String {
    tradingsymbol_at(&tradingsymbol_prefix(cal, name, expiry), strike, kind)
}

/// The part of a trading symbol before the strike, the same for every strike of an expiry:
/// the name, the year, then the month (a monthly expiry) or the month's letter and the day.
pub fn tradingsymbol_prefix(cal: &ExpiryCalendar, name: &str, expiry: NaiveDate) -> String {
    let yy = expiry.year() % 100;
    if cal.is_monthly(expiry) {
        let mon = MONTHS[expiry.month0() as usize];
        format!("{name}{yy:02}{mon}")
    } else {
        let m = match expiry.month() {
            10 => 'O',
            11 => 'N',
            12 => 'D',
            m => char::from(b'0' + m as u8),
        };
        format!("{name}{yy:02}{m}{:02}", expiry.day())
    }
}

/// The trading symbol of `strike`/`kind` after its expiry's [`tradingsymbol_prefix`].
pub fn tradingsymbol_at(prefix: &str, strike: f64, kind: OptionType) -> String {
    let mut s = String::with_capacity(prefix.len() + 12);
    tradingsymbol_into(&mut s, prefix, strike, kind);
    s
}

/// [`tradingsymbol_at`] written over `s` (its buffer kept).
pub fn tradingsymbol_into(s: &mut String, prefix: &str, strike: f64, kind: OptionType) {
    use std::fmt::Write;
    s.clear();
    s.push_str(prefix);
    // Writing into a String cannot fail.
    let _ = if strike.fract() == 0.0 {
        write!(s, "{}", strike as i64)
    } else {
        write!(s, "{strike}")
    };
    s.push_str(match kind {
        OptionType::CE => "CE",
        OptionType::PE => "PE",
    });
}

/// [`contract_at`] written over `c`, its strings' buffers kept (a chain priced per signal into
/// one buffer allocates nothing once warm).
pub fn contract_into(
    c: &mut OptionContract,
    prefix: &str,
    name: &str,
    spec: &UnderlyingSpec,
    expiry: NaiveDate,
    strike: f64,
    kind: OptionType,
) {
    let (mut underlying, mut symbol) = (
        std::mem::take(&mut c.underlying),
        std::mem::take(&mut c.tradingsymbol),
    );
    underlying.clear();
    underlying.push_str(name);
    tradingsymbol_into(&mut symbol, prefix, strike, kind);
    *c = contract(underlying, symbol, spec, expiry, strike, kind);
}

/// The contract of `spec`'s underlying at `strike`/`expiry`, its symbol after `prefix`, the
/// expiry's [`tradingsymbol_prefix`] (worked out once for a whole chain).
pub fn contract_at(
    prefix: &str,
    name: &str,
    spec: &UnderlyingSpec,
    expiry: NaiveDate,
    strike: f64,
    kind: OptionType,
) -> OptionContract {
    let symbol = tradingsymbol_at(prefix, strike, kind);
    contract(name.to_string(), symbol, spec, expiry, strike, kind)
}

/// The one place a contract's fields are filled.
fn contract(
    underlying: String,
    tradingsymbol: String,
    spec: &UnderlyingSpec,
    expiry: NaiveDate,
    strike: f64,
    kind: OptionType,
) -> OptionContract {
    OptionContract {
        underlying,
        expiry,
        strike,
        kind,
        lot_size: spec.lot_size,
        tick_size: spec.tick_size,
        tradingsymbol,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn tuesday_expiries_weekly_and_monthly() {
        let cal = ExpiryCalendar::with(Weekday::Tue, []);
        assert_eq!(
            cal.upcoming(d(2025, 12, 3), true, 4),
            vec![
                d(2025, 12, 9),
                d(2025, 12, 16),
                d(2025, 12, 23),
                d(2025, 12, 30)
            ]
        );
        assert_eq!(cal.monthly(2025, 12), Some(d(2025, 12, 30)));
        assert_eq!(
            cal.upcoming(d(2025, 12, 31), false, 2),
            vec![d(2026, 1, 27), d(2026, 2, 24)]
        );
        // An expiry day itself is still upcoming.
        assert_eq!(cal.upcoming(d(2025, 12, 9), true, 1), vec![d(2025, 12, 9)]);
    }

    #[test]
    fn holidays_move_expiry_to_the_previous_trading_day() {
        // Suppose Tuesday 2025-12-30 were a holiday: the monthly expiry is Monday the 29th.
        let cal = ExpiryCalendar::with(Weekday::Tue, [d(2025, 12, 30)]);
        assert_eq!(cal.monthly(2025, 12), Some(d(2025, 12, 29)));
        assert_eq!(
            cal.upcoming(d(2025, 12, 24), true, 2),
            vec![d(2025, 12, 29), d(2026, 1, 6)]
        );
        assert!(cal.is_monthly(d(2025, 12, 29)));
    }

    #[test]
    fn kite_symbols() {
        let cal = ExpiryCalendar::with(Weekday::Tue, []);
        assert_eq!(
            tradingsymbol(&cal, "NIFTY", d(2025, 12, 30), 24000.0, OptionType::CE),
            "NIFTY25DEC24000CE"
        );
        assert_eq!(
            tradingsymbol(&cal, "NIFTY", d(2025, 12, 9), 24000.0, OptionType::CE),
            "NIFTY25D0924000CE"
        );
        assert_eq!(
            tradingsymbol(&cal, "NIFTY", d(2026, 1, 6), 23950.0, OptionType::PE),
            "NIFTY26106 23950PE".replace(' ', "")
        );
        assert_eq!(
            tradingsymbol(&cal, "BANKNIFTY", d(2025, 10, 14), 52000.0, OptionType::PE),
            "BANKNIFTY25O1452000PE"
        );
        assert_eq!(
            tradingsymbol(&cal, "RELIANCE", d(2025, 12, 30), 1512.5, OptionType::CE),
            "RELIANCE25DEC1512.5CE"
        );
    }
}
