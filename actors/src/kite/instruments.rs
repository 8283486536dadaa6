//! The instrument dump: `GET /instruments[/EXCHANGE]`, a CSV that is usually gzipped, and a
//! file cache so it is downloaded at most once a day.
//!
//! Columns: `instrument_token, exchange_token, tradingsymbol, name, last_price, expiry,
//! strike, tick_size, lot_size, instrument_type, segment, exchange` (matched by header name,
//! so their order does not matter). A body starting with the gzip magic `1f 8b` is inflated
//! first, whatever the headers say.

use std::borrow::Cow;
use std::future::Future;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::NaiveDate;
use reqwest::Method;

use super::client::{path_segment, KiteClient, Payload};
use super::error::KiteError;
use super::ratelimit::EndpointClass;

/// How long a cached dump is reused by default: Kite regenerates it once a day.
pub const DEFAULT_INSTRUMENT_CACHE_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// One row of the instrument dump.
#[derive(Debug, Clone, PartialEq)]
pub struct Instrument {
    pub instrument_token: u64,
    pub exchange_token: u64,
    pub tradingsymbol: String,
    pub name: String,
    pub last_price: f64,
    /// `None` for equities and indices.
    pub expiry: Option<NaiveDate>,
    pub strike: f64,
    pub tick_size: f64,
    pub lot_size: u32,
    /// `EQ`, `FUT`, `CE` or `PE`.
    pub instrument_type: String,
    /// e.g. `NSE`, `NFO-OPT`, `INDICES`.
    pub segment: String,
    pub exchange: String,
}

/// The largest instrument dump inflated (the full dump of every exchange is ~15 MB): a gzip
/// bomb stops here with an error instead of filling memory.
pub const MAX_DUMP_BYTES: u64 = 512 << 20;

/// The largest lot size a tradable contract may have (NSE's are under 10 000).
pub const MAX_LOT_SIZE: u32 = 100_000;

/// `bytes`, inflated if they start with the gzip magic.
pub fn decompress_if_gzip(bytes: &[u8]) -> Result<Cow<'_, [u8]>, KiteError> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(Cow::Borrowed(bytes));
    }
    let mut out = Vec::with_capacity(bytes.len().saturating_mul(8).min(64 << 20));
    flate2::read::MultiGzDecoder::new(bytes)
        .take(MAX_DUMP_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| KiteError::data(format!("instrument dump: bad gzip data: {e}")))?;
    if out.len() as u64 > MAX_DUMP_BYTES {
        return Err(KiteError::data(format!(
            "instrument dump: inflates past {MAX_DUMP_BYTES} bytes"
        )));
    }
    Ok(Cow::Owned(out))
}

/// Why a derivative row cannot be traded (its lot, tick or strike), if it cannot.
fn untradable(i: &Instrument) -> Option<String> {
    if !["CE", "PE", "FUT"].contains(&i.instrument_type.as_str()) {
        return None;
    }
    if i.lot_size == 0 || i.lot_size > MAX_LOT_SIZE {
        return Some(format!(
            "lot_size {} (must be 1..={MAX_LOT_SIZE})",
            i.lot_size
        ));
    }
    if !(i.tick_size > 0.0 && i.tick_size <= 1000.0) {
        return Some(format!("tick_size {} (must be in (0, 1000])", i.tick_size));
    }
    if !(i.strike >= 0.0 && i.strike <= crate::config::MAX_PRICE) {
        return Some(format!("strike {}", i.strike));
    }
    if !(i.last_price >= 0.0 && i.last_price <= crate::config::MAX_PRICE) {
        return Some(format!("last_price {}", i.last_price));
    }
    None
}

const COLUMNS: [&str; 12] = [
    "instrument_token",
    "exchange_token",
    "tradingsymbol",
    "name",
    "last_price",
    "expiry",
    "strike",
    "tick_size",
    "lot_size",
    "instrument_type",
    "segment",
    "exchange",
];

/// Parse an instrument dump (plain or gzipped CSV). Errors name the line.
pub fn parse_instruments(bytes: &[u8]) -> Result<Vec<Instrument>, KiteError> {
    let csv_bytes = decompress_if_gzip(bytes)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(csv_bytes.as_ref());
    let headers = reader
        .headers()
        .map_err(|e| KiteError::data(format!("instruments CSV: bad header: {e}")))?
        .clone();
    let mut idx = [0usize; 12];
    for (slot, col) in idx.iter_mut().zip(COLUMNS) {
        *slot = headers.iter().position(|h| h == col).ok_or_else(|| {
            KiteError::data(format!("instruments CSV line 1: missing column {col}"))
        })?;
    }
    let mut out = Vec::new();
    let mut left_out = 0u64;
    for record in reader.records() {
        let record = record.map_err(|e| KiteError::data(format!("instruments CSV: {e}")))?;
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: usize| record.get(idx[i]).unwrap_or("");
        let bad = |i: usize| {
            KiteError::data(format!(
                "instruments CSV line {line}: bad {} {:?}",
                COLUMNS[i],
                field(i)
            ))
        };
        let int = |i: usize| field(i).parse::<u64>().map_err(|_| bad(i));
        let float = |i: usize| -> Result<f64, KiteError> {
            let s = field(i);
            if s.is_empty() {
                return Ok(0.0);
            }
            s.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| bad(i))
        };
        let lot_size = {
            let s = field(8);
            s.parse::<u32>()
                .ok()
                .or_else(|| {
                    s.parse::<f64>()
                        .ok()
                        .filter(|v| v.fract() == 0.0 && *v >= 0.0 && *v <= f64::from(u32::MAX))
                        .map(|v| v as u32)
                })
                .ok_or_else(|| bad(8))?
        };
        let expiry = match field(5) {
            "" => None,
            s => Some(NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad(5))?),
        };
        let row = Instrument {
            instrument_token: int(0)?,
            exchange_token: int(1)?,
            tradingsymbol: field(2).to_string(),
            name: field(3).to_string(),
            last_price: float(4)?,
            expiry,
            strike: float(6)?,
            tick_size: float(7)?,
            lot_size,
            instrument_type: field(9).to_string(),
            segment: field(10).to_string(),
            exchange: field(11).to_string(),
        };
        // A contract with no lot or tick to size by is left out (the rest of the dump is
        // good); the first few are logged with their line.
        match untradable(&row) {
            Some(why) => {
                left_out += 1;
                if left_out <= 5 {
                    log::warn!(
                        "instruments CSV line {line}: {} left out: {why}",
                        row.tradingsymbol
                    );
                }
            }
            None => out.push(row),
        }
    }
    if left_out > 5 {
        log::warn!("instruments CSV: {left_out} untradable contracts left out in all");
    }
    Ok(out)
}

impl KiteClient {
    /// The raw dump as CSV bytes (inflated if it came gzipped), for caching.
    pub async fn instruments_csv(&self, exchange: Option<&str>) -> Result<Vec<u8>, KiteError> {
        let path = match exchange {
            Some(ex) => format!("/instruments/{}", path_segment("exchange", ex)?),
            None => "/instruments".to_string(),
        };
        let body = self
            .request_bytes(
                Method::GET,
                EndpointClass::Other,
                &path,
                &[],
                Payload::Empty,
                true,
            )
            .await?;
        Ok(decompress_if_gzip(&body)?.into_owned())
    }

    /// All instruments, or those of one exchange.
    pub async fn instruments(&self, exchange: Option<&str>) -> Result<Vec<Instrument>, KiteError> {
        parse_instruments(&self.instruments_csv(exchange).await?)
    }
}

/// The instruments from `cache_path` if that file is younger than `max_age` and parses;
/// otherwise from `fetch` (which returns the CSV, e.g. `|| client.instruments_csv(None)`),
/// written back to `cache_path` atomically (temporary file, then rename). A failed cache read
/// or write is logged, not fatal; an empty dump is refused.
pub async fn load_or_fetch_instruments<F, Fut>(
    cache_path: &Path,
    max_age: Duration,
    fetch: F,
) -> Result<Vec<Instrument>, KiteError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Vec<u8>, KiteError>>,
{
    if let Some(age) = file_age(cache_path) {
        if age < max_age {
            match std::fs::read(cache_path)
                .map_err(|e| e.to_string())
                .and_then(|b| parse_instruments(&b).map_err(|e| e.to_string()))
            {
                Ok(list) if !list.is_empty() => return Ok(list),
                Ok(_) => log::warn!(
                    "instrument cache {} is empty; fetching",
                    cache_path.display()
                ),
                Err(e) => log::warn!(
                    "instrument cache {} unusable ({e}); fetching",
                    cache_path.display()
                ),
            }
        }
    }
    let bytes = fetch().await?;
    let bytes = decompress_if_gzip(&bytes)?;
    let list = parse_instruments(&bytes)?;
    if list.is_empty() {
        return Err(KiteError::data("instrument dump has no rows"));
    }
    if let Err(e) = write_atomically(cache_path, &bytes) {
        log::warn!(
            "cannot write instrument cache {}: {e}",
            cache_path.display()
        );
    }
    Ok(list)
}

/// How old the file is, or `None` if it does not exist (a future mtime counts as new).
fn file_age(path: &Path) -> Option<Duration> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(
        SystemTime::now()
            .duration_since(modified)
            .unwrap_or(Duration::ZERO),
    )
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp: PathBuf = path.with_file_name(tmp_name);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{client, err};
    use super::*;
    use std::cell::Cell;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const HEADER: &str = "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange";

    fn dump() -> String {
        format!(
            "{HEADER}\n\
             256265,1001,NIFTY 50,NIFTY 50,0.0,,0.0,0.0,0,EQ,INDICES,NSE\n\
             9000001,35157,NIFTY25JAN24000CE,\"NIFTY, WEEKLY\",112.35,2025-01-30,24000.0,0.05,75,CE,NFO-OPT,NFO\n\
             9000002,35158,NIFTY25JANFUT,NIFTY,24010.5,2025-01-30,0.0,0.1,75,FUT,NFO-FUT,NFO\n"
        )
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn parses_rows_including_quoted_names() {
        let list = parse_instruments(dump().as_bytes()).unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].expiry, None);
        assert_eq!(list[0].segment, "INDICES");
        let ce = &list[1];
        assert_eq!(ce.instrument_token, 9000001);
        assert_eq!(ce.name, "NIFTY, WEEKLY");
        assert_eq!(ce.expiry, NaiveDate::from_ymd_opt(2025, 1, 30));
        assert_eq!((ce.strike, ce.tick_size, ce.lot_size), (24000.0, 0.05, 75));
        assert_eq!(ce.instrument_type, "CE");
        assert_eq!(parse_instruments(&gzip(dump().as_bytes())).unwrap(), list);
    }

    #[test]
    fn errors_name_the_line() {
        let text = format!(
            "{HEADER}\n1,2,A,A,0,,0,0.05,1,EQ,NSE,NSE\n3,4,B,B,0,2025-13-01,0,0.05,1,EQ,NSE,NSE\n"
        );
        let e = parse_instruments(text.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("line 3"), "{e}");
        assert!(e.to_string().contains("expiry"), "{e}");
        let text = format!("{HEADER}\nx,4,B,B,0,,0,0.05,1,EQ,NSE,NSE\n");
        assert!(parse_instruments(text.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("line 2"));
        let e = parse_instruments(b"instrument_token,tradingsymbol\n1,A\n").unwrap_err();
        assert!(
            e.to_string().contains("missing column exchange_token"),
            "{e}"
        );
        let e = parse_instruments(&[0x1f, 0x8b, 0, 1, 2]).unwrap_err();
        assert!(matches!(e, KiteError::Data { .. }));
    }

    #[actix_rt::test]
    async fn fetches_a_gzipped_dump_per_exchange() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/instruments/NFO"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw(gzip(dump().as_bytes()), "application/gzip"),
            )
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/instruments"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(dump(), "text/csv"))
            .expect(1)
            .mount(&server)
            .await;
        let c = client(&server);
        let nfo = c.instruments(Some("NFO")).await.unwrap();
        assert_eq!(nfo.len(), 3);
        assert_eq!(nfo[2].tradingsymbol, "NIFTY25JANFUT");
        assert_eq!(c.instruments(None).await.unwrap(), nfo);
        assert!(c.instruments(Some("../x")).await.is_err());
    }

    #[actix_rt::test]
    async fn a_token_error_on_the_dump_is_surfaced() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(err(403, "TokenException", "session expired"))
            .mount(&server)
            .await;
        let e = client(&server).instruments(None).await.unwrap_err();
        assert!(e.is_token_error());
    }

    #[actix_rt::test]
    async fn cache_is_reused_while_young_and_rewritten_when_old() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("sub").join("instruments.csv");
        let calls = Cell::new(0);
        let fetch = || {
            calls.set(calls.get() + 1);
            async { Ok(gzip(dump().as_bytes())) }
        };
        let a = load_or_fetch_instruments(&cache, DEFAULT_INSTRUMENT_CACHE_MAX_AGE, fetch)
            .await
            .unwrap();
        assert_eq!(calls.get(), 1);
        // The cache holds the inflated CSV, and no temporary file is left behind.
        assert!(std::fs::read_to_string(&cache).unwrap().starts_with(HEADER));
        let names: Vec<_> = std::fs::read_dir(cache.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1);
        let b = load_or_fetch_instruments(&cache, DEFAULT_INSTRUMENT_CACHE_MAX_AGE, fetch)
            .await
            .unwrap();
        assert_eq!((calls.get(), &a), (1, &b));
        // Too old: fetched again.
        let c = load_or_fetch_instruments(&cache, Duration::ZERO, fetch)
            .await
            .unwrap();
        assert_eq!((calls.get(), c.len()), (2, 3));
        // A corrupt cache is refetched; an empty dump is refused.
        std::fs::write(&cache, b"garbage").unwrap();
        load_or_fetch_instruments(&cache, DEFAULT_INSTRUMENT_CACHE_MAX_AGE, fetch)
            .await
            .unwrap();
        assert_eq!(calls.get(), 3);
        let empty = || async { Ok(HEADER.as_bytes().to_vec()) };
        let e = load_or_fetch_instruments(&cache, Duration::ZERO, empty)
            .await
            .unwrap_err();
        assert!(matches!(e, KiteError::Data { .. }));
    }
}
