//! `run --feed kite` end to end against a local server speaking Kite's formats: instruments,
//! history backfill, quote polling, paper mode, credentials never in the output, and a token
//! error halting trading.

mod common;

use std::process::Command;

use chrono::{Duration, TimeZone, Utc};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "kitetestkey42";
const TOKEN: &str = "accesstokenSECRET99";

fn ist(ts: i64) -> String {
    let t = chrono::FixedOffset::east_opt(19_800)
        .unwrap()
        .timestamp_opt(ts, 0)
        .unwrap();
    t.format("%Y-%m-%dT%H:%M:%S%z").to_string()
}

/// 12 days × 25 candles of 15 minutes, ending before today.
fn candles() -> serde_json::Value {
    let today = Utc::now().date_naive();
    let mut out = Vec::new();
    let mut price = 24_000.0;
    for d in (1..=12).rev() {
        let day = today - Duration::days(d);
        let open = day.and_hms_opt(3, 45, 0).unwrap().and_utc().timestamp(); // 09:15 IST
        for k in 0..25 {
            price += if (d + k) % 3 == 0 { -12.5 } else { 9.0 };
            out.push(serde_json::json!([
                ist(open + k * 900),
                price,
                price + 5.0,
                price - 5.0,
                price + 1.0,
                1000
            ]));
        }
    }
    serde_json::json!({"status": "success", "data": {"candles": out}})
}

fn nfo_dump() -> String {
    let mut s = String::from("instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange\n");
    let today = Utc::now().date_naive();
    let mut token = 10_000;
    for w in 0..4 {
        let e = today + Duration::days(2 + 7 * w);
        for k in 0..5 {
            let strike = 23_900 + 50 * k;
            for t in ["CE", "PE"] {
                token += 1;
                s.push_str(&format!(
                    "{token},{},NIFTYX{strike}{t},NIFTY,0,{e},{strike},0.05,75,{t},NFO-OPT,NFO\n",
                    token / 256
                ));
            }
        }
    }
    s
}

const NSE_DUMP: &str = "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange\n256265,1001,NIFTY 50,NIFTY 50,0,,0,0,0,EQ,INDICES,NSE\n";

async fn server(quote: ResponseTemplate) -> MockServer {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/instruments/NFO"))
        .respond_with(ResponseTemplate::new(200).set_body_string(nfo_dump()))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/instruments/NSE"))
        .respond_with(ResponseTemplate::new(200).set_body_string(NSE_DUMP))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/instruments/historical/256265/15minute$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(candles()))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/quote"))
        .respond_with(quote)
        .mount(&s)
        .await;
    s
}

fn run_engine(dir: &std::path::Path, uri: &str) -> std::process::Output {
    let mut v = common::default_json();
    v["storage"]["data_dir"] = dir.to_string_lossy().into_owned().into();
    v["data_collection"]["realtime"]["interval_seconds"] = 1.into();
    v["data_collection"]["historical"]["default_lookback_days"] = 30.into();
    let cfg = common::write_config(dir, &v);
    Command::new(env!("CARGO_BIN_EXE_alphastocks"))
        .current_dir(common::root())
        .env("RUST_LOG", "info")
        .env("KITE_BASE_URL", uri)
        .env("KITE_API_KEY", KEY)
        .env("KITE_ACCESS_TOKEN", TOKEN)
        .args([
            "run",
            "--feed",
            "kite",
            "--mode",
            "paper",
            "--duration",
            "3.5",
            "--config",
        ])
        .arg(&cfg)
        .output()
        .unwrap()
}

#[actix_rt::test]
async fn kite_feed_backfills_polls_and_keeps_secrets_out_of_the_output() {
    let now_ist = Utc::now().timestamp() + 19_800;
    let ts = chrono::DateTime::from_timestamp(now_ist, 0)
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let quote = serde_json::json!({"status": "success", "data": {"NSE:NIFTY 50": {
        "instrument_token": 256265, "timestamp": ts, "last_price": 24010.5,
        "ohlc": {"open": 24000.0, "high": 24050.0, "low": 23950.0, "close": 23990.0}}}});
    let s = server(ResponseTemplate::new(200).set_body_json(quote)).await;
    let dir = tempfile::tempdir().unwrap();
    let out = run_engine(dir.path(), &s.uri());
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("KITE Connect quotes"), "{stdout}");
    assert!(
        stderr.contains("backfilled 300 15minute candles of NIFTY"),
        "{stderr}"
    );
    assert!(
        stderr.contains("loaded 300 15minute candles of NIFTY"),
        "history reaches DataManager: {stderr}"
    );
    assert!(
        stderr.contains("NIFTY: lot 75 step 50"),
        "lot and strikes from the dump: {stderr}"
    );
    assert!(
        !stdout.contains(TOKEN) && !stderr.contains(TOKEN) && !stderr.contains(KEY),
        "credentials leaked"
    );
    let db = dir.path().join("alphastocks.db");
    assert!(common::count(&db, "historical_data") >= 300);
    // The instrument dumps are cached for the next start.
    assert!(dir.path().join("instruments_NFO.csv").exists());
    let reqs = s.received_requests().await.unwrap();
    let quotes: Vec<_> = reqs.iter().filter(|r| r.url.path() == "/quote").collect();
    assert!(quotes.len() >= 2, "polled every second: {}", quotes.len());
    let q = quotes[0];
    assert_eq!(q.headers.get("X-Kite-Version").unwrap(), "3");
    assert_eq!(
        q.headers.get("Authorization").unwrap().to_str().unwrap(),
        format!("token {KEY}:{TOKEN}")
    );
    let asked: Vec<_> = q
        .url
        .query_pairs()
        .filter(|(k, _)| k == "i")
        .map(|(_, v)| v.to_string())
        .collect();
    assert!(
        asked.contains(&"NSE:NIFTY 50".to_string())
            && asked.contains(&"NSE:NIFTY BANK".to_string()),
        "{asked:?}"
    );
}

#[actix_rt::test]
async fn a_token_error_halts_trading() {
    let body = serde_json::json!({"status": "error", "message": "Incorrect `api_key` or `access_token`.", "error_type": "TokenException"});
    let s = server(ResponseTemplate::new(403).set_body_json(body)).await;
    let dir = tempfile::tempdir().unwrap();
    let out = run_engine(dir.path(), &s.uri());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("trading HALTED"), "{stderr}");
    let db = rusqlite::Connection::open(dir.path().join("alphastocks.db")).unwrap();
    let halts: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'halt' AND detail LIKE 'broker:%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(halts, 1, "halted once, audited");
    assert!(!stderr.contains(TOKEN));
}

#[actix_rt::test]
async fn reconciliation_flags_what_the_engine_does_not_know() {
    let quote = serde_json::json!({"status": "success", "data": {}});
    let s = server(ResponseTemplate::new(200).set_body_json(quote)).await;
    let positions = serde_json::json!({"status": "success", "data": {
        "net": [
            {"tradingsymbol": "NIFTY25D0924000CE", "exchange": "NFO", "instrument_token": 1, "product": "NRML",
             "quantity": 75, "overnight_quantity": 0, "multiplier": 1, "average_price": 120.5, "last_price": 130.0, "pnl": 712.5},
            {"tradingsymbol": "NIFTY25D0923000PE", "exchange": "NFO", "instrument_token": 2, "product": "NRML",
             "quantity": 0, "overnight_quantity": 0, "multiplier": 1, "average_price": 0, "last_price": 10.0, "pnl": -50.0}
        ],
        "day": []}});
    let orders = serde_json::json!({"status": "success", "data": [
        {"order_id": "251209000001", "status": "OPEN", "tradingsymbol": "NIFTY25D0924100CE", "exchange": "NFO",
         "transaction_type": "BUY", "order_type": "LIMIT", "quantity": 75, "price": 80.0, "tag": "manual"},
        {"order_id": "251209000002", "status": "COMPLETE", "tradingsymbol": "NIFTY25D0924000CE", "exchange": "NFO",
         "transaction_type": "BUY", "order_type": "LIMIT", "quantity": 75, "price": 120.5}
    ]});
    Mock::given(method("GET"))
        .and(path("/portfolio/positions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(positions))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/orders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(orders))
        .mount(&s)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let out = run_engine(dir.path(), &s.uri());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let flags: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("kite: reconcile:"))
        .collect();
    assert_eq!(flags.len(), 2, "{flags:#?}");
    assert!(
        flags[0]
            .contains("FLAG NIFTY25D0924000CE × 75 (NFO) at the broker is unknown to the engine"),
        "{flags:#?}"
    );
    assert!(
        flags[1].contains("FLAG open order 251209000001 BUY NIFTY25D0924100CE × 75 (OPEN)"),
        "{flags:#?}"
    );
}
