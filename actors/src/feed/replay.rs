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

use chrono::DateTime;
use messages::{Bar, Timeframe};

use super::stream::{scan, BarStream};
use crate::error::{Error, Result};
use crate::logic::session::Session;

/// The header a replay file must have.
pub const HEADER: [&str; 6] = ["timestamp", "open", "high", "low", "close", "volume"];

/// A price more than this many times above or below the previous kept close is refused.
pub const MAX_JUMP: f64 = 10.0;

/// Earliest and latest accepted times: 2000-01-01 and 2200-01-01 (exclusive), UTC. (Long
/// synthetic benchmark files, a million 15-minute bars from 2024, reach the 2180s.)
pub const TIME_RANGE: (i64, i64) = (946_684_800, 7_258_118_400);

/// The largest accepted volume.
pub const MAX_VOLUME: f64 = 1e15;

/// What to do with a row that is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RowPolicy {
    /// The first refused row (by line) stops the read with its line, field and value.
    #[default]
    Strict,
    /// Refused rows are left out and reported in [`ReplayData::skipped`].
    Skip,
}

/// A refused row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRow {
    /// 1-based line of the file (the header is line 1).
    pub line: u64,
    /// Why, naming the field and value.
    pub reason: String,
}

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

/// How to read.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    pub policy: RowPolicy,
    /// Refuse rows outside this session (intraday bars: the time; daily bars: the day).
    pub session: Option<Session>,
}

/// Parses a timestamp in any of the accepted forms into epoch seconds.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(t) = rfc3339_plain(s.as_bytes()) {
        return Some(t);
    }
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

/// The common form `YYYY-MM-DDTHH:MM:SS` then `Z` or `±HH:MM`, read without chrono's general
/// parser (a sixth of the replay's parsing): `None` for anything else, which then goes to
/// chrono (a leap second, other separators, fractions, an invalid date).
fn rfc3339_plain(b: &[u8]) -> Option<i64> {
    if !(b.len() == 20 || b.len() == 25) {
        return None;
    }
    let num = |at: usize, n: usize| -> Option<i64> {
        b[at..at + n].iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let sep = |at: usize, c: u8| b[at] == c;
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let (y, m, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (h, mi, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let offset = match (b.len(), b[19]) {
        (20, b'Z') => 0,
        (25, sign @ (b'+' | b'-')) if sep(22, b':') => {
            let (oh, om) = (num(20, 2)?, num(23, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if sign == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&m) || d < 1 || d > month_days[(m - 1) as usize] {
        return None;
    }
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    // Days from 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    let (yy, mm) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + sec - offset)
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

/// `t` as RFC 3339 UTC for messages (the number when out of chrono's range).
pub(crate) fn show_time(t: i64) -> String {
    DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339())
        .unwrap_or_else(|| t.to_string())
}

/// `b` without the ASCII bytes `str::trim` takes as white space at either end (other
/// white space stays, and sends the field to the general readers).
fn trim_ascii(mut b: &[u8]) -> &[u8] {
    let white = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r');
    while let [first, rest @ ..] = b {
        if !white(first) {
            break;
        }
        b = rest;
    }
    while let [rest @ .., last] = b {
        if !white(last) {
            break;
        }
        b = rest;
    }
    b
}

/// Powers of ten that are exact in an `f64`.
const EXACT_POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// A plain decimal — digits with at most one `.`, at most 15 digits in all — as the `f64`
/// `str::parse` gives for it: the digits as an integer below 10^15 and the power of ten
/// are both exact, and one division of exact operands is correctly rounded, as `parse` is
/// (the classic fast path of decimal-to-binary conversion). `None` for anything else: a
/// sign, an exponent, more digits, no digit.
fn plain_decimal(b: &[u8]) -> Option<f64> {
    let (mut m, mut digits, mut frac, mut dot) = (0u64, 0usize, 0usize, false);
    for &c in b {
        match c {
            b'0'..=b'9' => {
                m = m * 10 + u64::from(c - b'0');
                digits += 1;
                frac += usize::from(dot);
                if digits > 15 {
                    return None;
                }
            }
            b'.' if !dot => dot = true,
            _ => return None,
        }
    }
    if digits == 0 {
        return None;
    }
    Some(m as f64 / EXACT_POW10[frac])
}

/// One parsed row, or why it is refused.
pub(crate) fn parse_row(rec: &csv::ByteRecord) -> std::result::Result<Bar, String> {
    let mut fields: [&[u8]; 6] = [&[]; 6];
    for (slot, f) in fields.iter_mut().zip(rec.iter()) {
        *slot = f;
    }
    parse_fields(&fields, rec.len())
}

/// [`parse_row`] of a row's first six fields (`found`: how many the row has).
///
/// The common forms are read straight from the bytes — an RFC 3339 time in its plain form, a
/// plain decimal number ([`plain_decimal`]) — and give exactly what the general readers give;
/// anything else goes through those (as text, trimmed).
pub(crate) fn parse_fields(fields: &[&[u8]; 6], found: usize) -> std::result::Result<Bar, String> {
    if found != 6 {
        return Err(format!("expected 6 fields, found {found}"));
    }
    let field = |i: usize| std::str::from_utf8(fields[i]).map_or("\u{fffd}", str::trim);
    let clip = |s: &str| -> String { s.chars().take(40).collect() };
    let ts = rfc3339_plain(trim_ascii(fields[0]))
        .or_else(|| parse_timestamp(field(0)))
        .ok_or_else(|| {
            format!(
                "timestamp {:?} is not RFC 3339 with an offset or epoch seconds",
                clip(field(0))
            )
        })?;
    if !(TIME_RANGE.0..TIME_RANGE.1).contains(&ts) {
        return Err(format!(
            "timestamp {:?} ({}) is outside the years 2000–2199",
            clip(field(0)),
            show_time(ts)
        ));
    }
    let mut v = [0f64; 5];
    for (k, slot) in v.iter_mut().enumerate() {
        *slot = match plain_decimal(trim_ascii(fields[k + 1])) {
            Some(x) => x,
            None => {
                let s = field(k + 1);
                s.parse::<f64>()
                    .map_err(|_| format!("{} {:?} is not a number", HEADER[k + 1], clip(s)))?
            }
        };
    }
    let (min, max) = (crate::config::MIN_PRICE, crate::config::MAX_PRICE);
    for (k, p) in v[..4].iter().enumerate() {
        if !(p.is_finite() && *p >= min && *p <= max) {
            return Err(format!(
                "{} {} is not a price (must be >= {min} and <= {max})",
                HEADER[k + 1],
                clip(field(k + 1))
            ));
        }
    }
    if !(v[4].is_finite() && v[4] >= 0.0 && v[4] <= MAX_VOLUME) {
        return Err(format!(
            "volume {} is not a volume (must be >= 0 and <= {MAX_VOLUME:e})",
            clip(field(5))
        ));
    }
    let (open, high, low, close) = (v[0], v[1], v[2], v[3]);
    if low > open.min(close) || high < open.max(close) {
        return Err(format!(
            "high {high} / low {low} do not contain open {open} and close {close}"
        ));
    }
    Ok(Bar {
        ts,
        open,
        high,
        low,
        close,
        volume: v[4],
    })
}

/// Indices (into `ts`) of a longest strictly increasing subsequence, in order: the rows that
/// keep the file in time order while refusing as few as possible. O(n log n).
pub(crate) fn longest_increasing(ts: &[i64]) -> Vec<usize> {
    // tails[k]: index of the smallest last time of an increasing run of length k + 1.
    let mut tails: Vec<usize> = Vec::new();
    let mut prev: Vec<Option<usize>> = vec![None; ts.len()];
    for i in 0..ts.len() {
        let k = tails.partition_point(|&j| ts[j] < ts[i]);
        prev[i] = k.checked_sub(1).map(|k| tails[k]);
        if k == tails.len() {
            tails.push(i);
        } else {
            tails[k] = i;
        }
    }
    let mut out = Vec::with_capacity(tails.len());
    let mut cur = tails.last().copied();
    while let Some(i) = cur {
        out.push(i);
        cur = prev[i];
    }
    out.reverse();
    out
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

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 4096, ..Default::default() })]
        /// The plain-form reader agrees with chrono on every string of its shape, valid or not.
        #[test]
        fn plain_rfc3339_agrees_with_chrono(
            y in 1990i64..2210, m in 0i64..14, d in 0i64..33, h in 0i64..25, mi in 0i64..61,
            sec in 0i64..61, zone in 0usize..3, oh in 0i64..25, om in 0i64..61,
        ) {
            let z = match zone {
                0 => "Z".to_string(),
                1 => format!("+{oh:02}:{om:02}"),
                _ => format!("-{oh:02}:{om:02}"),
            };
            let s = format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{sec:02}{z}");
            let chrono = DateTime::parse_from_rfc3339(&s).ok().map(|t| t.timestamp());
            let plain = rfc3339_plain(s.as_bytes());
            // The plain reader may pass a string on to chrono (leap second), never differ.
            proptest::prop_assert!(plain.is_none() || plain == chrono, "{s}: {plain:?} vs {chrono:?}");
            proptest::prop_assert_eq!(parse_timestamp(&s), chrono, "{}", s);
        }

        /// A plain decimal reads to the very bits `str::parse` gives; other text is left to it.
        #[test]
        fn plain_decimals_read_as_str_parse_reads_them(
            int in "[0-9]{0,16}", frac in proptest::option::of("[0-9]{0,16}"),
            other in "[0-9.eE+-]{0,12}",
        ) {
            let s = match &frac {
                Some(f) => format!("{int}.{f}"),
                None => int.clone(),
            };
            let want = s.parse::<f64>().ok().map(f64::to_bits);
            let got = plain_decimal(s.as_bytes()).map(f64::to_bits);
            let digits = int.len() + frac.as_ref().map_or(0, String::len);
            if (1..=15).contains(&digits) {
                proptest::prop_assert_eq!(got, want, "{}", s);
            } else {
                proptest::prop_assert_eq!(got, None, "{}", s);
            }
            if let Some(x) = plain_decimal(other.as_bytes()) {
                proptest::prop_assert_eq!(Some(x.to_bits()), other.parse::<f64>().ok().map(f64::to_bits), "{}", other);
            }
        }
    }
    use super::*;

    #[test]
    fn fields_read_alike_whatever_path_they_take() {
        let row = |f: [&str; 6]| {
            let b: [&[u8]; 6] = f.map(str::as_bytes);
            parse_fields(&b, 6)
        };
        let bar = row([
            " 2024-01-01T09:15:00+05:30\r",
            "\u{a0}100",
            "1.5e2",
            "\x0B99.5 ",
            "+100.25",
            "10.",
        ])
        .unwrap();
        assert_eq!(bar.ts, 1_704_080_700);
        assert_eq!(
            [bar.open, bar.high, bar.low, bar.close, bar.volume],
            [100.0, 150.0, 99.5, 100.25, 10.0]
        );
        let e = row(["1704080700", "1", "2", "0.5", "1", "0"]).unwrap();
        assert_eq!(e.ts, 1_704_080_700);
        let e = row(["1704080700", "1", "2", "0.5", "1.2.3", "1"]).unwrap_err();
        assert!(e.contains("close \"1.2.3\" is not a number"), "{e}");
    }

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
