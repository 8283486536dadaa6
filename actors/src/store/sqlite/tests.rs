use super::*;
use messages::{ExecutorDecision, Mode, RejectReason};

fn signal(ts: i64, symbol: &str, action: Action) -> Signal {
    Signal {
        signal_id: messages::signal_id(
            symbol,
            "ma_crossover",
            messages::Timeframe::Minute15,
            ts,
            action,
        ),
        timestamp: Utc.timestamp_opt(ts + 900, 0).unwrap(),
        symbol: symbol.into(),
        strategy: "ma_crossover".into(),
        action,
        price: 24012.35,
        stop_loss: 23772.25,
        target: 24492.55,
        confidence: 0.61,
        expected_move_pct: 2.0,
        metadata: SignalMetadata {
            candle_time: Utc.timestamp_opt(ts, 0).unwrap(),
            ema_fast: 24000.1,
            ema_slow: 23999.9,
        },
    }
}

#[test]
fn history_is_the_same_after_the_cache_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = SqliteStore::open(&dir.path().join("a.db")).unwrap();
    let tf = messages::Timeframe::Minute15;
    let rows: Vec<Row> = (0..3)
        .flat_map(|s| {
            (0..2000).map(move |i| {
                Row::Candle(CandleRow {
                    symbol: format!("S{s}").into(),
                    interval: tf,
                    ts: 1_704_166_200 + i * 900,
                    open: 100.0 + i as f64,
                    high: 101.05 + i as f64,
                    low: 99.95 + i as f64,
                    close: 100.55 + i as f64,
                    volume: 25.0 * i as f64,
                })
            })
        })
        .collect();
    st.write(&rows).unwrap();
    let a = st.history("S1", tf, 1000).unwrap();
    st.release_memory();
    st.release_memory();
    let b = st.history("S1", tf, 1000).unwrap();
    assert_eq!(a.len(), 1000);
    assert_eq!(a, b);
    assert_eq!(
        a[0].ts,
        1_704_166_200 + 1000 * 900,
        "the newest 1000, oldest first"
    );
    assert_eq!(a[999].close, 100.55 + 1999.0);
    // Writes go on after a release.
    st.write(&rows[..1]).unwrap();
    st.release_memory();
    assert_eq!(st.history("S0", tf, 5000).unwrap().len(), 2000);
}

#[test]
fn signals_round_trip_filter_and_dedupe() {
    let mut s = SqliteStore::in_memory().unwrap();
    let a = signal(1_700_000_000, "NIFTY", Action::Buy);
    let b = signal(1_700_000_900, "BANKNIFTY", Action::Sell);
    s.write(&[
        Row::Signal(Box::new(a.clone())),
        Row::Signal(Box::new(b.clone())),
    ])
    .unwrap();
    s.write(&[Row::Signal(Box::new(a.clone()))]).unwrap();
    let all = s.signals(&SignalQuery::default()).unwrap();
    assert_eq!(
        all,
        vec![b.clone(), a.clone()],
        "newest first, no duplicate"
    );
    let q = SignalQuery {
        symbol: Some("NIFTY".into()),
        ..Default::default()
    };
    assert_eq!(s.signals(&q).unwrap(), vec![a.clone()]);
    let q = SignalQuery {
        start: Some(b.timestamp),
        ..Default::default()
    };
    assert_eq!(s.signals(&q).unwrap(), vec![b.clone()]);
    let q = SignalQuery {
        end: Some(a.timestamp),
        strategy: Some("ma_crossover".into()),
        ..Default::default()
    };
    assert_eq!(s.signals(&q).unwrap(), vec![a]);
    let counts = s.row_counts().unwrap();
    assert!(counts.contains(&("trading_signals".to_string(), 2)));
}

#[test]
fn a_file_made_before_the_added_columns_is_migrated_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE executor_decisions (
                signal_id TEXT PRIMARY KEY, decided_at INTEGER NOT NULL, symbol TEXT NOT NULL,
                mode TEXT NOT NULL, outcome TEXT NOT NULL, reason TEXT NOT NULL,
                underlying_price REAL NOT NULL);
             CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL,
                key TEXT NOT NULL, payload TEXT NOT NULL);
             INSERT INTO executor_decisions VALUES
                ('00000000-0000-0000-0000-000000000007', 1700000000, 'NIFTY', 'LOGGING',
                 'REJECTED', 'weak_signal', 24000.0);",
        )
        .unwrap();
    }
    let mut s = SqliteStore::open(&path).unwrap();
    // Rebuilt without its signal row: found under time 0 whatever time it is asked with.
    let old_key = SignalKey {
        id: Uuid::from_u128(7),
        candle_time: 1_699_999_100,
    };
    assert!(s.is_signal_processed(old_key).unwrap());
    let d = ExecutorDecision {
        signal_id: Uuid::from_u128(8),
        decided_at: Utc.timestamp_opt(1_700_000_900, 0).unwrap(),
        symbol: "NIFTY".into(),
        mode: Mode::Paper,
        outcome: Outcome::Opened,
        underlying_price: 24010.0,
        detail: "NIFTY24D1924000CE".into(),
        strategy: "ema_5_13_5m".into(),
        signal_time: 1_700_000_000,
    };
    s.write(&[Row::Decision(Box::new(d))]).unwrap();
    let rows: Vec<(String, String, String)> = s
        .conn
        .prepare("SELECT signal_id, detail, strategy FROM executor_decisions ORDER BY signal_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(
        rows,
        vec![
            (Uuid::from_u128(7).to_string(), String::new(), String::new()),
            (
                Uuid::from_u128(8).to_string(),
                "NIFTY24D1924000CE".into(),
                "ema_5_13_5m".into()
            ),
        ]
    );
    let stamp: i64 = s
        .conn
        .query_row(
            "SELECT COUNT(*) FROM pragma_table_info('outbox') WHERE name = 'stamp'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stamp, 1);
}

fn position(signal: &Signal, version: u64, status: PositionStatus) -> PositionRecord {
    let t = signal.metadata.candle_time + chrono::Duration::minutes(15);
    PositionRecord {
        position_id: Uuid::new_v5(&messages::SIGNAL_NAMESPACE, signal.signal_id.as_bytes()),
        version,
        signal_id: signal.signal_id,
        symbol: signal.symbol.clone(),
        option_symbol: "NIFTY24D1024000CE".into(),
        strike: 24_000.0,
        option_type: messages::OptionType::CE,
        expiry: chrono::NaiveDate::from_ymd_opt(2024, 12, 10).unwrap(),
        mode: Mode::Paper,
        status,
        lots: 1,
        lot_size: 65,
        quantity: 65,
        remaining_quantity: if status == PositionStatus::Open {
            65
        } else {
            0
        },
        entry_time: t,
        entry_premium: 100.0,
        stop_loss_premium: 70.0,
        target_premium: 160.0,
        current_premium: 100.0,
        unrealized_pnl: 0.0,
        exit_time: None,
        exit_premium: 0.0,
        exit_reason: String::new(),
        realized_pnl: 0.0,
        updated_at: t + chrono::Duration::minutes(version as i64),
        strategy: "ma_crossover".into(),
        charges: Default::default(),
        net_pnl: 0.0,
    }
}

#[test]
fn positions_in_the_old_layout_are_rebuilt_keyed_by_entry_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let a = signal(1_700_000_900, "NIFTY", Action::Buy);
    let b = signal(1_700_001_800, "NIFTY", Action::Sell);
    let (a1, a2) = (
        position(&a, 1, PositionStatus::Open),
        position(&a, 2, PositionStatus::Closed),
    );
    let b1 = position(&b, 1, PositionStatus::Open);
    {
        let s = SqliteStore::open(&path).unwrap();
        // The layout before: rowid table keyed by (position id, version), indexed by signal.
        s.conn
            .execute_batch(
                "DROP TABLE positions;
                 CREATE TABLE positions (
                    position_id TEXT NOT NULL, version INTEGER NOT NULL, signal_id TEXT NOT NULL,
                    body TEXT NOT NULL, status TEXT NOT NULL, updated_at INTEGER NOT NULL,
                    PRIMARY KEY (position_id, version));
                 CREATE INDEX positions_signal ON positions(signal_id);",
            )
            .unwrap();
        for p in [&a1, &a2, &b1] {
            s.conn
                .execute(
                    "INSERT INTO positions VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        p.position_id.to_string(),
                        p.version,
                        p.signal_id.to_string(),
                        serde_json::to_string(p).unwrap(),
                        if p.status == PositionStatus::Open {
                            "OPEN"
                        } else {
                            "CLOSED"
                        },
                        p.updated_at.timestamp()
                    ],
                )
                .unwrap();
        }
    }
    // No decisions in the file: the positions answer "was it decided?" (the old question).
    let mut s = SqliteStore::open(&path).unwrap();
    assert!(s.orphans);
    let sql: String = s
        .conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'positions'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(sql.contains("WITHOUT ROWID"), "{sql}");
    let keys: Vec<(i64, String, i64)> = s
        .conn
        .prepare("SELECT entry_time, position_id, version FROM positions")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let t = |p: &PositionRecord| (p.entry_time.timestamp(), p.position_id.to_string());
    assert_eq!(
        keys,
        vec![
            (t(&a1).0, t(&a1).1, 1),
            (t(&a2).0, t(&a2).1, 2),
            (t(&b1).0, t(&b1).1, 1)
        ]
    );
    let idx: i64 = s
        .conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'positions_signal'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(idx, 0);
    // Latest versions, as before.
    assert_eq!(s.open_positions().unwrap(), vec![b1.clone()]);
    assert_eq!(
        s.positions_by_signal(a.signal_id).unwrap(),
        vec![a2.clone()]
    );
    assert_eq!(
        s.signals_processed(&[SignalKey::of(&a), SignalKey::of(&b)])
            .unwrap(),
        vec![true, true]
    );
    // Rows written now go under their entry time; a repeat is still ignored.
    s.write(&[Row::Position(Box::new(a2.clone()))]).unwrap();
    assert!(s
        .row_counts()
        .unwrap()
        .contains(&("positions".to_string(), 3)));
}

#[test]
fn a_decided_signal_is_found_by_its_decision_alone() {
    let mut s = SqliteStore::in_memory().unwrap();
    assert!(!s.orphans && !s.untimed);
    let a = signal(1_700_000_900, "NIFTY", Action::Buy);
    let b = signal(1_700_001_800, "NIFTY", Action::Sell);
    let decided = |sig: &Signal, time: i64| {
        Row::Decision(Box::new(ExecutorDecision {
            signal_id: sig.signal_id,
            decided_at: sig.timestamp,
            symbol: sig.symbol.clone(),
            mode: Mode::Paper,
            outcome: messages::Outcome::Rejected(RejectReason::WeakSignal),
            underlying_price: sig.price,
            detail: String::new(),
            strategy: sig.strategy.clone(),
            signal_time: time,
        }))
    };
    s.write(&[
        Row::Position(Box::new(position(&a, 1, PositionStatus::Open))),
        decided(&a, a.metadata.candle_time.timestamp()),
    ])
    .unwrap();
    assert_eq!(
        s.signals_processed(&[SignalKey::of(&a), SignalKey::of(&b)])
            .unwrap(),
        vec![true, false]
    );
    // A batch whose span holds no decision at all (the range count's answer).
    let c = signal(1_700_002_700, "NIFTY", Action::Buy);
    let d = signal(1_700_003_600, "NIFTY", Action::Sell);
    assert_eq!(
        s.signals_processed(&[SignalKey::of(&c), SignalKey::of(&d)])
            .unwrap(),
        vec![false, false]
    );
    s.write(&[decided(&d, d.metadata.candle_time.timestamp())])
        .unwrap();
    assert_eq!(
        s.signals_processed(&[SignalKey::of(&b), SignalKey::of(&c), SignalKey::of(&d)])
            .unwrap(),
        vec![false, false, true]
    );
    // A decision without its signal's time (from an older file) is still found.
    s.write(&[decided(&b, 0)]).unwrap();
    assert!(s.untimed);
    assert!(s.is_signal_processed(SignalKey::of(&b)).unwrap());
}

#[test]
fn a_file_keyed_by_signal_id_is_rebuilt_keyed_by_time_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    // The layout before: signals and decisions keyed by the id alone.
    let a = signal(1_700_000_900, "NIFTY", Action::Buy);
    let b = signal(1_700_001_800, "NIFTY", Action::Sell);
    {
        let mut s = SqliteStore::open(&path).unwrap();
        s.write(&[
            Row::Signal(Box::new(a.clone())),
            Row::Signal(Box::new(b.clone())),
        ])
        .unwrap();
        s.conn
            .execute_batch(
                "DROP TABLE executor_decisions; DROP INDEX trading_signals_query;
                 ALTER TABLE trading_signals RENAME TO new_layout;
                 CREATE TABLE trading_signals (
                    signal_id TEXT PRIMARY KEY, timestamp INTEGER NOT NULL, symbol TEXT NOT NULL,
                    asset_type TEXT NOT NULL, strategy TEXT NOT NULL, action TEXT NOT NULL,
                    price REAL NOT NULL, quantity INTEGER NOT NULL, confidence REAL NOT NULL,
                    target REAL NOT NULL, stop_loss REAL NOT NULL, expected_move_pct REAL NOT NULL,
                    candle_time INTEGER NOT NULL, ema_fast REAL NOT NULL, ema_slow REAL NOT NULL,
                    metadata TEXT NOT NULL, created_at INTEGER NOT NULL);
                 INSERT INTO trading_signals SELECT * FROM new_layout;
                 DROP TABLE new_layout;
                 CREATE INDEX trading_signals_query ON trading_signals(symbol, strategy, timestamp);
                 CREATE TABLE executor_decisions (
                    signal_id TEXT PRIMARY KEY, decided_at INTEGER NOT NULL, symbol TEXT NOT NULL,
                    mode TEXT NOT NULL, outcome TEXT NOT NULL, reason TEXT NOT NULL,
                    underlying_price REAL NOT NULL, detail TEXT NOT NULL DEFAULT '',
                    strategy TEXT NOT NULL DEFAULT '');",
            )
            .unwrap();
        s.conn
            .execute(
                "INSERT INTO executor_decisions VALUES (?1, 1700000950, 'NIFTY', 'PAPER',
                 'REJECTED', 'weak_signal', 24000.0, 'why', 'ma_crossover')",
                params![a.signal_id.to_string()],
            )
            .unwrap();
    }
    let mut s = SqliteStore::open(&path).unwrap();
    for table in ["trading_signals", "executor_decisions"] {
        let sql: String = s
            .conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = ?1",
                params![table],
                |r| r.get(0),
            )
            .unwrap();
        assert!(sql.contains("WITHOUT ROWID"), "{table}: {sql}");
    }
    let time: i64 = s
        .conn
        .query_row("SELECT signal_time FROM executor_decisions", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(time, a.metadata.candle_time.timestamp());
    assert_eq!(
        s.signals_processed(&[SignalKey::of(&a), SignalKey::of(&b)])
            .unwrap(),
        vec![true, false]
    );
    assert_eq!(
        s.signals(&SignalQuery::default()).unwrap(),
        vec![b.clone(), a.clone()]
    );
    // The query index is back, and the rows stay idempotent under the new key.
    let idx: i64 = s
        .conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'trading_signals_query'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(idx, 1);
    s.write(&[Row::Signal(Box::new(a.clone()))]).unwrap();
    assert!(s
        .row_counts()
        .unwrap()
        .contains(&("trading_signals".to_string(), 2)));
    drop(s);
    // Opening it again changes nothing.
    let mut s = SqliteStore::open(&path).unwrap();
    assert!(s.is_signal_processed(SignalKey::of(&a)).unwrap());
}

#[test]
fn counts_agree_with_the_signals_read() {
    let mut s = SqliteStore::in_memory().unwrap();
    let rows: Vec<Row> = (0..7)
        .map(|i| {
            let sym = if i % 3 == 0 { "BANKNIFTY" } else { "NIFTY" };
            Row::Signal(Box::new(signal(1_700_000_000 + i * 900, sym, Action::Buy)))
        })
        .collect();
    s.write(&rows).unwrap();
    for q in [
        SignalQuery::default(),
        SignalQuery {
            symbol: Some("NIFTY".into()),
            ..Default::default()
        },
        SignalQuery {
            symbol: Some("BANKNIFTY".into()),
            start: Some(Utc.timestamp_opt(1_700_002_700, 0).unwrap()),
            ..Default::default()
        },
        SignalQuery {
            strategy: Some("other".into()),
            ..Default::default()
        },
    ] {
        let read = s.signals(&q).unwrap().len() as u64;
        assert_eq!(s.count_signals(&q).unwrap(), read, "{q:?}");
    }
    assert_eq!(s.count_signals(&SignalQuery::default()).unwrap(), 7);
}

#[test]
fn decisions_mark_signals_processed() {
    let mut s = SqliteStore::in_memory().unwrap();
    let id = Uuid::from_u128(7);
    let key = SignalKey {
        id,
        candle_time: 1_699_999_100,
    };
    assert!(!s.is_signal_processed(key).unwrap());
    let d = ExecutorDecision {
        signal_id: id,
        decided_at: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
        symbol: "NIFTY".into(),
        mode: Mode::Logging,
        outcome: Outcome::Rejected(RejectReason::WeakSignal),
        underlying_price: 24000.0,
        detail: String::new(),
        strategy: "ma_crossover".into(),
        signal_time: key.candle_time,
    };
    s.write(&[Row::Decision(Box::new(d))]).unwrap();
    assert!(s.is_signal_processed(key).unwrap());
    assert_eq!(
        s.signals_processed(&[
            key,
            SignalKey {
                id: Uuid::from_u128(9),
                ..key
            },
            key
        ])
        .unwrap(),
        vec![true, false, true]
    );
}

#[test]
fn history_returns_latest_oldest_first() {
    let mut s = SqliteStore::in_memory().unwrap();
    let rows: Vec<Row> = (0..5)
        .map(|i| {
            Row::Candle(CandleRow {
                symbol: "NIFTY".into(),
                interval: Timeframe::Minute15,
                ts: 1_700_000_000 + i * 900,
                open: 1.0,
                high: 2.0,
                low: 0.5,
                close: i as f64,
                volume: 10.0,
            })
        })
        .collect();
    s.write(&rows).unwrap();
    s.write(&rows[..2]).unwrap();
    let h = s.history("NIFTY", Timeframe::Minute15, 3).unwrap();
    assert_eq!(
        h.iter().map(|c| c.close).collect::<Vec<_>>(),
        vec![2.0, 3.0, 4.0]
    );
    assert!(s
        .history("NIFTY", Timeframe::Minute5, 3)
        .unwrap()
        .is_empty());
}

#[test]
fn outbox_keeps_stamps_reads_by_table_and_key_and_ships_by_table() {
    let mut s = SqliteStore::in_memory().unwrap();
    let a = signal(1_700_000_000, "NIFTY", Action::Buy);
    let c = |sym: &str, ts: i64| {
        Row::Candle(CandleRow {
            symbol: sym.into(),
            interval: Timeframe::Minute15,
            ts,
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close: ts as f64,
            volume: 3.0,
        })
    };
    s.outbox_push(&[Row::Signal(Box::new(a.clone())), c("NIFTY", 900)], 111)
        .unwrap();
    s.outbox_push(&[c("NIFTY", 1800), c("NIFTYX", 900)], 222)
        .unwrap();
    let peek = s.outbox_peek(10).unwrap();
    assert_eq!(
        peek.iter().map(|(_, st, _)| *st).collect::<Vec<_>>(),
        vec![111, 111, 222, 222]
    );
    let got = s.outbox_candles("NIFTY", Timeframe::Minute15).unwrap();
    assert_eq!(
        got.iter().map(|(st, c)| (*st, c.ts)).collect::<Vec<_>>(),
        vec![(111, 900), (222, 1800)],
        "NIFTYX is another symbol"
    );
    let sid = a.signal_id.to_string();
    assert_eq!(
        s.outbox_rows("trading_signals", Some(&sid)).unwrap().len(),
        1
    );
    assert_eq!(s.outbox_keys(&["trading_signals"]).unwrap(), vec![sid]);
    let last = peek.last().unwrap().0;
    s.outbox_delete_table_upto("trading_signals", last).unwrap();
    assert_eq!(s.outbox_len().unwrap(), 3, "only the signal left");
    assert!(s.outbox_rows("trading_signals", None).unwrap().is_empty());
}

#[test]
fn outbox_rows_come_back_with_the_exact_same_floats() {
    // A row shipped from the outbox must be the very row a direct insert would have sent
    // (a batch can reach the server in part, then go to the outbox whole).
    let mut s = SqliteStore::in_memory().unwrap();
    let mut sig = signal(1_700_000_000, "INFY", Action::Buy);
    sig.metadata.ema_slow = 1534.9368338013753;
    sig.metadata.ema_fast = 12377.420434164931;
    sig.price = 0.1 + 0.2;
    let rows = vec![Row::Signal(Box::new(sig))];
    s.outbox_push(&rows, 1).unwrap();
    let back: Vec<Row> = s.outbox_peek(1).unwrap().into_iter().map(|r| r.2).collect();
    assert_eq!(back, rows);
    let Row::Signal(b) = &back[0] else { panic!() };
    assert_eq!(
        b.metadata.ema_slow.to_bits(),
        1534.9368338013753f64.to_bits()
    );
}

#[test]
fn an_outbox_made_before_stamps_gains_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("old.db");
    {
        let c = Connection::open(&p).unwrap();
        c.execute_batch("CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL)").unwrap();
        let row = serde_json::to_string(&Row::Signal(Box::new(signal(
            1_700_000_000,
            "NIFTY",
            Action::Sell,
        ))))
        .unwrap();
        c.execute(
            "INSERT INTO outbox (tbl, key, payload) VALUES ('trading_signals', 'k', ?1)",
            params![row],
        )
        .unwrap();
    }
    let mut s = SqliteStore::open(&p).unwrap();
    let peek = s.outbox_peek(5).unwrap();
    assert_eq!(peek.len(), 1);
    assert_eq!(peek[0].1, 0, "no stamp: shipped with the time of shipping");
}

#[test]
fn file_store_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sub/a.db");
    let sig = signal(1_700_000_000, "NIFTY", Action::Buy);
    SqliteStore::open(&p)
        .unwrap()
        .write(&[Row::Signal(Box::new(sig.clone()))])
        .unwrap();
    let mut again = SqliteStore::open(&p).unwrap();
    assert_eq!(again.signals(&SignalQuery::default()).unwrap(), vec![sig]);
}

#[test]
fn a_new_store_has_16_kib_pages_and_an_older_file_keeps_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let page =
        |c: &Connection| -> i64 { c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap() };
    let fresh = dir.path().join("new.db");
    let mut s = SqliteStore::open(&fresh).unwrap();
    s.write(&[Row::Signal(Box::new(signal(
        1_700_000_900,
        "NIFTY",
        Action::Buy,
    )))])
    .unwrap();
    assert_eq!(page(&s.conn), PAGE_SIZE);
    let ckpt = |c: &Connection| -> i64 {
        c.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(ckpt(&s.conn) * PAGE_SIZE, BACKSTOP_CHECKPOINT_BYTES);
    drop(s);
    // A file made with SQLite's default 4 KiB pages (as before) opens, keeps them and its rows.
    let old = dir.path().join("old.db");
    {
        let c = Connection::open(&old).unwrap();
        c.pragma_update(None, "page_size", 4096).unwrap();
        c.pragma_update(None, "journal_mode", "WAL").unwrap();
        c.execute_batch(DDL).unwrap();
    }
    let a = signal(1_700_000_900, "NIFTY", Action::Buy);
    let mut s = SqliteStore::open(&old).unwrap();
    s.write(&[Row::Signal(Box::new(a.clone()))]).unwrap();
    drop(s);
    let mut s = SqliteStore::open(&old).unwrap();
    assert_eq!(page(&s.conn), 4096);
    assert_eq!(ckpt(&s.conn) * 4096, BACKSTOP_CHECKPOINT_BYTES);
    let got = s.signals(&SignalQuery::default()).unwrap();
    assert_eq!(
        got.iter().map(|x| x.signal_id).collect::<Vec<_>>(),
        [a.signal_id]
    );
}

#[test]
fn the_checkpointer_thread_moves_committed_pages_into_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.db");
    let mut st = SqliteStore::open(&p).unwrap();
    assert!(
        st.checkpointer.is_some(),
        "a file store checkpoints on its own thread"
    );
    let size = || std::fs::metadata(&p).unwrap().len();
    // Quiet for a while: the schema's own commits are checkpointed, the file settles.
    std::thread::sleep(checkpointer::EVERY * 3);
    let before = size();
    let tf = messages::Timeframe::Minute15;
    let rows: Vec<Row> = (0..20_000)
        .map(|i| {
            Row::Candle(CandleRow {
                symbol: format!("S{}", i % 50).into(),
                interval: tf,
                ts: 1_704_166_200 + i * 900,
                open: 100.0,
                high: 101.0,
                low: 99.0,
                close: 100.5,
                volume: 25.0,
            })
        })
        .collect();
    st.write(&rows).unwrap();
    // The commit wrote the WAL (far below the writer's own backstop threshold).
    let wal = std::fs::metadata(dir.path().join("a.db-wal"))
        .unwrap()
        .len();
    assert!(wal > 1 << 20, "the rows are in the WAL: {wal} bytes");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while size() == before && std::time::Instant::now() < deadline {
        std::thread::sleep(checkpointer::EVERY / 5);
    }
    assert!(
        size() > before + (1 << 20),
        "the thread copied the pages into the file: {} -> {} bytes",
        before,
        size()
    );
    // Nothing was lost on the way: the rows read back, and again after a reopen.
    assert_eq!(st.history("S7", tf, 1000).unwrap().len(), 400);
    drop(st);
    let mut again = SqliteStore::open(&p).unwrap();
    assert_eq!(again.history("S7", tf, 1000).unwrap().len(), 400);
}

#[test]
fn a_bulk_load_checkpoints_in_the_writer_without_the_thread() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = SqliteStore::open(&dir.path().join("a.db")).unwrap();
    let ckpt = |c: &Connection| -> i64 {
        c.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
            .unwrap()
    };
    assert!(st.checkpointer.is_some());
    assert_eq!(ckpt(&st.conn) * PAGE_SIZE, BACKSTOP_CHECKPOINT_BYTES);
    st.bulk_writes();
    assert!(st.checkpointer.is_none(), "no thread for a bulk load");
    assert_eq!(ckpt(&st.conn) * PAGE_SIZE, WAL_CHECKPOINT_BYTES);
    // Writes go on as before.
    let s = signal(1_700_000_900, "NIFTY", Action::Buy);
    st.write(&[Row::Signal(Box::new(s.clone()))]).unwrap();
    assert_eq!(st.signals(&SignalQuery::default()).unwrap(), vec![s]);
}
