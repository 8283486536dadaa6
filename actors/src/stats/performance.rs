//! The `strategy_performance` rows: per strategy instance and underlying, the trades, wins,
//! losses, total P&L, maximum drawdown, Sharpe ratio, win rate, average win and average loss
//! over a period. Money is summed in paise; rupees only at the end.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use messages::{Mode, StrategyPerformance};

/// One closed trade: who opened it, on what, when it closed (epoch seconds) and its P&L.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trade<'a> {
    pub strategy: &'a str,
    pub symbol: &'a str,
    pub exit: i64,
    pub pnl_paise: i64,
}

/// The period and the context of the rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Period {
    /// First and last trading day (IST dates), inclusive.
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// Seconds east of UTC of the session's time zone (IST: 19,800): a trade's day.
    pub offset: i64,
    /// Account capital, rupees: daily P&L as a return for the Sharpe ratio.
    pub capital: f64,
    pub mode: Mode,
    pub computed_at: DateTime<Utc>,
}

/// Trading days per year for annualizing.
const YEAR_DAYS: f64 = 252.0;

/// The rows of `trades` (in exit order; trades outside the period are counted too — the caller
/// chooses them), one per (strategy, symbol), sorted by strategy then symbol.
pub fn strategy_performance(trades: &[Trade<'_>], p: &Period) -> Vec<StrategyPerformance> {
    let mut groups: BTreeMap<(&str, &str), Vec<&Trade<'_>>> = BTreeMap::new();
    for t in trades {
        groups.entry((t.strategy, t.symbol)).or_default().push(t);
    }
    groups
        .into_iter()
        .map(|((strategy, symbol), ts)| row(strategy, symbol, &ts, p))
        .collect()
}

fn rupees(paise: i64) -> f64 {
    paise as f64 / 100.0
}

/// Mean in paise rounded to the paisa, as rupees (0 without values).
fn mean_rupees(sum: i64, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        rupees((sum as f64 / n as f64).round() as i64)
    }
}

fn row(strategy: &str, symbol: &str, trades: &[&Trade<'_>], p: &Period) -> StrategyPerformance {
    let (mut wins, mut losses, mut win_sum, mut loss_sum) = (0u64, 0u64, 0i64, 0i64);
    let (mut cum, mut peak, mut dd) = (0i64, 0i64, 0i64);
    let mut by_day: BTreeMap<NaiveDate, i64> = BTreeMap::new();
    for t in trades {
        if t.pnl_paise > 0 {
            wins += 1;
            win_sum += t.pnl_paise;
        } else if t.pnl_paise < 0 {
            losses += 1;
            loss_sum += t.pnl_paise;
        }
        cum += t.pnl_paise;
        peak = peak.max(cum);
        dd = dd.max(peak - cum);
        if let Some(d) = DateTime::from_timestamp(t.exit + p.offset, 0) {
            *by_day.entry(d.date_naive()).or_default() += t.pnl_paise;
        }
    }
    let n = trades.len() as u64;
    StrategyPerformance {
        strategy: strategy.to_string(),
        symbol: symbol.to_string(),
        mode: p.mode,
        period_start: p.start,
        period_end: p.end,
        total_trades: n,
        winning_trades: wins,
        losing_trades: losses,
        total_pnl: rupees(cum),
        max_drawdown: rupees(dd),
        sharpe_ratio: sharpe(&by_day, p),
        win_rate: if n == 0 {
            0.0
        } else {
            wins as f64 * 100.0 / n as f64
        },
        avg_win: mean_rupees(win_sum, wins),
        avg_loss: mean_rupees(loss_sum, losses),
        computed_at: p.computed_at,
    }
}

/// Annualized Sharpe ratio of the daily P&L over capital, every weekday of the period a
/// point (0 without a trade); `None` with fewer than two days, no variation or no capital.
fn sharpe(by_day: &BTreeMap<NaiveDate, i64>, p: &Period) -> Option<f64> {
    if !(p.capital.is_finite() && p.capital > 0.0) || p.end < p.start {
        return None;
    }
    let returns: Vec<f64> = p
        .start
        .iter_days()
        .take_while(|d| *d <= p.end)
        .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
        .map(|d| rupees(by_day.get(&d).copied().unwrap_or(0)) / p.capital)
        .collect();
    if returns.len() < 2 {
        return None;
    }
    let n = returns.len() as f64;
    let mean = returns.iter().sum::<f64>() / n;
    let var = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let sd = var.sqrt();
    (sd > 0.0 && sd.is_finite()).then(|| mean / sd * YEAR_DAYS.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const IST: i64 = 19_800;

    fn date(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 7, d).unwrap()
    }

    /// 15:00 IST on 2024-07-`d`, as epoch seconds.
    fn at(d: u32) -> i64 {
        Utc.with_ymd_and_hms(2024, 7, d, 9, 30, 0)
            .unwrap()
            .timestamp()
    }

    fn period(start: u32, end: u32) -> Period {
        Period {
            start: date(start),
            end: date(end),
            offset: IST,
            capital: 100_000.0,
            mode: Mode::Paper,
            computed_at: Utc.timestamp_opt(1_720_000_000, 0).unwrap(),
        }
    }

    fn t<'a>(strategy: &'a str, symbol: &'a str, day: u32, pnl_paise: i64) -> Trade<'a> {
        Trade {
            strategy,
            symbol,
            exit: at(day),
            pnl_paise,
        }
    }

    #[test]
    fn hand_worked_week_of_one_instance() {
        // Mon 1 .. Fri 5 July 2024: +1000.00, −400.00, (none), +250.50 then −100.25, −300.00.
        let trades = [
            t("a", "NIFTY", 1, 100_000),
            t("a", "NIFTY", 2, -40_000),
            t("a", "NIFTY", 4, 25_050),
            t("a", "NIFTY", 4, -10_025),
            t("a", "NIFTY", 5, -30_000),
        ];
        let rows = strategy_performance(&trades, &period(1, 5));
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(
            (r.total_trades, r.winning_trades, r.losing_trades),
            (5, 2, 3)
        );
        assert_eq!(r.total_pnl, 450.25);
        // Cumulative: 1000, 600, 850.50, 750.25, 450.25: peak 1000, lowest after it 450.25.
        assert_eq!(r.max_drawdown, 549.75);
        assert_eq!(r.win_rate, 40.0);
        assert_eq!(r.avg_win, 625.25); // (1000 + 250.50) / 2
        assert_eq!(r.avg_loss, -266.75); // (−400 − 100.25 − 300) / 3 = −266.75
                                         // Daily returns on ₹1,00,000: 0.01, −0.004, 0, 0.0015025, −0.003.
        let d = [0.01, -0.004, 0.0, 0.0015025, -0.003];
        let mean = d.iter().sum::<f64>() / 5.0;
        let sd = (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 4.0).sqrt();
        let want = mean / sd * 252f64.sqrt();
        assert!((r.sharpe_ratio.unwrap() - want).abs() < 1e-12);
        assert!((want - 2.5758).abs() < 1e-3, "{want}");
        assert_eq!((r.period_start, r.period_end), (date(1), date(5)));
    }

    #[test]
    fn one_row_per_instance_and_symbol_in_order() {
        let trades = [
            t("b", "NIFTY", 1, 100),
            t("a", "BANKNIFTY", 1, -100),
            t("a", "NIFTY", 2, 300),
            t("b", "NIFTY", 3, 0),
        ];
        let rows = strategy_performance(&trades, &period(1, 5));
        let keys: Vec<(&str, &str, u64)> = rows
            .iter()
            .map(|r| (r.strategy.as_str(), r.symbol.as_str(), r.total_trades))
            .collect();
        assert_eq!(
            keys,
            [("a", "BANKNIFTY", 1), ("a", "NIFTY", 1), ("b", "NIFTY", 2)]
        );
        // A trade at zero is neither a win nor a loss.
        assert_eq!((rows[2].winning_trades, rows[2].losing_trades), (1, 0));
        assert_eq!(rows[2].win_rate, 50.0);
    }

    #[test]
    fn edge_cases_give_numbers_not_nan() {
        // One day: no Sharpe. No losing trade: avg_loss 0 and no drawdown.
        let rows = strategy_performance(&[t("a", "NIFTY", 1, 500)], &period(1, 1));
        let r = &rows[0];
        assert_eq!(r.sharpe_ratio, None);
        assert_eq!((r.avg_loss, r.max_drawdown, r.win_rate), (0.0, 0.0, 100.0));
        // The same P&L every weekday: no variation, no Sharpe.
        let flat: Vec<Trade> = [1, 2, 3, 4, 5]
            .iter()
            .map(|d| t("a", "NIFTY", *d, 100))
            .collect();
        assert_eq!(
            strategy_performance(&flat, &period(1, 5))[0].sharpe_ratio,
            None
        );
        // Losses only: drawdown from the starting 0.
        let r = &strategy_performance(
            &[t("a", "NIFTY", 1, -250), t("a", "NIFTY", 2, -50)],
            &period(1, 5),
        )[0];
        assert_eq!((r.max_drawdown, r.avg_win, r.win_rate), (3.0, 0.0, 0.0));
        // Weekends are not days of the period: Sat 6 and Sun 7 add no zero returns.
        let a = strategy_performance(&[t("a", "X", 5, 100), t("a", "X", 8, -100)], &period(5, 8));
        let b = strategy_performance(&[t("a", "X", 5, 100), t("a", "X", 8, -100)], &period(5, 5));
        assert!(a[0].sharpe_ratio.is_some() && b[0].sharpe_ratio.is_none());
        assert!((a[0].sharpe_ratio.unwrap()).abs() < 1e-12);
        // No capital: no Sharpe; no trades: no rows.
        let mut p = period(1, 5);
        p.capital = 0.0;
        assert_eq!(strategy_performance(&flat, &p)[0].sharpe_ratio, None);
        assert!(strategy_performance(&[], &period(1, 5)).is_empty());
    }
}
