//! One row of a replay file: its six fields read into a [`Bar`], or why the row is refused
//! (naming the field and value). Plain functions; the file-level rules (time order, jumps,
//! the session) are judged by [`stream`](super::stream).

use chrono::DateTime;
use messages::Bar;

use super::verdict::show_time;

/// The header a replay file must have.
pub const HEADER: [&str; 6] = ["timestamp", "open", "high", "low", "close", "volume"];

/// Earliest and latest accepted times: 2000-01-01 and 2200-01-01 (exclusive), UTC. (Long
/// synthetic benchmark files, a million 15-minute bars from 2024, reach the 2180s.)
pub const TIME_RANGE: (i64, i64) = (946_684_800, 7_258_118_400);

/// The largest accepted volume.
pub const MAX_VOLUME: f64 = 1e15;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
