//! `run --feed kite` started at the open, in the middle of a candle and just before its close,
//! against a scripted Kite server whose market is a function of time: Kite's history returns
//! the candle still in progress as its last one, and each start must give the same candles and
//! signals as the engine that ran from the open (a compressed morning on a rehearsal clock).

mod common;
mod kite_support;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Engine seconds per wall second.
const SPEED: f64 = 60.0;
/// The rehearsed morning (a Monday) and the three trading days before it.
const DAYS: [&str; 4] = ["2025-11-26", "2025-11-27", "2025-11-28", "2025-12-01"];
const BLOCK: i64 = 300;

fn ist(date: &str, hm: &str) -> NaiveDateTime {
    NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .unwrap()
        .and_time(NaiveTime::parse_from_str(hm, "%H:%M:%S").unwrap())
}

/// The index level at `t` (IST): constant over 5-minute blocks of the session, rising 4 points
/// a block over the three days and the morning, then 4 % lower from 09:40 on the last day and
/// falling 5 points a block.
fn level(t: NaiveDateTime) -> f64 {
    let day = DAYS
        .iter()
        .position(|d| *d == t.date().format("%Y-%m-%d").to_string())
        .expect("a scripted day") as i64;
    let open = t.date().and_hms_opt(9, 15, 0).unwrap();
    let block = day * 75 + (t - open).num_seconds().div_euclid(BLOCK);
    let drop = ist(DAYS[3], "09:40:00");
    let up = |b: i64| 24_000.0 + 4.0 * b as f64;
    let px = if t < drop {
        up(block)
    } else {
        let b0 = 3 * 75 + (drop - ist(DAYS[3], "09:15:00")).num_seconds() / BLOCK;
        0.96 * up(b0) - 5.0 * (block - b0) as f64
    };
    (px * 20.0).round() / 20.0
}

/// Kite's candle of the 15-minute interval starting at `start`, as of `to`: partial when the
/// interval is still running.
fn candle(start: NaiveDateTime, to: NaiveDateTime) -> Option<serde_json::Value> {
    if start > to {
        return None;
    }
    let mut levels = Vec::new();
    let mut b = start;
    while b < start + chrono::Duration::minutes(15) && b <= to {
        levels.push(level(b));
        b += chrono::Duration::seconds(BLOCK);
    }
    let high = levels.iter().copied().fold(f64::MIN, f64::max);
    let low = levels.iter().copied().fold(f64::MAX, f64::min);
    Some(serde_json::json!([
        start.format("%Y-%m-%dT%H:%M:%S+0530").to_string(),
        levels[0],
        high,
        low,
        levels[levels.len() - 1],
        0
    ]))
}

/// When the engine asked for history: (wall instant, its clock then). Quotes are stamped with
/// the engine's time from there on.
type Origin = Arc<Mutex<Option<(Instant, NaiveDateTime)>>>;

struct History(Origin);

impl Respond for History {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let q = |k: &str| {
            req.url
                .query_pairs()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.to_string())
                .unwrap()
        };
        let to = NaiveDateTime::parse_from_str(&q("to"), "%Y-%m-%d %H:%M:%S").unwrap();
        *self.0.lock().unwrap() = Some((Instant::now(), to));
        let mut out = Vec::new();
        for d in DAYS {
            let mut s = ist(d, "09:15:00");
            while s < ist(d, "15:30:00") {
                out.extend(candle(s, to));
                s += chrono::Duration::minutes(15);
            }
        }
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"status": "success", "data": {"candles": out}}))
    }
}

struct Quotes(Origin);

impl Respond for Quotes {
    fn respond(&self, _req: &Request) -> ResponseTemplate {
        let Some((at, to)) = *self.0.lock().unwrap() else {
            return ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"status": "success", "data": {}}));
        };
        let now = to
            + chrono::Duration::milliseconds((at.elapsed().as_secs_f64() * SPEED * 1000.0) as i64);
        let now =
            now - chrono::Duration::nanoseconds(now.and_utc().timestamp_subsec_nanos() as i64);
        ResponseTemplate::new(200).set_body_json(serde_json::json!({"status": "success", "data": {
            "NSE:NIFTY 50": {"instrument_token": 256265, "last_price": level(now),
                "timestamp": now.format("%Y-%m-%d %H:%M:%S").to_string()}}}))
    }
}

async fn kite() -> MockServer {
    let origin = Origin::default();
    let s = MockServer::start().await;
    kite_support::mount_instruments(&s, kite_support::nfo_dump_one_strike()).await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/instruments/historical/256265/15minute$"))
        .respond_with(History(origin.clone()))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/quote"))
        .respond_with(Quotes(origin))
        .mount(&s)
        .await;
    s
}

/// (timestamp, open, high, low, close) of the stored candles of the rehearsed day.
type Candles = Vec<(i64, f64, f64, f64, f64)>;
/// (signal id, action, candle time, price) of the stored signals.
type Signals = Vec<(String, String, i64, f64)>;

/// Runs the engine from `start` (IST, the rehearsed day) until 09:47 engine time; returns what
/// it stored and its log.
async fn run_from(start: &str) -> (Candles, Signals, String) {
    let s = kite().await;
    let dir = tempfile::tempdir().unwrap();
    let mut v = common::default_json();
    v["storage"]["data_dir"] = dir.path().to_string_lossy().into_owned().into();
    v["data_collection"]["realtime"]["interval_seconds"] = 1.into();
    v["data_collection"]["historical"]["default_lookback_days"] = 10.into();
    v["options_trading"]["entry_filters"]["valid_underlyings"] = serde_json::json!(["NIFTY"]);
    let cfg = common::write_config(dir.path(), &v);
    let begin = ist(DAYS[3], start);
    let secs = (ist(DAYS[3], "09:47:00") - begin).num_seconds() as f64 / SPEED;
    let uri = s.uri();
    let clock_start = format!("{}T{start}+05:30", DAYS[3]);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_alphastocks"))
            .current_dir(common::root())
            .env("RUST_LOG", "info")
            .env("KITE_BASE_URL", uri)
            .env("KITE_API_KEY", "kitetestkey42")
            .env("KITE_ACCESS_TOKEN", "accesstoken42")
            .args(["run", "--feed", "kite", "--mode", "logging", "--config"])
            .arg(&cfg)
            .args(["--clock-start", &clock_start])
            .args(["--clock-speed", &SPEED.to_string()])
            .args(["--duration", &format!("{secs:.2}")])
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
    let db = rusqlite::Connection::open(dir.path().join("alphastocks.db")).unwrap();
    let day = ist(DAYS[3], "00:00:00").and_utc().timestamp() - 19_800;
    let candles = db
        .prepare("SELECT timestamp, open, high, low, close FROM historical_data WHERE symbol = 'NIFTY' AND timeframe = '15minute' AND timestamp >= ?1 ORDER BY timestamp")
        .unwrap()
        .query_map([day], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let signals = db
        .prepare("SELECT signal_id, action, candle_time, price FROM trading_signals ORDER BY candle_time, action")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    (candles, signals, log)
}

#[actix_rt::test]
async fn starts_at_the_open_mid_candle_and_before_a_close_give_the_same_candles_and_signals() {
    let ((open_c, open_s, open_log), (mid_c, mid_s, mid_log), (late_c, late_s, late_log)) = tokio::join!(
        run_from("09:15:00"),
        run_from("09:37:30"),
        run_from("09:44:30")
    );
    let t = |hm: &str| ist(DAYS[3], hm).and_utc().timestamp() - 19_800;
    // The engine that ran from the open: the 09:15 and 09:30 candles, whole, and one SELL
    // while the 09:30 candle formed (at the 4 % drop of 09:40).
    let drop = level(ist(DAYS[3], "09:40:00"));
    assert_eq!(
        open_c,
        vec![
            (
                t("09:15:00"),
                level(ist(DAYS[3], "09:15:00")),
                level(ist(DAYS[3], "09:25:00")),
                level(ist(DAYS[3], "09:15:00")),
                level(ist(DAYS[3], "09:25:00"))
            ),
            (
                t("09:30:00"),
                level(ist(DAYS[3], "09:30:00")),
                level(ist(DAYS[3], "09:35:00")),
                drop,
                drop
            ),
        ],
        "{open_log}"
    );
    assert_eq!(open_s.len(), 1, "{open_log}");
    assert_eq!(
        (open_s[0].1.as_str(), open_s[0].2, open_s[0].3),
        ("SELL", t("09:30:00"), drop),
        "{open_log}"
    );
    // Started in the middle of the 09:30 candle (before the drop) and 30 s before its close
    // (after it): the same candles — the 09:30 one with the low it made after the start — and
    // the same signal, not one a candle late.
    assert_eq!(mid_c, open_c, "{mid_log}");
    assert_eq!(mid_s, open_s, "{mid_log}");
    assert!(
        mid_log.contains("is still running: resumed as forming"),
        "{mid_log}"
    );
    assert_eq!(late_c, open_c, "{late_log}");
    assert_eq!(late_s, open_s, "{late_log}");
    assert!(late_log.contains("REHEARSAL"), "{late_log}");
}

#[test]
fn a_rehearsal_clock_is_refused_live_against_the_real_kite_and_without_a_broker_feed() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_alphastocks"))
            .current_dir(common::root())
            .arg("run")
            .args(args)
            .output()
            .unwrap()
    };
    // Live, with every live safeguard satisfied, at Kite's own address: still refused.
    let dir = tempfile::tempdir().unwrap();
    let mut v = common::default_json();
    v["kite"]["live_trading_enabled"] = true.into();
    let cfg = common::write_config(dir.path(), &v);
    // At Kite's own addresses, and with a local REST stand-in but the real KiteTicker: each
    // is refused naming the setting (a fake clock never trades a real account).
    for (base, says) in [
        (None, "kite.base_url is \"https://api.kite.trade\""),
        (
            Some("http://127.0.0.1:9"),
            "kite.ticker_url is \"wss://ws.kite.trade\"",
        ),
    ] {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_alphastocks"));
        c.current_dir(common::root())
            .env_remove("KITE_BASE_URL")
            .env_remove("KITE_TICKER_URL")
            .env("KITE_API_KEY", "kitetestkey42")
            .env("KITE_ACCESS_TOKEN", "accesstoken42");
        if let Some(b) = base {
            c.env("KITE_BASE_URL", b);
        }
        let out = c
            .args([
                "run",
                "--feed",
                "kite",
                "--mode",
                "live",
                "--confirm-live",
                "--config",
            ])
            .arg(&cfg)
            .args(["--clock-start", "2025-12-01T09:40:00+05:30"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!("--clock-start: a rehearsal clock trades live only against a local stand-in of Kite, and {says}, not a loopback address")),
            "{err}"
        );
    }
    for (args, says) in [
        (
            &[
                "--feed",
                "kite",
                "--mode",
                "paper",
                "--clock-start",
                "yesterday",
            ][..],
            "--clock-start \"yesterday\": not an RFC 3339 time",
        ),
        (
            &[
                "--feed",
                "kite",
                "--mode",
                "paper",
                "--clock-start",
                "2025-12-01T09:40:00+05:30",
                "--clock-speed=-3",
            ],
            "--clock-speed -3: must be between 0.001 and 10000",
        ),
        (
            &[
                "--feed",
                "kite",
                "--mode",
                "paper",
                "--clock-start",
                "2025-12-01T09:40:00+05:30",
                "--clock-speed=NaN",
            ],
            "--clock-speed NaN: must be between",
        ),
        (
            &[
                "--mode",
                "paper",
                "--clock-start",
                "2025-12-01T09:40:00+05:30",
            ],
            "a rehearsal clock is for --feed kite",
        ),
        (
            &["--mode", "paper", "--clock-speed", "5"],
            "--clock-speed 5: needs --clock-start",
        ),
    ] {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
