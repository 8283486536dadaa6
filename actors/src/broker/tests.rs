//! The Broker against a local stand-in of Kite's REST API.

use std::sync::atomic::{AtomicBool, Ordering};

use super::*;
use crate::kite::tag_for;
use crate::kite::testkit::{client, form, ok};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn cfg() -> BrokerConfig {
    let c = crate::config::Config::default_config().unwrap();
    let chain = crate::options_executor::TradeConfig::from_config(
        &c,
        crate::logic::session::Session::nse(),
    )
    .chain;
    let mut b = BrokerConfig::from_config(&c, chain);
    b.poll = Duration::from_millis(20);
    b.fill_timeout = Duration::from_millis(300);
    b
}

fn broker(server: &MockServer, cfg: BrokerConfig) -> Addr<Broker> {
    let reg = crate::metrics::Registry::new(true);
    let db = Tracked::new(DbWriter::start_unsupervised_for_tests(), reg.db_writer);
    Broker::new(
        cfg,
        Arc::new(client(server)),
        Arc::default(),
        db,
        reg.broker,
    )
    .start()
}

fn entry(signal: u128) -> PlaceEntry {
    PlaceEntry {
        signal_id: Uuid::from_u128(signal),
        option: MarketOption {
            tradingsymbol: "NIFTY25D0924000CE".into(),
            exchange: "NFO".into(),
            underlying: "NIFTY".into(),
            expiry: chrono::NaiveDate::from_ymd_opt(2025, 12, 9).unwrap(),
            strike: 24_000.0,
            kind: OptionType::CE,
            lot_size: 75,
            tick_size: 0.05,
            ltp: 101.0,
            bid: 100.95,
            ask: 101.05,
            volume: 10_000,
            oi: 50_000,
        },
        quantity: 150,
        price: 101.05,
        freeze_qty: None,
    }
}

fn order(id: &str, status: &str, filled: u32, avg: f64, tag: &str) -> serde_json::Value {
    serde_json::json!({"order_id": id, "status": status, "tradingsymbol": "NIFTY25D0924000CE",
        "exchange": "NFO", "transaction_type": "BUY", "order_type": "LIMIT", "quantity": 150,
        "filled_quantity": filled, "average_price": avg, "tag": tag})
}

/// `GET path` answers `data`.
async fn get(server: &MockServer, p: &str, data: serde_json::Value) {
    Mock::given(method("GET"))
        .and(path(p))
        .respond_with(ok(data))
        .mount(server)
        .await;
}

async fn margins(server: &MockServer, needed: f64, net: f64) {
    Mock::given(method("POST"))
        .and(path("/margins/orders"))
        .respond_with(ok(serde_json::json!([{"type": "equity", "total": needed}])))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/user/margins/equity"))
        .respond_with(ok(serde_json::json!({"enabled": true, "net": net})))
        .mount(server)
        .await;
}

async fn posts(server: &MockServer) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path() == "/orders/regular")
        .collect()
}

#[actix_rt::test]
async fn a_margin_shortfall_refuses_without_placing() {
    let s = MockServer::start().await;
    get(&s, "/orders", serde_json::json!([])).await;
    margins(&s, 15_157.5, 9_000.0).await;
    let r = broker(&s, cfg()).send(entry(1)).await.unwrap();
    match r {
        EntryResult::Refused { reason, detail } => {
            assert_eq!(reason, RejectReason::InsufficientMargin);
            assert!(
                detail.contains("₹15157.50") && detail.contains("₹9000.00"),
                "{detail}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(posts(&s).await.is_empty(), "nothing placed");
}

#[actix_rt::test]
async fn an_order_already_tagged_for_the_signal_is_followed_not_placed_again() {
    let s = MockServer::start().await;
    let tag = tag_for(&Uuid::from_u128(2));
    Mock::given(method("GET"))
        .and(path("/orders"))
        .respond_with(ok(serde_json::json!([order(
            "A7", "COMPLETE", 150, 101.15, &tag
        )])))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/orders/A7"))
        .respond_with(ok(serde_json::json!([order(
            "A7", "COMPLETE", 150, 101.15, &tag
        )])))
        .mount(&s)
        .await;
    let r = broker(&s, cfg()).send(entry(2)).await.unwrap();
    assert!(
        matches!(&r, EntryResult::Filled { order_id, quantity: 150, average_price, .. } if order_id == "A7" && *average_price == 101.15),
        "{r:?}"
    );
    assert!(posts(&s).await.is_empty(), "no second order");
}

/// OPEN until a cancel arrives, then CANCELLED with `filled` filled.
struct OpenUntilCancelled(Arc<AtomicBool>, u32);
impl Respond for OpenUntilCancelled {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let (status, filled) = if self.0.load(Ordering::SeqCst) {
            ("CANCELLED", self.1)
        } else {
            ("OPEN", 0)
        };
        ok(serde_json::json!([order(
            "B1", status, filled, 101.05, "t"
        )]))
    }
}
struct Cancel(Arc<AtomicBool>);
impl Respond for Cancel {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.0.store(true, Ordering::SeqCst);
        ok(serde_json::json!({"order_id": "B1"}))
    }
}

async fn unfilled(filled: u32) -> (MockServer, EntryResult) {
    let s = MockServer::start().await;
    let cancelled = Arc::new(AtomicBool::new(false));
    get(&s, "/orders", serde_json::json!([])).await;
    margins(&s, 15_157.5, 500_000.0).await;
    Mock::given(method("POST"))
        .and(path("/orders/regular"))
        .respond_with(ok(serde_json::json!({"order_id": "B1"})))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/orders/B1"))
        .respond_with(OpenUntilCancelled(cancelled.clone(), filled))
        .mount(&s)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/orders/regular/B1"))
        .respond_with(Cancel(cancelled))
        .mount(&s)
        .await;
    let r = broker(&s, cfg()).send(entry(3)).await.unwrap();
    (s, r)
}

#[actix_rt::test]
async fn an_entry_not_filled_in_time_is_cancelled_and_refused() {
    let (s, r) = unfilled(0).await;
    assert!(
        matches!(&r, EntryResult::Refused { reason: RejectReason::OrderNotFilled, detail } if detail.contains("B1 CANCELLED")),
        "{r:?}"
    );
    let sent = posts(&s).await;
    assert_eq!(sent.len(), 1);
    let f = form(&sent[0]);
    let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("tag"), Some(tag_for(&Uuid::from_u128(3)).as_str()));
    assert_eq!(
        (
            get("order_type"),
            get("price"),
            get("quantity"),
            get("product")
        ),
        (Some("LIMIT"), Some("101.05"), Some("150"), Some("NRML"))
    );
}

#[actix_rt::test]
async fn a_partial_fill_before_the_cancel_is_kept() {
    let (_s, r) = unfilled(75).await;
    assert!(
        matches!(&r, EntryResult::Filled { quantity: 75, .. }),
        "{r:?}"
    );
}

#[actix_rt::test]
async fn a_rerun_of_a_sliced_entry_places_only_the_slices_not_in_the_book() {
    // 225 with a freeze quantity of one lot (75): three slices. The first two were placed
    // before a crash; the re-run finds them by their tags and places only the third.
    let s = MockServer::start().await;
    let sid = Uuid::from_u128(5);
    let tag = |i| crate::live_orders::entry_tag(&sid, i);
    let placed = |id: &str, i| order(id, "COMPLETE", 75, 101.05, &tag(i));
    get(
        &s,
        "/orders",
        serde_json::json!([placed("A1", 0), placed("A2", 1)]),
    )
    .await;
    for (id, i) in [("A1", 0), ("A2", 1), ("A3", 2)] {
        get(
            &s,
            &format!("/orders/{id}"),
            serde_json::json!([placed(id, i)]),
        )
        .await;
    }
    margins(&s, 5_000.0, 500_000.0).await;
    Mock::given(method("POST"))
        .and(path("/orders/regular"))
        .respond_with(ok(serde_json::json!({"order_id": "A3"})))
        .mount(&s)
        .await;
    let mut e = entry(5);
    (e.quantity, e.freeze_qty) = (225, Some(75));
    let r = broker(&s, cfg()).send(e).await.unwrap();
    match &r {
        EntryResult::Filled {
            order_id,
            quantity,
            orders,
            shortfall,
            ..
        } => {
            assert_eq!((order_id.as_str(), *quantity), ("A1,A2,A3", 225));
            assert_eq!(orders, &vec![10_105 * 75; 3], "each slice's value");
            assert_eq!(shortfall, &None);
        }
        other => panic!("{other:?}"),
    }
    let sent = posts(&s).await;
    assert_eq!(sent.len(), 1, "only the missing slice");
    let f = form(&sent[0]);
    let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("tag"), Some(tag(2)));
    assert_eq!(get("quantity").as_deref(), Some("75"));
    // The tags: the signal's, then two derived from the position and the slice.
    assert_eq!(tag(0), tag_for(&sid));
    assert!(tag(1) != tag(0) && tag(2) != tag(1) && tag(2) != tag(0));
}

/// Collects the exit fills the broker reports.
struct Fills(Arc<std::sync::Mutex<Vec<ExitFilled>>>);
impl Actor for Fills {
    type Context = Context<Self>;
}
impl Handler<ExitFilled> for Fills {
    type Result = ();
    fn handle(&mut self, f: ExitFilled, _: &mut Context<Self>) {
        self.0.lock().unwrap().push(f);
    }
}

#[actix_rt::test]
async fn a_resent_sliced_exit_follows_the_slice_it_placed_and_sells_only_the_rest() {
    // Selling 150 in slices of 75: slice 1 of attempt 1 was placed and filled before a
    // restart (the broker now holds 75). The exit asked again finds it by its tag, reports
    // its fill, and places only slice 2.
    let s = MockServer::start().await;
    let pid = Uuid::from_u128(9);
    let tag = |i| crate::live_orders::exit_slice_tag(&pid, 150, 1, i);
    let sold = |id: &str, i| {
        let mut o = order(id, "COMPLETE", 75, 60.0, &tag(i));
        o["transaction_type"] = "SELL".into();
        o["quantity"] = 75.into();
        o
    };
    get(&s, "/orders", serde_json::json!([sold("X1", 0)])).await;
    get(&s, "/orders/X1", serde_json::json!([sold("X1", 0)])).await;
    get(&s, "/orders/X2", serde_json::json!([sold("X2", 1)])).await;
    get(
        &s,
        "/portfolio/positions",
        serde_json::json!({"net": [{"tradingsymbol": "NIFTY25D0924000CE", "exchange": "NFO",
            "product": "NRML", "instrument_token": 1, "quantity": 75, "average_price": 100.0,
            "last_price": 60.0}], "day": []}),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/orders/regular"))
        .respond_with(ok(serde_json::json!({"order_id": "X2"})))
        .mount(&s)
        .await;
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let me = Fills(got.clone()).start();
    broker(&s, cfg()).do_send(PlaceExit {
        position_id: pid,
        tradingsymbol: "NIFTY25D0924000CE".into(),
        quantity: 150,
        lot_size: 75,
        freeze_qty: Some(75),
        mark: 60.0,
        reason: "STOP_LOSS_HIT".into(),
        reply_to: me.recipient(),
    });
    for _ in 0..500 {
        if got.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let fills: Vec<(String, u32, i64)> = got
        .lock()
        .unwrap()
        .iter()
        .map(|f| (f.order_id.clone(), f.quantity, f.value_paise))
        .collect();
    assert_eq!(
        fills,
        vec![("X1".into(), 75, 6000 * 75), ("X2".into(), 75, 6000 * 75)],
        "one fill per executed order"
    );
    let sent = posts(&s).await;
    assert_eq!(sent.len(), 1, "slice 1 is not sold twice");
    let f = form(&sent[0]);
    let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(
        (
            get("tag"),
            get("quantity").as_deref(),
            get("transaction_type").as_deref()
        ),
        (Some(tag(1)), Some("75"), Some("SELL"))
    );
}

#[actix_rt::test]
async fn a_repeated_entry_in_flight_gets_the_same_answer_not_a_second_order() {
    let s = MockServer::start().await;
    get(&s, "/orders", serde_json::json!([])).await;
    margins(&s, 15_157.5, 500_000.0).await;
    Mock::given(method("POST"))
        .and(path("/orders/regular"))
        .respond_with(
            ok(serde_json::json!({"order_id": "C1"})).set_delay(Duration::from_millis(200)),
        )
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/orders/C1"))
        .respond_with(ok(serde_json::json!([order(
            "C1", "COMPLETE", 150, 101.0, "t"
        )])))
        .mount(&s)
        .await;
    let b = broker(&s, cfg());
    // Both are in the mailbox before either is answered (`send` enqueues at once).
    let (f1, f2) = (b.send(entry(4)), b.send(entry(4)));
    let (r1, r2) = (f1.await.unwrap(), f2.await.unwrap());
    assert!(matches!(r1, EntryResult::Filled { .. }), "{r1:?}");
    assert_eq!(r1, r2);
    assert_eq!(posts(&s).await.len(), 1);
}

/// Collects the alarms raised.
struct Alarms(Arc<std::sync::Mutex<Vec<Alarm>>>);

impl Actor for Alarms {
    type Context = Context<Self>;
}

impl Handler<messages::RaiseAlarm> for Alarms {
    type Result = ();

    fn handle(&mut self, m: messages::RaiseAlarm, _: &mut Context<Self>) {
        self.0.lock().unwrap().push(m.0);
    }
}

#[actix_rt::test]
async fn an_entry_of_unknown_outcome_is_an_alarm_naming_the_signal_and_its_tag() {
    let s = MockServer::start().await;
    // Every placement times out on the exchange's side; the book never shows the tag.
    Mock::given(method("POST"))
        .and(path("/orders/regular"))
        .respond_with(crate::kite::testkit::err(
            503,
            "NetworkException",
            "oms unreachable",
        ))
        .mount(&s)
        .await;
    get(&s, "/orders", serde_json::json!([])).await;
    margins(&s, 15_157.5, 1_000_000.0).await;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut c = cfg();
    c.alarms = AlarmSink::new(Alarms(seen.clone()).start().recipient());
    let r = broker(&s, c).send(entry(7)).await.unwrap();
    assert!(
        matches!(
            r,
            EntryResult::Refused {
                reason: RejectReason::BrokerError,
                ..
            }
        ),
        "{r:?}"
    );
    // The alarm was sent before the refusal; let the collector take it.
    for _ in 0..100 {
        if !seen.lock().unwrap().is_empty() {
            break;
        }
        actix_rt::task::yield_now().await;
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let a = &seen[0];
    assert_eq!(a.kind, AlarmKind::EntryUnknownOutcome);
    assert_eq!(a.signal_id, Some(Uuid::from_u128(7).to_string()));
    assert_eq!(a.symbol.as_deref(), Some("NIFTY25D0924000CE"));
    assert_eq!(
        a.order.as_deref(),
        Some(tag_for(&Uuid::from_u128(7)).as_str())
    );
    assert!(
        a.message.contains("has an unknown outcome") && a.message.contains("oms unreachable"),
        "{}",
        a.message
    );
}

mod watch;
