//! The costs of an NSE option trade as a contract note shows them: brokerage per executed
//! order, STT on the sell side's premium, the exchange's transaction charge and SEBI's
//! turnover fee on premium turnover, stamp duty on the buy side, and GST on brokerage plus
//! exchange charge plus SEBI fee. Plain functions over paise; the rates are data with
//! effective dates ([`Schedule`]), so a replay over 2023 pays 2023's rates.
//!
//! Rounding: every item is computed exactly from the premium in paise and rounded half up to
//! the paisa, as the broker's calculator shows it; GST is taken on the rounded items. The
//! contract note of the broker is the authority: its own rounding (for example of STT to the
//! rupee on some notes) can differ by a few paise. Exercise and assignment (STT on the
//! intrinsic value of an exercised option) are not modelled: the engine exits before expiry.

use std::sync::Arc;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The segment a rate applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    /// Index and stock options on NSE (the exchange charges them alike).
    Options,
}

/// The rates of one period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rates {
    /// Brokerage per executed order, rupees (flat).
    pub brokerage_per_order: f64,
    /// The broker's cap rule, when it has one: an order pays the lower of the flat fee and
    /// this percent of its premium ("₹20 or 2.5 %, whichever is lower"). Zerodha's options
    /// brokerage is flat, so the default has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brokerage_cap_pct: Option<f64>,
    /// STT on the sell side's premium, percent.
    pub stt_sell_pct: f64,
    /// Exchange transaction charge on premium turnover (both sides), percent.
    pub exchange_txn_pct: f64,
    /// SEBI turnover fee, rupees per crore of premium turnover.
    pub sebi_per_crore: f64,
    /// Stamp duty on the buy side's premium, percent.
    pub stamp_buy_pct: f64,
    /// GST on brokerage + exchange charge + SEBI fee, percent.
    pub gst_pct: f64,
}

/// Rates in force from a date (until the next entry of the same segment).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleEntry {
    pub from: NaiveDate,
    pub segment: Segment,
    pub rates: Rates,
}

/// `charges.schedule`: the rates by effective date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Schedule(pub Vec<ScheduleEntry>);

impl Default for Schedule {
    /// The published rates (sources in docs/commands.md, Charges): Zerodha's flat ₹20 per executed F&O order;
    /// STT on options sold 0.05 % → 0.0625 % from 1 Apr 2023 (Finance Act 2023) → 0.1 % from
    /// 1 Oct 2024; NSE's transaction charge 0.0495 % → 0.03503 % from 1 Oct 2024; SEBI ₹10 per
    /// crore; stamp duty 0.003 % of the buy side (uniform since 1 Jul 2020); GST 18 %. The
    /// first entry also prices dates before 1 Jul 2020 (older rates are not modelled).
    fn default() -> Self {
        let base = Rates {
            brokerage_per_order: 20.0,
            brokerage_cap_pct: None,
            stt_sell_pct: 0.05,
            exchange_txn_pct: 0.0495,
            sebi_per_crore: 10.0,
            stamp_buy_pct: 0.003,
            gst_pct: 18.0,
        };
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
        Schedule(vec![
            ScheduleEntry {
                from: d(2000, 1, 1),
                segment: Segment::Options,
                rates: base,
            },
            ScheduleEntry {
                from: d(2023, 4, 1),
                segment: Segment::Options,
                rates: Rates {
                    stt_sell_pct: 0.0625,
                    ..base
                },
            },
            ScheduleEntry {
                from: d(2024, 10, 1),
                segment: Segment::Options,
                rates: Rates {
                    stt_sell_pct: 0.1,
                    exchange_txn_pct: 0.03503,
                    ..base
                },
            },
        ])
    }
}

/// The largest value each rate may take (a typo such as 18 for a percent of 0.18 is caught
/// where it is obviously absurd).
const LIMITS: [(&str, f64); 6] = [
    ("brokerage_per_order", 1_000.0),
    ("stt_sell_pct", 5.0),
    ("exchange_txn_pct", 5.0),
    ("sebi_per_crore", 10_000.0),
    ("stamp_buy_pct", 5.0),
    ("gst_pct", 100.0),
];

impl Rates {
    fn fields(&self) -> [f64; 6] {
        [
            self.brokerage_per_order,
            self.stt_sell_pct,
            self.exchange_txn_pct,
            self.sebi_per_crore,
            self.stamp_buy_pct,
            self.gst_pct,
        ]
    }
}

impl Schedule {
    /// Checks the schedule; the first problem as (JSON path under `charges.schedule`, value,
    /// reason).
    pub fn validate(&self) -> Result<(), (String, String, String)> {
        if self.0.is_empty() {
            return Err((
                "charges.schedule".into(),
                "[]".into(),
                "must have at least one entry".into(),
            ));
        }
        for (i, e) in self.0.iter().enumerate() {
            if let Some(c) = e.rates.brokerage_cap_pct {
                if !(c.is_finite() && c > 0.0 && c <= 100.0) {
                    return Err((
                        format!("charges.schedule[{i}].rates.brokerage_cap_pct"),
                        c.to_string(),
                        "must be > 0 and at most 100 (or left out for a flat fee)".into(),
                    ));
                }
            }
            for ((name, max), v) in LIMITS.iter().zip(e.rates.fields()) {
                if !(v.is_finite() && v >= 0.0 && v <= *max) {
                    return Err((
                        format!("charges.schedule[{i}].rates.{name}"),
                        v.to_string(),
                        format!("must be from 0 to {max}"),
                    ));
                }
            }
            if let Some(j) = self.0[..i]
                .iter()
                .position(|p| p.segment == e.segment && p.from == e.from)
            {
                return Err((
                    format!("charges.schedule[{i}].from"),
                    e.from.to_string(),
                    format!("overlaps entry {j}: two rates from the same date for one segment"),
                ));
            }
        }
        Ok(())
    }

    /// The rates of `segment` in force on `date`: the latest entry from on or before it (the
    /// earliest entry for dates before every entry). `None` when the segment has no entry.
    pub fn rates_on(&self, date: NaiveDate, segment: Segment) -> Option<Rates> {
        let mut of: Vec<&ScheduleEntry> = self.0.iter().filter(|e| e.segment == segment).collect();
        of.sort_by_key(|e| e.from);
        of.iter()
            .rev()
            .find(|e| e.from <= date)
            .or(of.first())
            .map(|e| e.rates)
    }
}

/// One trade's executed orders and premium, both sides (paise; quantity × price).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Turnover {
    /// Premium bought, paise.
    pub buy_paise: i64,
    /// Premium sold, paise.
    pub sell_paise: i64,
    /// Executed orders (each slice or part-filled order counts once).
    pub orders: u32,
}

/// The charges of a trade, paise, as the contract note itemises them (the type positions
/// store).
pub use messages::Charges as Breakdown;

/// `base × pct / 100`, rounded half up to the paisa (`base` in paise, non-negative).
fn pct_of(base: i64, pct: f64) -> i64 {
    // Exact enough: premiums up to ₹10^13 keep f64 integral precision below a paisa.
    (base as f64 * pct / 100.0 + 1e-9).round() as i64
}

/// The charges of `t` at `r`.
pub fn charges(t: Turnover, r: &Rates) -> Breakdown {
    let (buy, sell) = (t.buy_paise.max(0), t.sell_paise.max(0));
    let turnover = buy + sell;
    let flat = (r.brokerage_per_order * 100.0).round() as i64;
    let per_order = match r.brokerage_cap_pct {
        Some(cap) if t.orders > 0 => flat.min(pct_of(turnover / i64::from(t.orders), cap)),
        _ => flat,
    };
    let brokerage = per_order * i64::from(t.orders);
    let stt = pct_of(sell, r.stt_sell_pct);
    let exchange_txn = pct_of(turnover, r.exchange_txn_pct);
    // ₹ per crore = paise per crore of paise: a fraction 1e-7 of turnover.
    let sebi = (turnover as f64 * r.sebi_per_crore / 1e7 + 1e-9).round() as i64;
    let stamp_duty = pct_of(buy, r.stamp_buy_pct);
    let gst = pct_of(brokerage + exchange_txn + sebi, r.gst_pct);
    Breakdown {
        brokerage,
        stt,
        exchange_txn,
        sebi,
        stamp_duty,
        gst,
        total: brokerage + stt + exchange_txn + sebi + stamp_duty + gst,
    }
}

/// What each fill of a position costs: the schedule, and the exchange's UTC offset that
/// turns a fill's time into its trade date (IST for NSE). Cheap to clone.
#[derive(Debug, Clone, PartialEq)]
pub struct Costs {
    schedule: Arc<Schedule>,
    offset_secs: i64,
}

impl Default for Costs {
    /// The default schedule, trade dates in IST.
    fn default() -> Self {
        Costs::new(Schedule::default(), 19_800)
    }
}

impl Costs {
    /// Fills priced by `schedule` on their trade date at UTC + `offset_secs`.
    pub fn new(schedule: Schedule, offset_secs: i64) -> Self {
        Costs {
            schedule: Arc::new(schedule),
            offset_secs,
        }
    }

    /// The trade date of epoch second `ts`.
    pub fn trade_date(&self, ts: i64) -> NaiveDate {
        chrono::DateTime::from_timestamp(ts + self.offset_secs, 0)
            .map(|d| d.date_naive())
            .unwrap_or_default()
    }

    /// The rates in force on the trade date of `ts` (`None` when the schedule has no options
    /// entry, which a validated schedule always has).
    pub fn rates_at(&self, ts: i64) -> Option<Rates> {
        self.schedule
            .rates_on(self.trade_date(ts), Segment::Options)
    }

    /// The charges of one executed order at `ts`: a buy (`side` > 0) or a sale of `value`
    /// paise of premium, at the rates of its trade date. `orders` is 1 for a new order and 0
    /// for another fill of an order already charged its brokerage.
    pub fn fill(&self, ts: i64, side: i8, value_paise: i64, orders: u32) -> Breakdown {
        let t = if side > 0 {
            Turnover {
                buy_paise: value_paise,
                sell_paise: 0,
                orders,
            }
        } else {
            Turnover {
                buy_paise: 0,
                sell_paise: value_paise,
                orders,
            }
        };
        self.rates_at(ts)
            .map(|r| charges(t, &r))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn round_trip(buy: f64, sell: f64, qty: i64) -> Turnover {
        Turnover {
            buy_paise: (buy * 100.0).round() as i64 * qty,
            sell_paise: (sell * 100.0).round() as i64 * qty,
            orders: 2,
        }
    }

    #[test]
    fn the_worked_example_at_october_2024_rates() {
        // Buy 750 at ₹100, sell 750 at ₹120 (premium ₹75,000 and ₹90,000).
        let r = Schedule::default()
            .rates_on(d(2024, 10, 1), Segment::Options)
            .unwrap();
        let b = charges(round_trip(100.0, 120.0, 750), &r);
        assert_eq!(
            b,
            Breakdown {
                brokerage: 4000,    // 2 orders × ₹20
                stt: 9000,          // 0.1 % of ₹90,000
                exchange_txn: 5780, // 0.03503 % of ₹1,65,000 = ₹57.7995
                sebi: 17,           // ₹10/crore of ₹1,65,000 = ₹0.165
                stamp_duty: 225,    // 0.003 % of ₹75,000
                gst: 1763,          // 18 % of ₹97.97 = ₹17.6346
                total: 20785,
            }
        );
    }

    #[test]
    fn a_2023_trade_pays_2023_rates() {
        let s = Schedule::default();
        let t = round_trip(100.0, 120.0, 750);
        let at = |y, m, day| charges(t, &s.rates_on(d(y, m, day), Segment::Options).unwrap());
        assert_eq!(at(2023, 3, 31).stt, 4500); // 0.05 %
        assert_eq!(at(2023, 4, 1).stt, 5625); // 0.0625 %
        assert_eq!(at(2024, 9, 30).exchange_txn, 8168); // 0.0495 % of ₹1,65,000 = ₹81.675
        assert_eq!(at(2024, 10, 1).stt, 9000);
        // Before every entry: the earliest.
        assert_eq!(at(1999, 1, 1), at(2020, 7, 1));
    }

    #[test]
    fn a_losing_buy_with_nothing_sold_pays_no_stt() {
        let r = Schedule::default()
            .rates_on(d(2025, 1, 6), Segment::Options)
            .unwrap();
        let b = charges(
            Turnover {
                buy_paise: 15_340 * 195,
                sell_paise: 0,
                orders: 1,
            },
            &r,
        );
        assert_eq!(b.stt, 0);
        assert_eq!(b.brokerage, 2000);
        assert_eq!(
            b.total,
            b.brokerage + b.stt + b.exchange_txn + b.sebi + b.stamp_duty + b.gst
        );
    }

    #[test]
    fn a_cap_rule_charges_the_lower_of_the_flat_fee_and_its_percent() {
        let r = Rates {
            brokerage_cap_pct: Some(2.5),
            ..Schedule::default().0[2].rates
        };
        // ₹750 of premium: 2.5 % is ₹18.75, under the flat ₹20.
        let small = Turnover {
            buy_paise: 1_000 * 75,
            sell_paise: 0,
            orders: 1,
        };
        assert_eq!(charges(small, &r).brokerage, 1875);
        // ₹75,000: the flat fee is lower.
        assert_eq!(charges(round_trip(100.0, 120.0, 750), &r).brokerage, 4000);
        // Another fill of an order already charged pays no brokerage.
        assert_eq!(charges(Turnover { orders: 0, ..small }, &r).brokerage, 0);
        let mut s = Schedule::default();
        s.0[0].rates.brokerage_cap_pct = Some(0.0);
        let (p, _, _) = s.validate().unwrap_err();
        assert_eq!(p, "charges.schedule[0].rates.brokerage_cap_pct");
    }

    #[test]
    fn bad_schedules_name_the_entry_and_field() {
        let mut s = Schedule::default();
        s.0[1].rates.stt_sell_pct = f64::NAN;
        let (p, _, r) = s.validate().unwrap_err();
        assert_eq!(p, "charges.schedule[1].rates.stt_sell_pct");
        assert!(r.contains("from 0 to 5"), "{r}");
        let mut s = Schedule::default();
        s.0[2].from = s.0[0].from;
        let (p, v, r) = s.validate().unwrap_err();
        assert_eq!(
            (p.as_str(), v.as_str()),
            ("charges.schedule[2].from", "2000-01-01")
        );
        assert!(r.contains("overlaps entry 0"), "{r}");
        assert!(Schedule(vec![]).validate().is_err());
        assert!(Schedule::default().validate().is_ok());
        let entry = |typo: bool| {
            let mut r = serde_json::json!({"brokerage_per_order": 20, "stt_sell_pct": 0.1,
                "exchange_txn_pct": 0.03503, "sebi_per_crore": 10, "stamp_buy_pct": 0.003,
                "gst_pct": 18});
            if typo {
                r["stt_pct"] = 0.1.into();
            }
            serde_json::json!([{"from": "2024-10-01", "segment": "options", "rates": r}])
        };
        let ok: Schedule = serde_json::from_value(entry(false)).unwrap();
        assert_eq!(ok.0[0].rates, Schedule::default().0[2].rates);
        assert!(serde_json::from_value::<Schedule>(entry(true)).is_err());
    }
}
