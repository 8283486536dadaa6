use super::*;
use crate::logic::price::round_to_tick;

fn cfg() -> ExecutorConfig {
    let c = crate::config::Config::default_config().unwrap();
    ExecutorConfig {
        trade: TradeConfig::from_config(&c, crate::logic::session::Session::nse()),
        enabled: true,
        mode: Mode::Logging,
        valid_underlyings: ["NIFTY".to_string()].into_iter().collect(),
        min_signal_strength: 0.6,
        min_expected_move_pct: 1.0,
        max_concurrent_positions: 3,
        max_age_secs: 86_400,
        clock: Clock::Data,
        decide_interrupted: true,
        instance_risk: Default::default(),
        event_level: log::Level::Info,
    }
}

fn signal(symbol: &str, confidence: f64, moved: f64, ts: i64) -> Signal {
    Signal {
        signal_id: Uuid::from_u128(ts as u128),
        timestamp: Utc.timestamp_opt(ts, 0).unwrap(),
        symbol: symbol.into(),
        strategy: "ma_crossover".into(),
        action: messages::Action::Buy,
        price: 100.0,
        stop_loss: 99.0,
        target: 102.0,
        confidence,
        expected_move_pct: moved,
        metadata: messages::SignalMetadata {
            candle_time: Utc.timestamp_opt(ts - 900, 0).unwrap(),
            ema_fast: 1.0,
            ema_slow: 1.0,
        },
    }
}

/// The synthetic plan in paper terms, as the executor makes it without a broker: the trade in
/// words and, in paper mode, the record.
fn plan_of(
    cfg: &ExecutorConfig,
    s: &Signal,
    at: i64,
    snap: RiskSnapshot,
) -> Result<(String, Option<PositionRecord>), (RejectReason, String)> {
    let spec = plan::limits(cfg, s, &snap, &mut messages::DailyCaps::default())?;
    let p = plan::synthetic(cfg, s, at, &spec, &mut Vec::new())?;
    Ok((p.detail, (cfg.mode == Mode::Paper).then_some(p.record)))
}

fn executor(c: ExecutorConfig) -> OptionsExecutor {
    let reg = crate::metrics::Registry::new(true);
    let db = Tracked::new(DbWriter::start_unsupervised_for_tests(), reg.db_writer);
    let sink = Sink.start();
    let pm = reg.position_manager;
    OptionsExecutor::new(
        c,
        db,
        (
            TrackedRecipient::new(sink.clone().recipient(), pm),
            TrackedRecipient::new(sink.clone().recipient(), pm),
            TrackedRecipient::new(sink.recipient(), pm),
        ),
        reg.options_executor,
    )
}

/// Stands in for PositionManager.
struct Sink;
impl Actor for Sink {
    type Context = Context<Self>;
}
impl Handler<GetRiskSnapshot> for Sink {
    type Result = RiskSnapshot;
    fn handle(&mut self, _: GetRiskSnapshot, _: &mut Context<Self>) -> RiskSnapshot {
        RiskSnapshot::default()
    }
}
impl Handler<OpenPosition> for Sink {
    type Result = ();
    fn handle(&mut self, _: OpenPosition, _: &mut Context<Self>) {}
}
impl Handler<SignalActivated> for Sink {
    type Result = ();
    fn handle(&mut self, _: SignalActivated, _: &mut Context<Self>) {}
}

#[actix_rt::test]
async fn daily_caps_stop_new_entries_for_the_day() {
    let mut c = cfg();
    c.trade.rules.max_trades_per_day = Some(2);
    c.trade.rules.daily_profit_lock_pct = Some(1.0);
    let capital = c.trade.capital;
    let mut ex = executor(c);
    let s = signal("NIFTY", 0.7, 2.0, 1_700_100_000);
    let snap = |trades: u32, pnl: f64| RiskSnapshot {
        trades_today: trades,
        day_realized_pnl: pnl,
        ..Default::default()
    };
    assert!(plan::limits(&ex.cfg, &s, &snap(1, 0.0), &mut ex.stats.daily_caps).is_ok());
    assert!(!ex.stats.daily_caps.locked);
    let (r, detail) =
        plan::limits(&ex.cfg, &s, &snap(2, 0.0), &mut ex.stats.daily_caps).unwrap_err();
    assert_eq!(r, RejectReason::MaxTradesPerDay);
    assert!(detail.contains("2 entries today"), "{detail}");
    assert!(ex.stats.daily_caps.locked);
    // The lock at 1 % of capital, on the day's net P&L.
    let at = capital / 100.0;
    assert!(plan::limits(&ex.cfg, &s, &snap(1, at - 0.01), &mut ex.stats.daily_caps).is_ok());
    let (r, detail) =
        plan::limits(&ex.cfg, &s, &snap(1, at), &mut ex.stats.daily_caps).unwrap_err();
    assert_eq!(r, RejectReason::DailyProfitLock);
    assert!(detail.contains(&format!("₹{at:.2}")), "{detail}");
    let caps = &ex.stats.daily_caps;
    assert_eq!(
        (
            caps.max_trades_per_day,
            caps.profit_lock_at,
            caps.trades_today,
            caps.locked
        ),
        (Some(2), Some(at), 1, true)
    );
}

/// Collects the alarms raised.
struct Alarms(Arc<std::sync::Mutex<Vec<messages::Alarm>>>);
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
async fn a_daily_halt_is_one_alarm_per_kind_and_session_day() {
    use messages::AlarmKind;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = crate::alerts::AlarmSink::new(Alarms(seen.clone()).start().recipient());
    let mut ex = executor(cfg()).with_alarms(sink);
    // 2023-11-16 03:30 UTC = 09:00 IST; the IST day ends at 18:30 UTC.
    const DAY1: i64 = 1_700_105_400;
    let halt = |ex: &mut OptionsExecutor, at: i64, r: RejectReason| {
        let s = Arc::new(signal("NIFTY", 0.7, 2.0, at));
        ex.record(
            &s,
            at,
            Outcome::Rejected(r),
            format!("{} at {at}", r.as_str()),
        );
        s.signal_id
    };
    let first = halt(&mut ex, DAY1, RejectReason::DailyProfitLock);
    halt(&mut ex, DAY1 + 600, RejectReason::DailyProfitLock);
    halt(&mut ex, DAY1 + 900, RejectReason::MaxTradesPerDay);
    let loss = halt(&mut ex, DAY1 + 1200, RejectReason::DailyLossHalt);
    // 23:59 IST the same day, then 00:01 IST the next.
    halt(&mut ex, DAY1 + 53_940, RejectReason::DailyProfitLock);
    let next = halt(&mut ex, DAY1 + 54_060, RejectReason::DailyProfitLock);
    halt(&mut ex, DAY1 + 54_100, RejectReason::ConsecutiveLosses);
    for _ in 0..100 {
        if seen.lock().unwrap().len() >= 4 {
            break;
        }
        actix_rt::task::yield_now().await;
    }
    let seen = seen.lock().unwrap().clone();
    let got: Vec<(AlarmKind, Option<String>)> =
        seen.iter().map(|a| (a.kind, a.signal_id.clone())).collect();
    assert_eq!(got.len(), 4, "{seen:?}");
    assert_eq!(got[0], (AlarmKind::ProfitLockHalt, Some(first.to_string())));
    assert_eq!(got[1], (AlarmKind::DailyLossHalt, Some(loss.to_string())));
    assert_eq!(got[2], (AlarmKind::ProfitLockHalt, Some(next.to_string())));
    assert_eq!(got[3].0, AlarmKind::ConsecutiveLossHalt);
    assert!(
        seen[0].message.starts_with(&format!(
            "logging mode: daily_profit_lock at {DAY1} (signal {first}"
        )),
        "{}",
        seen[0].message
    );
    assert_eq!(seen[0].symbol.as_deref(), Some("NIFTY"));
}

#[actix_rt::test]
async fn rules_in_order() {
    let mut ex = executor(cfg());
    const NOW: i64 = 1_700_100_000;
    let ok = signal("NIFTY", 0.7, 2.0, 1_700_100_000);
    assert_eq!(ex.validate(&ok, NOW, Ok(false)), Ok(()));
    assert_eq!(
        ex.validate(&ok, NOW, Ok(true)),
        Err(RejectReason::AlreadyProcessed)
    );
    assert_eq!(
        ex.validate(&ok, NOW, Err("down".into())),
        Err(RejectReason::StoreUnavailable)
    );
    assert_eq!(
        ex.validate(&signal("SBIN", 0.7, 2.0, 1_700_100_000), NOW, Ok(false)),
        Err(RejectReason::InvalidUnderlying)
    );
    assert_eq!(
        ex.validate(
            &signal("NIFTY", 0.7, 2.0, 1_700_100_000 - 86_401),
            NOW,
            Ok(false)
        ),
        Err(RejectReason::TooOld)
    );
    assert_eq!(
        ex.validate(&signal("NIFTY", 0.59, 2.0, 1_700_100_000), NOW, Ok(false)),
        Err(RejectReason::WeakSignal)
    );
    assert_eq!(
        ex.validate(&signal("NIFTY", 0.7, 0.5, 1_700_100_000), NOW, Ok(false)),
        Err(RejectReason::SmallExpectedMove)
    );
    ex.cfg.enabled = false;
    assert_eq!(
        ex.validate(&ok, NOW, Ok(false)),
        Err(RejectReason::TradingDisabled)
    );
    ex.decided.insert(ok.signal_id);
    assert_eq!(
        ex.validate(&ok, NOW, Ok(false)),
        Err(RejectReason::AlreadyProcessed)
    );
}

#[actix_rt::test]
async fn recovery_interrupted_and_failed_recovery_reject_without_trading() {
    let mut ex = executor(cfg());
    const NOW: i64 = 1_700_100_000;
    let (a, b, c) = (
        signal("NIFTY", 0.7, 2.0, NOW - 1800),
        signal("NIFTY", 0.7, 2.0, NOW - 900),
        signal("NIFTY", 0.7, 2.0, NOW - 2700),
    );
    let decided: HashSet<Uuid> = [b.signal_id].into_iter().collect();
    let late = undecided(vec![a.clone(), b.clone(), c.clone()], &decided);
    assert_eq!(
        late.iter().map(|s| s.signal_id).collect::<Vec<_>>(),
        vec![c.signal_id, a.signal_id],
        "undecided ones only, oldest first"
    );
    ex.interrupted.insert(a.signal_id);
    assert_eq!(
        ex.validate(&a, NOW, Ok(false)),
        Err(RejectReason::Interrupted)
    );
    assert_eq!(
        ex.validate(&a, NOW, Ok(true)),
        Err(RejectReason::AlreadyProcessed),
        "decided meanwhile: no second decision"
    );
    ex.recovery_failed = true;
    assert_eq!(
        ex.validate(&c, NOW, Ok(false)),
        Err(RejectReason::StoreUnavailable)
    );
    ex.recovery_failed = false;
    assert_eq!(ex.validate(&c, NOW, Ok(false)), Ok(()));
}

#[actix_rt::test]
async fn an_entry_above_the_freeze_quantity_is_charged_one_brokerage_per_slice() {
    let mut c = cfg();
    c.mode = Mode::Paper;
    c.trade.capital = 10_000_000.0;
    fn nifty(c: &mut ExecutorConfig) -> &mut crate::config::UnderlyingSpec {
        c.trade.underlyings.get_mut("NIFTY").unwrap()
    }
    // One lot per order.
    nifty(&mut c).freeze_qty = Some(65);
    let ex = executor(c.clone());
    let at = 1_733_891_400;
    let mut s = signal("NIFTY", 0.7, 2.0, at);
    s.price = 24_010.0;
    let (detail, rec) = plan_of(&ex.cfg, &s, at, RiskSnapshot::default()).unwrap();
    let rec = rec.unwrap();
    assert!(rec.lots > 1, "{detail}");
    assert!(
        detail.contains(&format!("in {} orders (freeze quantity 65)", rec.lots)),
        "{detail}"
    );
    assert_eq!(rec.charges.brokerage, 2000 * i64::from(rec.lots));
    let rates = crate::charges::Schedule::default()
        .rates_on(
            chrono::NaiveDate::from_ymd_opt(2024, 12, 11).unwrap(),
            crate::charges::Segment::Options,
        )
        .unwrap();
    let one = crate::charges::charges(
        crate::charges::Turnover {
            buy_paise: (rec.entry_premium * 100.0).round() as i64 * 65,
            sell_paise: 0,
            orders: 1,
        },
        &rates,
    );
    assert_eq!(rec.charges.total, one.total * i64::from(rec.lots));
    // The same trade without a limit: one order.
    nifty(&mut c).freeze_qty = None;
    let (_, whole) = plan_of(&c, &s, at, RiskSnapshot::default()).unwrap();
    let whole = whole.unwrap();
    assert_eq!(
        (whole.quantity, whole.charges.brokerage),
        (rec.quantity, 2000)
    );
    // A freeze quantity below the contract's lot cannot be ordered at all.
    nifty(&mut c).freeze_qty = Some(64);
    let (r, why) = plan_of(&c, &s, at, RiskSnapshot::default()).unwrap_err();
    assert_eq!(r, RejectReason::NoInstrument);
    assert!(
        why.contains("instruments.underlyings.NIFTY.freeze_qty")
            && why.contains("below one lot of 65"),
        "{why}"
    );
}

#[actix_rt::test]
async fn a_signal_committed_with_the_stores_answer_is_decided_on_that_answer() {
    let ex = executor(cfg()).start();
    const NOW: i64 = 1_700_100_000;
    let (a, b, c) = (
        Arc::new(signal("NIFTY", 0.7, 2.0, NOW - 1800)),
        Arc::new(signal("NIFTY", 0.7, 2.0, NOW - 900)),
        Arc::new(signal("NIFTY", 0.7, 2.0, NOW)),
    );
    // The (empty) store would say "not decided": a's rejection can only come from the
    // answer that came with it; c came without one and is asked about.
    for (s, processed) in [(a, Some(true)), (b, Some(false)), (c, None)] {
        ex.send(SignalGenerated {
            signal: s,
            processed,
        })
        .await
        .unwrap();
    }
    ex.send(Drain).await.unwrap();
    let st = ex.send(GetExecutorStats).await.unwrap();
    assert_eq!((st.received, st.logged, st.rejected), (3, 2, 1));
    assert_eq!(st.rejected_by_reason.get("already_processed"), Some(&1));
}

#[actix_rt::test]
async fn plan_applies_risk_limits_strike_and_size() {
    let mut c = cfg();
    c.mode = Mode::Paper;
    let mut ex = executor(c);
    // Wednesday 2024-12-11 10:00 IST, NIFTY at 24 010: next weekly expiry Tuesday the 17th.
    let at = 1_733_891_400;
    let mut s = signal("NIFTY", 0.7, 2.0, at);
    s.price = 24_010.0;
    let open3 = RiskSnapshot {
        open_positions: 3,
        ..Default::default()
    };
    assert_eq!(
        plan_of(&ex.cfg, &s, at, open3).unwrap_err().0,
        RejectReason::MaxPositions
    );
    let lost = RiskSnapshot {
        day_realized_pnl: -5_000.0,
        ..Default::default()
    };
    let (r, why) = plan_of(&ex.cfg, &s, at, lost).unwrap_err();
    assert_eq!(r, RejectReason::DailyLossHalt);
    assert!(
        why.contains("₹-5000.00") && why.contains("₹5000.00"),
        "{why}"
    );
    // The seed's ₹1,00,000 cannot risk 30 % of an ATM weekly NIFTY lot within 2 %.
    let (r, why) = plan_of(&ex.cfg, &s, at, RiskSnapshot::default()).unwrap_err();
    assert_eq!(r, RejectReason::ZeroLots);
    assert!(
        why.contains("one lot of 65 risks") && why.contains("more than 2% of capital (₹2000.00)"),
        "{why}"
    );
    // With ₹10,00,000 it trades: the ATM call of the next weekly.
    ex.cfg.trade.capital = 1_000_000.0;
    let (detail, rec) = plan_of(&ex.cfg, &s, at, RiskSnapshot::default()).unwrap();
    let rec = rec.unwrap();
    assert_eq!(rec.option_symbol, "NIFTY24D1724000CE", "{detail}");
    assert_eq!(
        (rec.strike, rec.option_type, rec.lot_size),
        (24_000.0, messages::OptionType::CE, 65)
    );
    assert_eq!(rec.quantity, rec.lots * 65);
    assert!(rec.lots >= 1);
    let risk = (rec.entry_premium - rec.stop_loss_premium) * rec.quantity as f64;
    assert!(risk <= 20_000.0 + 1e-6, "within 2 % of capital: {risk}");
    assert_eq!(
        rec.stop_loss_premium,
        round_to_tick(rec.entry_premium * 0.7, 0.05)
    );
    assert_eq!(
        rec.position_id,
        Uuid::new_v5(&messages::SIGNAL_NAMESPACE, s.signal_id.as_bytes())
    );
    // The opening version carries the entry's charges (one order bought at December 2024's
    // rates: no STT on a purchase; stamp duty 0.003 %); its net P&L is minus them.
    let bought = (rec.entry_premium * 100.0).round() as i64 * rec.quantity as i64;
    let rates = crate::charges::Schedule::default()
        .rates_on(
            chrono::NaiveDate::from_ymd_opt(2024, 12, 11).unwrap(),
            crate::charges::Segment::Options,
        )
        .unwrap();
    let expected = crate::charges::charges(
        crate::charges::Turnover {
            buy_paise: bought,
            sell_paise: 0,
            orders: 1,
        },
        &rates,
    );
    assert_eq!(rec.charges, expected);
    assert_eq!((rec.charges.brokerage, rec.charges.stt), (2000, 0));
    assert_eq!(
        rec.charges.stamp_duty,
        (bought as f64 * 3e-5).round() as i64
    );
    assert_eq!(rec.net_pnl, -(expected.total as f64) / 100.0);
    // A SELL signal buys the put.
    let mut sell = s.clone();
    sell.action = messages::Action::Sell;
    let (_, rec) = plan_of(&ex.cfg, &sell, at, RiskSnapshot::default()).unwrap();
    assert_eq!(rec.unwrap().option_symbol, "NIFTY24D1724000PE");
    // Consecutive losses halt when the rule is on.
    ex.cfg.trade.rules.halt_after_consecutive_losses = Some(2);
    let streak = RiskSnapshot {
        consecutive_losses_today: 2,
        ..Default::default()
    };
    assert_eq!(
        plan_of(&ex.cfg, &s, at, streak).unwrap_err().0,
        RejectReason::ConsecutiveLosses
    );
}
