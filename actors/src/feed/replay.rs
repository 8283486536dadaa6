//! The replay file: a CSV with header `timestamp,open,high,low,close,volume`.
//!
//! Timestamps are RFC 3339 with an offset (`2024-01-02T09:15:00+05:30`, `…Z`), Kite's form
//! without the colon (`2017-12-15T09:15:00+0530`), or epoch seconds.
//!
//! Every row is judged here, before any of it reaches the engine, so that one poisoned row
//! cannot wreck what follows: a row is refused when a field does not parse, a price is not
//! finite or outside [`MIN_PRICE`](crate::config::MIN_PRICE) ..=
//! [`MAX_PRICE`](crate::config::MAX_PRICE), the volume is negative, the
//! high/low do not contain open and close, the time is outside 2000–2199 or outside the
//! session (when one is given), or a price is more than [`MAX_JUMP`]× away from the previous
//! kept row's close. Time order is judged over the whole file: the rows kept are the longest
//! strictly increasing run of times, so a single row dated 9999 (or 2030) is the one refused,
//! not every row after it.
//!
//! [`RowPolicy::Strict`] (the default) makes any refused row an error naming its line, field
//! and value; [`RowPolicy::Skip`] keeps the good rows and reports every refused one.

use std::io::Read;
use std::path::Path;

use messages::{Bar, Timeframe};

pub use super::fields::{parse_timestamp, HEADER, MAX_VOLUME, TIME_RANGE};
use super::stream::{scan, BarStream};
pub use super::verdict::{ReadOptions, RowPolicy, SkippedRow, MAX_JUMP};
use crate::error::{Error, Result};

/// A parsed replay file.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayData {
    pub bars: Vec<Bar>,
    /// The bar length: the smallest positive gap between consecutive bars (capped at a day).
    pub bar_secs: i64,
    /// Data rows in the file (kept + skipped).
    pub rows: u64,
    /// Rows refused under [`RowPolicy::Skip`], in line order (always empty under `Strict`).
    pub skipped: Vec<SkippedRow>,
}

/// Reads a replay file strictly, without a session check (`data import`).
pub fn read_file(path: &Path) -> Result<ReplayData> {
    read_file_with(path, ReadOptions::default())
}

/// Reads a replay file with `opts`.
pub fn read_file_with(path: &Path, opts: ReadOptions) -> Result<ReplayData> {
    let file = std::fs::File::open(path).map_err(|source| Error::DataRead {
        path: path.to_path_buf(),
        source,
    })?;
    read_with(file, path, opts)
}

/// Reads replay CSV from `r` strictly; `path` names it in errors.
pub fn read(r: impl Read, path: &Path) -> Result<ReplayData> {
    read_with(r, path, ReadOptions::default())
}

/// Reads replay CSV from `r` under `opts`; `path` names it in errors. The whole file in
/// memory: a replay streams it instead ([`super::stream`]), with the same verdicts.
pub fn read_with(mut r: impl Read, path: &Path, opts: ReadOptions) -> Result<ReplayData> {
    let mut bytes = Vec::new();
    r.read_to_end(&mut bytes)
        .map_err(|source| Error::DataRead {
            path: path.to_path_buf(),
            source,
        })?;
    let scan = scan(|| Ok(bytes.as_slice()), path, opts, usize::MAX)?;
    let mut s = BarStream::checked(bytes.as_slice(), path, &scan)?;
    let mut bars = Vec::with_capacity(usize::try_from(scan.counts.bars).unwrap_or(0));
    while let Some(b) = s.next_bar()? {
        bars.push(b);
    }
    Ok(ReplayData {
        bars,
        bar_secs: scan.bar_secs,
        rows: scan.counts.rows,
        skipped: scan.skipped,
    })
}

/// Checks that bars `bar_secs` long can build `tf` candles.
pub fn check_bar_size(bar_secs: i64, tf: Timeframe) -> std::result::Result<(), String> {
    if bar_secs > tf.seconds() {
        Err(format!(
            "bars are {bar_secs} s apart, coarser than the {tf} timeframe ({} s)",
            tf.seconds()
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::verdict::longest_increasing;
    use crate::logic::session::Session;

    fn p() -> &'static Path {
        Path::new("t.csv")
    }

    #[test]
    fn parses_all_timestamp_forms() {
        let a = parse_timestamp("2017-12-15T09:15:00+0530").unwrap();
        assert_eq!(
            parse_timestamp("2024-02-29T23:59:59-01:30"),
            Some(1_709_251_199 + 5400)
        );
        assert_eq!(parse_timestamp("2023-02-29T10:00:00Z"), None);
        let b = parse_timestamp("2017-12-15T09:15:00+05:30").unwrap();
        let c = parse_timestamp("2017-12-15T03:45:00Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert_eq!(parse_timestamp(&a.to_string()), Some(a));
        assert_eq!(
            parse_timestamp("2017-12-15 09:15:00"),
            None,
            "no offset: ambiguous"
        );
    }

    #[test]
    fn reads_bars_and_infers_their_length() {
        let csv = "timestamp,open,high,low,close,volume\n\
                   2024-01-02T09:15:00+05:30,1,2,0.5,1.5,10\n\
                   2024-01-02T09:20:00+05:30,1.5,2,1,1.8,0\n";
        let d = read(csv.as_bytes(), p()).unwrap();
        assert_eq!(d.bars.len(), 2);
        assert_eq!(d.bar_secs, 300);
        assert_eq!(d.bars[1].close, 1.8);
    }

    #[test]
    fn bad_rows_name_their_line() {
        let csv = "timestamp,open,high,low,close,volume\n\
                   2024-01-02T09:15:00+05:30,1,2,0.5,1.5,10\n\
                   2024-01-02T09:20:00+05:30,1.5,abc,1,1.8,0\n";
        let e = read(csv.as_bytes(), p()).unwrap_err().to_string();
        assert!(
            e.contains("line 3") && e.contains("high") && e.contains("abc"),
            "{e}"
        );
        let csv = "timestamp,open,high,low,close,volume\nyesterday,1,1,1,1,1\n";
        let e = read(csv.as_bytes(), p()).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("yesterday"), "{e}");
        let csv = "time,open,high,low,close,volume\n";
        let e = read(csv.as_bytes(), p()).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("header"), "{e}");
        let csv = "timestamp,open,high,low,close,volume\n1700000000,1,1,1\n";
        let e = read(csv.as_bytes(), p()).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
    }

    /// A clean file of `n` 15-minute NSE bars from 2024-01-02 09:15 IST, closes 100, 101, ….
    fn clean(n: usize) -> Vec<String> {
        let t0 = parse_timestamp("2024-01-02T09:15:00+05:30").unwrap();
        let s = Session::nse();
        let mut t = t0;
        let mut out = Vec::new();
        while out.len() < n {
            if s.contains(t) {
                let c = 100.0 + out.len() as f64;
                out.push(format!("{t},{c},{},{},{c},10", c + 1.0, c - 1.0));
            }
            t += 900;
        }
        out
    }

    fn csv(rows: &[String]) -> String {
        format!(
            "timestamp,open,high,low,close,volume\n{}\n",
            rows.join("\n")
        )
    }

    fn opts(policy: RowPolicy) -> ReadOptions {
        ReadOptions {
            policy,
            session: Some(Session::nse()),
        }
    }

    #[test]
    fn an_absurd_price_is_refused_with_its_line_field_and_value() {
        let mut rows = clean(50);
        rows[20] = rows[20].replacen(",120,", ",1e308,", 1);
        let e = read_with(csv(&rows).as_bytes(), p(), opts(RowPolicy::Strict))
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 22") && e.contains("open 1e308"), "{e}");
        let d = read_with(csv(&rows).as_bytes(), p(), opts(RowPolicy::Skip)).unwrap();
        assert_eq!((d.rows, d.bars.len(), d.skipped.len()), (50, 49, 1));
        assert_eq!(d.skipped[0].line, 22);
        assert!(d.bars.iter().all(|b| b.high < 1000.0));
    }

    #[test]
    fn one_row_dated_9999_or_2030_is_the_only_row_refused() {
        for bad in ["9999-01-01T09:15:00+05:30", "2030-01-01T09:15:00+05:30"] {
            let mut rows = clean(100);
            let tail = rows[10].split_once(',').unwrap().1.to_string();
            rows[10] = format!("{bad},{tail}");
            let e = read_with(csv(&rows).as_bytes(), p(), opts(RowPolicy::Strict))
                .unwrap_err()
                .to_string();
            assert!(e.contains("line 12"), "{bad}: {e}");
            let d = read_with(csv(&rows).as_bytes(), p(), opts(RowPolicy::Skip)).unwrap();
            assert_eq!(d.bars.len(), 99, "{bad}: only that row is left out");
            assert_eq!(d.skipped.len(), 1);
            assert_eq!(d.skipped[0].line, 12, "{:?}", d.skipped);
        }
    }

    #[test]
    fn order_session_and_jumps_are_judged() {
        let mut rows = clean(30);
        rows.swap(5, 6); // two rows swapped: one of them is out of order
        let d = read_with(csv(&rows).as_bytes(), p(), opts(RowPolicy::Skip)).unwrap();
        assert_eq!(d.skipped.len(), 1, "{:?}", d.skipped);
        assert!(d.skipped[0].reason.contains("time order"));
        assert!(d.bars.windows(2).all(|w| w[0].ts < w[1].ts));
        // A Saturday bar (2024-01-06) is outside the session.
        let sat = parse_timestamp("2024-01-06T10:00:00+05:30").unwrap();
        let mut rows = clean(3);
        rows.push(format!("{sat},103,104,102,103,1"));
        let e = read_with(csv(&rows).as_bytes(), p(), opts(RowPolicy::Strict))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 5") && e.contains("outside the trading session"),
            "{e}"
        );
        // Without a session (data import) it is kept.
        assert_eq!(read(csv(&rows).as_bytes(), p()).unwrap().bars.len(), 4);
        // A 100x spike is refused; the row after it is judged against the close before it.
        let mut rows = clean(10);
        rows[4] = rows[4].replace(",104,105,103,104,", ",104,10400,103,104,");
        let d = read_with(csv(&rows).as_bytes(), p(), opts(RowPolicy::Skip)).unwrap();
        assert_eq!(d.skipped.iter().map(|r| r.line).collect::<Vec<_>>(), [6]);
        assert_eq!(d.bars.len(), 9);
        // Negative volume, inconsistent high/low, a wrong field count.
        let mut rows = clean(5);
        rows[0] = format!("{},-1", rows[0].rsplit_once(',').unwrap().0);
        rows[1] = rows[1].replace(",102,100,", ",99,100,");
        rows[2] = "1704167100,1,1".into();
        let d = read_with(csv(&rows).as_bytes(), p(), opts(RowPolicy::Skip)).unwrap();
        let reasons: Vec<_> = d
            .skipped
            .iter()
            .map(|r| (r.line, r.reason.clone()))
            .collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(reasons[0].1.contains("volume -1"), "{reasons:?}");
        assert!(reasons[1].1.contains("do not contain"), "{reasons:?}");
        assert!(reasons[2].1.contains("6 fields"), "{reasons:?}");
    }

    #[test]
    fn longest_increasing_keeps_the_most_rows() {
        assert_eq!(longest_increasing(&[1, 2, 9999, 3, 4, 5]), [0, 1, 3, 4, 5]);
        assert_eq!(longest_increasing(&[5, 1, 2, 3]), [1, 2, 3]);
        assert_eq!(
            longest_increasing(&[1, 1, 2]).len(),
            2,
            "equal times: one is kept"
        );
        assert!(longest_increasing(&[]).is_empty());
    }

    #[test]
    fn coarse_bars_are_refused() {
        assert!(check_bar_size(900, Timeframe::Minute15).is_ok());
        assert!(check_bar_size(1800, Timeframe::Minute15).is_err());
    }
}
