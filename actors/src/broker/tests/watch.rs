//! The Broker's watch: order updates pushed over KiteTicker (entries and exits ended at once,
//! rejections raised, REST winning a disagreement) and the periodic reconciliation.

use messages::msg::OrderUpdate;
use messages::PositionRecord;

use super::*;

/// An order's history: OPEN until `done` is set, then `status` (`filled` of 150 at 101.05,
/// `reason`); counts the reads.
struct Flip {
    id: &'static str,
    done: Arc<AtomicBool>,
    reads: Arc<std::sync::atomic::AtomicUsize>,
    status: &'static str,
    filled: u32,
    reason: &'static str,
}

impl Respond for Flip {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let mut o = if self.done.load(Ordering::SeqCst) {
            order(self.id, self.status, self.filled, 101.05, "t")
        } else {
            order(self.id, "OPEN", 0, 0.0, "t")
        };
        if !self.reason.is_empty() && self.done.load(Ordering::SeqCst) {
            o["status_message"] = self.reason.into();
        }
        ok(serde_json::json!([o]))
    }
}

fn pushed(status: &str, filled: u64, reason: Option<&str>) -> OrderPushed {
    pushed_for("P1", status, filled, reason)
}

fn pushed_for(id: &str, status: &str, filled: u64, reason: Option<&str>) -> OrderPushed {
    OrderPushed::Update(OrderUpdate {
        order_id: id.into(),
        status: status.into(),
        status_message: reason.map(String::from),
        tradingsymbol: "NIFTY25D0924000CE".into(),
        exchange: "NFO".into(),
        transaction_type: "BUY".into(),
        product: "NRML".into(),
        quantity: 150,
        filled_quantity: filled,
        pending_quantity: 150 - filled,
        average_price: if filled > 0 { 101.05 } else { 0.0 },
        tag: Some(tag_for(&Uuid::from_u128(11))),
    })
}

/// An entry whose order P1 stays OPEN over REST until the test flips it; the next poll is an
/// hour away (only a push can end it sooner). Returns the server, the broker, the flip, the
/// history reads, the alarms raised and the entry's answer to come.
async fn entry_waiting_for_a_push(
    status: &'static str,
    filled: u32,
    reason: &'static str,
) -> (
    MockServer,
    Addr<Broker>,
    Arc<AtomicBool>,
    Arc<std::sync::atomic::AtomicUsize>,
    Arc<std::sync::Mutex<Vec<Alarm>>>,
    actix_rt::task::JoinHandle<Result<EntryResult, MailboxError>>,
) {
    let s = MockServer::start().await;
    get(&s, "/orders", serde_json::json!([])).await;
    margins(&s, 15_157.5, 500_000.0).await;
    Mock::given(method("POST"))
        .and(path("/orders/regular"))
        .respond_with(ok(serde_json::json!({"order_id": "P1"})))
        .mount(&s)
        .await;
    let (done, reads) = (Arc::new(AtomicBool::new(false)), Arc::default());
    Mock::given(method("GET"))
        .and(path("/orders/P1"))
        .respond_with(Flip {
            id: "P1",
            done: done.clone(),
            reads: Arc::clone(&reads),
            status,
            filled,
            reason,
        })
        .mount(&s)
        .await;
    get(
        &s,
        "/orders/P1/trades",
        serde_json::json!([{"trade_id": "T1", "order_id": "P1", "average_price": 101.05,
            "quantity": filled}]),
    )
    .await;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut c = cfg();
    c.poll = Duration::from_secs(3600);
    c.fill_timeout = Duration::from_secs(7200);
    c.alarms = AlarmSink::new(Alarms(seen.clone()).start().recipient());
    let b = broker(&s, c);
    let answer = actix_rt::spawn(b.send(entry(11)));
    // Placed and read once: OPEN.
    while reads.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (s, b, done, reads, seen, answer)
}

#[actix_rt::test]
async fn a_pushed_rejection_ends_the_entry_at_once_and_is_an_alarm_with_its_reason() {
    const WHY: &str = "RMS:Margin Exceeds,Required:15157.50, Available:900.00";
    let (_s, b, done, reads, seen, answer) = entry_waiting_for_a_push("REJECTED", 0, WHY).await;
    done.store(true, Ordering::SeqCst);
    b.do_send(pushed("REJECTED", 0, Some(WHY)));
    let r = answer.await.unwrap().unwrap();
    match &r {
        EntryResult::Refused { reason, detail } => {
            assert_eq!(*reason, RejectReason::OrderRejected);
            assert!(
                detail.contains(&format!("order P1 REJECTED: {WHY}")),
                "{detail}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        reads.load(Ordering::SeqCst),
        2,
        "the read after placement and the one the push woke: no poll ran"
    );
    // Raised before the follower woke; let the collector take it.
    for _ in 0..100 {
        if !seen.lock().unwrap().is_empty() {
            break;
        }
        actix_rt::task::yield_now().await;
    }
    let alarms = seen.lock().unwrap().clone();
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    assert_eq!(alarms[0].kind, AlarmKind::OrderRejected);
    assert_eq!(alarms[0].order.as_deref(), Some("P1"));
    assert_eq!(alarms[0].symbol.as_deref(), Some("NIFTY25D0924000CE"));
    assert!(
        alarms[0]
            .message
            .contains(&format!("REJECTED by the exchange: {WHY}")),
        "{}",
        alarms[0].message
    );
    // The same rejection pushed again is not a second alarm.
    b.do_send(pushed("REJECTED", 0, Some(WHY)));
    let st = b.send(GetBrokerStats).await.unwrap();
    assert_eq!(
        (
            st.order_updates,
            st.rejections_pushed,
            st.finished_by_push,
            st.push_disagreements,
            st.entries_refused
        ),
        (2, 1, 1, 0, 1)
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[actix_rt::test]
async fn a_pushed_fill_completes_the_entry() {
    let (_s, b, done, reads, seen, answer) = entry_waiting_for_a_push("COMPLETE", 150, "").await;
    // A partial fill first: followed on, nothing ends.
    b.do_send(pushed("OPEN", 75, None));
    done.store(true, Ordering::SeqCst);
    b.do_send(pushed("COMPLETE", 150, None));
    let r = answer.await.unwrap().unwrap();
    assert!(
        matches!(&r, EntryResult::Filled { order_id, quantity: 150, average_price, .. } if order_id == "P1" && *average_price == 101.05),
        "{r:?}"
    );
    assert_eq!(reads.load(Ordering::SeqCst), 2);
    assert!(seen.lock().unwrap().is_empty(), "a fill is no alarm");
    let st = b.send(GetBrokerStats).await.unwrap();
    assert_eq!((st.order_updates, st.finished_by_push), (2, 1));
}

#[actix_rt::test]
async fn when_the_push_and_rest_disagree_rest_wins() {
    // Pushed COMPLETE, but REST has it REJECTED: the entry is refused for REST's reason.
    let (_s, b, done, _reads, seen, answer) =
        entry_waiting_for_a_push("REJECTED", 0, "RMS: blocked").await;
    done.store(true, Ordering::SeqCst);
    b.do_send(pushed("COMPLETE", 150, None));
    let r = answer.await.unwrap().unwrap();
    assert!(
        matches!(&r, EntryResult::Refused { reason: RejectReason::OrderRejected, detail } if detail.contains("P1 REJECTED: RMS: blocked")),
        "{r:?}"
    );
    let st = b.send(GetBrokerStats).await.unwrap();
    assert_eq!((st.push_disagreements, st.entries_filled), (1, 0));
    // The rejection REST gave is an alarm too (none was pushed).
    let alarms = seen.lock().unwrap().clone();
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    assert_eq!(alarms[0].kind, AlarmKind::OrderRejected);
    assert_eq!(alarms[0].signal_id, Some(Uuid::from_u128(11).to_string()));
    assert!(
        alarms[0].message.contains("P1 REJECTED: RMS: blocked"),
        "{}",
        alarms[0].message
    );
}

#[actix_rt::test]
async fn unreadable_frames_and_ticker_errors_are_counted() {
    let s = MockServer::start().await;
    let b = broker(&s, cfg());
    b.do_send(OrderPushed::Unreadable("not JSON".into()));
    b.do_send(OrderPushed::TickerError("invalid token".into()));
    let st = b.send(GetBrokerStats).await.unwrap();
    assert_eq!(
        (
            st.order_updates,
            st.order_updates_unreadable,
            st.ticker_errors
        ),
        (0, 1, 1)
    );
}

/// PositionManager's open positions, as a stand-in answers them.
struct Book(Vec<PositionRecord>);

impl Actor for Book {
    type Context = Context<Self>;
}

impl Handler<GetOpenPositions> for Book {
    type Result = MessageResult<GetOpenPositions>;

    fn handle(&mut self, _: GetOpenPositions, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.0.clone())
    }
}

fn live_open(symbol: &str, quantity: u32) -> PositionRecord {
    serde_json::from_value(serde_json::json!({
        "position_id": "00000000-0000-0000-0000-000000000001", "version": 1,
        "signal_id": "00000000-0000-0000-0000-000000000002", "symbol": "NIFTY",
        "option_symbol": symbol, "strike": 24000.0, "option_type": "CE",
        "expiry": "2025-12-09", "mode": "live", "status": "OPEN", "lots": quantity / 75,
        "lot_size": 75, "quantity": quantity, "remaining_quantity": quantity,
        "entry_time": "2025-12-02T04:00:00Z",
        "entry_premium": 100.0, "stop_loss_premium": 70.0, "target_premium": 160.0,
        "current_premium": 100.0, "unrealized_pnl": 0.0, "exit_time": null,
        "exit_premium": 0.0, "exit_reason": "", "realized_pnl": 0.0,
        "updated_at": "2025-12-02T04:00:00Z"}))
    .unwrap()
}

#[actix_rt::test]
async fn reconciliation_raises_one_alarm_naming_what_differs() {
    // The book holds 150 of the call; the broker 75, and an order the engine does not follow.
    let s = MockServer::start().await;
    get(
        &s,
        "/portfolio/positions",
        serde_json::json!({"net": [{"tradingsymbol": "NIFTY25D0924000CE", "exchange": "NFO",
            "product": "NRML", "quantity": 75}], "day": []}),
    )
    .await;
    let mut manual = order("M1", "OPEN", 0, 0.0, "manual");
    manual["product"] = "NRML".into();
    get(&s, "/orders", serde_json::json!([manual])).await;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut c = cfg();
    c.reconcile_every = Some(Duration::from_millis(20));
    c.alarms = AlarmSink::new(Alarms(seen.clone()).start().recipient());
    let reg = crate::metrics::Registry::new(true);
    let pm = Book(vec![live_open("NIFTY25D0924000CE", 150)]).start();
    let db = Tracked::new(DbWriter::start_unsupervised_for_tests(), reg.db_writer);
    let b = Broker::new(c, Arc::new(client(&s)), Arc::default(), db, reg.broker)
        .with_book(TrackedRecipient::new(pm.recipient(), reg.position_manager))
        .start();
    // Several looks: the difference is raised once (at the second look), not at every one.
    loop {
        let st = b.send(GetBrokerStats).await.unwrap();
        if st.reconciliations >= 5 {
            assert_eq!((st.divergences, st.reconcile_failures), (2, 0));
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let alarms = seen.lock().unwrap().clone();
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    let a = &alarms[0];
    assert_eq!(a.kind, AlarmKind::BookDivergence);
    assert_eq!(a.symbol.as_deref(), Some("NIFTY25D0924000CE"));
    assert!(
        a.message
            .contains("NIFTY25D0924000CE: the book holds 150, the broker 75")
            && a.message.contains(
                "order M1 BUY NIFTY25D0924000CE × 150 is OPEN at the broker and not followed by the engine (tag manual)"
            ),
        "{}",
        a.message
    );
}

#[actix_rt::test]
async fn a_pushed_exit_rejection_is_an_alarm_at_once_then_the_exit_alarm_with_its_retry() {
    const WHY: &str = "RMS: exit blocked";
    let s = MockServer::start().await;
    get(&s, "/orders", serde_json::json!([])).await;
    get(
        &s,
        "/portfolio/positions",
        serde_json::json!({"net": [{"tradingsymbol": "NIFTY25D0924000CE", "exchange": "NFO",
            "product": "NRML", "quantity": 75}], "day": []}),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/orders/regular"))
        .respond_with(ok(serde_json::json!({"order_id": "X1"})))
        .mount(&s)
        .await;
    let (done, reads) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(std::sync::atomic::AtomicUsize::new(0)),
    );
    Mock::given(method("GET"))
        .and(path("/orders/X1"))
        .respond_with(Flip {
            id: "X1",
            done: done.clone(),
            reads: reads.clone(),
            status: "REJECTED",
            filled: 0,
            reason: WHY,
        })
        .mount(&s)
        .await;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut c = cfg();
    c.poll = Duration::from_secs(3600);
    c.fill_timeout = Duration::from_secs(7200);
    c.exit_retry_initial = Duration::from_secs(3600);
    c.exit_retry_max = Duration::from_secs(3600);
    c.alarms = AlarmSink::new(Alarms(seen.clone()).start().recipient());
    let b = broker(&s, c);
    let me = Fills(Arc::default()).start();
    b.do_send(PlaceExit {
        position_id: Uuid::from_u128(21),
        tradingsymbol: "NIFTY25D0924000CE".into(),
        quantity: 75,
        lot_size: 75,
        freeze_qty: None,
        mark: 60.0,
        reason: "STOP_LOSS_HIT".into(),
        reply_to: me.recipient(),
    });
    while reads.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    done.store(true, Ordering::SeqCst);
    b.do_send(pushed_for("X1", "REJECTED", 0, Some(WHY)));
    loop {
        let st = b.send(GetBrokerStats).await.unwrap();
        if st.exit_alarms == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for _ in 0..100 {
        if seen.lock().unwrap().len() >= 2 {
            break;
        }
        actix_rt::task::yield_now().await;
    }
    let alarms = seen.lock().unwrap().clone();
    let kinds: Vec<AlarmKind> = alarms.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        vec![AlarmKind::OrderRejected, AlarmKind::ExitNotFilled],
        "{alarms:?}"
    );
    assert!(alarms[0].message.contains(WHY), "{}", alarms[0].message);
    assert!(
        alarms[1]
            .message
            .contains(&format!("order X1 REJECTED: {WHY}"))
            && alarms[1].message.contains("trying again"),
        "{}",
        alarms[1].message
    );
    assert_eq!(reads.load(Ordering::SeqCst), 2, "no poll ran");
}
