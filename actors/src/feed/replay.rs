//! The replay file: a CSV with header `timestamp,open,high,low,close,volume`.
//!
//! Timestamps are RFC 3339 with an offset (`2024-01-02T09:15:00+05:30`, `…Z`), Kite's form
//! without the colon (`2017-12-15T09:15:00+0530`), or epoch seconds. A malformed row is an
//! error naming its line. Row order and plausibility are DataManager's to judge (it counts and
//! drops bad bars); this reader only parses.

use std::io::Read;
use std::path::Path;

use chrono::DateTime;
use messages::{Bar, Timeframe};

use crate::error::{Error, Result};

/// The header a replay file must have.
pub const HEADER: [&str; 6] = ["timestamp", "open", "high", "low", "close", "volume"];

/// A parsed replay file.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayData {
    pub bars: Vec<Bar>,
    /// The bar length: the smallest positive gap between consecutive bars (capped at a day).
    pub bar_secs: i64,
}

/// Parses a timestamp in any of the accepted forms into epoch seconds.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp());
    }
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z")
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%z"))
        .ok()
        .map(|t| t.timestamp())
}

/// Reads a replay file.
pub fn read_file(path: &Path) -> Result<ReplayData> {
    let file = std::fs::File::open(path).map_err(|source| Error::DataRead {
        path: path.to_path_buf(),
        source,
    })?;
    read(file, path)
}

/// Reads replay CSV from `r`; `path` names it in errors.
pub fn read(r: impl Read, path: &Path) -> Result<ReplayData> {
    let row_err = |line: u64, message: String| Error::DataRow {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(r);
    let header = rdr
        .byte_headers()
        .map_err(|e| row_err(1, format!("cannot read the header: {e}")))?
        .clone();
    let names: Vec<String> = header
        .iter()
        .map(|h| {
            String::from_utf8_lossy(h)
                .trim_start_matches('\u{feff}')
                .to_string()
        })
        .collect();
    if names != HEADER {
        return Err(row_err(
            1,
            format!(
                "header is {:?}, expected \"{}\"",
                names.join(","),
                HEADER.join(",")
            ),
        ));
    }
    let mut bars = Vec::new();
    let mut rec = csv::ByteRecord::new();
    loop {
        let more = rdr.read_byte_record(&mut rec).map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            row_err(line, format!("unreadable row: {e}"))
        })?;
        if !more {
            break;
        }
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        if rec.len() != 6 {
            return Err(row_err(
                line,
                format!("expected 6 fields, found {}", rec.len()),
            ));
        }
        let field = |i: usize| std::str::from_utf8(&rec[i]).unwrap_or("\u{fffd}");
        let ts = parse_timestamp(field(0)).ok_or_else(|| {
            row_err(
                line,
                format!(
                    "timestamp {:?} is not RFC 3339 with an offset or epoch seconds",
                    field(0)
                ),
            )
        })?;
        let mut v = [0f64; 5];
        for (k, slot) in v.iter_mut().enumerate() {
            let s = field(k + 1);
            *slot = s
                .parse::<f64>()
                .map_err(|_| row_err(line, format!("{} {s:?} is not a number", HEADER[k + 1])))?;
        }
        bars.push(Bar {
            ts,
            open: v[0],
            high: v[1],
            low: v[2],
            close: v[3],
            volume: v[4],
        });
    }
    let bar_secs = bars
        .windows(2)
        .take(5000)
        .map(|w| w[1].ts - w[0].ts)
        .filter(|d| *d > 0)
        .min()
        .unwrap_or(60)
        .min(86_400);
    Ok(ReplayData { bars, bar_secs })
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

    fn p() -> &'static Path {
        Path::new("t.csv")
    }

    #[test]
    fn parses_all_timestamp_forms() {
        let a = parse_timestamp("2017-12-15T09:15:00+0530").unwrap();
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

    #[test]
    fn coarse_bars_are_refused() {
        assert!(check_bar_size(900, Timeframe::Minute15).is_ok());
        assert!(check_bar_size(1800, Timeframe::Minute15).is_err());
    }
}
