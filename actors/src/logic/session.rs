//! Exchange-session arithmetic on epoch seconds: trading days, session bounds, and candle
//! buckets aligned to the session open (09:15 on NSE, so 15-minute candles start 09:15,
//! 09:30, … and 60-minute ones 09:15, 10:15, … with the last one cut at the close).

use chrono::Timelike;
use messages::Timeframe;

use crate::config::SessionSpec;

const DAY: i64 = 86_400;

/// A session in seconds, ready for per-tick arithmetic (no allocation, no time-zone lookups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// Exchange time minus UTC, seconds.
    pub offset: i64,
    /// Open, seconds after local midnight.
    pub open: i64,
    /// Close (exclusive), seconds after local midnight.
    pub close: i64,
    /// Bit i set = weekday i (Mon = 0) trades.
    pub days: u8,
}

/// The bucket a time falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Candle open time, epoch seconds.
    pub start: i64,
    /// Candle end, epoch seconds (cut at the session close).
    pub end: i64,
}

impl Session {
    /// From the parsed config.
    pub fn new(spec: &SessionSpec) -> Self {
        Session {
            offset: spec.offset.local_minus_utc() as i64,
            open: spec.open.num_seconds_from_midnight() as i64,
            close: spec.close.num_seconds_from_midnight() as i64,
            days: spec.days,
        }
    }

    /// NSE: 09:15–15:30 at +05:30, Monday to Friday.
    pub fn nse() -> Self {
        Session {
            offset: 19_800,
            open: 9 * 3600 + 15 * 60,
            close: 15 * 3600 + 30 * 60,
            days: 0b0001_1111,
        }
    }

    /// Local midnight (as epoch seconds) of the exchange day containing `ts`.
    #[inline]
    pub fn day_start(&self, ts: i64) -> i64 {
        (ts + self.offset).div_euclid(DAY) * DAY - self.offset
    }

    /// True when `ts` falls on a trading weekday.
    #[inline]
    pub fn is_trading_day(&self, ts: i64) -> bool {
        let days = (ts + self.offset).div_euclid(DAY);
        // 1970-01-01 was a Thursday (Mon = 0 → Thu = 3).
        let wd = (days + 3).rem_euclid(7);
        self.days & (1 << wd) != 0
    }

    /// True when `ts` is inside the session [open, close) of a trading day.
    #[inline]
    pub fn contains(&self, ts: i64) -> bool {
        let sod = (ts + self.offset).rem_euclid(DAY);
        sod >= self.open && sod < self.close && self.is_trading_day(ts)
    }

    /// Session open of the day containing `ts`, epoch seconds.
    #[inline]
    pub fn open_of(&self, ts: i64) -> i64 {
        self.day_start(ts) + self.open
    }

    /// Session close of the day containing `ts`, epoch seconds.
    #[inline]
    pub fn close_of(&self, ts: i64) -> i64 {
        self.day_start(ts) + self.close
    }

    /// The candle bucket of `tf` containing `ts` (which must be in the session).
    ///
    /// Intraday buckets start at the open plus whole multiples of the timeframe and end at the
    /// next multiple or the close, whichever is first. A day bucket starts at local midnight (as
    /// Kite stamps daily candles) and ends at the close.
    #[inline]
    pub fn bucket(&self, tf: Timeframe, ts: i64) -> Bucket {
        let day = self.day_start(ts);
        let close = day + self.close;
        if tf == Timeframe::Day {
            return Bucket {
                start: day,
                end: close,
            };
        }
        let open = day + self.open;
        let len = tf.seconds();
        let start = open + (ts - open).div_euclid(len) * len;
        Bucket {
            start,
            end: (start + len).min(close),
        }
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

    #[test]
    fn nse_session_bounds_and_days() {
        let s = Session::nse();
        assert!(s.contains(t("2024-01-02T09:15:00+05:30")));
        assert!(s.contains(t("2024-01-02T15:29:59+05:30")));
        assert!(!s.contains(t("2024-01-02T15:30:00+05:30")));
        assert!(!s.contains(t("2024-01-02T09:14:59+05:30")));
        // 2024-01-06 is a Saturday.
        assert!(!s.contains(t("2024-01-06T10:00:00+05:30")));
        assert!(s.is_trading_day(t("2024-01-05T10:00:00+05:30")));
    }

    #[test]
    fn buckets_align_to_the_open() {
        let s = Session::nse();
        let b = s.bucket(Timeframe::Minute15, t("2024-01-02T09:29:59+05:30"));
        assert_eq!(b.start, t("2024-01-02T09:15:00+05:30"));
        assert_eq!(b.end, t("2024-01-02T09:30:00+05:30"));
        let b = s.bucket(Timeframe::Minute60, t("2024-01-02T10:20:00+05:30"));
        assert_eq!(b.start, t("2024-01-02T10:15:00+05:30"));
        // The last hourly candle starts 15:15 and is cut at the 15:30 close.
        let b = s.bucket(Timeframe::Minute60, t("2024-01-02T15:20:00+05:30"));
        assert_eq!(b.start, t("2024-01-02T15:15:00+05:30"));
        assert_eq!(b.end, t("2024-01-02T15:30:00+05:30"));
        let b = s.bucket(Timeframe::Day, t("2024-01-02T11:00:00+05:30"));
        assert_eq!(b.start, t("2024-01-02T00:00:00+05:30"));
        assert_eq!(b.end, t("2024-01-02T15:30:00+05:30"));
    }
}
