//! Instruments and the calendar as data, against the local Kite stand-in: the NFO dump's
//! refresh at start and before the open is atomic (a refresh that fails — HTTP 500, an empty
//! or truncated dump, the underlying missing — leaves the cached file byte for byte and posts
//! an `instruments_refresh_failed` alarm to the webhook; one that succeeds replaces it), the
//! dump's lot size wins over the config's, and a day the holiday file closes takes no trades.

mod common;
mod kite_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const HEADER: &str = "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange";

/// A trading day (Tuesday) of the rehearsals, and its exchange midnight in Unix seconds.
const DAY: &str = "2026-12-01";

fn unix(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp()
}

/// An NFO dump of `name`: three strikes 100 apart, CE and PE, expiring on `expiry`.
fn dump(name: &str, expiry: &str, lot: u32) -> String {
    let mut s = format!("{HEADER}\n");
    for (i, strike) in [24_000, 24_100, 24_200].iter().enumerate() {
        for (j, t) in ["CE", "PE"].iter().enumerate() {
            s.push_str(&format!(
                "{},{},{name}X{strike}{t},{name},0,{expiry},{strike},0.05,{lot},{t},NFO-OPT,NFO\n",
                40_001 + 2 * i + j,
                150 + 2 * i + j
            ));
        }
    }
    s
}

/// The stand-in: `nfo` answers `/instruments/NFO` (after `first`, answered once, if given);
/// the NSE dump, empty quotes and an alert webhook.
async fn stand_in(first: Option<ResponseTemplate>, nfo: ResponseTemplate) -> MockServer {
    let s = MockServer::start().await;
    if let Some(f) = first {
        Mock::given(method("GET"))
            .and(path("/instruments/NFO"))
            .respond_with(f)
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&s)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/instruments/NFO"))
        .respond_with(nfo)
        .with_priority(2)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/instruments/NSE"))
        .respond_with(ResponseTemplate::new(200).set_body_string(kite_support::NSE_DUMP))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/quote"))
        .respond_with(kite_support::market::no_quotes())
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/alerts"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&s)
        .await;
    s
}

/// A config in `dir` trading NIFTY, alarms to the stand-in's webhook, no history backfill.
fn config(dir: &Path, uri: &str, tweak: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let mut v = common::default_json();
    v["storage"]["data_dir"] = dir.to_string_lossy().into_owned().into();
    v["data_collection"]["realtime"]["interval_seconds"] = 1.into();
    v["data_collection"]["historical"]["enabled"] = false.into();
    v["options_trading"]["entry_filters"]["valid_underlyings"] = serde_json::json!(["NIFTY"]);
    v["alerts"] =
        serde_json::json!({"webhooks": [{"kind": "json", "url": format!("{uri}/alerts")}]});
    tweak(&mut v);
    common::write_config(dir, &v)
}

/// Writes the cached NFO dump with its modification time set to `mtime` (Unix seconds).
fn write_cache(dir: &Path, text: &str, mtime: i64) -> PathBuf {
    let p = dir.join("instruments_NFO.csv");
    std::fs::write(&p, text).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&p)
        .unwrap()
        .set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime as u64))
        .unwrap();
    p
}

/// Runs `run --feed kite --mode paper` on a rehearsal clock from `clock_start` for `secs` wall
/// seconds; returns the log (asserting a clean exit).
async fn run(cfg: &Path, uri: &str, clock_start: &str, speed: f64, secs: f64) -> String {
    let (cfg, uri, clock_start) = (cfg.to_path_buf(), uri.to_string(), clock_start.to_string());
    let out = tokio::task::spawn_blocking(move || {
        kite_support::engine_at(&uri)
            .args(["run", "--feed", "kite", "--mode", "paper", "--config"])
            .arg(&cfg)
            .args(["--clock-start", &clock_start])
            .args(["--clock-speed", &speed.to_string()])
            .args(["--duration", &secs.to_string()])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let log = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    log
}

/// The alarms the webhook received: (kind, message).
async fn alarms(s: &MockServer) -> Vec<(String, String)> {
    s.received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/alerts")
        .map(|r| {
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            (
                v["kind"].as_str().unwrap_or_default().to_string(),
                v["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn nfo_requests(s: &MockServer) -> usize {
    s.received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/instruments/NFO")
        .count()
}

/// Only the files the engine keeps: no temporary download left beside the cache.
fn no_temporary_files(dir: &Path) {
    let left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("download"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

#[actix_rt::test]
async fn a_failed_refresh_at_start_keeps_the_cache_byte_for_byte_and_raises_an_alarm() {
    let good = dump("NIFTY", "2026-12-08", 65);
    let failures: Vec<(&str, ResponseTemplate, &str)> = vec![
        (
            "HTTP 500",
            ResponseTemplate::new(500).set_body_json(serde_json::json!({
                "status": "error", "message": "internal error", "error_type": "GeneralException"})),
            "GeneralException",
        ),
        (
            "an empty body",
            ResponseTemplate::new(200).set_body_string(""),
            "missing column",
        ),
        (
            "a header and no rows",
            ResponseTemplate::new(200).set_body_string(format!("{HEADER}\n")),
            "the dump has no rows",
        ),
        (
            "a dump cut mid-row",
            ResponseTemplate::new(200).set_body_string(good[..HEADER.len() + 60].to_string()),
            "instruments CSV",
        ),
        (
            "a dump without NIFTY",
            ResponseTemplate::new(200).set_body_string(dump("BANKNIFTY", "2026-12-29", 30)),
            "underlying NIFTY has no option contracts",
        ),
        (
            "yesterday's dump",
            ResponseTemplate::new(200).set_body_string(dump("NIFTY", "2026-11-24", 65)),
            "expired before 2026-12-01",
        ),
    ];
    for (what, response, why) in failures {
        let s = stand_in(None, response).await;
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), &s.uri(), |_| {});
        // Yesterday's cache (lot 75), written before today's refresh instant (08:45 IST).
        let old = dump("NIFTY", "2026-12-01", 75);
        let cache = write_cache(dir.path(), &old, unix("2026-11-30T09:00:00+05:30"));
        let log = run(&cfg, &s.uri(), &format!("{DAY}T10:00:00+05:30"), 1.0, 2.5).await;
        // (A 500 is retried by the client before the refresh gives up.)
        assert!(nfo_requests(&s).await >= 1, "{what}: refreshed at start");
        assert_eq!(
            std::fs::read(&cache).unwrap(),
            old.as_bytes(),
            "{what}: the cache changed"
        );
        no_temporary_files(dir.path());
        assert!(
            log.contains("ALARM the NFO instrument dump could not be refreshed")
                && log.contains(why),
            "{what}: {log}"
        );
        // Trading continues from the cached dump: its lot (75) replaced the config's 65.
        assert!(log.contains("NIFTY: lot 75 step 100"), "{what}: {log}");
        let got = alarms(&s).await;
        assert_eq!(got.len(), 1, "{what}: {got:?}");
        assert_eq!(got[0].0, "instruments_refresh_failed", "{what}");
        assert!(
            got[0].1.contains("trading continues from the cached dump") && got[0].1.contains(why),
            "{what}: {got:?}"
        );
    }
}

#[actix_rt::test]
async fn a_refresh_that_succeeds_replaces_the_cache_and_the_dumps_lot_wins_over_the_config() {
    let new = dump("NIFTY", "2026-12-08", 50);
    let s = stand_in(
        None,
        ResponseTemplate::new(200).set_body_string(new.clone()),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &s.uri(), |_| {});
    let cache = write_cache(
        dir.path(),
        &dump("NIFTY", "2026-12-01", 75),
        unix("2026-11-30T09:00:00+05:30"),
    );
    let log = run(&cfg, &s.uri(), &format!("{DAY}T10:00:00+05:30"), 1.0, 2.5).await;
    assert_eq!(std::fs::read_to_string(&cache).unwrap(), new);
    no_temporary_files(dir.path());
    assert!(
        log.contains("instrument dump NFO refreshed: 6 rows; NIFTY 6 options from 2026-12-08"),
        "{log}"
    );
    // The config says 65; the dump's 50 is what the engine trades with, and the difference is
    // said.
    assert!(
        log.contains("the instrument dump disagrees with the config: NIFTY: lot_size 50 in the dump, 65 in the config"),
        "{log}"
    );
    assert!(log.contains("NIFTY: lot 50 step 100 tick 0.05"), "{log}");
    assert!(alarms(&s).await.is_empty());
    // A cache written since today's refresh instant is current: not downloaded again. (The
    // file was written at the machine's time; stamp it with the rehearsal's, 10:00 IST.)
    write_cache(dir.path(), &new, unix("2026-12-01T10:00:00+05:30"));
    let before = nfo_requests(&s).await;
    let log = run(&cfg, &s.uri(), &format!("{DAY}T11:00:00+05:30"), 1.0, 2.0).await;
    assert_eq!(nfo_requests(&s).await, before, "{log}");
    assert!(log.contains("the cached one is current"), "{log}");
}

#[actix_rt::test]
async fn with_the_calendar_ignored_a_holiday_refreshes_the_dump_as_a_trading_day_would() {
    // Monday 26 January 2026 is Republic Day in config/holidays/nse-2026.csv. The cache was
    // written on Friday the 23rd after that day's refresh instant: current by the calendar
    // (Friday is the last trading day), stale for a special session run on the holiday with
    // --ignore-calendar (the engine's own runs set ALPHASTOCKS_IGNORE_CALENDAR=1). Its age
    // is judged on the rehearsal's clock: three days, well under kite.instruments_max_age_hours.
    let new = dump("NIFTY", "2026-01-27", 65);
    let s = stand_in(
        None,
        ResponseTemplate::new(200).set_body_string(new.clone()),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &s.uri(), |v| {
        v["kite"]["instruments_max_age_hours"] = 96.into();
    });
    let cache = write_cache(
        dir.path(),
        &dump("NIFTY", "2026-01-27", 75),
        unix("2026-01-23T09:00:00+05:30"),
    );
    let log = run(&cfg, &s.uri(), "2026-01-26T10:00:00+05:30", 1.0, 2.5).await;
    assert_eq!(nfo_requests(&s).await, 1, "{log}");
    assert_eq!(std::fs::read_to_string(&cache).unwrap(), new, "{log}");
    assert!(log.contains("instrument dump NFO refreshed"), "{log}");
    assert!(log.contains("calendar: IGNORED"), "{log}");
    assert!(alarms(&s).await.is_empty());
}

#[actix_rt::test]
async fn a_refresh_failed_at_start_after_the_open_is_retried_until_one_succeeds() {
    let new = dump("NIFTY", "2026-12-08", 65);
    let s = stand_in(
        Some(ResponseTemplate::new(200).set_body_string(dump("BANKNIFTY", "2026-12-29", 30))),
        ResponseTemplate::new(200).set_body_string(new.clone()),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &s.uri(), |_| {});
    let old = dump("NIFTY", "2026-12-01", 75);
    let cache = write_cache(dir.path(), &old, unix("2026-11-30T09:00:00+05:30"));
    // 10:00 → 10:12 IST at 120× (6 s): the refresh at start fails, the retry 5 minutes later
    // (after the open) replaces the cache.
    let log = run(&cfg, &s.uri(), &format!("{DAY}T10:00:00+05:30"), 120.0, 6.0).await;
    assert_eq!(nfo_requests(&s).await, 2, "{log}");
    let got = alarms(&s).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "instruments_refresh_failed");
    assert_eq!(std::fs::read_to_string(&cache).unwrap(), new, "{log}");
    no_temporary_files(dir.path());
    let failed = log.find("could not be refreshed").unwrap();
    let refreshed = log.find("instrument dump NFO refreshed").unwrap();
    assert!(failed < refreshed, "{log}");
}

#[actix_rt::test]
async fn before_the_open_a_failed_refresh_alarms_keeps_the_cache_and_the_retry_replaces_it() {
    let new = dump("NIFTY", "2026-12-08", 65);
    // The first download of the morning lacks NIFTY (a dump not fully generated yet).
    let s = stand_in(
        Some(ResponseTemplate::new(200).set_body_string(dump("BANKNIFTY", "2026-12-29", 30))),
        ResponseTemplate::new(200).set_body_string(new.clone()),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &s.uri(), |_| {});
    // Yesterday's dump, fetched after yesterday's refresh instant: current at 08:40.
    let old = dump("NIFTY", "2026-12-01", 65);
    let cache = write_cache(dir.path(), &old, unix("2026-11-30T09:00:00+05:30"));
    // 08:40 → 08:57 IST at 120× (8.5 s): the refresh at 08:45 fails, the retry 5 minutes
    // later succeeds.
    let log = run(&cfg, &s.uri(), &format!("{DAY}T08:40:00+05:30"), 120.0, 8.5).await;
    assert!(log.contains("the cached one is current"), "{log}");
    assert_eq!(nfo_requests(&s).await, 2, "{log}");
    let got = alarms(&s).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "instruments_refresh_failed");
    assert!(
        got[0]
            .1
            .contains("underlying NIFTY has no option contracts"),
        "{got:?}"
    );
    assert!(
        log.contains("instrument dump NFO refreshed: 6 rows; NIFTY 6 options from 2026-12-08"),
        "{log}"
    );
    assert_eq!(std::fs::read_to_string(&cache).unwrap(), new);
    no_temporary_files(dir.path());
    // The failure came before the success (the cache was the old one in between: the log says
    // trading continued from it).
    let failed = log.find("could not be refreshed").unwrap();
    let refreshed = log.find("instrument dump NFO refreshed").unwrap();
    assert!(failed < refreshed, "{log}");
}

/// Runs the engine on `day` at 10:00 IST with the calendar enforced and no quotes for 7 s
/// (`alerts.feed_silent_seconds` 5); returns `ctl status`, the `ctl resume` answer, the
/// calendar's audit rows and the alarms posted, and the log.
async fn status_on(day: &str) -> (serde_json::Value, String) {
    let s = stand_in(
        None,
        ResponseTemplate::new(200).set_body_string(dump("NIFTY", "2026-12-29", 65)),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &s.uri(), |v| {
        v["alerts"]["feed_silent_seconds"] = 5.into();
    });
    let log_path = dir.path().join("engine.log");
    let mut child = kite_support::engine_at(&s.uri())
        .env_remove("ALPHASTOCKS_IGNORE_CALENDAR")
        .args(["run", "--feed", "kite", "--mode", "paper", "--config"])
        .arg(&cfg)
        .args(["--clock-start", &format!("{day}T10:00:00+05:30")])
        .args(["--duration", "30"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let ctl = |cmd: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_alphastocks"))
            .args(["ctl", "--config"])
            .arg(&cfg)
            .arg(cmd)
            .output()
            .unwrap()
    };
    let began = std::time::Instant::now();
    let status = loop {
        let o = ctl("status");
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        if o.status.success() && v["trading"].is_string() {
            break v;
        }
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "no status: {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // `resume` does not open a closed day.
    let resumed: serde_json::Value =
        serde_json::from_slice(&ctl("resume").stdout).unwrap_or_default();
    let status = serde_json::json!({"status": status, "resume": resumed});
    // Silence long enough for the feed's alarm on an open day.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert!(ctl("shutdown").status.success());
    assert!(child.wait().unwrap().success());
    let log = std::fs::read_to_string(&log_path).unwrap();
    let db = dir.path().join("alphastocks.db");
    let calendar_rows = common::count(&db, "audit_events WHERE action = 'calendar'");
    let kinds: Vec<String> = alarms(&s).await.into_iter().map(|a| a.0).collect();
    (
        serde_json::json!({"ctl": status, "calendar_audit_rows": calendar_rows, "alarms": kinds}),
        log,
    )
}

#[actix_rt::test]
async fn a_day_the_holiday_file_closes_takes_no_trades_and_ctl_status_says_so() {
    // Monday 26 January 2026, Republic Day in config/holidays/nse-2026.csv.
    let (v, log) = status_on("2026-01-26").await;
    let st = &v["ctl"]["status"];
    assert_eq!(st["trading"], "closed", "{v}");
    assert_eq!(
        st["market_closed"], "2026-01-26 is an exchange holiday (Republic Day)",
        "{v}"
    );
    assert_eq!(v["ctl"]["resume"]["trading"], "closed", "{v}");
    assert!(
        v["ctl"]["resume"]["note"]
            .as_str()
            .unwrap_or_default()
            .contains("still closed"),
        "{v}"
    );
    assert!(
        log.contains("calendar: MARKET CLOSED: 2026-01-26 is an exchange holiday (Republic Day): the engine takes no trades today"),
        "{log}"
    );
    assert_eq!(v["calendar_audit_rows"], 1, "{v}");
    // A holiday's silence is normal: no alarm.
    assert_eq!(v["alarms"], serde_json::json!([]), "{v}");
    // The next day trades, and its silence in market hours is an alarm.
    let (v, log) = status_on("2026-01-27").await;
    assert_eq!(v["ctl"]["status"]["trading"], "active", "{v}");
    assert!(v["ctl"]["status"].get("market_closed").is_none(), "{v}");
    assert!(
        log.contains("calendar: 2026-01-27 is a trading day"),
        "{log}"
    );
    assert_eq!(v["alarms"], serde_json::json!(["feed_silent"]), "{v}");
}

#[test]
fn a_bad_holiday_file_stops_the_start_naming_the_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let holidays = dir.path().join("nse-2027.csv");
    std::fs::write(
        &holidays,
        "# test\ndate,name\n2027-01-26,Republic Day\n2027-02-30,Not a day\n",
    )
    .unwrap();
    let cfg = config(dir.path(), "http://127.0.0.1:9", |v| {
        v["market"]["holiday_files"] = serde_json::json!([holidays.to_string_lossy()]);
    });
    let out = kite_support::engine_at("http://127.0.0.1:9")
        .args([
            "run",
            "--feed",
            "kite",
            "--mode",
            "paper",
            "--duration",
            "1",
            "--config",
        ])
        .arg(&cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "nse-2027.csv: line 4: holiday file: date \"2027-02-30\" is not a date YYYY-MM-DD"
        ),
        "{stderr}"
    );
}
