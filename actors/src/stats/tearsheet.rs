//! The tearsheet of a run: trade statistics from the closed positions and risk statistics from
//! a daily equity series (one point per trading day of the run, days without trades included).
//! Plain functions over paise; rupees and ratios only in the result.
//!
//! Definitions:
//! - end-of-day equity = capital + the net P&L of the trades closed on or before that day;
//!   daily return = equity / the previous day's equity − 1 (the first day's against capital);
//! - Sharpe = mean(daily return − daily risk-free) / sample standard deviation × √252, the
//!   daily risk-free being the annual rate / 252;
//! - Sortino = mean(daily excess return) / √(mean(min(daily excess return, 0)²)) × √252;
//! - maximum drawdown on the daily equity from its running peak (starting at capital), in
//!   rupees and in percent of that peak; `max_drawdown_days` is the longest run of trading days
//!   spent below an earlier peak;
//! - CAGR over calendar days from the day before the first trading day to the last;
//!   Calmar = CAGR / |maximum drawdown %|;
//! - profit factor = the sum of net wins / |the sum of net losses|; expectancy = net P&L per
//!   trade; payoff ratio = average win / |average loss|;
//! - exposure = the share of trading days with a position held at some moment of the day.
//!
//! A ratio with no defined value (no losing trade, flat equity, a single day) is `None`.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// Trading days per year for annualizing.
const YEAR_DAYS: f64 = 252.0;

/// One closed position: entry and exit (epoch seconds), gross P&L and charges in paise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trade {
    pub entry: i64,
    pub exit: i64,
    pub gross_paise: i64,
    pub charges_paise: i64,
}

impl Trade {
    fn net(&self) -> i64 {
        self.gross_paise - self.charges_paise
    }
}

/// What the statistics are computed over.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// Closed positions in exit order.
    pub trades: &'a [Trade],
    /// The run's trading days (local dates), ascending, each once.
    pub days: &'a [NaiveDate],
    /// Starting capital, rupees (> 0).
    pub capital: f64,
    /// Seconds east of UTC of the session's time zone (IST: 19,800).
    pub offset: i64,
    /// Annual risk-free rate, percent.
    pub risk_free_pct: f64,
}

/// One point of `equity_daily.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DailyPoint {
    pub date: NaiveDate,
    /// End-of-day equity, rupees.
    pub equity: f64,
    /// Below the running peak, percent (0 at a peak).
    pub drawdown_pct: f64,
}

/// The statistics (field names are `report.json`'s contract; read back by the sweep).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tearsheet {
    pub trades: u64,
    pub wins: u64,
    pub losses: u64,
    pub win_rate_pct: f64,
    pub gross_pnl: f64,
    pub charges: f64,
    pub net_pnl: f64,
    pub profit_factor: Option<f64>,
    pub expectancy: f64,
    pub avg_win: f64,
    pub avg_loss: f64,
    pub payoff_ratio: Option<f64>,
    pub max_consecutive_wins: u64,
    pub max_consecutive_losses: u64,
    pub max_drawdown: f64,
    pub max_drawdown_pct: f64,
    pub max_drawdown_days: u64,
    pub cagr_pct: Option<f64>,
    pub sharpe: Option<f64>,
    pub sortino: Option<f64>,
    pub calmar: Option<f64>,
    pub exposure_pct: f64,
    pub trades_per_day: f64,
    /// Year → month → percent return of that month's end-of-month equity.
    #[serde(default)]
    pub monthly_returns_pct: BTreeMap<i32, BTreeMap<u32, f64>>,
}

fn rupees(p: i64) -> f64 {
    p as f64 / 100.0
}

fn date_of(ts: i64, offset: i64) -> Option<NaiveDate> {
    DateTime::from_timestamp(ts + offset, 0).map(|d| d.date_naive())
}

/// End-of-day equity in paise, one per trading day.
fn equity_paise(i: &Inputs<'_>) -> Vec<(NaiveDate, i64)> {
    let capital = (i.capital * 100.0).round() as i64;
    let mut k = 0;
    let mut cum = 0i64;
    i.days
        .iter()
        .map(|d| {
            while k < i.trades.len() && date_of(i.trades[k].exit, i.offset).is_some_and(|x| x <= *d)
            {
                cum += i.trades[k].net();
                k += 1;
            }
            (*d, capital + cum)
        })
        .collect()
}

/// The daily equity series with each day's drawdown from the running peak.
pub fn daily_equity(i: &Inputs<'_>) -> Vec<DailyPoint> {
    let mut peak = (i.capital * 100.0).round() as i64;
    equity_paise(i)
        .into_iter()
        .map(|(date, e)| {
            peak = peak.max(e);
            DailyPoint {
                date,
                equity: rupees(e),
                drawdown_pct: if peak > 0 {
                    (peak - e) as f64 * 100.0 / peak as f64
                } else {
                    0.0
                },
            }
        })
        .collect()
}

/// Trading days with a position held at some moment of the day: each trade marks the span of
/// days from its entry's to its exit's (a difference array, O(trades × log days + days)).
fn held_days(i: &Inputs<'_>) -> usize {
    let mut diff = vec![0i64; i.days.len() + 1];
    for x in i.trades {
        let (Some(a), Some(b)) = (date_of(x.entry, i.offset), date_of(x.exit, i.offset)) else {
            continue;
        };
        let from = i.days.partition_point(|d| *d < a);
        let to = i.days.partition_point(|d| *d <= b);
        if from < to {
            diff[from] += 1;
            diff[to] -= 1;
        }
    }
    let mut open = 0;
    diff[..i.days.len()]
        .iter()
        .filter(|d| {
            open += **d;
            open > 0
        })
        .count()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// The tearsheet of `i`.
pub fn tearsheet(i: &Inputs<'_>) -> Tearsheet {
    let t = i.trades;
    let n = t.len() as u64;
    let (mut wins, mut losses, mut win_sum, mut loss_sum) = (0u64, 0u64, 0i64, 0i64);
    let (mut run_w, mut run_l, mut max_w, mut max_l) = (0u64, 0u64, 0u64, 0u64);
    for x in t {
        let net = x.net();
        if net > 0 {
            wins += 1;
            win_sum += net;
            run_w += 1;
            run_l = 0;
        } else if net < 0 {
            losses += 1;
            loss_sum += net;
            run_l += 1;
            run_w = 0;
        } else {
            run_w = 0;
            run_l = 0;
        }
        max_w = max_w.max(run_w);
        max_l = max_l.max(run_l);
    }
    let gross: i64 = t.iter().map(|x| x.gross_paise).sum();
    let charges: i64 = t.iter().map(|x| x.charges_paise).sum();
    let net = gross - charges;
    let avg = |sum: i64, k: u64| if k == 0 { 0.0 } else { rupees(sum) / k as f64 };
    let (avg_win, avg_loss) = (avg(win_sum, wins), avg(loss_sum, losses));

    // The daily series.
    let capital = (i.capital * 100.0).round() as i64;
    let eq = equity_paise(i);
    let mut prev = capital;
    let rf = i.risk_free_pct / 100.0 / YEAR_DAYS;
    let excess: Vec<f64> = eq
        .iter()
        .map(|&(_, e)| {
            let r = if prev > 0 {
                e as f64 / prev as f64 - 1.0
            } else {
                0.0
            };
            prev = e;
            r - rf
        })
        .collect();
    let sharpe = (excess.len() >= 2)
        .then(|| {
            let m = mean(&excess);
            let var =
                excess.iter().map(|r| (r - m).powi(2)).sum::<f64>() / (excess.len() as f64 - 1.0);
            (var > 0.0).then(|| m / var.sqrt() * YEAR_DAYS.sqrt())
        })
        .flatten();
    let sortino = (excess.len() >= 2)
        .then(|| {
            let down = mean(
                &excess
                    .iter()
                    .map(|r| r.min(0.0).powi(2))
                    .collect::<Vec<_>>(),
            );
            (down > 0.0).then(|| mean(&excess) / down.sqrt() * YEAR_DAYS.sqrt())
        })
        .flatten();
    let (mut peak, mut dd, mut dd_pct, mut under, mut max_under) = (capital, 0i64, 0.0, 0u64, 0u64);
    for &(_, e) in &eq {
        if e >= peak {
            peak = e;
            under = 0;
        } else {
            under += 1;
        }
        max_under = max_under.max(under);
        if peak - e > dd {
            dd = peak - e;
        }
        if peak > 0 {
            dd_pct = f64::max(dd_pct, (peak - e) as f64 * 100.0 / peak as f64);
        }
    }
    let final_eq = eq.last().map_or(capital, |&(_, e)| e);
    let cagr_pct = match (i.days.first(), i.days.last()) {
        (Some(a), Some(b)) if capital > 0 && final_eq > 0 => {
            let years = ((*b - *a).num_days() + 1) as f64 / 365.0;
            Some(((final_eq as f64 / capital as f64).powf(1.0 / years) - 1.0) * 100.0)
        }
        _ => None,
    };
    let calmar = cagr_pct.and_then(|c| (dd_pct > 0.0).then(|| c / dd_pct));
    let held_days = held_days(i);
    let ndays = i.days.len();
    // Month-end equity against the previous month's end (capital before the first).
    let mut monthly: BTreeMap<i32, BTreeMap<u32, f64>> = BTreeMap::new();
    let mut month_start = capital;
    for (k, &(d, e)) in eq.iter().enumerate() {
        let last_of_month = eq
            .get(k + 1)
            .is_none_or(|&(n, _)| (n.year(), n.month()) != (d.year(), d.month()));
        if last_of_month {
            let r = if month_start > 0 {
                (e as f64 / month_start as f64 - 1.0) * 100.0
            } else {
                0.0
            };
            monthly.entry(d.year()).or_default().insert(d.month(), r);
            month_start = e;
        }
    }
    Tearsheet {
        trades: n,
        wins,
        losses,
        win_rate_pct: if n == 0 {
            0.0
        } else {
            wins as f64 * 100.0 / n as f64
        },
        gross_pnl: rupees(gross),
        charges: rupees(charges),
        net_pnl: rupees(net),
        profit_factor: (loss_sum < 0).then(|| win_sum as f64 / (-loss_sum) as f64),
        expectancy: if n == 0 { 0.0 } else { rupees(net) / n as f64 },
        avg_win,
        avg_loss,
        payoff_ratio: (losses > 0 && wins > 0).then(|| avg_win / avg_loss.abs()),
        max_consecutive_wins: max_w,
        max_consecutive_losses: max_l,
        max_drawdown: rupees(dd),
        max_drawdown_pct: dd_pct,
        max_drawdown_days: max_under,
        cagr_pct,
        sharpe,
        sortino,
        calmar,
        exposure_pct: if ndays == 0 {
            0.0
        } else {
            held_days as f64 * 100.0 / ndays as f64
        },
        trades_per_day: if ndays == 0 {
            0.0
        } else {
            n as f64 / ndays as f64
        },
        monthly_returns_pct: monthly,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    const IST: i64 = 19_800;

    fn day(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, m, d).unwrap()
    }

    /// 14:00 IST on 2024-m-d.
    fn at(m: u32, d: u32) -> i64 {
        Utc.with_ymd_and_hms(2024, m, d, 8, 30, 0)
            .unwrap()
            .timestamp()
    }

    fn trade(m: u32, d: u32, gross_rupees: i64, charges_rupees: i64) -> Trade {
        Trade {
            entry: at(m, d) - 3600,
            exit: at(m, d),
            gross_paise: gross_rupees * 100,
            charges_paise: charges_rupees * 100,
        }
    }

    fn inputs<'a>(trades: &'a [Trade], days: &'a [NaiveDate]) -> Inputs<'a> {
        Inputs {
            trades,
            days,
            capital: 100_000.0,
            offset: IST,
            risk_free_pct: 0.0,
        }
    }

    #[test]
    fn a_hand_worked_week() {
        // Mon–Fri 1–5 July 2024 on ₹1,00,000: +1,100 (−100 charges), −500, no trade, +2,050 (−50),
        // −1,000. Net: +1,000, −500, 0, +2,000, −1,000.
        let trades = [
            trade(7, 1, 1_100, 100),
            trade(7, 2, -450, 50),
            trade(7, 4, 2_050, 50),
            trade(7, 5, -950, 50),
        ];
        let days: Vec<NaiveDate> = (1..=5).map(|d| day(7, d)).collect();
        let i = inputs(&trades, &days);
        let s = tearsheet(&i);
        assert_eq!((s.trades, s.wins, s.losses), (4, 2, 2));
        assert_eq!(
            (s.gross_pnl, s.charges, s.net_pnl),
            (1_750.0, 250.0, 1_500.0)
        );
        assert_eq!(s.win_rate_pct, 50.0);
        assert_eq!(s.profit_factor, Some(3_000.0 / 1_500.0));
        assert_eq!(s.expectancy, 375.0);
        assert_eq!((s.avg_win, s.avg_loss), (1_500.0, -750.0));
        assert_eq!(s.payoff_ratio, Some(2.0));
        assert_eq!((s.max_consecutive_wins, s.max_consecutive_losses), (1, 1));
        // Equity: 101,000, 100,500, 100,500, 102,500, 101,500.
        let eq = daily_equity(&i);
        let e: Vec<f64> = eq.iter().map(|p| p.equity).collect();
        assert_eq!(e, [101_000.0, 100_500.0, 100_500.0, 102_500.0, 101_500.0]);
        // Drawdowns: 500 from 101,000 (0.495 %), then 1,000 from 102,500 (0.9756 %).
        assert_eq!(s.max_drawdown, 1_000.0);
        assert!((s.max_drawdown_pct - 100_000.0 / 102_500.0).abs() < 1e-9);
        assert_eq!(s.max_drawdown_days, 2, "2 and 3 July below the 1 July peak");
        assert!((eq[1].drawdown_pct - 50_000.0 / 101_000.0).abs() < 1e-9);
        // Daily returns and the ratios, from their definitions.
        let r = [
            0.01,
            100_500.0 / 101_000.0 - 1.0,
            0.0,
            102_500.0 / 100_500.0 - 1.0,
            101_500.0 / 102_500.0 - 1.0,
        ];
        let m = r.iter().sum::<f64>() / 5.0;
        let sd = (r.iter().map(|x| (x - m).powi(2)).sum::<f64>() / 4.0).sqrt();
        assert!((s.sharpe.unwrap() - m / sd * 252f64.sqrt()).abs() < 1e-12);
        let down = (r.iter().map(|x| x.min(0.0).powi(2)).sum::<f64>() / 5.0).sqrt();
        assert!((s.sortino.unwrap() - m / down * 252f64.sqrt()).abs() < 1e-12);
        // 5 calendar days: (1.015)^(365/5) − 1.
        let cagr = (1.015f64.powf(365.0 / 5.0) - 1.0) * 100.0;
        assert!((s.cagr_pct.unwrap() - cagr).abs() < 1e-9);
        assert!((s.calmar.unwrap() - cagr / s.max_drawdown_pct).abs() < 1e-9);
        assert_eq!(s.exposure_pct, 80.0, "no position on 3 July");
        assert_eq!(s.trades_per_day, 0.8);
        assert!((s.monthly_returns_pct[&2024][&7] - 1.5).abs() < 1e-9);
        // A position held from Monday to Wednesday covers all three days.
        let long = [Trade {
            entry: at(7, 1),
            exit: at(7, 3),
            gross_paise: 0,
            charges_paise: 0,
        }];
        assert_eq!(tearsheet(&inputs(&long, &days)).exposure_pct, 60.0);
    }

    #[test]
    fn months_chain_from_one_month_end_to_the_next() {
        let trades = [trade(7, 31, 1_000, 0), trade(8, 1, 2_020, 0)];
        let days = [day(7, 30), day(7, 31), day(8, 1)];
        let s = tearsheet(&inputs(&trades, &days));
        let m = &s.monthly_returns_pct[&2024];
        assert!((m[&7] - 1.0).abs() < 1e-9);
        assert!((m[&8] - 2.0).abs() < 1e-9, "2,020 on 1,01,000");
    }

    #[test]
    fn edge_cases_give_numbers_or_none_never_nan() {
        let days: Vec<NaiveDate> = (1..=5).map(|d| day(7, d)).collect();
        // No trades: flat equity.
        let s = tearsheet(&inputs(&[], &days));
        assert_eq!((s.trades, s.net_pnl, s.max_drawdown), (0, 0.0, 0.0));
        assert_eq!(
            (s.sharpe, s.sortino, s.profit_factor, s.calmar),
            (None, None, None, None)
        );
        assert_eq!(s.cagr_pct, Some(0.0));
        assert_eq!(
            (s.win_rate_pct, s.expectancy, s.exposure_pct),
            (0.0, 0.0, 0.0)
        );
        // No losing trade (and so no down day): no profit factor, payoff or Sortino.
        let wins = [trade(7, 1, 500, 0), trade(7, 3, 700, 0)];
        let s = tearsheet(&inputs(&wins, &days));
        assert_eq!(
            (s.profit_factor, s.payoff_ratio, s.sortino),
            (None, None, None)
        );
        assert!(s.sharpe.is_some());
        assert_eq!(
            (s.max_drawdown, s.max_drawdown_days, s.calmar),
            (0.0, 0, None)
        );
        // One day only: no Sharpe.
        let s = tearsheet(&inputs(&wins[..1], &days[..1]));
        assert_eq!(s.sharpe, None);
        for x in [
            s.win_rate_pct,
            s.max_drawdown_pct,
            s.exposure_pct,
            s.trades_per_day,
        ] {
            assert!(x.is_finite());
        }
        // No days at all.
        let s = tearsheet(&inputs(&[], &[]));
        assert_eq!((s.cagr_pct, s.trades_per_day), (None, 0.0));
        assert!(daily_equity(&inputs(&[], &[])).is_empty());
    }
}
