//! The trading calendar: which exchange days are open. A day trades when its weekday is one of
//! `market.trading_days` and it is not an exchange holiday. Holidays are data: the holiday
//! files of `market.holiday_files` (one per year, shipped from the exchange's circular and
//! updated by the user) plus `instruments.holidays`.
//!
//! A holiday file is CSV with the header `date,name`; lines starting with `#` are comments
//! (where the list came from). [`parse_holidays`] reads one; its errors name the line and the
//! field.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};

use super::session::Session;

/// One exchange holiday.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    pub date: NaiveDate,
    /// What it is (e.g. `Republic Day`); may be empty.
    pub name: String,
}

/// A bad holiday file: the line (1-based, the header is line 1 after any comments) and what is
/// wrong, naming the field and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolidayError {
    pub line: u64,
    pub message: String,
}

/// The years a holiday may fall in (anything else is a typo).
const YEARS: std::ops::RangeInclusive<i32> = 2000..=2100;

/// The most characters of a holiday's name.
const MAX_NAME_CHARS: usize = 200;

/// Parses a holiday file's text (see the module doc). Dates must be `YYYY-MM-DD`, each at most
/// once.
pub fn parse_holidays(text: &str) -> Result<Vec<Holiday>, HolidayError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    // The header's line: the first that is neither a comment nor empty.
    let header_line = text
        .lines()
        .position(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map_or(1, |i| i as u64 + 1);
    let headers = reader
        .headers()
        .map_err(|e| HolidayError {
            line: header_line,
            message: format!("bad header: {e}"),
        })?
        .clone();
    let want = ["date", "name"];
    if headers.iter().collect::<Vec<_>>() != want {
        return Err(HolidayError {
            line: header_line,
            message: format!(
                "the header is {:?}; expected \"date,name\"",
                headers.iter().collect::<Vec<_>>().join(",")
            ),
        });
    }
    let mut out: Vec<Holiday> = Vec::new();
    let mut seen: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| HolidayError {
            line: e.position().map_or(0, |p| p.line()),
            message: e.to_string(),
        })?;
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != 2 {
            return Err(HolidayError {
                line,
                message: format!(
                    "{} fields; expected 2 (date,name; quote a name holding a comma)",
                    record.len()
                ),
            });
        }
        let raw = record.get(0).unwrap_or("");
        let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .ok()
            .filter(|d| raw.len() == 10 && YEARS.contains(&d.year()))
            .ok_or_else(|| HolidayError {
                line,
                message: format!(
                    "date {raw:?} is not a date YYYY-MM-DD in {}..={}",
                    YEARS.start(),
                    YEARS.end()
                ),
            })?;
        let name = record.get(1).unwrap_or("").to_string();
        if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(HolidayError {
                line,
                message: format!(
                    "name of {date} is longer than {MAX_NAME_CHARS} characters or holds control characters"
                ),
            });
        }
        if let Some(first) = seen.insert(date, line) {
            return Err(HolidayError {
                line,
                message: format!("date {date} is listed twice (first at line {first})"),
            });
        }
        out.push(Holiday { date, name });
    }
    Ok(out)
}

/// Open and closed exchange days.
#[derive(Debug, Clone, PartialEq)]
pub struct TradingCalendar {
    /// Bit i set = weekday i (Mon = 0) trades.
    days: u8,
    /// Exchange-time offset from UTC, seconds.
    offset: i64,
    holidays: BTreeMap<NaiveDate, String>,
}

impl TradingCalendar {
    /// The session's weekdays minus `holidays`.
    pub fn new(session: &Session, holidays: impl IntoIterator<Item = Holiday>) -> Self {
        TradingCalendar {
            days: session.days,
            offset: session.offset,
            holidays: holidays.into_iter().map(|h| (h.date, h.name)).collect(),
        }
    }

    /// The same exchange time with every day open: what `--ignore-calendar` trades on (a
    /// special session on a holiday or a weekend).
    pub fn every_day(&self) -> Self {
        TradingCalendar {
            days: 0x7F,
            offset: self.offset,
            holidays: BTreeMap::new(),
        }
    }

    /// The exchange date of `ts` (Unix seconds).
    pub fn date_of(&self, ts: i64) -> NaiveDate {
        let days = (ts + self.offset).div_euclid(86_400);
        NaiveDate::from_num_days_from_ce_opt(719_163 + days as i32).unwrap_or_default()
    }

    /// Why `date` is closed, or `None` when it trades.
    pub fn closed_reason(&self, date: NaiveDate) -> Option<String> {
        let wd = date.weekday();
        if self.days & (1 << wd.num_days_from_monday()) == 0 {
            return Some(format!("{date} is a {wd:?}: not a trading weekday"));
        }
        self.holidays.get(&date).map(|name| {
            if name.is_empty() {
                format!("{date} is an exchange holiday")
            } else {
                format!("{date} is an exchange holiday ({name})")
            }
        })
    }

    /// True when `date` trades.
    pub fn is_open(&self, date: NaiveDate) -> bool {
        self.closed_reason(date).is_none()
    }

    /// Local midnight of `date` (exchange time), as Unix seconds.
    pub fn midnight(&self, date: NaiveDate) -> i64 {
        (i64::from(date.num_days_from_ce()) - 719_163) * 86_400 - self.offset
    }

    /// The first trading day strictly after `date` (within ten years; `date` itself if none).
    pub fn next_open(&self, date: NaiveDate) -> NaiveDate {
        let mut d = date;
        for _ in 0..3660 {
            match d.succ_opt() {
                Some(n) => d = n,
                None => return date,
            }
            if self.is_open(d) {
                return d;
            }
        }
        date
    }

    /// The last trading day strictly before `date` (within ten years; `date` itself if none).
    pub fn previous_open(&self, date: NaiveDate) -> NaiveDate {
        let mut d = date;
        for _ in 0..3660 {
            match d.pred_opt() {
                Some(p) => d = p,
                None => return date,
            }
            if self.is_open(d) {
                return d;
            }
        }
        date
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    const FILE: &str = "# NSE trading holidays 2026 (source: the exchange's circular)\n\
                        date,name\n\
                        2026-01-26,Republic Day\n\
                        # a comment between rows\n\
                        2026-03-03,\"Holi, the festival\"\n\
                        2026-12-25,\n";

    #[test]
    fn reads_dates_names_and_comments() {
        let h = parse_holidays(FILE).unwrap();
        assert_eq!(h.len(), 3);
        assert_eq!(h[0].date, d("2026-01-26"));
        assert_eq!(h[0].name, "Republic Day");
        assert_eq!(h[1].name, "Holi, the festival");
        assert_eq!(h[2].name, "");
    }

    #[test]
    fn errors_name_the_line_and_field() {
        let cases = [
            (
                "date,name\n2026-01-26,A\n2026-13-01,B\n",
                3,
                "date \"2026-13-01\"",
            ),
            ("date,name\n26-01-2026,A\n", 2, "date \"26-01-2026\""),
            ("date,name\n2026-1-5,A\n", 2, "date \"2026-1-5\""),
            ("date,name\n1850-01-01,A\n", 2, "date \"1850-01-01\""),
            (
                "date,name\n2026-01-26,A\n2026-01-26,B\n",
                3,
                "listed twice (first at line 2)",
            ),
            ("date,name\n2026-01-26,A,extra\n", 2, "3 fields"),
            ("when,what\n2026-01-26,A\n", 1, "expected \"date,name\""),
            ("# c\ndate\n2026-01-26\n", 2, "expected \"date,name\""),
        ];
        for (text, line, needle) in cases {
            let e = parse_holidays(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e:?}");
            assert!(e.message.contains(needle), "{text:?}: {e:?}");
        }
        // No panic on arbitrary bytes-as-text.
        assert!(parse_holidays("\u{0}\u{1}\n,,,\n").is_err());
        assert!(parse_holidays("").is_err());
    }

    #[test]
    fn the_calendar_closes_weekends_and_holidays() {
        let c = TradingCalendar::new(&Session::nse(), parse_holidays(FILE).unwrap());
        assert!(c.is_open(d("2026-01-27")));
        let r = c.closed_reason(d("2026-01-26")).unwrap();
        assert_eq!(r, "2026-01-26 is an exchange holiday (Republic Day)");
        let r = c.closed_reason(d("2026-01-24")).unwrap();
        assert!(r.contains("Sat"), "{r}");
        assert_eq!(
            c.closed_reason(d("2026-12-25")).unwrap(),
            "2026-12-25 is an exchange holiday"
        );
        // 10:00 IST on the 26th is 04:30 UTC; 23:00 UTC on the 25th is already the 26th in IST.
        let ts = chrono::DateTime::parse_from_rfc3339("2026-01-25T23:00:00Z")
            .unwrap()
            .timestamp();
        assert_eq!(c.date_of(ts), d("2026-01-26"));
        // Tuesday 2026-01-27 ← Friday the 23rd (Monday the 26th is a holiday).
        assert_eq!(c.previous_open(d("2026-01-27")), d("2026-01-23"));
        assert_eq!(c.next_open(d("2026-01-23")), d("2026-01-27"));
        assert_eq!(c.date_of(c.midnight(d("2026-01-26"))), d("2026-01-26"));
        assert_eq!(c.date_of(c.midnight(d("2026-01-26")) - 1), d("2026-01-25"));
        assert_eq!(c.midnight(d("2026-01-26")), ts - 16_200);
        // --ignore-calendar: the holiday and the weekend open, the exchange time kept.
        let all = c.every_day();
        assert!(all.is_open(d("2026-01-26")) && all.is_open(d("2026-01-24")));
        assert_eq!(all.previous_open(d("2026-01-27")), d("2026-01-26"));
        assert_eq!(all.date_of(ts), d("2026-01-26"));
    }
}
