//! Live orders followed on the order updates KiteTicker pushes, and the periodic
//! reconciliation, end to end: the engine binary in live mode against the local stand-in of
//! Kite (REST through wiremock, KiteTicker through tokio-tungstenite).
//!
//! In the push tests an order is polled over REST once a minute, and the run lasts seconds: an
//! order the engine learns the end of within the run was ended by a push (and read over REST
//! once more, at once).

mod common;
mod kite_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kite_support::market::{nifty_ticks, server};
use kite_support::ticker::ticker_server_pushing;
use kite_support::{engine_at, KEY, TOKEN};
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedSender;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// What the stand-in's exchange does with an order when the engine first reads it over REST
/// (OPEN until then): REST's new state, and the update pushed over the ticker.
#[derive(Clone, Copy)]
enum Script {
    /// Rejected for this reason: REST and the push agree.
    Reject(&'static str),
    /// Filled: REST and the push agree.
    Fill,
    /// Pushed COMPLETE, but REST has it rejected for this reason.
    PushFillRestRejects(&'static str),
}

/// One order the engine placed.
#[derive(Clone)]
struct Order {
    id: String,
    form: HashMap<String, String>,
    status: String,
    filled: u64,
    reason: Option<String>,
}

/// The stand-in's order desk.
struct Desk {
    script: Script,
    orders: Vec<Order>,
    /// REST reads of each order's history.
    reads: HashMap<String, usize>,
    /// Text frames for the ticker to push.
    pushes: UnboundedSender<String>,
}

type Shared = Arc<Mutex<Desk>>;

fn order_json(o: &Order) -> Value {
    let f = &o.form;
    let q: u64 = f["quantity"].parse().unwrap();
    json!({
        "order_id": o.id, "status": o.status, "status_message": o.reason,
        "tradingsymbol": f["tradingsymbol"], "exchange": f["exchange"],
        "transaction_type": f["transaction_type"], "order_type": f["order_type"],
        "product": f["product"], "variety": "regular", "quantity": q,
        "filled_quantity": o.filled, "pending_quantity": q - o.filled,
        "average_price": if o.filled > 0 { f["price"].parse::<f64>().unwrap() } else { 0.0 },
        "tag": f.get("tag")})
}

struct Place(Shared);

impl Respond for Place {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body)
            .into_owned()
            .collect();
        let mut d = self.0.lock().unwrap();
        let id = format!("ENTRY{}", d.orders.len() + 1);
        d.orders.push(Order {
            id: id.clone(),
            form,
            status: "OPEN".into(),
            filled: 0,
            reason: None,
        });
        ResponseTemplate::new(200)
            .set_body_json(json!({"status": "success", "data": {"order_id": id}}))
    }
}

/// `GET /orders/{id}`: the order as it is; at its first read, the script moves it on (after
/// answering OPEN) and pushes the update.
struct History(Shared);

impl Respond for History {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let id = req.url.path().trim_start_matches("/orders/").to_string();
        let mut d = self.0.lock().unwrap();
        *d.reads.entry(id.clone()).or_default() += 1;
        let script = d.script;
        let Some(o) = d.orders.iter_mut().find(|o| o.id == id) else {
            return ResponseTemplate::new(400).set_body_json(json!({"status": "error",
                "message": "no such order", "error_type": "OrderException"}));
        };
        let answer = order_json(o);
        let mut pushed = None;
        if o.status == "OPEN" {
            let q: u64 = o.form["quantity"].parse().unwrap();
            match script {
                Script::Reject(why) => {
                    (o.status, o.reason) = ("REJECTED".into(), Some(why.into()));
                    pushed = Some(order_json(o));
                }
                Script::Fill => {
                    (o.status, o.filled) = ("COMPLETE".into(), q);
                    pushed = Some(order_json(o));
                }
                Script::PushFillRestRejects(why) => {
                    let mut said = o.clone();
                    (said.status, said.filled) = ("COMPLETE".into(), q);
                    pushed = Some(order_json(&said));
                    (o.status, o.reason) = ("REJECTED".into(), Some(why.into()));
                }
            }
        }
        if let Some(p) = pushed {
            d.pushes
                .send(json!({"type": "order", "data": p}).to_string())
                .unwrap();
        }
        ResponseTemplate::new(200).set_body_json(json!({"status": "success", "data": [answer]}))
    }
}

struct OrderBook(Shared);

impl Respond for OrderBook {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let d = self.0.lock().unwrap();
        let list: Vec<Value> = d.orders.iter().map(order_json).collect();
        ResponseTemplate::new(200).set_body_json(json!({"status": "success", "data": list}))
    }
}

/// A filled order's one trade at its limit.
struct Trades(Shared);

impl Respond for Trades {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let id = req
            .url
            .path()
            .trim_start_matches("/orders/")
            .trim_end_matches("/trades");
        let d = self.0.lock().unwrap();
        let trades: Vec<Value> = d
            .orders
            .iter()
            .filter(|o| o.id == id && o.status == "COMPLETE")
            .map(|o| {
                json!({"trade_id": format!("{id}-1"), "order_id": id, "exchange": "NFO",
                    "tradingsymbol": o.form["tradingsymbol"], "quantity": o.filled,
                    "average_price": o.form["price"].parse::<f64>().unwrap()})
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({"status": "success", "data": trades}))
    }
}

/// Net positions: the filled orders, and `extra` (held outside the engine).
struct Holdings(Shared, Vec<Value>);

impl Respond for Holdings {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let d = self.0.lock().unwrap();
        let mut net: Vec<Value> = d
            .orders
            .iter()
            .filter(|o| o.status == "COMPLETE")
            .map(|o| {
                json!({"tradingsymbol": o.form["tradingsymbol"], "exchange": "NFO",
                    "product": "NRML", "instrument_token": 1, "quantity": o.filled,
                    "average_price": 100.05, "last_price": 100.0})
            })
            .collect();
        net.extend(self.1.iter().cloned());
        ResponseTemplate::new(200)
            .set_body_json(json!({"status": "success", "data": {"net": net, "day": []}}))
    }
}

/// Options quoted at 100.00 (the index streams over the ticker).
struct Quotes;

impl Respond for Quotes {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut data = serde_json::Map::new();
        for (_, v) in req.url.query_pairs().filter(|(k, _)| k == "i") {
            if v.starts_with("NFO:NIFTYX") {
                data.insert(
                    v.to_string(),
                    json!({"instrument_token": 1, "last_price": 100.0, "volume": 250_000,
                        "oi": 1_500_000,
                        "depth": {"buy": [{"price": 99.95, "quantity": 750, "orders": 3}],
                                  "sell": [{"price": 100.05, "quantity": 900, "orders": 4}]}}),
                );
            }
        }
        ResponseTemplate::new(200).set_body_json(json!({"status": "success", "data": data}))
    }
}

/// Mounts `verb` on the paths matching `p`, answered by `r`.
async fn route(s: &MockServer, verb: &str, p: &str, r: impl Respond + 'static) {
    Mock::given(method(verb))
        .and(path_regex(p))
        .respond_with(r)
        .mount(s)
        .await;
}

/// The stand-in: market data, the order desk, funds, and an alert hook at `/alerts`.
async fn stand_in(desk: &Shared, held_elsewhere: Vec<Value>) -> MockServer {
    let s = server(Quotes).await;
    route(&s, "POST", "^/orders/regular$", Place(desk.clone())).await;
    route(&s, "GET", "^/orders$", OrderBook(desk.clone())).await;
    route(
        &s,
        "GET",
        "^/orders/[A-Z0-9]+/trades$",
        Trades(desk.clone()),
    )
    .await;
    route(&s, "GET", "^/orders/[A-Z0-9]+$", History(desk.clone())).await;
    let holdings = Holdings(desk.clone(), held_elsewhere);
    route(&s, "GET", "^/portfolio/positions$", holdings).await;
    Mock::given(method("POST"))
        .and(path("/margins/orders"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"status": "success",
            "data": [{"type": "equity", "tradingsymbol": "NIFTYX24000PE", "exchange": "NFO",
            "total": 60_000.0}]})),
        )
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/user/margins/equity"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"status": "success",
            "data": {"enabled": true, "net": 2_000_000.0,
            "available": {"live_balance": 2_000_000.0}, "utilised": {}}})),
        )
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/alerts"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&s)
        .await;
    s
}

/// Runs the engine live on the stand-in for `secs`, the ticker at `ws_url`, with `tune` applied
/// to the config; the engine's stderr. Never waits past two minutes for the engine to stop.
fn run_live(
    dir: &std::path::Path,
    s: &MockServer,
    ws_url: &str,
    secs: &str,
    tune: impl FnOnce(&mut Value),
) -> String {
    let mut v = common::default_json();
    v["storage"]["data_dir"] = dir.to_string_lossy().into_owned().into();
    v["data_collection"]["realtime"]["interval_seconds"] = 1.into();
    v["data_collection"]["historical"]["default_lookback_days"] = 30.into();
    let o = &mut v["options_trading"];
    o["entry_filters"]["valid_underlyings"] = json!(["NIFTY"]);
    o["entry_filters"]["min_signal_strength"] = 0.0.into();
    o["entry_filters"]["min_expected_move_pct"] = 0.0.into();
    o["position_sizing"]["account_capital"] = 1_000_000.0.into();
    // One REST read of an order a minute (the most allowed): only a push ends it within the
    // run.
    v["kite"] = json!({"live_trading_enabled": true, "ticker": true,
        "order_poll_millis": 60_000, "entry_fill_timeout_seconds": 3600});
    v["alerts"] = json!({"webhooks": [{"kind": "json", "url": format!("{}/alerts", s.uri())}]});
    tune(&mut v);
    let cfg = common::write_config(dir, &v);
    let mut child = engine_at(&s.uri())
        .env("KITE_TICKER_URL", ws_url)
        .args(["run", "--config"])
        .arg(&cfg)
        .args([
            "--feed",
            "kite",
            "--mode",
            "live",
            "--confirm-live",
            "--duration",
            secs,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let began = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if began.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(!stderr.contains(TOKEN) && !stderr.contains(KEY));
    stderr
}

/// A desk following `script`, its stand-in, and a ticker that streams the index (a SELL
/// signal: the 24000 put is bought) and pushes what the desk gives it.
async fn scripted(script: Script, held_elsewhere: Vec<Value>) -> (Shared, MockServer, String) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let desk: Shared = Arc::new(Mutex::new(Desk {
        script,
        orders: Vec::new(),
        reads: HashMap::new(),
        pushes: tx,
    }));
    let (ws_url, _) = ticker_server_pushing(vec![nifty_ticks(0, 3)], None, rx);
    let s = stand_in(&desk, held_elsewhere).await;
    (desk, s, ws_url)
}

/// The only decision the executor stored: (outcome, reason, detail).
fn decision(db: &rusqlite::Connection, stderr: &str) -> (String, String, String) {
    db.query_row(
        "SELECT outcome, reason, detail FROM executor_decisions",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .unwrap_or_else(|e| panic!("no single decision ({e}):\n{stderr}"))
}

/// The alarms posted to the hook: (kind, message, the whole body).
async fn posted(s: &MockServer) -> Vec<(String, String, Value)> {
    s.received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/alerts")
        .map(|r| {
            let b: Value = serde_json::from_slice(&r.body).unwrap();
            (
                b["kind"].as_str().unwrap().to_string(),
                b["message"].as_str().unwrap().to_string(),
                b,
            )
        })
        .collect()
}

#[actix_rt::test]
async fn a_pushed_rejection_reaches_the_book_and_an_alarm_at_once() {
    const WHY: &str = "RMS:Margin Exceeds,Required:60000.00, Available:900.00 for entity account";
    let (desk, s, ws_url) = scripted(Script::Reject(WHY), Vec::new()).await;
    let dir = tempfile::tempdir().unwrap();
    let stderr = run_live(dir.path(), &s, &ws_url, "6", |_| {});
    {
        let d = desk.lock().unwrap();
        assert_eq!(d.orders.len(), 1, "one entry order:\n{stderr}");
        assert_eq!(d.orders[0].form["transaction_type"], "BUY");
        assert_eq!(
            d.reads.get("ENTRY1"),
            Some(&2),
            "read after placement (OPEN), and once more when the rejection was pushed: no poll ran"
        );
    }

    // The book: the signal's decision is a rejection, for the exchange's reason.
    let db = rusqlite::Connection::open(dir.path().join("alphastocks.db")).unwrap();
    let (outcome, reason, detail) = decision(&db, &stderr);
    assert_eq!(
        (outcome.as_str(), reason.as_str()),
        ("rejected", "order_rejected"),
        "{detail}"
    );
    assert!(
        detail.contains(&format!("order ENTRY1 REJECTED: {WHY}")),
        "{detail}"
    );
    let open: i64 = db
        .query_row("SELECT COUNT(*) FROM positions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(open, 0, "nothing opened");
    // On record and posted, once, with the reason.
    let audit: String = db
        .query_row(
            "SELECT detail FROM audit_events WHERE action = 'order_rejected'",
            [],
            |r| r.get(0),
        )
        .unwrap_or_else(|e| panic!("no audit row ({e}):\n{stderr}"));
    assert!(audit.contains("ENTRY1") && audit.contains(WHY), "{audit}");
    let alarms = posted(&s).await;
    assert_eq!(alarms.len(), 1, "{alarms:?}\n{stderr}");
    let (kind, message, body) = &alarms[0];
    assert_eq!(kind, "order_rejected");
    assert!(
        message.contains("order ENTRY1 BUY NIFTYX24000PE")
            && message.contains(&format!("REJECTED by the exchange: {WHY}")),
        "{message}"
    );
    assert_eq!(
        (&body["symbol"], &body["order"], &body["severity"]),
        (
            &json!("NIFTYX24000PE"),
            &json!("ENTRY1"),
            &json!("critical")
        )
    );
}

#[actix_rt::test]
async fn a_pushed_fill_completes_the_entry() {
    let (desk, s, ws_url) = scripted(Script::Fill, Vec::new()).await;
    let dir = tempfile::tempdir().unwrap();
    let stderr = run_live(dir.path(), &s, &ws_url, "6", |_| {});
    let qty = {
        let d = desk.lock().unwrap();
        assert_eq!(d.reads.get("ENTRY1"), Some(&2), "{stderr}");
        d.orders[0].form["quantity"].clone()
    };
    let db = rusqlite::Connection::open(dir.path().join("alphastocks.db")).unwrap();
    let (outcome, _, detail) = decision(&db, &stderr);
    assert_eq!(outcome, "opened", "{detail}");
    assert!(
        detail.contains(&format!("LIVE order ENTRY1 filled {qty} @ 100.05")),
        "{detail}"
    );
    let body: String = db
        .query_row(
            "SELECT body FROM positions ORDER BY version DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let p: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (
            &p["status"],
            &p["mode"],
            &p["entry_premium"],
            p["quantity"].to_string()
        ),
        (&json!("OPEN"), &json!("live"), &json!(100.05), qty),
        "{p}"
    );
    assert!(
        stderr.contains("pushed: order ENTRY1 BUY NIFTYX24000PE"),
        "the push was read:\n{stderr}"
    );
    assert!(posted(&s).await.is_empty(), "a fill is no alarm");
}

#[actix_rt::test]
async fn when_the_push_and_rest_disagree_rest_wins() {
    const WHY: &str = "RMS: order blocked for the test";
    let (desk, s, ws_url) = scripted(Script::PushFillRestRejects(WHY), Vec::new()).await;
    let dir = tempfile::tempdir().unwrap();
    let stderr = run_live(dir.path(), &s, &ws_url, "6", |_| {});
    assert_eq!(desk.lock().unwrap().reads.get("ENTRY1"), Some(&2));
    assert!(
        stderr.contains("order ENTRY1: KiteTicker pushed COMPLETE")
            && stderr.contains("REST says REJECTED (filled 0): following REST"),
        "{stderr}"
    );
    let db = rusqlite::Connection::open(dir.path().join("alphastocks.db")).unwrap();
    let (outcome, reason, detail) = decision(&db, &stderr);
    assert_eq!(
        (outcome.as_str(), reason.as_str()),
        ("rejected", "order_rejected")
    );
    assert!(
        detail.contains(&format!("order ENTRY1 REJECTED: {WHY}")),
        "{detail}"
    );
    let positions: i64 = db
        .query_row("SELECT COUNT(*) FROM positions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(positions, 0, "the pushed fill was not booked");
    // REST's rejection is the alarm (the push said nothing of one).
    let alarms = posted(&s).await;
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    assert_eq!(alarms[0].0, "order_rejected");
    assert!(alarms[0].1.contains(WHY), "{}", alarms[0].1);
}

#[actix_rt::test]
async fn a_divergence_found_by_reconciliation_is_an_alarm_naming_the_instrument_and_quantities() {
    // The broker holds 150 of a call the engine never bought (placed by hand, say). With no
    // signal (no ticks), the book holds nothing: two looks a second apart find the difference.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let desk: Shared = Arc::new(Mutex::new(Desk {
        script: Script::Fill,
        orders: Vec::new(),
        reads: HashMap::new(),
        pushes: tx,
    }));
    let (ws_url, _) = ticker_server_pushing(vec![vec![]], None, rx);
    let elsewhere = json!({"tradingsymbol": "NIFTYX23900CE", "exchange": "NFO", "product": "NRML",
        "instrument_token": 10_001, "quantity": 150, "average_price": 80.0, "last_price": 81.0});
    let s = stand_in(&desk, vec![elsewhere]).await;
    let dir = tempfile::tempdir().unwrap();
    let stderr = run_live(dir.path(), &s, &ws_url, "5", |v| {
        v["kite"]["reconcile_seconds"] = 1.into();
    });
    let alarms = posted(&s).await;
    let found: Vec<_> = alarms.iter().filter(|a| a.0 == "book_divergence").collect();
    assert_eq!(
        found.len(),
        1,
        "raised once while it lasts: {alarms:?}\n{stderr}"
    );
    let (_, message, body) = found[0];
    assert!(
        message.contains("NIFTYX23900CE: the book holds 0, the broker 150"),
        "{message}"
    );
    assert_eq!(body["symbol"], "NIFTYX23900CE");
    assert!(
        stderr.contains("broker: reconcile: NIFTYX23900CE: the book holds 0, the broker 150"),
        "{stderr}"
    );
    let db = rusqlite::Connection::open(dir.path().join("alphastocks.db")).unwrap();
    let audit: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'reconcile_alarm' AND detail LIKE '%NIFTYX23900CE: the book holds 0, the broker 150%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(audit, 1, "{stderr}");
}
