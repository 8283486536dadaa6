//! The NFO instrument dump kept current: refreshed every trading day before the open,
//! **atomically**, and shared with whoever trades from it.
//!
//! A refresh downloads the dump into a temporary file next to the cache, parses it back and
//! checks it ([`check_dump`]: rows present, every traded underlying's options listed, no
//! contract already expired); only then is it renamed over the cached file. A failed refresh
//! (an HTTP error, a truncated or empty dump, an underlying missing, yesterday's contracts)
//! leaves the cached file byte for byte as it was; the caller keeps trading from it and raises
//! an alarm.
//!
//! When: at `kite.instruments_refresh_at` (exchange time, before the open) of each trading
//! day ([`last_due`], [`next_due`] on the engine's clock and the trading calendar), and at
//! start when the cached file is older than the last such instant.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::NaiveDate;

use super::error::KiteError;
use super::instruments::{decompress_if_gzip, parse_instruments, Instrument};
use crate::logic::calendar::TradingCalendar;

/// The dump the Broker picks contracts from, replaced whole by a refresh (a supervised
/// restart of the Broker keeps the latest). Read once per option-chain request, never per tick.
#[derive(Debug, Clone, Default)]
pub struct SharedDump(Arc<RwLock<Arc<Vec<Instrument>>>>);

impl SharedDump {
    pub fn new(list: Arc<Vec<Instrument>>) -> Self {
        SharedDump(Arc::new(RwLock::new(list)))
    }

    /// The current dump.
    pub fn get(&self) -> Arc<Vec<Instrument>> {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the dump (readers holding the old one keep it until they are done).
    pub fn replace(&self, list: Arc<Vec<Instrument>>) {
        match self.0.write() {
            Ok(mut g) => *g = list,
            Err(poisoned) => *poisoned.into_inner() = list,
        }
    }
}

impl From<Arc<Vec<Instrument>>> for SharedDump {
    fn from(list: Arc<Vec<Instrument>>) -> Self {
        SharedDump::new(list)
    }
}

/// Why a dump is not fit to replace the cached one, or `Ok` with a one-line summary. The dump
/// must have rows; each of `underlyings` must have option contracts (`CE`/`PE` named after
/// it) expiring on or after `today`; no derivative may have expired before `today` (a stale
/// dump, e.g. yesterday's served again).
pub fn check_dump(
    list: &[Instrument],
    underlyings: &[String],
    today: NaiveDate,
) -> Result<String, String> {
    if list.is_empty() {
        return Err("the dump has no rows".into());
    }
    let derivative = |i: &&Instrument| matches!(i.instrument_type.as_str(), "CE" | "PE" | "FUT");
    let expired: Vec<&Instrument> = list
        .iter()
        .filter(derivative)
        .filter(|i| i.expiry.is_some_and(|e| e < today))
        .collect();
    if let Some(first) = expired.first() {
        return Err(format!(
            "{} contracts expired before {today} (e.g. {} on {}): a stale dump",
            expired.len(),
            first.tradingsymbol,
            first.expiry.map(|e| e.to_string()).unwrap_or_default()
        ));
    }
    let mut summary = Vec::with_capacity(underlyings.len());
    for u in underlyings {
        let options = list
            .iter()
            .filter(|i| &i.name == u && matches!(i.instrument_type.as_str(), "CE" | "PE"));
        let (n, nearest) = options.fold((0usize, None::<NaiveDate>), |(n, near), i| {
            let near = match (near, i.expiry) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            (n + 1, near)
        });
        match nearest {
            Some(e) => summary.push(format!("{u} {n} options from {e}")),
            None => {
                return Err(format!(
                    "underlying {u} has no option contracts with an expiry in the dump"
                ))
            }
        }
    }
    Ok(format!("{} rows; {}", list.len(), summary.join(", ")))
}

/// The temporary file a refresh downloads into: next to `cache` (the same file system, so the
/// rename is atomic), hidden, named after the process.
pub fn temp_path(cache: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(cache.file_name().unwrap_or_default());
    name.push(format!(".download-{}", std::process::id()));
    cache.with_file_name(name)
}

/// Downloads the dump with `fetch` into [`temp_path`], parses and [`check_dump`]s what was
/// written, and only then renames it over `cache`. Any failure removes the temporary file
/// and leaves `cache` untouched. Returns the new dump and the check's summary.
pub async fn refresh_dump<F, Fut>(
    cache: &Path,
    fetch: F,
    underlyings: &[String],
    today: NaiveDate,
) -> Result<(Vec<Instrument>, String), KiteError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Vec<u8>, KiteError>>,
{
    let body = fetch().await?;
    let csv = decompress_if_gzip(&body)?;
    let tmp = temp_path(cache);
    let io = |what: &str, e: std::io::Error| {
        KiteError::data(format!("instrument dump: {what} {}: {e}", tmp.display()))
    };
    let result = (|| {
        if let Some(dir) = cache.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io("cannot create the directory of", e))?;
        }
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).map_err(|e| io("cannot create", e))?;
            f.write_all(&csv).map_err(|e| io("cannot write", e))?;
            f.sync_all().map_err(|e| io("cannot sync", e))?;
        }
        // What is checked is what was written: the bytes the rename will publish.
        let written = std::fs::read(&tmp).map_err(|e| io("cannot read back", e))?;
        let list = parse_instruments(&written)?;
        let summary = check_dump(&list, underlyings, today)
            .map_err(|why| KiteError::data(format!("instrument dump refused: {why}")))?;
        std::fs::rename(&tmp, cache).map_err(|e| io("cannot rename over the cache", e))?;
        Ok((list, summary))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The last refresh instant at or before `now`: `at` seconds after local midnight of the
/// latest trading day (today's once it has passed, else the previous trading day's).
pub fn last_due(cal: &TradingCalendar, now: i64, at: i64) -> i64 {
    let today = cal.date_of(now);
    let t = cal.midnight(today) + at;
    if cal.is_open(today) && now >= t {
        t
    } else {
        cal.midnight(cal.previous_open(today)) + at
    }
}

/// The next refresh instant after `now`: today's if today trades and it is still ahead, else
/// the next trading day's.
pub fn next_due(cal: &TradingCalendar, now: i64, at: i64) -> i64 {
    let today = cal.date_of(now);
    let t = cal.midnight(today) + at;
    if cal.is_open(today) && now < t {
        t
    } else {
        cal.midnight(cal.next_open(today)) + at
    }
}

/// True when the file at `cache` was written at or after `due` (Unix seconds); false when it
/// is missing or older.
pub fn written_since(cache: &Path, due: i64) -> bool {
    std::fs::metadata(cache)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .is_some_and(|d| d.as_secs() as i64 >= due)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logic::calendar::{parse_holidays, TradingCalendar};
    use crate::logic::session::Session;

    const HEADER: &str = "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange";

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn dump(name: &str, expiry: &str, lot: u32) -> String {
        let mut s = format!("{HEADER}\n");
        for (i, strike) in [24000, 24050, 24100].iter().enumerate() {
            for (j, t) in ["CE", "PE"].iter().enumerate() {
                s.push_str(&format!(
                    "{},{},{name}X{strike}{t},{name},0,{expiry},{strike},0.05,{lot},{t},NFO-OPT,NFO\n",
                    1000 + 2 * i + j,
                    10 + 2 * i + j
                ));
            }
        }
        s
    }

    fn nifty() -> Vec<String> {
        vec!["NIFTY".to_string()]
    }

    #[test]
    fn the_check_wants_rows_every_underlying_and_no_expired_contract() {
        let today = d("2026-12-01");
        let ok = parse_instruments(dump("NIFTY", "2026-12-08", 65).as_bytes()).unwrap();
        let s = check_dump(&ok, &nifty(), today).unwrap();
        assert_eq!(s, "6 rows; NIFTY 6 options from 2026-12-08");
        // Expiring today is fine (expiry day trades until the close).
        let same_day = parse_instruments(dump("NIFTY", "2026-12-01", 65).as_bytes()).unwrap();
        assert!(check_dump(&same_day, &nifty(), today).is_ok());
        assert_eq!(
            check_dump(&[], &nifty(), today).unwrap_err(),
            "the dump has no rows"
        );
        let e = check_dump(&ok, &["NIFTY".into(), "BANKNIFTY".into()], today).unwrap_err();
        assert!(
            e.contains("underlying BANKNIFTY has no option contracts"),
            "{e}"
        );
        let stale = parse_instruments(dump("NIFTY", "2026-11-24", 65).as_bytes()).unwrap();
        let e = check_dump(&stale, &nifty(), today).unwrap_err();
        assert!(
            e.starts_with(
                "6 contracts expired before 2026-12-01 (e.g. NIFTYX24000CE on 2026-11-24)"
            ),
            "{e}"
        );
        // Equities and indices carry no expiry and are not checked for one.
        let mut mixed = ok.clone();
        mixed.push(Instrument {
            instrument_type: "EQ".into(),
            expiry: None,
            ..ok[0].clone()
        });
        assert!(check_dump(&mixed, &nifty(), today).is_ok());
    }

    #[actix_rt::test]
    async fn a_refresh_replaces_the_cache_only_when_the_new_dump_passes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("instruments_NFO.csv");
        let old = dump("NIFTY", "2026-12-01", 75);
        std::fs::write(&cache, &old).unwrap();
        let today = d("2026-12-01");
        let bad_bodies: Vec<Result<Vec<u8>, KiteError>> = vec![
            Err(KiteError::data("HTTP 500")),
            Ok(Vec::new()),
            Ok(HEADER.as_bytes().to_vec()),
            // Truncated mid-row.
            Ok(dump("NIFTY", "2026-12-08", 65).as_bytes()[..HEADER.len() + 30].to_vec()),
            Ok(dump("BANKNIFTY", "2026-12-29", 30).into_bytes()),
            Ok(dump("NIFTY", "2026-11-24", 65).into_bytes()),
            Ok(vec![0x1f, 0x8b, 1, 2, 3]),
        ];
        for body in bad_bodies {
            let shown = format!(
                "{:?}",
                body.as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
            );
            let e = refresh_dump(&cache, || async { body }, &nifty(), today)
                .await
                .unwrap_err();
            assert_eq!(
                std::fs::read_to_string(&cache).unwrap(),
                old,
                "{shown}: {e}"
            );
            let names: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(
                names.len(),
                1,
                "{shown}: a temporary file was left: {names:?}"
            );
        }
        let new = dump("NIFTY", "2026-12-08", 65);
        let body = new.clone().into_bytes();
        let (list, summary) = refresh_dump(&cache, || async { Ok(body) }, &nifty(), today)
            .await
            .unwrap();
        assert_eq!(list.len(), 6);
        assert_eq!(list[0].lot_size, 65);
        assert!(
            summary.contains("NIFTY 6 options from 2026-12-08"),
            "{summary}"
        );
        assert_eq!(std::fs::read_to_string(&cache).unwrap(), new);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn refreshes_are_due_before_the_open_of_each_trading_day() {
        let holidays = parse_holidays("date,name\n2026-01-26,Republic Day\n").unwrap();
        let cal = TradingCalendar::new(&Session::nse(), holidays);
        let at = 8 * 3600 + 45 * 60;
        let ist = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(&format!("{s}+05:30"))
                .unwrap()
                .timestamp()
        };
        // Tuesday 27 Jan, 09:00: due today at 08:45; next on Wednesday.
        let now = ist("2026-01-27T09:00:00");
        assert_eq!(last_due(&cal, now, at), ist("2026-01-27T08:45:00"));
        assert_eq!(next_due(&cal, now, at), ist("2026-01-28T08:45:00"));
        // Tuesday 27 Jan, 08:00: the last was Friday's (Monday the 26th is a holiday).
        let now = ist("2026-01-27T08:00:00");
        assert_eq!(last_due(&cal, now, at), ist("2026-01-23T08:45:00"));
        assert_eq!(next_due(&cal, now, at), ist("2026-01-27T08:45:00"));
        // Saturday: Friday's was the last, Tuesday's is next.
        let now = ist("2026-01-24T12:00:00");
        assert_eq!(last_due(&cal, now, at), ist("2026-01-23T08:45:00"));
        assert_eq!(next_due(&cal, now, at), ist("2026-01-27T08:45:00"));
        // Exactly at the instant: due now.
        let now = ist("2026-01-23T08:45:00");
        assert_eq!(last_due(&cal, now, at), now);
    }

    #[test]
    fn a_file_is_current_when_written_since_the_last_refresh_instant() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.csv");
        assert!(!written_since(&f, 0));
        std::fs::write(&f, "x").unwrap();
        let t = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(t)
            .unwrap();
        assert!(written_since(&f, 1_800_000_000));
        assert!(!written_since(&f, 1_800_000_001));
    }
}
