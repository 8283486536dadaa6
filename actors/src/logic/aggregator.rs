//! Ticks and bars → candles of one timeframe, aligned to the session open.
//!
//! Per update the work is O(1) and allocation-free: the state per symbol is one forming candle
//! in a preallocated slot. A candle closes when data of a later bucket arrives, when a bar
//! reaches the bucket's end, or when the clock passes the end ([`Aggregator::advance`]).
//! Invalid input is rejected with a [`Reject`] reason and changes nothing.

use messages::{Bar, Candle, CandleEvent, CandleState, SymbolId, Tick, Timeframe};

use super::session::{Bucket, Session};

/// Why a tick or bar was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// A price or volume is NaN or infinite.
    NotFinite,
    /// A price is ≤ 0.
    NonPositive,
    /// Volume < 0.
    NegativeVolume,
    /// A bar whose high/low do not contain its open and close.
    Inconsistent,
    /// Older than (a bar: not newer than) the last accepted one of the symbol.
    OutOfOrder,
    /// Outside the session or on a non-trading day.
    OutsideSession,
    /// The symbol id is not in the table.
    UnknownSymbol,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The forming candle, when one is open.
    forming: Option<(Candle, Bucket)>,
    /// Time of the last accepted tick or bar.
    last_ts: i64,
}

/// Whether `ts` falls in `b`, a bucket of intraday timeframe `tf` made from a time in the
/// session: then `ts` is in the session too and its bucket is `b` (an intraday bucket lies
/// between one trading day's open and close). A day bucket starts at midnight, before the
/// open, so it never answers for the session.
#[inline]
pub fn in_intraday_bucket(tf: Timeframe, b: &Bucket, ts: i64) -> bool {
    tf != Timeframe::Day && ts >= b.start && ts < b.end
}

/// Candle aggregation for a fixed set of symbols.
#[derive(Debug, Clone)]
pub struct Aggregator {
    tf: Timeframe,
    session: Session,
    emit_forming: bool,
    slots: Vec<Slot>,
}

impl Aggregator {
    /// Aggregates into `tf` candles for `symbols` ids `0..symbols`. With `emit_forming`, every
    /// update of a forming candle is reported too (for `include_incomplete`).
    pub fn new(tf: Timeframe, session: Session, symbols: usize, emit_forming: bool) -> Self {
        Aggregator {
            tf,
            session,
            emit_forming,
            slots: vec![
                Slot {
                    forming: None,
                    last_ts: i64::MIN,
                };
                symbols
            ],
        }
    }

    /// The timeframe.
    pub fn timeframe(&self) -> Timeframe {
        self.tf
    }

    /// The forming candle of a symbol.
    pub fn forming(&self, symbol: SymbolId) -> Option<Candle> {
        self.slots
            .get(symbol.0 as usize)
            .and_then(|s| s.forming.map(|(c, _)| c))
    }

    /// Time of the last tick or bar accepted for a symbol, if any.
    pub fn last_ts(&self, symbol: SymbolId) -> Option<i64> {
        self.slots
            .get(symbol.0 as usize)
            .map(|s| s.last_ts)
            .filter(|&t| t != i64::MIN)
    }

    /// Adds a tick; candle events go to `out` in data order.
    #[inline]
    pub fn push_tick(&mut self, t: &Tick, out: &mut impl FnMut(CandleEvent)) -> Result<(), Reject> {
        if !t.price.is_finite() || !t.volume.is_finite() {
            return Err(Reject::NotFinite);
        }
        if t.price <= 0.0 {
            return Err(Reject::NonPositive);
        }
        if t.volume < 0.0 {
            return Err(Reject::NegativeVolume);
        }
        let session = self.session;
        let tf = self.tf;
        let emit_forming = self.emit_forming;
        let slot = self
            .slots
            .get_mut(t.symbol.0 as usize)
            .ok_or(Reject::UnknownSymbol)?;
        if t.ts < slot.last_ts {
            return Err(Reject::OutOfOrder);
        }
        // Most ticks fall in their symbol's forming candle: then the session and the bucket
        // need no working out (no division on the way).
        let bucket = match slot.forming {
            Some((_, b)) if in_intraday_bucket(tf, &b, t.ts) => b,
            _ => {
                if !session.contains(t.ts) {
                    return Err(Reject::OutsideSession);
                }
                session.bucket(tf, t.ts)
            }
        };
        slot.last_ts = t.ts;
        let candle = match &mut slot.forming {
            Some((c, b)) if b.start == bucket.start => {
                if t.price > c.high {
                    c.high = t.price;
                }
                if t.price < c.low {
                    c.low = t.price;
                }
                c.close = t.price;
                c.volume += t.volume;
                *c
            }
            other => {
                if let Some((c, b)) = other.take() {
                    out(closed(c, b));
                }
                let c = Candle {
                    symbol: t.symbol,
                    ts: bucket.start,
                    open: t.price,
                    high: t.price,
                    low: t.price,
                    close: t.price,
                    volume: t.volume,
                };
                *other = Some((c, bucket));
                c
            }
        };
        if emit_forming {
            out(CandleEvent {
                candle,
                state: CandleState::Forming,
                end_ts: bucket.end,
                at: t.ts,
            });
        }
        Ok(())
    }

    /// Adds a bar `bar_secs` long (its `ts` is its open time). A bar that reaches the end of
    /// its bucket closes the candle at once, so a bar at the timeframe is exactly one candle.
    #[inline]
    pub fn push_bar(
        &mut self,
        symbol: SymbolId,
        bar: &Bar,
        bar_secs: i64,
        out: &mut impl FnMut(CandleEvent),
    ) -> Result<(), Reject> {
        let (o, h, l, c) = (bar.open, bar.high, bar.low, bar.close);
        if !(o.is_finite()
            && h.is_finite()
            && l.is_finite()
            && c.is_finite()
            && bar.volume.is_finite())
        {
            return Err(Reject::NotFinite);
        }
        if o <= 0.0 || h <= 0.0 || l <= 0.0 || c <= 0.0 {
            return Err(Reject::NonPositive);
        }
        if bar.volume < 0.0 {
            return Err(Reject::NegativeVolume);
        }
        if h < o.max(c) || l > o.min(c) || l > h {
            return Err(Reject::Inconsistent);
        }
        let session = self.session;
        let tf = self.tf;
        let emit_forming = self.emit_forming;
        let slot = self
            .slots
            .get_mut(symbol.0 as usize)
            .ok_or(Reject::UnknownSymbol)?;
        if bar.ts <= slot.last_ts {
            return Err(Reject::OutOfOrder);
        }
        // Daily (or longer) bars are stamped at local midnight: only their day must trade.
        let in_session = if bar_secs >= 86_400 {
            session.is_trading_day(bar.ts)
        } else {
            session.contains(bar.ts)
        };
        if !in_session {
            return Err(Reject::OutsideSession);
        }
        slot.last_ts = bar.ts;
        let bucket = session.bucket(tf, bar.ts);
        let candle = match &mut slot.forming {
            Some((cd, b)) if b.start == bucket.start => {
                if h > cd.high {
                    cd.high = h;
                }
                if l < cd.low {
                    cd.low = l;
                }
                cd.close = c;
                cd.volume += bar.volume;
                *cd
            }
            other => {
                if let Some((cd, b)) = other.take() {
                    out(closed(cd, b));
                }
                let cd = Candle {
                    symbol,
                    ts: bucket.start,
                    open: o,
                    high: h,
                    low: l,
                    close: c,
                    volume: bar.volume,
                };
                *other = Some((cd, bucket));
                cd
            }
        };
        let bar_end = if bar_secs >= 86_400 {
            bucket.end
        } else {
            bar.ts + bar_secs
        };
        if bar_end >= bucket.end {
            slot.forming = None;
            out(closed(candle, bucket));
        } else if emit_forming {
            out(CandleEvent {
                candle,
                state: CandleState::Forming,
                end_ts: bucket.end,
                at: bar_end,
            });
        }
        Ok(())
    }

    /// Resumes a candle the broker reported while its interval was still running (see
    /// [`super::backfill`]): it becomes the symbol's forming candle and later ticks and bars
    /// merge into it. Reported at `at` as forming (with `emit_forming`), or as closed when its
    /// interval has ended by then. A forming candle of the same interval built from live data
    /// that arrived first is merged behind it. Invalid candles change nothing.
    pub fn resume_forming(
        &mut self,
        c: &Candle,
        at: i64,
        out: &mut impl FnMut(CandleEvent),
    ) -> Result<(), Reject> {
        let (o, h, l, cl) = (c.open, c.high, c.low, c.close);
        if !(o.is_finite()
            && h.is_finite()
            && l.is_finite()
            && cl.is_finite()
            && c.volume.is_finite())
        {
            return Err(Reject::NotFinite);
        }
        if o <= 0.0 || h <= 0.0 || l <= 0.0 || cl <= 0.0 {
            return Err(Reject::NonPositive);
        }
        if c.volume < 0.0 {
            return Err(Reject::NegativeVolume);
        }
        if h < o.max(cl) || l > o.min(cl) || l > h {
            return Err(Reject::Inconsistent);
        }
        let in_session = if self.tf == Timeframe::Day {
            self.session.is_trading_day(c.ts)
        } else {
            self.session.contains(c.ts)
        };
        if !in_session {
            return Err(Reject::OutsideSession);
        }
        let bucket = self.session.bucket(self.tf, c.ts);
        let emit_forming = self.emit_forming;
        let slot = self
            .slots
            .get_mut(c.symbol.0 as usize)
            .ok_or(Reject::UnknownSymbol)?;
        let mut candle = Candle {
            ts: bucket.start,
            ..*c
        };
        match slot.forming {
            Some((live, b)) if b.start == bucket.start => {
                // Live data of this interval came first: it is the later part of the candle.
                candle.high = candle.high.max(live.high);
                candle.low = candle.low.min(live.low);
                candle.close = live.close;
                candle.volume += live.volume;
            }
            _ if slot.last_ts >= bucket.end => return Err(Reject::OutOfOrder),
            Some((_, b)) if b.start > bucket.start => return Err(Reject::OutOfOrder),
            Some((old, b)) => {
                slot.forming = None;
                out(closed(old, b));
            }
            None => {}
        }
        slot.last_ts = slot.last_ts.max(bucket.start);
        if bucket.end <= at {
            slot.forming = None;
            out(closed(candle, bucket));
        } else {
            slot.forming = Some((candle, bucket));
            if emit_forming {
                out(CandleEvent {
                    candle,
                    state: CandleState::Forming,
                    end_ts: bucket.end,
                    at,
                });
            }
        }
        Ok(())
    }

    /// The clock reached `now`: closes every forming candle whose bucket ended by then.
    pub fn advance(&mut self, now: i64, out: &mut impl FnMut(CandleEvent)) {
        for slot in &mut self.slots {
            if let Some((c, b)) = slot.forming {
                if b.end <= now {
                    slot.forming = None;
                    out(closed(c, b));
                }
            }
        }
    }
}

#[inline]
fn closed(candle: Candle, b: Bucket) -> CandleEvent {
    CandleEvent {
        candle,
        state: CandleState::Closed,
        end_ts: b.end,
        at: b.end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, FixedOffset};

    fn t(s: &str) -> i64 {
        DateTime::<FixedOffset>::parse_from_rfc3339(s)
            .unwrap()
            .timestamp()
    }
    const S: SymbolId = SymbolId(0);

    fn tick(ts: &str, price: f64, volume: f64) -> Tick {
        Tick {
            symbol: S,
            ts: t(ts),
            price,
            volume,
        }
    }

    fn closed_of(evs: &[CandleEvent]) -> Vec<Candle> {
        evs.iter()
            .filter(|e| e.state == CandleState::Closed)
            .map(|e| e.candle)
            .collect()
    }

    #[test]
    fn ticks_make_15_minute_candles_from_the_open() {
        let mut a = Aggregator::new(Timeframe::Minute15, Session::nse(), 1, false);
        let mut evs = Vec::new();
        let mut out = |e| evs.push(e);
        a.push_tick(&tick("2024-01-02T09:15:00+05:30", 100.0, 1.0), &mut out)
            .unwrap();
        a.push_tick(&tick("2024-01-02T09:20:00+05:30", 103.0, 2.0), &mut out)
            .unwrap();
        a.push_tick(&tick("2024-01-02T09:29:59+05:30", 99.0, 3.0), &mut out)
            .unwrap();
        a.push_tick(&tick("2024-01-02T09:29:59+05:30", 101.0, 1.0), &mut out)
            .unwrap();
        // The next bucket's first tick closes the first candle.
        a.push_tick(&tick("2024-01-02T09:30:00+05:30", 102.0, 5.0), &mut out)
            .unwrap();
        let c = closed_of(&evs);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].ts, t("2024-01-02T09:15:00+05:30"));
        assert_eq!(
            (c[0].open, c[0].high, c[0].low, c[0].close, c[0].volume),
            (100.0, 103.0, 99.0, 101.0, 7.0)
        );
        assert_eq!(evs[0].end_ts, t("2024-01-02T09:30:00+05:30"));
        let f = a.forming(S).unwrap();
        assert_eq!(
            (f.ts, f.open, f.volume),
            (t("2024-01-02T09:30:00+05:30"), 102.0, 5.0)
        );
    }

    #[test]
    fn invalid_ticks_are_rejected_without_effect() {
        let mut a = Aggregator::new(Timeframe::Minute15, Session::nse(), 1, true);
        let mut n = 0;
        let mut out = |_| n += 1;
        a.push_tick(&tick("2024-01-02T10:00:00+05:30", 100.0, 1.0), &mut out)
            .unwrap();
        assert_eq!(
            a.push_tick(&tick("2024-01-02T10:01:00+05:30", f64::NAN, 1.0), &mut out),
            Err(Reject::NotFinite)
        );
        assert_eq!(
            a.push_tick(&tick("2024-01-02T10:01:00+05:30", 0.0, 1.0), &mut out),
            Err(Reject::NonPositive)
        );
        assert_eq!(
            a.push_tick(&tick("2024-01-02T10:01:00+05:30", 100.0, -1.0), &mut out),
            Err(Reject::NegativeVolume)
        );
        assert_eq!(
            a.push_tick(&tick("2024-01-02T09:59:00+05:30", 100.0, 1.0), &mut out),
            Err(Reject::OutOfOrder)
        );
        assert_eq!(
            a.push_tick(&tick("2024-01-02T15:30:00+05:30", 100.0, 1.0), &mut out),
            Err(Reject::OutsideSession)
        );
        assert_eq!(
            a.push_tick(&tick("2024-01-06T10:00:00+05:30", 100.0, 1.0), &mut out),
            Err(Reject::OutsideSession)
        );
        let bad_sym = Tick {
            symbol: SymbolId(9),
            ..tick("2024-01-02T10:02:00+05:30", 100.0, 1.0)
        };
        assert_eq!(a.push_tick(&bad_sym, &mut out), Err(Reject::UnknownSymbol));
        assert_eq!(n, 1);
        let f = a.forming(S).unwrap();
        assert_eq!((f.high, f.low, f.volume), (100.0, 100.0, 1.0));
    }

    #[test]
    fn bars_at_the_timeframe_are_one_candle_each() {
        let mut a = Aggregator::new(Timeframe::Minute15, Session::nse(), 1, true);
        let mut evs = Vec::new();
        let mut out = |e| evs.push(e);
        for (i, ts) in ["2024-01-02T09:15:00+05:30", "2024-01-02T09:30:00+05:30"]
            .iter()
            .enumerate()
        {
            let b = Bar {
                ts: t(ts),
                open: 10.0,
                high: 12.0 + i as f64,
                low: 9.0,
                close: 11.0,
                volume: 5.0,
            };
            a.push_bar(S, &b, 900, &mut out).unwrap();
        }
        assert_eq!(
            evs.len(),
            2,
            "no forming events: each bar completes its candle"
        );
        assert!(evs.iter().all(|e| e.state == CandleState::Closed));
        assert_eq!(evs[1].candle.high, 13.0);
        assert!(a.forming(S).is_none());
    }

    #[test]
    fn finer_bars_aggregate_and_close_at_the_bucket_end() {
        let mut a = Aggregator::new(Timeframe::Minute15, Session::nse(), 1, true);
        let mut evs = Vec::new();
        let mut out = |e| evs.push(e);
        let start = t("2024-01-02T15:15:00+05:30");
        for i in 0..3 {
            let b = Bar {
                ts: start + i * 300,
                open: 10.0 + i as f64,
                high: 20.0 - i as f64,
                low: 5.0 + i as f64,
                close: 11.0 + i as f64,
                volume: 1.0,
            };
            a.push_bar(S, &b, 300, &mut out).unwrap();
        }
        let c = closed_of(&evs);
        assert_eq!(c.len(), 1, "the last 5-minute bar reaches the 15:30 close");
        assert_eq!(
            (c[0].open, c[0].high, c[0].low, c[0].close, c[0].volume),
            (10.0, 20.0, 5.0, 13.0, 3.0)
        );
        assert_eq!(
            evs.iter()
                .filter(|e| e.state == CandleState::Forming)
                .count(),
            2
        );
    }

    #[test]
    fn gaps_start_a_new_bucket_and_advance_closes() {
        let mut a = Aggregator::new(Timeframe::Minute5, Session::nse(), 1, false);
        let mut evs = Vec::new();
        let mut out = |e| evs.push(e);
        a.push_tick(&tick("2024-01-02T09:16:00+05:30", 100.0, 1.0), &mut out)
            .unwrap();
        // No data 09:20–09:40: no empty candles are invented.
        a.push_tick(&tick("2024-01-02T09:41:00+05:30", 104.0, 1.0), &mut out)
            .unwrap();
        let c = closed_of(&evs);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].ts, t("2024-01-02T09:15:00+05:30"));
        a.advance(t("2024-01-02T09:44:59+05:30"), &mut |e| evs.push(e));
        assert_eq!(closed_of(&evs).len(), 1, "not yet ended");
        a.advance(t("2024-01-02T09:45:00+05:30"), &mut |e| evs.push(e));
        let c = closed_of(&evs);
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].ts, t("2024-01-02T09:40:00+05:30"));
    }

    #[test]
    fn bad_bars_are_rejected() {
        let mut a = Aggregator::new(Timeframe::Minute15, Session::nse(), 1, false);
        let mut out = |_| {};
        let ts = t("2024-01-02T09:15:00+05:30");
        let b = Bar {
            ts,
            open: 10.0,
            high: 9.0,
            low: 8.0,
            close: 9.5,
            volume: 1.0,
        };
        assert_eq!(a.push_bar(S, &b, 900, &mut out), Err(Reject::Inconsistent));
        let good = Bar { high: 11.0, ..b };
        a.push_bar(S, &good, 900, &mut out).unwrap();
        assert_eq!(a.push_bar(S, &good, 900, &mut out), Err(Reject::OutOfOrder));
    }

    fn candle(ts: &str, o: f64, h: f64, l: f64, c: f64, v: f64) -> Candle {
        Candle {
            symbol: S,
            ts: t(ts),
            open: o,
            high: h,
            low: l,
            close: c,
            volume: v,
        }
    }

    #[test]
    fn a_resumed_running_candle_takes_the_live_ticks_of_its_interval() {
        let mut a = Aggregator::new(Timeframe::Minute15, Session::nse(), 1, true);
        let mut evs = Vec::new();
        let running = candle("2024-01-02T09:30:00+05:30", 100.0, 104.0, 99.0, 101.0, 50.0);
        a.resume_forming(&running, t("2024-01-02T09:40:00+05:30"), &mut |e| {
            evs.push(e)
        })
        .unwrap();
        assert_eq!(evs.len(), 1);
        assert_eq!(
            evs[0].state,
            CandleState::Forming,
            "forming until it closes"
        );
        assert_eq!(evs[0].at, t("2024-01-02T09:40:00+05:30"));
        assert_eq!(evs[0].end_ts, t("2024-01-02T09:45:00+05:30"));
        let mut out = |e| evs.push(e);
        a.push_tick(&tick("2024-01-02T09:40:05+05:30", 97.0, 3.0), &mut out)
            .unwrap();
        a.push_tick(&tick("2024-01-02T09:44:00+05:30", 98.0, 2.0), &mut out)
            .unwrap();
        a.push_tick(&tick("2024-01-02T09:45:01+05:30", 98.5, 1.0), &mut out)
            .unwrap();
        let c = closed_of(&evs);
        assert_eq!(c.len(), 1);
        assert_eq!(
            (
                c[0].ts,
                c[0].open,
                c[0].high,
                c[0].low,
                c[0].close,
                c[0].volume
            ),
            (
                t("2024-01-02T09:30:00+05:30"),
                100.0,
                104.0,
                97.0,
                98.0,
                55.0
            )
        );
    }

    #[test]
    fn a_running_candle_whose_interval_ended_is_closed_at_once() {
        let mut a = Aggregator::new(Timeframe::Minute15, Session::nse(), 1, false);
        let mut evs = Vec::new();
        let c = candle("2024-01-02T09:30:00+05:30", 100.0, 104.0, 99.0, 101.0, 50.0);
        a.resume_forming(&c, t("2024-01-02T09:45:00+05:30"), &mut |e| evs.push(e))
            .unwrap();
        assert_eq!(closed_of(&evs), vec![c]);
        assert!(a.forming(S).is_none());
    }

    #[test]
    fn live_data_that_came_first_is_merged_behind_the_running_candle() {
        let mut a = Aggregator::new(Timeframe::Minute15, Session::nse(), 1, false);
        let mut out = |_| {};
        a.push_tick(&tick("2024-01-02T09:41:00+05:30", 96.0, 4.0), &mut out)
            .unwrap();
        let c = candle("2024-01-02T09:30:00+05:30", 100.0, 104.0, 99.0, 101.0, 50.0);
        a.resume_forming(&c, t("2024-01-02T09:41:00+05:30"), &mut out)
            .unwrap();
        let f = a.forming(S).unwrap();
        assert_eq!(
            (f.open, f.high, f.low, f.close, f.volume),
            (100.0, 104.0, 96.0, 96.0, 54.0)
        );
    }

    #[test]
    fn bad_or_stale_running_candles_change_nothing() {
        let mut a = Aggregator::new(Timeframe::Minute15, Session::nse(), 1, true);
        let n = std::cell::Cell::new(0);
        let mut out = |_| n.set(n.get() + 1);
        let at = t("2024-01-02T10:00:00+05:30");
        let good = candle("2024-01-02T09:45:00+05:30", 100.0, 104.0, 99.0, 101.0, 5.0);
        for (bad, why) in [
            (
                Candle {
                    high: f64::INFINITY,
                    ..good
                },
                Reject::NotFinite,
            ),
            (Candle { low: 0.0, ..good }, Reject::NonPositive),
            (
                Candle {
                    volume: -1.0,
                    ..good
                },
                Reject::NegativeVolume,
            ),
            (
                Candle {
                    high: 100.5,
                    ..good
                },
                Reject::Inconsistent,
            ),
            (
                Candle {
                    ts: t("2024-01-02T08:00:00+05:30"),
                    ..good
                },
                Reject::OutsideSession,
            ),
            (
                Candle {
                    symbol: SymbolId(3),
                    ..good
                },
                Reject::UnknownSymbol,
            ),
        ] {
            assert_eq!(a.resume_forming(&bad, at, &mut out), Err(why));
        }
        assert_eq!(n.get(), 0);
        assert!(a.forming(S).is_none());
        // Live data of a later interval already arrived: the history candle is too old.
        a.push_tick(&tick("2024-01-02T10:01:00+05:30", 96.0, 4.0), &mut out)
            .unwrap();
        assert_eq!(
            a.resume_forming(&good, at, &mut out),
            Err(Reject::OutOfOrder)
        );
    }

    proptest::proptest! {
        /// The tick fast path's premise: a time inside the forming candle's intraday bucket
        /// is in the session and has that bucket (for every timeframe, around the open, the
        /// close, nights and weekends); a day bucket never answers for the session.
        #[test]
        fn a_time_inside_an_intraday_bucket_is_in_the_session_with_that_bucket(
            day in 0i64..14,
            into_session in 0i64..22_500,
            later in 0i64..4 * 3_600,
            tf in proptest::sample::select(Timeframe::ALL.to_vec()),
        ) {
            let s = Session::nse();
            // A time in the session of a day from 2024-01-01 (a Monday) on.
            let first = s.open_of(t("2024-01-01T12:00:00+05:30") + day * 86_400) + into_session;
            proptest::prop_assume!(s.contains(first));
            let b = s.bucket(tf, first);
            let ts = first + later;
            if in_intraday_bucket(tf, &b, ts) {
                proptest::prop_assert!(s.contains(ts));
                proptest::prop_assert_eq!(s.bucket(tf, ts), b);
            }
            proptest::prop_assert_eq!(
                in_intraday_bucket(tf, &b, ts),
                tf != Timeframe::Day && ts < b.end
            );
        }
    }
}
