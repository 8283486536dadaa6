//! Broker history at start-up: which candles are closed, and which one is still forming.
//!
//! Kite's historical API returns the candle still in progress as its last candle. Stored as
//! closed, that partial candle would hide the rest of its interval (live updates for a closed
//! interval are discarded) and the strategy would judge it a whole interval late. So the last
//! candle whose interval has not ended by `now` is split off as the **running** candle: the
//! aggregator resumes it as the forming candle and merges the live ticks into it.
//!
//! Live volume is the change of the broker's cumulative day volume; [`day_volume`] is that
//! cumulative figure as of the history, so the first live tick's change continues the running
//! candle's volume instead of starting from zero.

use messages::Timeframe;

use super::session::Session;

/// The fields of a history candle that the split needs.
pub trait HistoryCandle {
    /// Open time of the candle (its interval's start), Unix seconds.
    fn open_time(&self) -> i64;
    /// Traded volume of the candle.
    fn traded(&self) -> f64;
}

impl HistoryCandle for messages::Candle {
    fn open_time(&self) -> i64 {
        self.ts
    }
    fn traded(&self) -> f64 {
        self.volume
    }
}

/// Splits `candles` (oldest first) at `now`: candles whose interval has ended stay in
/// `candles`; the last one, when its interval is still running, is returned. Candles opening
/// after `now` (a clock ahead of ours) are dropped and counted in the second value.
pub fn split_running<T: HistoryCandle>(
    candles: &mut Vec<T>,
    now: i64,
    session: &Session,
    tf: Timeframe,
) -> (Option<T>, usize) {
    let mut future = 0;
    while candles.last().is_some_and(|c| c.open_time() > now) {
        candles.pop();
        future += 1;
    }
    let running = candles
        .last()
        .is_some_and(|c| session.bucket(tf, c.open_time()).end > now);
    (if running { candles.pop() } else { None }, future)
}

/// The cumulative volume of the trading day of `now` as the history tells it: the sum over
/// `closed` and `running` of the candles opening on that day (for daily candles, the running
/// day's own volume). Non-finite or negative volumes count as zero.
pub fn day_volume<T: HistoryCandle>(
    closed: &[T],
    running: Option<&T>,
    now: i64,
    session: &Session,
) -> f64 {
    let day = session.day_start(now);
    closed
        .iter()
        .rev()
        .take_while(|c| c.open_time() >= day)
        .chain(running)
        .filter(|c| c.open_time() >= day)
        .map(|c| c.traded())
        .filter(|v| v.is_finite() && *v > 0.0)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, FixedOffset};
    use messages::{Candle, SymbolId};

    fn t(s: &str) -> i64 {
        DateTime::<FixedOffset>::parse_from_rfc3339(s)
            .unwrap()
            .timestamp()
    }

    fn c(ts: &str, volume: f64) -> Candle {
        Candle {
            symbol: SymbolId(0),
            ts: t(ts),
            open: 1.0,
            high: 1.0,
            low: 1.0,
            close: 1.0,
            volume,
        }
    }

    fn history() -> Vec<Candle> {
        vec![
            c("2025-12-01T15:15:00+05:30", 7.0),
            c("2025-12-02T09:15:00+05:30", 10.0),
            c("2025-12-02T09:30:00+05:30", 4.0),
        ]
    }

    #[test]
    fn the_candle_of_a_running_interval_is_split_off() {
        let s = Session::nse();
        let mut h = history();
        let (running, future) = split_running(
            &mut h,
            t("2025-12-02T09:40:00+05:30"),
            &s,
            Timeframe::Minute15,
        );
        assert_eq!(running.map(|c| c.ts), Some(t("2025-12-02T09:30:00+05:30")));
        assert_eq!((h.len(), future), (2, 0));
        assert_eq!(
            day_volume(&h, running.as_ref(), t("2025-12-02T09:40:00+05:30"), &s),
            14.0,
            "today's candles only"
        );
    }

    #[test]
    fn at_the_interval_end_the_last_candle_is_closed() {
        let s = Session::nse();
        let mut h = history();
        let now = t("2025-12-02T09:45:00+05:30");
        let (running, _) = split_running(&mut h, now, &s, Timeframe::Minute15);
        assert!(running.is_none());
        assert_eq!(h.len(), 3);
        assert_eq!(day_volume(&h, None, now, &s), 14.0);
        // The day's last candle ends at the session close, not 15 minutes after it opens.
        let mut h = vec![c("2025-12-02T15:15:00+05:30", 1.0)];
        let (running, _) = split_running(
            &mut h,
            t("2025-12-02T15:30:00+05:30"),
            &s,
            Timeframe::Minute15,
        );
        assert!(running.is_none());
    }

    #[test]
    fn candles_from_a_clock_ahead_of_ours_are_dropped() {
        let s = Session::nse();
        let mut h = history();
        let (running, future) = split_running(
            &mut h,
            t("2025-12-02T09:29:59+05:30"),
            &s,
            Timeframe::Minute15,
        );
        assert_eq!(future, 1);
        assert_eq!(running.map(|c| c.ts), Some(t("2025-12-02T09:15:00+05:30")));
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn daily_candles_run_until_the_close() {
        let s = Session::nse();
        let mut h = vec![
            c("2025-12-01T00:00:00+05:30", 5.0),
            c("2025-12-02T00:00:00+05:30", 3.0),
        ];
        let now = t("2025-12-02T11:00:00+05:30");
        let (running, _) = split_running(&mut h, now, &s, Timeframe::Day);
        assert_eq!(running.map(|c| c.volume), Some(3.0));
        assert_eq!(day_volume(&h, running.as_ref(), now, &s), 3.0);
    }

    #[test]
    fn an_empty_history_has_nothing_running() {
        let mut h: Vec<Candle> = Vec::new();
        let (running, future) = split_running(&mut h, 0, &Session::nse(), Timeframe::Minute5);
        assert!(running.is_none() && future == 0);
        assert_eq!(day_volume(&h, None, 0, &Session::nse()), 0.0);
    }

    /// The engine started at `start` on a day of ticks gives the same candles and signals as
    /// one that ran through it: the broker's history up to `start` (closed candles plus the
    /// running partial one, as Kite returns it) warms up, the running candle resumes as
    /// forming, and live volume continues from the history's day volume.
    mod started_mid_day {
        use super::*;
        use crate::logic::aggregator::Aggregator;
        use crate::logic::crossover::{Crossover, CrossoverParams};
        use messages::{Action, CandleEvent, CandleState, Tick};

        const P: CrossoverParams = CrossoverParams {
            fast: 9,
            slow: 21,
            min_periods: 30,
            stop_loss_pct: 1.0,
            target_multiplier: 2.0,
        };
        const TF: Timeframe = Timeframe::Minute15;

        /// Two rising days, then a rising morning that falls 4 % at 09:44:45 and keeps falling.
        fn ticks() -> Vec<Tick> {
            let mut out = Vec::new();
            let mut k = 0.0;
            for (day, until) in [
                ("2025-11-27", "15:30:00"),
                ("2025-11-28", "15:30:00"),
                ("2025-12-01", "10:15:00"),
            ] {
                let open = t(&format!("{day}T09:15:00+05:30"));
                let end = t(&format!("{day}T{until}+05:30"));
                let drop = t("2025-12-01T09:44:45+05:30");
                let mut ts = open;
                while ts < end {
                    k += 1.0;
                    let price = if ts < drop {
                        24_000.0 + 0.2 * k
                    } else {
                        0.96 * (24_000.0 + 0.2 * k) - 0.5 * ((ts - drop) / 15) as f64
                    };
                    out.push(Tick {
                        symbol: SymbolId(0),
                        ts,
                        price: (price * 20.0).round() / 20.0,
                        volume: 10.0 + (k as i64 % 7) as f64,
                    });
                    ts += 15;
                }
            }
            out
        }

        type Hit = (i64, Action, f64, i64);

        fn judge(det: &mut Crossover, e: &CandleEvent, hits: &mut Vec<Hit>) {
            let x = match e.state {
                CandleState::Closed => det.on_closed(&e.candle),
                CandleState::Forming => det.on_forming(&e.candle),
            };
            if let Some(x) = x {
                hits.push((x.candle_time, x.action, x.price, e.at));
            }
        }

        /// Closed candles and signals of an engine that ran from the first tick.
        fn from_the_open(ticks: &[Tick]) -> (Vec<Candle>, Vec<Hit>) {
            let mut agg = Aggregator::new(TF, Session::nse(), 1, true);
            let mut det = Crossover::new(P);
            let (mut closed, mut hits) = (Vec::new(), Vec::new());
            for tk in ticks {
                agg.push_tick(tk, &mut |e| {
                    if e.state == CandleState::Closed {
                        closed.push(e.candle);
                    }
                    judge(&mut det, &e, &mut hits);
                })
                .unwrap();
            }
            (closed, hits)
        }

        /// What Kite's history returns at `now`: every candle so far, the running one partial.
        fn kite_history(ticks: &[Tick], now: i64) -> Vec<Candle> {
            let mut agg = Aggregator::new(TF, Session::nse(), 1, false);
            let mut out = Vec::new();
            for tk in ticks.iter().take_while(|tk| tk.ts <= now) {
                agg.push_tick(tk, &mut |e| out.push(e.candle)).unwrap();
            }
            out.extend(agg.forming(SymbolId(0)));
            out
        }

        /// Closed candles and signals of an engine started at `start`.
        fn started_at(ticks: &[Tick], start: i64) -> (Vec<Candle>, Vec<Hit>) {
            let s = Session::nse();
            let mut history = kite_history(ticks, start);
            let (running, _) = split_running(&mut history, start, &s, TF);
            let mut last_cum = day_volume(&history, running.as_ref(), start, &s);
            let mut det = Crossover::new(P);
            for c in &history {
                det.warm(c);
            }
            let mut agg = Aggregator::new(TF, s, 1, true);
            let (mut closed, mut hits) = (Vec::new(), Vec::new());
            let mut on = |e: CandleEvent| {
                if e.state == CandleState::Closed {
                    closed.push(e.candle);
                }
                judge(&mut det, &e, &mut hits);
            };
            if let Some(r) = running {
                agg.resume_forming(&r, start, &mut on).unwrap();
            }
            // The broker's cumulative day volume, and the live tick's change of it.
            let day = s.day_start(start);
            let mut cum: f64 = ticks
                .iter()
                .filter(|tk| tk.ts >= day && tk.ts <= start)
                .map(|tk| tk.volume)
                .sum();
            for tk in ticks.iter().filter(|tk| tk.ts > start) {
                cum += tk.volume;
                let live = Tick {
                    volume: cum - last_cum,
                    ..*tk
                };
                last_cum = cum;
                agg.push_tick(&live, &mut on).unwrap();
            }
            (closed, hits)
        }

        #[test]
        fn starts_at_the_open_mid_candle_and_before_a_close_agree_with_a_full_run() {
            let ticks = ticks();
            let (all_closed, all_hits) = from_the_open(&ticks);
            let sell = (
                t("2025-12-01T09:30:00+05:30"),
                Action::Sell,
                t("2025-12-01T09:44:45+05:30"),
            );
            assert_eq!(
                all_hits.iter().map(|h| (h.0, h.1, h.3)).collect::<Vec<_>>(),
                vec![sell],
                "the scenario: one SELL while the 09:30 candle forms, at the drop"
            );
            for start in [
                "2025-12-01T09:15:00+05:30",
                "2025-12-01T09:37:30+05:30",
                "2025-12-01T09:44:40+05:30",
            ] {
                let s = t(start);
                let (closed, hits) = started_at(&ticks, s);
                let expect: Vec<Candle> = all_closed
                    .iter()
                    .filter(|c| Session::nse().bucket(TF, c.ts).end > s)
                    .copied()
                    .collect();
                assert_eq!(closed, expect, "candles of a start at {start}");
                assert_eq!(hits, all_hits, "signals of a start at {start}");
            }
        }

        #[test]
        fn a_start_after_the_cross_still_signals_it_in_the_same_candle() {
            let ticks = ticks();
            let (all_closed, all_hits) = from_the_open(&ticks);
            let s = t("2025-12-01T09:44:50+05:30");
            let (closed, hits) = started_at(&ticks, s);
            assert_eq!(closed, all_closed[all_closed.len() - closed.len()..]);
            assert_eq!(
                hits.iter().map(|h| (h.0, h.1)).collect::<Vec<_>>(),
                all_hits.iter().map(|h| (h.0, h.1)).collect::<Vec<_>>(),
                "same candle, same side: the same signal id"
            );
            assert_eq!(hits[0].3, s, "signalled at the start, not a candle late");
        }
    }
}
