//! `run --feed kite` end to end against a local server speaking Kite's formats: instruments,
//! history backfill, quote polling, paper mode, credentials never in the output, and a token
//! error halting trading; live mode's safeguards, and a live run whose orders fill and exit
//! through the scripted broker.

mod common;
mod kite_support;

use kite_support::market::*;
use kite_support::ticker::*;
use kite_support::{engine_at, KEY, TOKEN};

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};

use chrono::{Duration, Utc};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn run_engine(dir: &std::path::Path, uri: &str) -> std::process::Output {
    run_engine_with(dir, uri, |_| {})
}

/// [`run_engine`] with the config changed by `tweak` first.
fn run_engine_with(
    dir: &std::path::Path,
    uri: &str,
    tweak: impl FnOnce(&mut serde_json::Value),
) -> std::process::Output {
    let mut v = common::default_json();
    tweak(&mut v);
    v["storage"]["data_dir"] = dir.to_string_lossy().into_owned().into();
    v["data_collection"]["realtime"]["interval_seconds"] = 1.into();
    v["data_collection"]["historical"]["default_lookback_days"] = 30.into();
    let cfg = common::write_config(dir, &v);
    engine_at(uri)
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
        stderr.contains("backfilled 300 closed 15minute candles of NIFTY"),
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
    Mock::given(method("POST"))
        .and(path("/alerts"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&s)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let hook = format!("{}/alerts", s.uri());
    let out = run_engine_with(dir.path(), &s.uri(), |v| {
        v["alerts"] = serde_json::json!({"webhooks": [{"kind": "json", "url": hook}]});
    });
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
    // ... and posted once (every poll is refused; one alarm says so), without a secret.
    let posted: Vec<serde_json::Value> = s
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/alerts")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(posted.len(), 1, "{posted:?}\n{stderr}");
    assert_eq!(posted[0]["kind"], "token_rejected");
    let m = posted[0]["message"].as_str().unwrap();
    assert!(
        m.starts_with("the broker refused the access token (") && m.contains("trading HALTED"),
        "{m}"
    );
    let all = posted[0].to_string();
    assert!(!all.contains(TOKEN) && !all.contains(KEY), "{all}");
}

#[actix_rt::test]
async fn a_feed_silent_in_market_hours_is_an_alarm() {
    // The broker answers every quote with nothing (rehearsal clock).
    let empty = serde_json::json!({"status": "success", "data": {}});
    let s = server(ResponseTemplate::new(200).set_body_json(empty)).await;
    Mock::given(method("POST"))
        .and(path("/alerts"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&s)
        .await;
    // Monday 10:00 IST: an alarm, once; Sunday 10:00 IST (market closed): none.
    let run = |clock_start: &'static str| {
        let dir = tempfile::tempdir().unwrap();
        let mut v = common::default_json();
        v["storage"]["data_dir"] = dir.path().to_string_lossy().into_owned().into();
        v["data_collection"]["realtime"]["interval_seconds"] = 1.into();
        v["data_collection"]["historical"]["default_lookback_days"] = 30.into();
        v["alerts"] = serde_json::json!({"webhooks": [{"kind": "json", "url": format!("{}/alerts", s.uri())}],
            "feed_silent_seconds": 5});
        let cfg = common::write_config(dir.path(), &v);
        let out = engine_at(&s.uri())
            .args(["run", "--feed", "kite", "--mode", "paper", "--config"])
            .arg(&cfg)
            .args(["--clock-start", clock_start, "--duration", "8"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        stderr
    };
    let posted = || async {
        s.received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path() == "/alerts")
            .map(|r| serde_json::from_slice::<serde_json::Value>(&r.body).unwrap())
            .collect::<Vec<_>>()
    };
    let stderr = run("2025-11-30T10:00:00+05:30");
    assert!(posted().await.is_empty(), "market closed: {stderr}");
    let stderr = run("2025-12-01T10:00:00+05:30");
    let posted = posted().await;
    assert_eq!(posted.len(), 1, "once per silence: {posted:?}\n{stderr}");
    assert_eq!(posted[0]["kind"], "feed_silent");
    assert_eq!(posted[0]["severity"], "critical");
    assert!(
        posted[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("no tick from the broker's feed for 5 s while the market is open"),
        "{}",
        posted[0]
    );
    assert!(stderr.contains("feed: ALARM no tick"), "{stderr}");
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

/// The scripted broker of the live test: the index drops once (a crossover down → a SELL
/// signal → a long put), the option trades at 100 until the engine buys it and at 60 after
/// (through the stop); the first exit order is rejected, the second fills.
#[derive(Default)]
struct Book {
    /// Quote calls that asked for the index.
    polls: i64,
    /// The orders placed, in order.
    orders: Vec<Placed>,
    /// Paper runs place no order: the option drops after this many index polls instead.
    drop_after_polls: Option<i64>,
    /// The BUY orders (counted from 1) the exchange rejects.
    reject_buys: Vec<usize>,
}

/// One order the engine placed, and what the script made of it.
#[derive(Clone)]
struct Placed {
    id: String,
    form: HashMap<String, String>,
    status: String,
    average_price: f64,
    message: String,
}

type Shared = Arc<Mutex<Book>>;

struct Quotes(Shared);

impl Respond for Quotes {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut b = self.0.lock().unwrap();
        let bought = b.orders.iter().any(|o| o.form["transaction_type"] == "BUY")
            || b.drop_after_polls.is_some_and(|n| b.polls >= n);
        let mut data = serde_json::Map::new();
        for (k, v) in req.url.query_pairs().filter(|(k, _)| k == "i") {
            let _ = k;
            if v == "NSE:NIFTY 50" {
                let t =
                    session_day().and_hms_opt(9, 16, 0).unwrap() + Duration::minutes(15 * b.polls);
                b.polls += 1;
                data.insert(v.to_string(), serde_json::json!({
                    "instrument_token": 256265, "last_price": 24_000.0,
                    "timestamp": t.format("%Y-%m-%d %H:%M:%S").to_string(),
                    "ohlc": {"open": 24_500.0, "high": 24_550.0, "low": 23_990.0, "close": 24_540.0}}));
            } else if v.starts_with("NFO:NIFTYX") {
                let ltp = if bought { 60.0 } else { 100.0 };
                data.insert(
                    v.to_string(),
                    serde_json::json!({
                    "instrument_token": 1, "last_price": ltp, "volume": 250_000, "oi": 1_500_000,
                    "depth": {"buy": [{"price": ltp - 0.05, "quantity": 750, "orders": 3}],
                              "sell": [{"price": ltp + 0.05, "quantity": 900, "orders": 4}]}}),
                );
            }
        }
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"status": "success", "data": data}))
    }
}

fn order_json(o: &Placed) -> serde_json::Value {
    let f = &o.form;
    let filled = if o.status == "COMPLETE" {
        f["quantity"].parse::<u64>().unwrap()
    } else {
        0
    };
    serde_json::json!({
        "order_id": o.id, "status": o.status,
        "status_message": if o.message.is_empty() { None } else { Some(&o.message) },
        "tradingsymbol": f["tradingsymbol"], "exchange": f["exchange"],
        "transaction_type": f["transaction_type"], "order_type": f["order_type"],
        "quantity": f["quantity"].parse::<u64>().unwrap(), "average_price": o.average_price,
        "filled_quantity": filled, "tag": f.get("tag")})
}

struct Place(Shared);

impl Respond for Place {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body)
            .into_owned()
            .collect();
        let mut b = self.0.lock().unwrap();
        let count = |side: &str| {
            b.orders
                .iter()
                .filter(|o| o.form["transaction_type"] == side)
                .count()
        };
        let (buys, sells) = (count("BUY"), count("SELL"));
        let (id, status, avg, msg) = match form["transaction_type"].as_str() {
            "BUY" if b.reject_buys.contains(&(buys + 1)) => (
                format!("ENTRY{}", buys + 1),
                "REJECTED",
                0.0,
                "RMS: slice blocked for the test",
            ),
            "BUY" => (
                format!("ENTRY{}", buys + 1),
                "COMPLETE",
                form["price"].parse().unwrap(),
                "",
            ),
            _ if sells == 0 => (
                "EXIT1".to_string(),
                "REJECTED",
                0.0,
                "RMS: exit blocked for the test",
            ),
            // Fills at two prices (see `Trades`): average 59.975.
            _ => (format!("EXIT{}", sells + 1), "COMPLETE", 59.975, ""),
        };
        b.orders.push(Placed {
            id: id.clone(),
            form,
            status: status.into(),
            average_price: avg,
            message: msg.into(),
        });
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"status": "success", "data": {"order_id": id}}))
    }
}

struct History(Shared);

impl Respond for History {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let id = req.url.path().trim_start_matches("/orders/");
        let b = self.0.lock().unwrap();
        let Some(o) = b.orders.iter().find(|o| o.id == id) else {
            return ResponseTemplate::new(400).set_body_json(serde_json::json!({"status": "error", "message": "no such order", "error_type": "OrderException"}));
        };
        let mut open = o.clone();
        open.status = "OPEN".into();
        ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"status": "success", "data": [order_json(&open), order_json(o)]}),
        )
    }
}

struct OrderBook(Shared);

impl Respond for OrderBook {
    fn respond(&self, _req: &Request) -> ResponseTemplate {
        let b = self.0.lock().unwrap();
        let list: Vec<_> = b.orders.iter().map(order_json).collect();
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"status": "success", "data": list}))
    }
}

/// An order's trades: the entry at its limit; the filled exit half at 60.00, half at 59.95.
struct Trades(Shared);

impl Respond for Trades {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let id = req
            .url
            .path()
            .trim_start_matches("/orders/")
            .trim_end_matches("/trades");
        let b = self.0.lock().unwrap();
        let trades: Vec<serde_json::Value> = match b.orders.iter().find(|o| o.id == id) {
            Some(o) if o.status == "COMPLETE" => {
                let q: u64 = o.form["quantity"].parse().unwrap();
                let prices = if o.form["transaction_type"] == "BUY" {
                    vec![(o.average_price, q)]
                } else {
                    vec![(60.0, q / 2), (59.95, q - q / 2)]
                };
                prices
                    .into_iter()
                    .enumerate()
                    .map(|(n, (px, q))| {
                        serde_json::json!({"trade_id": format!("{id}-{n}"),
                        "order_id": id, "exchange": "NFO", "tradingsymbol": o.form["tradingsymbol"],
                        "average_price": px, "quantity": q})
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"status": "success", "data": trades}))
    }
}

/// Net positions: what the script's filled orders add up to.
struct Holdings(Shared);

impl Respond for Holdings {
    fn respond(&self, _req: &Request) -> ResponseTemplate {
        let b = self.0.lock().unwrap();
        let mut net: HashMap<String, i64> = HashMap::new();
        for o in b.orders.iter().filter(|o| o.status == "COMPLETE") {
            let q: i64 = o.form["quantity"].parse().unwrap();
            let sign = if o.form["transaction_type"] == "BUY" {
                1
            } else {
                -1
            };
            *net.entry(o.form["tradingsymbol"].clone()).or_default() += sign * q;
        }
        let list: Vec<_> = net
            .iter()
            .map(|(sym, q)| {
                serde_json::json!({"tradingsymbol": sym, "exchange": "NFO", "product": "NRML",
                "instrument_token": 1, "quantity": q, "average_price": 100.05, "last_price": 60.0})
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"status": "success", "data": {"net": list, "day": []}}),
        )
    }
}

async fn live_server(book: &Shared) -> MockServer {
    let s = server(Quotes(book.clone())).await;
    Mock::given(method("POST"))
        .and(path("/orders/regular"))
        .respond_with(Place(book.clone()))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/orders"))
        .respond_with(OrderBook(book.clone()))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/portfolio/positions"))
        .respond_with(Holdings(book.clone()))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/orders/[A-Z0-9]+/trades$"))
        .respond_with(Trades(book.clone()))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/orders/[A-Z0-9]+$"))
        .respond_with(History(book.clone()))
        .mount(&s)
        .await;
    Mock::given(method("POST")).and(path("/margins/orders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"status": "success", "data": [
            {"type": "equity", "tradingsymbol": "NIFTYX24000PE", "exchange": "NFO", "total": 60_000.0}]})))
        .mount(&s).await;
    Mock::given(method("GET")).and(path("/user/margins/equity"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"status": "success", "data": {
            "enabled": true, "net": 2_000_000.0, "available": {"live_balance": 2_000_000.0}, "utilised": {}}})))
        .mount(&s).await;
    s
}

fn live_config(dir: &std::path::Path, enabled: bool) -> std::path::PathBuf {
    let mut v = common::default_json();
    v["storage"]["data_dir"] = dir.to_string_lossy().into_owned().into();
    v["data_collection"]["realtime"]["interval_seconds"] = 1.into();
    v["data_collection"]["historical"]["default_lookback_days"] = 30.into();
    let o = &mut v["options_trading"];
    o["entry_filters"]["valid_underlyings"] = serde_json::json!(["NIFTY"]);
    o["entry_filters"]["min_signal_strength"] = 0.0.into();
    o["entry_filters"]["min_expected_move_pct"] = 0.0.into();
    o["position_sizing"]["account_capital"] = 1_000_000.0.into();
    v["kite"] = serde_json::json!({"live_trading_enabled": enabled, "order_poll_millis": 100,
        "exit_retry_initial_seconds": 0.2, "exit_retry_max_seconds": 1.0});
    common::write_config(dir, &v)
}

fn live_engine(cfg: &std::path::Path, uri: &str, extra: &[&str]) -> std::process::Output {
    engine_at(uri)
        .args(["run", "--config"])
        .arg(cfg)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn live_mode_is_refused_without_every_safeguard() {
    let dir = tempfile::tempdir().unwrap();
    let unreachable = "http://127.0.0.1:9";
    let cases: [(bool, &[&str], &str); 3] = [
        (
            true,
            &["--mode", "live", "--feed", "kite"],
            "repeat with --confirm-live",
        ),
        (
            false,
            &["--mode", "live", "--feed", "kite", "--confirm-live"],
            "kite.live_trading_enabled = false",
        ),
        (
            true,
            &["--mode", "live", "--confirm-live"],
            "add --feed kite",
        ),
    ];
    for (enabled, args, why) in cases {
        let cfg = live_config(dir.path(), enabled);
        let out = live_engine(&cfg, unreachable, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("live mode is refused") && stderr.contains(why),
            "{args:?}: {stderr}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_alphastocks"))
        .current_dir(common::root())
        .env_remove("KITE_API_KEY")
        .env_remove("KITE_ACCESS_TOKEN")
        .args([
            "run",
            "--mode",
            "live",
            "--feed",
            "kite",
            "--confirm-live",
            "--config",
        ])
        .arg(live_config(dir.path(), true))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("KITE_API_KEY and KITE_ACCESS_TOKEN not set"),
        "{stderr}"
    );
}

#[actix_rt::test]
async fn live_mode_orders_fill_and_exit_through_the_broker() {
    const BOT: &str = "424242:LIVE-alerts-bot-token";
    let book: Shared = Arc::default();
    let s = live_server(&book).await;
    // Alarms go to a JSON hook and a Telegram bot on the same local server.
    Mock::given(method("POST"))
        .and(path("/alerts"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{BOT}/sendMessage")))
        .respond_with(ResponseTemplate::new(200))
        .mount(&s)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = live_config(dir.path(), true);
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    v["alerts"] = serde_json::json!({"webhooks": [
        {"kind": "json", "url": format!("{}/alerts", s.uri())},
        {"kind": "telegram", "chat_id": "-77", "api_url": s.uri()}
    ]});
    let cfg = common::write_config(dir.path(), &v);
    let out = engine_at(&s.uri())
        .env("ALPHASTOCKS_TELEGRAM_BOT_TOKEN", BOT)
        .args(["run", "--config"])
        .arg(&cfg)
        .args([
            "--feed",
            "kite",
            "--mode",
            "live",
            "--confirm-live",
            "--duration",
            "8",
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("mode:  LIVE"), "{stdout}");
    if std::env::var("SHOW_ENGINE_LOG").is_ok() {
        eprintln!("{stderr}");
    }
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN) && !stderr.contains(KEY));

    // The signal and its decision: opened live at the broker's fill.
    let db = rusqlite::Connection::open(dir.path().join("alphastocks.db")).unwrap();
    let (signal_id, outcome, mode, detail): (String, String, String, String) = db
        .query_row(
            "SELECT signal_id, outcome, mode, detail FROM executor_decisions WHERE outcome = 'opened'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap_or_else(|e| panic!("no opened decision ({e}):\n{stderr}"));
    assert_eq!((outcome.as_str(), mode.as_str()), ("opened", "live"));
    assert!(
        detail.contains("NIFTYX24000PE") && detail.contains("LIVE order ENTRY1 filled"),
        "{detail}"
    );

    // Orders: margin checked first, one tagged BUY, a rejected SELL and the SELL that filled.
    let reqs = s.received_requests().await.unwrap();
    let first = |p: &str, verb: &str| {
        reqs.iter()
            .position(|r| r.url.path() == p && r.method.as_str() == verb)
    };
    let post = first("/orders/regular", "POST").expect("an order was placed");
    assert!(
        first("/margins/orders", "POST").unwrap() < post,
        "margin before the order"
    );
    let holdings = reqs
        .iter()
        .filter(|r| r.url.path() == "/portfolio/positions")
        .count();
    assert!(
        holdings >= 3,
        "reconciliation, then the holdings before each exit attempt: {holdings}"
    );
    assert!(
        first("/user/margins/equity", "GET").unwrap() < post,
        "funds before the order"
    );
    let b = book.lock().unwrap().orders.clone();
    let orders: Vec<_> = b
        .iter()
        .map(|o| (o.id.as_str(), &o.form, o.status.as_str()))
        .collect();
    assert_eq!(
        orders.iter().map(|o| (o.0, o.2)).collect::<Vec<_>>(),
        vec![
            ("ENTRY1", "COMPLETE"),
            ("EXIT1", "REJECTED"),
            ("EXIT2", "COMPLETE")
        ],
        "{stderr}"
    );
    let (buy, sell1, sell2) = (orders[0].1, orders[1].1, orders[2].1);
    let sid: uuid::Uuid = signal_id.parse().unwrap();
    assert_eq!(
        buy["tag"],
        actors::kite::tag_for(&sid),
        "the entry's tag is the signal's"
    );
    assert_eq!(
        (
            buy["tradingsymbol"].as_str(),
            buy["exchange"].as_str(),
            buy["order_type"].as_str(),
            buy["price"].as_str(),
            buy["product"].as_str()
        ),
        ("NIFTYX24000PE", "NFO", "LIMIT", "100.05", "NRML")
    );
    for sell in [sell1, sell2] {
        assert_eq!(
            (
                sell["order_type"].as_str(),
                sell["market_protection"].as_str()
            ),
            ("MARKET", "-1")
        );
        assert_eq!(
            sell["quantity"], buy["quantity"],
            "the whole position is sold"
        );
    }
    assert_ne!(
        sell1["tag"], sell2["tag"],
        "each exit attempt has its own tag"
    );

    // The position: closed at the real exit fill, P&L exact to the paisa.
    let p = latest_position(&db, "");
    let qty = p["quantity"].as_i64().unwrap();
    assert_eq!(qty.to_string(), buy["quantity"]);
    assert_eq!(qty % 75, 0, "whole lots");
    assert_eq!(p["status"], "CLOSED", "{p}");
    assert_eq!(p["mode"], "live");
    assert_eq!(p["exit_reason"], "STOP_LOSS_HIT");
    assert_eq!(p["entry_premium"].as_f64(), Some(100.05));
    assert!(
        (p["exit_premium"].as_f64().unwrap() - 59.975).abs() < 1e-9,
        "{p}"
    );
    assert_eq!(p["remaining_quantity"], 0);
    // The exit filled at two prices: P&L is summed over the trades, not the average.
    let paise = (p["realized_pnl"].as_f64().unwrap() * 100.0).round() as i64;
    assert_eq!(
        paise,
        6000 * (qty / 2) + 5995 * (qty - qty / 2) - 10005 * qty,
        "realized = half × 60.00 + half × 59.95 − 100.05 × {qty}"
    );
    // Charged from the real fills: the entry order and the one exit order that filled (the
    // rejected attempt executed nothing), each at its date's rates; net = gross − charges.
    let charges = stored_charges(&p);
    assert_eq!(
        charges,
        common::fill_charges(
            &actors::charges::Schedule::default(),
            &p["entry_time"],
            true,
            10005 * qty
        ) + common::fill_charges(
            &actors::charges::Schedule::default(),
            &p["exit_time"],
            false,
            6000 * (qty / 2) + 5995 * (qty - qty / 2)
        )
    );
    assert_eq!(charges.brokerage, 2 * 2000, "two executed orders");
    assert_eq!(
        (p["net_pnl"].as_f64().unwrap() * 100.0).round() as i64,
        paise - charges.total
    );

    // The rejected exit was an alarm, on record.
    let alarms: i64 = db
        .query_row("SELECT COUNT(*) FROM audit_events WHERE action = 'exit_alarm' AND detail LIKE '%EXIT1 REJECTED%'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(alarms, 1, "{stderr}");
    assert!(stderr.contains("ALARM exit of NIFTYX24000PE"), "{stderr}");

    // ... and posted: to the JSON hook with the position, to Telegram's chat; no secret.
    let posted: Vec<serde_json::Value> = reqs
        .iter()
        .filter(|r| r.url.path() == "/alerts")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(posted.len(), 1, "{posted:?}\n{stderr}");
    let a = &posted[0];
    assert_eq!(
        (&a["kind"], &a["severity"], &a["symbol"], &a["position_id"]),
        (
            &"exit_not_filled".into(),
            &"critical".into(),
            &"NIFTYX24000PE".into(),
            &p["position_id"]
        ),
        "{a}"
    );
    assert!(
        a["message"].as_str().unwrap().contains("EXIT1 REJECTED"),
        "{a}"
    );
    let tg: Vec<serde_json::Value> = reqs
        .iter()
        .filter(|r| r.url.path().ends_with("/sendMessage"))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(tg.len(), 1, "{tg:?}");
    assert_eq!(tg[0]["chat_id"], "-77");
    assert_eq!(tg[0]["text"], a["text"]);
    for r in &reqs {
        let b = String::from_utf8_lossy(&r.body);
        assert!(!b.contains(BOT) && !b.contains(TOKEN), "{b}");
    }
    assert!(!stdout.contains(BOT) && !stderr.contains(BOT));
}

#[actix_rt::test]
async fn an_entry_above_the_freeze_quantity_is_sliced_and_a_rejected_slice_is_worked() {
    // A freeze quantity of one lot (75 in the dump) and 3 lots a trade: the entry is three
    // orders. The exchange rejects the second; the first exit attempt's first slice too.
    let book: Shared = Arc::default();
    book.lock().unwrap().reject_buys = vec![2];
    let s = live_server(&book).await;
    Mock::given(method("POST"))
        .and(path("/alerts"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&s)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = live_config(dir.path(), true);
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    v["instruments"]["underlyings"]["NIFTY"]["freeze_qty"] = 75.into();
    v["rules"]["max_lots_per_trade"] = 3.into();
    v["alerts"] =
        serde_json::json!({"webhooks": [{"kind": "json", "url": format!("{}/alerts", s.uri())}]});
    let cfg = common::write_config(dir.path(), &v);
    let out = live_engine(
        &cfg,
        &s.uri(),
        &[
            "--feed",
            "kite",
            "--mode",
            "live",
            "--confirm-live",
            "--duration",
            "8",
        ],
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let db = rusqlite::Connection::open(dir.path().join("alphastocks.db")).unwrap();
    let (signal_id, detail): (String, String) = db
        .query_row(
            "SELECT signal_id, detail FROM executor_decisions WHERE outcome = 'opened'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap_or_else(|e| panic!("no opened decision ({e}):\n{stderr}"));
    assert!(
        detail.contains("3 lots × 75 = 225 in 3 orders (freeze quantity 75)")
            && detail.contains("LIVE order ENTRY1,ENTRY3 filled 150")
            && detail.contains("slice 2/3: order ENTRY2 REJECTED"),
        "{detail}"
    );

    // Three BUYs of one lot, each with its own tag: the first the signal's, the others derived
    // from the position and the slice (what a re-run derives again and looks up).
    let b = book.lock().unwrap().orders.clone();
    let sid: uuid::Uuid = signal_id.parse().unwrap();
    let buys: Vec<_> = b
        .iter()
        .filter(|o| o.form["transaction_type"] == "BUY")
        .collect();
    assert_eq!(buys.len(), 3, "{stderr}");
    for (i, o) in buys.iter().enumerate() {
        assert_eq!(o.form["quantity"], "75");
        assert_eq!(o.form["tag"], actors::live_orders::entry_tag(&sid, i));
    }
    assert_eq!(buys[0].form["tag"], actors::kite::tag_for(&sid));
    let tags: std::collections::HashSet<&String> = buys.iter().map(|o| &o.form["tag"]).collect();
    assert_eq!(tags.len(), 3, "distinct tags");
    // The exit: the two lots held as two slices (the first rejected: an alarm), then the lot
    // that remained in a second attempt.
    let sells: Vec<(&str, &str, &str)> = b
        .iter()
        .filter(|o| o.form["transaction_type"] == "SELL")
        .map(|o| {
            (
                o.id.as_str(),
                o.status.as_str(),
                o.form["quantity"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        sells,
        vec![
            ("EXIT1", "REJECTED", "75"),
            ("EXIT2", "COMPLETE", "75"),
            ("EXIT3", "COMPLETE", "75")
        ],
        "{stderr}"
    );
    let pid = uuid::Uuid::new_v5(&messages::SIGNAL_NAMESPACE, sid.as_bytes());
    let sell_tags: Vec<&str> = b
        .iter()
        .filter(|o| o.form["transaction_type"] == "SELL")
        .map(|o| o.form["tag"].as_str())
        .collect();
    assert_eq!(
        sell_tags,
        vec![
            actors::live_orders::exit_slice_tag(&pid, 150, 1, 0),
            actors::live_orders::exit_slice_tag(&pid, 150, 1, 1),
            actors::live_orders::exit_slice_tag(&pid, 75, 2, 0),
        ]
    );

    // The position: the two lots that filled, closed by the two sales that filled; each of the
    // four executed orders charged as one (the rejected ones executed nothing).
    let p = latest_position(&db, "");
    assert_eq!(
        (p["quantity"].as_i64(), p["lots"].as_i64(), &p["status"]),
        (Some(150), Some(2), &serde_json::json!("CLOSED")),
        "{p}"
    );
    assert_eq!(p["remaining_quantity"], 0);
    let sold_one = 6000 * 37 + 5995 * 38;
    let paise = (p["realized_pnl"].as_f64().unwrap() * 100.0).round() as i64;
    assert_eq!(paise, 2 * sold_one - 10005 * 150);
    let sched = actors::charges::Schedule::default();
    let bought = common::fill_charges(&sched, &p["entry_time"], true, 10005 * 75);
    let sold = common::fill_charges(&sched, &p["exit_time"], false, sold_one);
    let charges = stored_charges(&p);
    assert_eq!(charges, bought + bought + sold + sold);
    assert_eq!(charges.brokerage, 4 * 2000, "four executed orders");
    assert_eq!(
        (p["net_pnl"].as_f64().unwrap() * 100.0).round() as i64,
        paise - charges.total
    );
    // Both rejections are alarms on record.
    let alarms = |action: &str, like: &str| -> i64 {
        db.query_row(
            "SELECT COUNT(*) FROM audit_events WHERE action = ?1 AND detail LIKE ?2",
            [action, like],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(alarms("entry_alarm", "%ENTRY2 REJECTED%"), 1, "{stderr}");
    assert_eq!(alarms("exit_alarm", "%EXIT1 REJECTED%"), 1, "{stderr}");
    // ... and posted, each once.
    let mut posted: Vec<(String, String)> = s
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/alerts")
        .map(|r| {
            let b: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            (
                b["kind"].as_str().unwrap().to_string(),
                b["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    posted.sort();
    assert_eq!(posted.len(), 2, "{posted:?}");
    assert_eq!(posted[0].0, "entry_shortfall");
    assert!(posted[0].1.contains("ENTRY2 REJECTED"), "{posted:?}");
    assert_eq!(posted[1].0, "exit_not_filled");
    assert!(posted[1].1.contains("EXIT1 REJECTED"), "{posted:?}");
}

/// A stored position's charges (paise).
fn stored_charges(p: &serde_json::Value) -> actors::charges::Breakdown {
    serde_json::from_value(p["charges"].clone()).unwrap()
}

/// The latest stored version of the position whose id starts with `id` (any position for "").
fn latest_position(db: &rusqlite::Connection, id: &str) -> serde_json::Value {
    let body: String = db
        .query_row(
            "SELECT body FROM positions WHERE position_id LIKE ?1 || '%' ORDER BY version DESC LIMIT 1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    serde_json::from_str(&body).unwrap()
}

/// Kills the engine if the test fails before it stopped.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[actix_rt::test]
async fn ctl_switches_a_kite_fed_engine_to_live_only_when_confirmed() {
    let book: Shared = Arc::default();
    let s = live_server(&book).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = live_config(dir.path(), true);
    let log = std::fs::File::create(dir.path().join("engine.log")).unwrap();
    let mut engine = Running(
        engine_at(&s.uri())
            .args([
                "run",
                "--feed",
                "kite",
                "--mode",
                "logging",
                "--allow-fault-injection",
                "--duration",
                "20",
                "--config",
            ])
            .arg(&cfg)
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let ctl = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_alphastocks"))
            .args(["ctl", "--config"])
            .arg(&cfg)
            .args(args)
            .output()
            .unwrap()
    };
    let t = std::time::Instant::now();
    while !ctl(&["status"]).status.success() {
        assert!(
            t.elapsed().as_secs() < 20,
            "the engine's control socket never answered"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = ctl(&["mode", "live"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("repeat with --confirm"));
    assert!(ctl(&["mode", "live", "--confirm"]).status.success());
    let st: serde_json::Value = serde_json::from_slice(&ctl(&["status"]).stdout).unwrap();
    assert_eq!(
        (st["mode"].as_str(), st["feed"].as_str()),
        (Some("live"), Some("kite"))
    );
    assert_eq!(st["broker"]["exit_alarms"], 0, "{st}");
    let m: serde_json::Value = serde_json::from_slice(&ctl(&["metrics", "--json"]).stdout).unwrap();
    let actors: Vec<&str> = m
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["actor"].as_str())
        .collect();
    assert_eq!(
        actors.len(),
        7,
        "the broker's mailbox is reported too: {actors:?}"
    );
    assert!(actors.contains(&"broker"));
    // The broker is supervised like the others: crashed, it restarts and answers again.
    assert!(ctl(&["crash", "broker"]).status.success());
    let t = std::time::Instant::now();
    loop {
        let m: serde_json::Value =
            serde_json::from_slice(&ctl(&["metrics", "--json"]).stdout).unwrap();
        let b = m
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["actor"] == "broker")
            .cloned()
            .unwrap();
        if b["restarts"] == 1 {
            assert!(b["last_error"].as_str().unwrap().contains("fault injected"));
            break;
        }
        assert!(
            t.elapsed().as_secs() < 10,
            "the broker never restarted: {b}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let st: serde_json::Value = serde_json::from_slice(&ctl(&["status"]).stdout).unwrap();
    assert!(
        st["broker"].is_object(),
        "the restarted broker answers: {st}"
    );
    assert!(ctl(&["shutdown"]).status.success());
    let code = engine.0.wait().unwrap();
    assert!(code.success());
    let db = rusqlite::Connection::open(dir.path().join("alphastocks.db")).unwrap();
    let audited: Vec<(String, bool)> = db
        .prepare("SELECT detail, ok FROM audit_events WHERE action = 'mode' ORDER BY timestamp")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(audited.len(), 2, "{audited:?}");
    assert!(!audited[0].1 && audited[1].0.contains("logging -> live") && audited[1].1);
}

#[actix_rt::test]
async fn paper_mode_with_the_broker_trades_the_listed_chain_on_real_marks() {
    let book: Shared = Arc::default();
    book.lock().unwrap().drop_after_polls = Some(4);
    let s = live_server(&book).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = live_config(dir.path(), false);
    let out = live_engine(
        &cfg,
        &s.uri(),
        &["--feed", "kite", "--mode", "paper", "--duration", "8"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        book.lock().unwrap().orders.is_empty(),
        "paper places no order"
    );
    let db = rusqlite::Connection::open(dir.path().join("alphastocks.db")).unwrap();
    let (mode, detail): (String, String) = db
        .query_row(
            "SELECT mode, detail FROM executor_decisions WHERE outcome = 'opened'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap_or_else(|e| panic!("no opened decision ({e}):\n{stderr}"));
    assert_eq!(mode, "paper");
    assert!(
        detail.contains("NIFTYX24000PE"),
        "the listed contract: {detail}"
    );
    // Filled at the real LTP plus one tick, marked on the real LTP, sold at it minus one tick.
    assert_paper_put_closed_at_59_95(&db);
}

/// The scripted paper trade's end: the 24000 put bought at 100.05 (100 + a tick) and sold at
/// 59.95 (60 − a tick), P&L exact in paise.
fn assert_paper_put_closed_at_59_95(db: &rusqlite::Connection) {
    let p = latest_position(db, "");
    let qty = p["quantity"].as_i64().unwrap();
    assert_eq!(
        (
            p["status"].as_str(),
            p["mode"].as_str(),
            p["option_symbol"].as_str()
        ),
        (Some("CLOSED"), Some("paper"), Some("NIFTYX24000PE")),
        "{p}"
    );
    assert_eq!(
        (p["entry_premium"].as_f64(), p["exit_premium"].as_f64()),
        (Some(100.05), Some(59.95))
    );
    let paise = (p["realized_pnl"].as_f64().unwrap() * 100.0).round() as i64;
    assert_eq!(paise, (5995 - 10005) * qty);
}

/// Stores a live position of 2 lots of 75 (NIFTYX24000PE bought at 100.05 an hour ago), open
/// with its exit in flight, as the engine left it when it stopped.
fn store_open_live_position(dir: &std::path::Path, pid: uuid::Uuid) {
    use actors::store::Store;
    let t = Utc::now() - Duration::hours(1);
    let open = messages::PositionRecord {
        position_id: pid,
        version: 4,
        signal_id: uuid::Uuid::from_u128(0x5eed_0002),
        symbol: "NIFTY".into(),
        option_symbol: "NIFTYX24000PE".into(),
        strike: 24_000.0,
        option_type: messages::OptionType::PE,
        expiry: Utc::now().date_naive() + Duration::days(2),
        mode: messages::Mode::Live,
        status: messages::PositionStatus::Open,
        lots: 2,
        lot_size: 75,
        quantity: 150,
        remaining_quantity: 150,
        entry_time: t,
        entry_premium: 100.05,
        stop_loss_premium: 70.05,
        target_premium: 160.05,
        current_premium: 66.0,
        unrealized_pnl: -5107.5,
        exit_time: None,
        exit_premium: 0.0,
        exit_reason: String::new(),
        realized_pnl: 0.0,
        updated_at: t,
        strategy: String::new(),
        // As the engine stored it at the entry.
        charges: actors::charges::Costs::default().fill(t.timestamp(), 1, 10005 * 150, 1),
        net_pnl: 0.0,
    };
    let mut st = actors::store::sqlite::SqliteStore::open(&dir.join("alphastocks.db")).unwrap();
    st.write(&[messages::Row::Position(Box::new(open))])
        .unwrap();
}

#[actix_rt::test]
async fn an_exit_that_filled_while_the_engine_was_down_closes_its_position_at_start() {
    let dir = tempfile::tempdir().unwrap();
    // The engine stopped with a live position open and its exit in flight.
    let pid = uuid::Uuid::from_u128(0x5eed_0001);
    store_open_live_position(dir.path(), pid);
    // The broker: attempt 1 was rejected, attempt 2 filled at two prices.
    let s = server(
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"status": "success", "data": {}})),
    )
    .await;
    let sell = |id: &str, attempt: u32, status: &str, filled: u32, avg: f64| {
        serde_json::json!({"order_id": id, "status": status, "tradingsymbol": "NIFTYX24000PE",
            "exchange": "NFO", "transaction_type": "SELL", "order_type": "MARKET", "quantity": 150,
            "filled_quantity": filled, "average_price": avg,
            "tag": actors::broker::exit_tag(&pid, 150, attempt)})
    };
    Mock::given(method("GET"))
        .and(path("/orders"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"status": "success",
            "data": [sell("X1", 1, "REJECTED", 0, 0.0), sell("X2", 2, "COMPLETE", 150, 59.975)]})),
        )
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/orders/X2/trades"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"status": "success",
            "data": [{"trade_id": "t1", "order_id": "X2", "average_price": 60.0, "quantity": 75},
                     {"trade_id": "t2", "order_id": "X2", "average_price": 59.95, "quantity": 75}]})))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/portfolio/positions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"status": "success", "data": {"net": [], "day": []}}),
        ))
        .mount(&s)
        .await;
    let out = run_engine(dir.path(), &s.uri());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("exit order X2 sold NIFTYX24000PE × 150 while the engine was down"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("expects an open live position"),
        "nothing left to flag: {stderr}"
    );
    let db = rusqlite::Connection::open(dir.path().join("alphastocks.db")).unwrap();
    let p = latest_position(&db, &pid.to_string());
    assert_eq!(p["status"], "CLOSED", "{p}");
    assert_eq!(p["exit_reason"], "EXIT_FILLED_WHILE_DOWN");
    assert_eq!(p["version"], 5);
    let paise = (p["realized_pnl"].as_f64().unwrap() * 100.0).round() as i64;
    assert_eq!(
        paise,
        6000 * 75 + 5995 * 75 - 10005 * 150,
        "over the order's trades"
    );
    // The entry's charges as stored, plus the sale's (one order, today's rates).
    let entry = common::fill_charges(
        &actors::charges::Schedule::default(),
        &p["entry_time"],
        true,
        10005 * 150,
    );
    let charges = stored_charges(&p);
    assert_eq!(
        charges,
        entry
            + common::fill_charges(
                &actors::charges::Schedule::default(),
                &p["exit_time"],
                false,
                6000 * 75 + 5995 * 75
            )
    );
    assert_eq!(
        (p["net_pnl"].as_f64().unwrap() * 100.0).round() as i64,
        paise - charges.total
    );
}

#[actix_rt::test]
async fn sliced_exit_orders_that_filled_while_the_engine_was_down_are_each_booked_at_start() {
    // With a freeze quantity of one lot (75), the exit of 150 was two orders, tagged as the
    // slices of attempt 1; both filled while the engine was down.
    let dir = tempfile::tempdir().unwrap();
    let pid = uuid::Uuid::from_u128(0x5eed_0003);
    store_open_live_position(dir.path(), pid);
    let s = server(
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"status": "success", "data": {}})),
    )
    .await;
    let sold = |id: &str, slice: usize, px: f64| {
        serde_json::json!({"order_id": id, "status": "COMPLETE", "tradingsymbol": "NIFTYX24000PE",
            "exchange": "NFO", "transaction_type": "SELL", "order_type": "MARKET", "quantity": 75,
            "filled_quantity": 75, "average_price": px,
            "tag": actors::live_orders::exit_slice_tag(&pid, 150, 1, slice)})
    };
    let ok = |data: serde_json::Value| {
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"status": "success", "data": data}))
    };
    Mock::given(method("GET"))
        .and(path("/orders"))
        .respond_with(ok(serde_json::json!([
            sold("X1", 0, 60.0),
            sold("X2", 1, 59.95)
        ])))
        .mount(&s)
        .await;
    for (id, px) in [("X1", 60.0), ("X2", 59.95)] {
        Mock::given(method("GET"))
            .and(path(format!("/orders/{id}/trades")))
            .respond_with(ok(
                serde_json::json!([{"trade_id": format!("{id}t"), "order_id": id,
                "average_price": px, "quantity": 75}]),
            ))
            .mount(&s)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/portfolio/positions"))
        .respond_with(ok(serde_json::json!({"net": [], "day": []})))
        .mount(&s)
        .await;
    let out = run_engine_with(dir.path(), &s.uri(), |v| {
        v["instruments"]["underlyings"]["NIFTY"]["freeze_qty"] = 75.into()
    });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for id in ["X1", "X2"] {
        assert!(
            stderr.contains(&format!(
                "exit order {id} sold NIFTYX24000PE × 75 while the engine was down"
            )),
            "{stderr}"
        );
    }
    let db = rusqlite::Connection::open(dir.path().join("alphastocks.db")).unwrap();
    let p = latest_position(&db, &pid.to_string());
    assert_eq!(
        (&p["status"], &p["exit_reason"], &p["remaining_quantity"]),
        (
            &serde_json::json!("CLOSED"),
            &serde_json::json!("EXIT_FILLED_WHILE_DOWN"),
            &serde_json::json!(0)
        ),
        "{p}"
    );
    let paise = (p["realized_pnl"].as_f64().unwrap() * 100.0).round() as i64;
    assert_eq!(paise, 6000 * 75 + 5995 * 75 - 10005 * 150);
    // The entry as stored, plus each sale charged as its own order.
    let sched = actors::charges::Schedule::default();
    let charges = stored_charges(&p);
    assert_eq!(
        charges,
        common::fill_charges(&sched, &p["entry_time"], true, 10005 * 150)
            + common::fill_charges(&sched, &p["exit_time"], false, 6000 * 75)
            + common::fill_charges(&sched, &p["exit_time"], false, 5995 * 75)
    );
    assert_eq!(charges.brokerage, 3 * 2000);
}

/// Runs the engine on the kite feed with the ticker at `ws_url` for `secs`; stdout, stderr.
async fn run_streaming(s: &MockServer, ws_url: &str, secs: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    run_streaming_in(dir.path(), s, ws_url, secs, |_| {}).await
}

async fn run_streaming_in(
    dir: &std::path::Path,
    s: &MockServer,
    ws_url: &str,
    secs: &str,
    tune: impl FnOnce(&mut serde_json::Value),
) -> (String, String) {
    let mut v = common::default_json();
    v["storage"]["data_dir"] = dir.to_string_lossy().into_owned().into();
    v["data_collection"]["realtime"]["interval_seconds"] = 1.into();
    v["data_collection"]["historical"]["default_lookback_days"] = 30.into();
    v["options_trading"]["entry_filters"]["valid_underlyings"] = serde_json::json!(["NIFTY"]);
    v["kite"] = serde_json::json!({"ticker": true});
    tune(&mut v);
    let cfg = common::write_config(dir, &v);
    let out = engine_at(&s.uri())
        .env("KITE_TICKER_URL", ws_url)
        .args([
            "run",
            "--feed",
            "kite",
            "--mode",
            "paper",
            "--duration",
            secs,
            "--config",
        ])
        .arg(&cfg)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    (stdout, stderr)
}

/// The number before `what` in the engine's closing `stopped:` line.
fn stopped_count(stdout: &str, what: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("stopped:"))
        .unwrap_or_default();
    let i = line.find(what).unwrap_or_else(|| panic!("{line}"));
    line[..i]
        .split_whitespace()
        .last()
        .unwrap()
        .parse()
        .unwrap()
}

#[actix_rt::test]
async fn kite_ticker_streams_the_underlyings_over_a_websocket() {
    let (ws_url, seen) = ticker_server(vec![nifty_ticks(0, 7)]);
    let s = server(no_quotes()).await;
    let (stdout, stderr) = run_streaming(&s, &ws_url, "3").await;
    assert!(
        stderr.contains("kite ticker: connected; 1 instruments in full mode"),
        "{stderr}"
    );
    // Every tick reached DataManager; 09:16 … 09:46 close the 09:15 and 09:30 candles.
    assert_eq!(stopped_count(&stdout, " ticks"), 7, "{stdout}");
    assert!(stopped_count(&stdout, " candles") >= 2, "{stdout}");
    let conns = seen.lock().unwrap().clone();
    assert_eq!(conns.len(), 1);
    let (uri, msgs) = &conns[0];
    assert!(
        uri.contains(&format!("api_key={KEY}")) && uri.contains(&format!("access_token={TOKEN}")),
        "{uri}"
    );
    assert_eq!(
        msgs,
        &vec![
            r#"{"a":"subscribe","v":[256265]}"#.to_string(),
            r#"{"a":"mode","v":["full",[256265]]}"#.to_string()
        ]
    );
    assert!(
        !stderr.contains(TOKEN),
        "the URL's token never reaches the log"
    );
    let polled = s
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/quote")
        .filter(|r| {
            r.url
                .query_pairs()
                .any(|(k, v)| k == "i" && v.starts_with("NSE:"))
        })
        .count();
    assert_eq!(polled, 0, "the underlyings stream, they are not polled");
}

#[actix_rt::test]
async fn kite_ticker_reconnects_and_subscribes_again() {
    // The server closes after three ticks; the engine comes back and gets the rest.
    let (ws_url, seen) = ticker_server(vec![nifty_ticks(0, 3), nifty_ticks(3, 3)]);
    let s = server(no_quotes()).await;
    let (stdout, stderr) = run_streaming(&s, &ws_url, "4").await;
    assert!(
        stderr.contains("kite ticker: closed by the server; reconnecting"),
        "{stderr}"
    );
    assert_eq!(stopped_count(&stdout, " ticks"), 6, "{stdout}\n{stderr}");
    let conns = seen.lock().unwrap().clone();
    assert_eq!(conns.len(), 2, "{conns:?}");
    assert_eq!(conns[0].1, conns[1].1, "the same subscription again");
}

#[actix_rt::test]
async fn a_paper_position_streams_its_option_and_exits_on_the_streamed_price() {
    // The index drops (a SELL signal: the 24000 put of the nearest expiry, token 10006 in the
    // dump); once the engine subscribes that option, the server streams it at 60.00.
    let (ws_url, seen) = ticker_server_with(vec![nifty_ticks(0, 3)], Some((10_006, 6_000)));
    let book: Shared = Arc::default();
    let s = server(Quotes(book.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let (_, stderr) = run_streaming_in(dir.path(), &s, &ws_url, "5", |v| {
        let o = &mut v["options_trading"];
        o["entry_filters"]["min_signal_strength"] = 0.0.into();
        o["entry_filters"]["min_expected_move_pct"] = 0.0.into();
        o["position_sizing"]["account_capital"] = 1_000_000.0.into();
    })
    .await;
    assert!(
        stderr.contains("kite ticker: streaming 1 more options"),
        "{stderr}"
    );
    let msgs = seen.lock().unwrap()[0].1.clone();
    assert!(
        msgs.contains(&r#"{"a":"subscribe","v":[10006]}"#.to_string())
            && msgs.contains(&r#"{"a":"mode","v":["full",[10006]]}"#.to_string()),
        "{msgs:?}"
    );
    let db = rusqlite::Connection::open(dir.path().join("alphastocks.db")).unwrap();
    // Opened at the polled 100 + a tick; sold at the streamed 60 − a tick.
    assert_paper_put_closed_at_59_95(&db);
    assert!(book.lock().unwrap().orders.is_empty(), "paper: no order");
}

/// `/quote` calls that asked for exactly the held put (the marks poll, not a chain quote).
async fn put_mark_polls(s: &MockServer) -> usize {
    s.received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/quote")
        .filter(|r| {
            let asked: Vec<String> = r
                .url
                .query_pairs()
                .filter(|(k, _)| k == "i")
                .map(|(_, v)| v.into_owned())
                .collect();
            asked == ["NFO:NIFTYX24000PE"]
        })
        .count()
}

#[actix_rt::test]
async fn a_held_option_is_polled_only_while_its_stream_is_quiet() {
    // The put streams once (at 100.00, inside stop and target: the position stays open) when
    // subscribed, then never again. Its marks poll stops while that tick is recent
    // (`ticker_silence_seconds`), and comes back once the stream has been quiet that long.
    let mut polls = Vec::new();
    for silence in [60, 1] {
        let (ws_url, _) = ticker_server_with(vec![nifty_ticks(0, 3)], Some((10_006, 10_000)));
        let book: Shared = Arc::default();
        let s = server(Quotes(book.clone())).await;
        let dir = tempfile::tempdir().unwrap();
        let (_, stderr) = run_streaming_in(dir.path(), &s, &ws_url, "5", |v| {
            let o = &mut v["options_trading"];
            o["entry_filters"]["min_signal_strength"] = 0.0.into();
            o["entry_filters"]["min_expected_move_pct"] = 0.0.into();
            o["position_sizing"]["account_capital"] = 1_000_000.0.into();
            v["kite"]["ticker_silence_seconds"] = silence.into();
        })
        .await;
        assert!(
            stderr.contains("kite ticker: streaming 1 more options"),
            "{stderr}"
        );
        polls.push(put_mark_polls(&s).await);
    }
    // Live (a tick within 60 s): at most the poll before its first streamed tick. Quiet after
    // 1 s: polled every second again.
    assert!(polls[0] <= 1, "{polls:?}");
    assert!(polls[1] >= 2, "{polls:?}");
}
