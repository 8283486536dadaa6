use super::*;
use chrono::{NaiveDate, TimeZone, Utc};
use messages::{OptionType, PositionStatus};
use uuid::Uuid;

/// The tests' book of NIFTY options on `clock`, the default config's chain.
fn test_cfg(clock: Clock) -> PositionManagerConfig {
    let c = crate::config::Config::default_config().unwrap();
    let chain = crate::options_executor::TradeConfig::from_config(
        &c,
        crate::logic::session::Session::nse(),
    )
    .chain;
    PositionManagerConfig {
        symbols: Symbols::new(["NIFTY"]),
        chain,
        exits: ExitRules {
            slippage_ticks: 1,
            trailing: None,
            partial: None,
            max_hold_secs: None,
            exit_before_expiry_secs: 3600,
        },
        monitor_interval: Duration::from_secs(5),
        persist_marks_every: 300,
        clock,
        real_marks: true,
        daily_performance: None,
        costs: Costs::default(),
        freeze: FreezeLimits::default(),
        event_level: log::Level::Info,
    }
}

fn pm() -> Addr<PositionManager> {
    let reg = crate::metrics::Registry::new(true);
    let db = Tracked::new(DbWriter::start_unsupervised_for_tests(), reg.db_writer);
    let cfg = test_cfg(Clock::Wall(crate::logic::clock::LiveClock::system()));
    PositionManager::new(cfg, db, reg.position_manager).start()
}

fn record(id: u128, mode: Mode) -> PositionRecord {
    let t = Utc.timestamp_opt(Utc::now().timestamp() - 600, 0).unwrap();
    PositionRecord {
        position_id: Uuid::from_u128(id),
        version: 1,
        signal_id: Uuid::from_u128(id + 1),
        symbol: "NIFTY".into(),
        option_symbol: "NIFTY25D0924000CE".into(),
        strike: 24_000.0,
        option_type: OptionType::CE,
        expiry: NaiveDate::from_ymd_opt(2099, 12, 9).unwrap(),
        mode,
        status: PositionStatus::Open,
        lots: 2,
        lot_size: 75,
        quantity: 150,
        remaining_quantity: 150,
        entry_time: t,
        entry_premium: 100.05,
        stop_loss_premium: 70.05,
        target_premium: 160.05,
        current_premium: 100.05,
        unrealized_pnl: 0.0,
        exit_time: None,
        exit_premium: 0.0,
        exit_reason: String::new(),
        realized_pnl: 0.0,
        updated_at: t,
        strategy: String::new(),
        charges: Default::default(),
        net_pnl: 0.0,
    }
}

/// Records the exits ordered of it (a stand-in broker).
struct Exits(std::sync::Arc<std::sync::Mutex<Vec<PlaceExit>>>);
impl Actor for Exits {
    type Context = Context<Self>;
}
impl Handler<PlaceExit> for Exits {
    type Result = ();
    fn handle(&mut self, m: PlaceExit, _: &mut Context<Self>) {
        self.0.lock().unwrap().push(m);
    }
}
impl Handler<AbandonExit> for Exits {
    type Result = ();
    fn handle(&mut self, _: AbandonExit, _: &mut Context<Self>) {}
}

#[actix_rt::test]
async fn flatten_above_the_freeze_quantity_sells_in_slices() {
    // A freeze quantity of one lot (75): 2 lots are two orders each way.
    let reg = crate::metrics::Registry::new(true);
    let db = Tracked::new(DbWriter::start_unsupervised_for_tests(), reg.db_writer);
    let cfg = PositionManagerConfig {
        freeze: FreezeLimits::of_pairs([("NIFTY", 75)]),
        ..test_cfg(Clock::Wall(crate::logic::clock::LiveClock::system()))
    };
    let pm = PositionManager::new(cfg, db, reg.position_manager).start();
    let ordered = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let broker = Exits(ordered.clone()).start();
    pm.send(UseBroker(broker.clone().recipient(), broker.recipient()))
        .await
        .unwrap();
    let closed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    struct Closed(std::sync::Arc<std::sync::Mutex<Vec<PositionRecord>>>);
    impl Actor for Closed {
        type Context = Context<Self>;
    }
    impl Handler<PositionClosed> for Closed {
        type Result = ();
        fn handle(&mut self, m: PositionClosed, _: &mut Context<Self>) {
            self.0.lock().unwrap().push((*m.0).clone());
        }
    }
    pm.send(SubscribePositions {
        opened: None,
        closed: Some(Closed(closed.clone()).start().recipient()),
    })
    .await
    .unwrap();
    let paper = record(0xf1a7_0000, Mode::Paper);
    let mut live = record(0xf1a7_1000, Mode::Live);
    live.option_symbol = "NIFTY25D0924050CE".into();
    for r in [paper.clone(), live] {
        pm.send(OpenPosition(Box::new(r))).await.unwrap();
    }
    let at = Utc::now().timestamp();
    pm.send(OptionMarks {
        at,
        ltps: vec![
            ("NIFTY25D0924000CE".into(), 90.0),
            ("NIFTY25D0924050CE".into(), 90.0),
        ],
    })
    .await
    .unwrap();
    assert_eq!(pm.send(FlattenAll).await.unwrap(), 2);
    // The close and the exit order are told with do_send: let them arrive.
    for _ in 0..500 {
        if !closed.lock().unwrap().is_empty() && !ordered.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Paper: closed at once, sold in two orders at the mark less a tick.
    let done = closed.lock().unwrap().clone();
    assert_eq!(done.len(), 1);
    let p = &done[0];
    assert_eq!(p.position_id, paper.position_id);
    assert_eq!(p.realized_pnl, (8995 - 10005) as f64 * 150.0 / 100.0);
    let costs = Costs::default();
    let order = |side: i8, px: i64| costs.fill(at, side, px * 75, 1);
    let bought = costs.fill(p.entry_time.timestamp(), 1, 10_005 * 75, 1);
    assert_eq!(
        p.charges,
        bought + bought + order(-1, 8995) + order(-1, 8995),
        "four orders of one lot"
    );
    assert_eq!(p.charges.brokerage, 4 * 2000);
    // Live: its exit ordered at the broker with the lot and the limit to slice it by.
    let sent = ordered.lock().unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].quantity, sent[0].lot_size, sent[0].freeze_qty),
        (150, 75, Some(75))
    );
    assert_eq!(sent[0].reason, "MANUAL");
}

#[actix_rt::test]
async fn absurd_broker_marks_are_ignored() {
    let pm = pm();
    pm.send(OpenPosition(Box::new(record(0x5eed_0000, Mode::Paper))))
        .await
        .unwrap();
    let sym = "NIFTY25D0924000CE".to_string();
    let at = Utc::now().timestamp();
    for ltp in [1e300, f64::INFINITY, f64::NAN, -5.0, 1e-9] {
        pm.send(OptionMarks {
            at,
            ltps: vec![(sym.clone(), ltp)],
        })
        .await
        .unwrap();
    }
    let open = pm.send(GetOpenPositions).await.unwrap();
    assert_eq!(open.len(), 1, "no exit at an absurd price");
    assert_eq!(open[0].current_premium, 100.05);
    // A real price above the target still closes it, with P&L in range.
    pm.send(OptionMarks {
        at,
        ltps: vec![(sym, 170.0)],
    })
    .await
    .unwrap();
    assert!(pm.send(GetOpenPositions).await.unwrap().is_empty());
    let s = pm.send(GetPositionSummary).await.unwrap();
    assert!(
        s.realized_pnl > 0.0 && s.realized_pnl < 20_000.0,
        "{}",
        s.realized_pnl
    );
}

#[actix_rt::test]
async fn the_operator_closes_a_position_at_a_price_with_clear_refusals() {
    let pm = pm();
    pm.send(OpenPosition(Box::new(record(0xabcd_ef12_0000, Mode::Live))))
        .await
        .unwrap();
    let open = pm.send(GetOpenPositions).await.unwrap();
    assert_eq!(open.len(), 1);
    let id = open[0].position_id.to_string();
    let close = |position: &str, price: f64| ClosePosition {
        position: position.into(),
        price,
    };
    for (q, says) in [
        (close("0000", 90.0), "at least 8 characters"),
        (close("ffffffff", 90.0), "no open position"),
        (close(&id, 90.03), "on the 0.05 tick"),
        (close(&id, -1.0), "positive premium"),
    ] {
        let e = pm.send(q).await.unwrap().unwrap_err();
        assert!(e.contains(says), "{e}");
    }
    let r = pm.send(close(&id[..8], 90.05)).await.unwrap().unwrap();
    assert_eq!(r.status, PositionStatus::Closed);
    assert_eq!((r.exit_premium, r.exit_reason.as_str()), (90.05, "MANUAL"));
    assert_eq!(r.realized_pnl, (9005 - 10005) as f64 * 150.0 / 100.0);
    // Today's rates (since 1 Oct 2024). Bought ₹15,007.50: ₹20 + NSE ₹5.26 + SEBI ₹0.02 +
    // stamp ₹0.45 + GST ₹4.55 = ₹30.28; sold ₹13,507.50: ₹20 + STT ₹13.51 + NSE ₹4.73 +
    // SEBI ₹0.01 + GST ₹4.45 = ₹42.70.
    assert_eq!(r.charges.total, 3028 + 4270);
    assert_eq!(r.net_pnl, -1500.0 - 72.98);
    assert!(pm.send(GetOpenPositions).await.unwrap().is_empty());
    let s = pm.send(GetPositionSummary).await.unwrap();
    assert_eq!((s.closed, s.open_positions), (1, 0));
    assert_eq!(
        (s.realized_pnl, s.realized_pnl_gross, s.charges),
        (-1572.98, -1500.0, 72.98),
        "net, gross, charges"
    );
    assert_eq!(
        (s.day_realized_pnl, s.day_realized_pnl_gross, s.day_charges),
        (-1572.98, -1500.0, 72.98),
        "closed today (engine clock)"
    );
}

/// A PositionManager on the rehearsal clock at `start` writing into the SQLite file `db`,
/// with the daily results on.
fn pm_at(db: &std::path::Path, start: i64) -> (Addr<PositionManager>, Addr<DbWriter>) {
    let reg = crate::metrics::Registry::new(true);
    let store = crate::store::sqlite::SqliteStore::open(db).unwrap();
    let writer = DbWriter::new(
        Box::new(store),
        100,
        Duration::from_millis(10),
        reg.db_writer,
    )
    .start();
    let cfg = PositionManagerConfig {
        monitor_interval: Duration::from_secs(3600),
        daily_performance: Some(DailyPerformance {
            capital: 500_000.0,
            mode: Mode::Paper,
        }),
        ..test_cfg(Clock::Wall(crate::logic::clock::LiveClock::rehearsal(
            start, 1.0,
        )))
    };
    let tdb = Tracked::new(writer.clone(), reg.db_writer);
    (
        PositionManager::new(cfg, tdb, reg.position_manager).start(),
        writer,
    )
}

#[actix_rt::test]
async fn a_gross_win_eaten_by_charges_is_a_net_loss_for_the_risk_limits() {
    let dir = tempfile::tempdir().unwrap();
    // Monday 1 July 2024, 14:00 IST.
    let start = Utc
        .with_ymd_and_hms(2024, 7, 1, 8, 30, 0)
        .unwrap()
        .timestamp();
    let (pm, _writer) = pm_at(&dir.path().join("a.db"), start);
    let mut a = record(0x3000, Mode::Paper);
    a.entry_time = Utc.timestamp_opt(start - 600, 0).unwrap();
    pm.send(OpenPosition(Box::new(a))).await.unwrap();
    // Sold one tick up: ₹7.50 gross on 150, less the entry's ₹32.84 and the sale's ₹41.77
    // (₹20 + STT 0.0625 % of ₹15,015 = ₹9.38 + NSE ₹7.43 + SEBI ₹0.02 + GST ₹4.94).
    let r = pm
        .send(ClosePosition {
            position: Uuid::from_u128(0x3000).to_string(),
            price: 100.10,
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.realized_pnl, 7.5);
    assert_eq!(r.net_pnl, 7.5 - 74.61);
    let snap = pm
        .send(GetRiskSnapshot {
            at: start + 60,
            day_start: Utc
                .with_ymd_and_hms(2024, 7, 1, 3, 45, 0)
                .unwrap()
                .timestamp(),
            strategy: None,
        })
        .await
        .unwrap();
    assert_eq!(snap.day_realized_pnl, 7.5 - 74.61);
    assert_eq!(snap.consecutive_losses_today, 1, "a net loss");
}

#[actix_rt::test]
async fn a_trading_days_results_are_written_at_its_close_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    // Monday 1 July 2024, 14:00 IST.
    let start = Utc
        .with_ymd_and_hms(2024, 7, 1, 8, 30, 0)
        .unwrap()
        .timestamp();
    let (pm, writer) = pm_at(&db, start);
    let mut a = record(0x1000, Mode::Paper);
    a.strategy = "alpha".into();
    a.entry_time = Utc.timestamp_opt(start - 600, 0).unwrap();
    let mut b = record(0x2000, Mode::Paper);
    b.strategy = "beta".into();
    b.entry_time = a.entry_time;
    b.option_symbol = "NIFTY25D0924100CE".into();
    for r in [a, b] {
        pm.send(OpenPosition(Box::new(r))).await.unwrap();
    }
    let close = |position: u128, price: f64| ClosePosition {
        position: Uuid::from_u128(position).to_string(),
        price,
    };
    // alpha loses (100.05 → 90.05 on 150), beta wins (100.05 → 120.05).
    pm.send(close(0x1000, 90.05)).await.unwrap().unwrap();
    pm.send(close(0x2000, 120.05)).await.unwrap().unwrap();
    writer.send(Flush).await.unwrap().unwrap();
    let rows = |db: &std::path::Path| -> Vec<(String, String, String, i64, f64, f64)> {
        let c = rusqlite::Connection::open(db).unwrap();
        let mut st = c
            .prepare(
                "SELECT strategy, symbol, period_start || '/' || period_end || '/' || mode,
                 total_trades, total_pnl, win_rate FROM strategy_performance ORDER BY strategy",
            )
            .unwrap();
        st.query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    };
    assert!(rows(&db).is_empty(), "not before the day's close");

    // A restart during the day: today's closed positions come back with the book.
    drop(pm);
    let (pm, writer) = pm_at(&db, start + 60);
    let snap = pm
        .send(GetRiskSnapshot {
            at: start + 60,
            day_start: Utc
                .with_ymd_and_hms(2024, 7, 1, 3, 45, 0)
                .unwrap()
                .timestamp(),
            strategy: Some("alpha".into()),
        })
        .await
        .unwrap();
    // Net of charges at July 2024's rates (STT 0.0625 %, NSE 0.0495 %): alpha pays ₹32.84
    // on its entry and ₹39.95 on its exit, beta ₹32.84 and ₹45.39.
    assert_eq!(snap.day_realized_pnl, (-1500.0 - 72.79) + (3000.0 - 78.23));
    assert_eq!((snap.open_positions, snap.strategy_open_positions), (0, 0));
    assert_eq!(snap.trades_today, 2, "both entered today, closed since");

    // The engine clock passes 15:30 IST: the day's rows, one per instance and symbol.
    let after_close = Utc
        .with_ymd_and_hms(2024, 7, 1, 10, 1, 0)
        .unwrap()
        .timestamp();
    let candle = messages::Candle {
        symbol: messages::SymbolId(0),
        ts: after_close - 60,
        open: 24_000.0,
        high: 24_000.0,
        low: 24_000.0,
        close: 24_000.0,
        volume: 0.0,
    };
    pm.send(CandlesUpdated(vec![messages::CandleEvent {
        candle,
        state: messages::CandleState::Closed,
        end_ts: after_close,
        at: after_close,
    }]))
    .await
    .unwrap();
    writer.send(Flush).await.unwrap().unwrap();
    assert_eq!(
        rows(&db),
        vec![
            (
                "alpha".into(),
                "NIFTY".into(),
                "2024-07-01/2024-07-01/paper".into(),
                1,
                -1572.79,
                0.0
            ),
            (
                "beta".into(),
                "NIFTY".into(),
                "2024-07-01/2024-07-01/paper".into(),
                1,
                2921.77,
                100.0
            ),
        ]
    );
}
