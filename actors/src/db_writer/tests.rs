use super::*;
use crate::store::sqlite::SqliteStore;
use messages::{Candle, CandleRow, SymbolId, Timeframe};
use std::path::Path;

/// Longer than any test: the interval's commit never happens during one.
const HOUR: Duration = Duration::from_secs(3600);

fn candle(i: i64) -> Row {
    let c = Candle {
        symbol: SymbolId(0),
        ts: 1_700_000_000 + 60 * i,
        open: 100.0,
        high: 101.0,
        low: 99.0,
        close: 100.5,
        volume: 10.0,
    };
    Row::Candle(CandleRow::of(&"NIFTY".into(), Timeframe::Minute1, &c))
}

fn writer(dir: &Path) -> DbWriter {
    let store = SqliteStore::open(&dir.join("a.db")).unwrap();
    let m = crate::metrics::Registry::new(true).db_writer;
    DbWriter::new(Box::new(store), 1000, HOUR, m)
}

/// Candle rows another connection sees committed.
fn stored(dir: &Path) -> i64 {
    rusqlite::Connection::open(dir.join("a.db"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM historical_data", [], |r| r.get(0))
        .unwrap()
}

/// The candles' times another connection sees committed, oldest first.
fn stored_times(dir: &Path) -> Vec<i64> {
    let c = rusqlite::Connection::open(dir.join("a.db")).unwrap();
    let mut q = c
        .prepare("SELECT timestamp FROM historical_data ORDER BY timestamp")
        .unwrap();
    let v = q.query_map([], |r| r.get(0)).unwrap();
    v.map(|t| t.unwrap()).collect()
}

#[actix_rt::test]
async fn closed_candles_are_stored_under_their_symbols_names_and_timeframes() {
    let dir = tempfile::tempdir().unwrap();
    let db = writer(dir.path()).start();
    let symbols = messages::Symbols::new(["NIFTY".to_string(), "BANKNIFTY".to_string()]);
    let c = |sym: u16, ts: i64, close: f64| Candle {
        symbol: SymbolId(sym),
        ts,
        open: 100.0,
        high: 101.0,
        low: 99.0,
        close,
        volume: 10.0,
    };
    db.do_send(PersistCandles {
        symbols,
        candles: vec![
            (Timeframe::Minute1, c(1, 1_700_000_000, 100.25)),
            (Timeframe::Minute15, c(0, 1_700_000_000, 100.5)),
            // An id outside the table: logged and left out, the others are kept.
            (Timeframe::Minute1, c(7, 1_700_000_060, 100.75)),
        ],
    });
    db.send(Flush).await.unwrap().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("a.db")).unwrap();
    let mut q = conn
        .prepare("SELECT symbol, timeframe, timestamp, close FROM historical_data ORDER BY symbol")
        .unwrap();
    let rows: Vec<(String, String, i64, f64)> = q
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(
        rows,
        vec![
            ("BANKNIFTY".into(), "minute".into(), 1_700_000_000, 100.25),
            ("NIFTY".into(), "15minute".into(), 1_700_000_000, 100.5),
        ]
    );
}

#[actix_rt::test]
async fn rows_over_the_threshold_are_committed_a_chunk_at_a_time_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let db = writer(dir.path()).start();
    // 1,100 rows nobody waits for take the writer over its 1,000: the oldest CHUNK_ROWS
    // go in one transaction, which brings it back under; the rest wait.
    db.do_send(Persist((0..1100).map(candle).collect()));
    let s = db.send(GetWriterStats).await.unwrap();
    assert_eq!(
        (s.commits, s.rows_committed, s.pending),
        (1, CHUNK_ROWS as u64, 1100 - CHUNK_ROWS as u64)
    );
    let want: Vec<i64> = (0..CHUNK_ROWS as i64)
        .map(|i| 1_700_000_000 + 60 * i)
        .collect();
    assert_eq!(stored_times(dir.path()), want);
    // A replay's writer commits whole batches.
    let dir = tempfile::tempdir().unwrap();
    let db = writer(dir.path()).bulk_load().start();
    db.do_send(Persist((0..1100).map(candle).collect()));
    let s = db.send(GetWriterStats).await.unwrap();
    assert_eq!((s.commits, s.rows_committed, s.pending), (1, 1000, 100));
    assert_eq!(stored_times(dir.path()).len(), 1000);
}

#[actix_rt::test]
async fn the_interval_commits_what_is_pending_a_chunk_at_a_time_to_the_last_row() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("a.db")).unwrap();
    let m = crate::metrics::Registry::new(true).db_writer;
    let db = DbWriter::new(Box::new(store), 10_000, Duration::from_millis(50), m).start();
    let n = 2 * CHUNK_ROWS + 88;
    db.do_send(Persist((0..n as i64).map(candle).collect()));
    assert_eq!(db.send(GetWriterStats).await.unwrap().commits, 0);
    // One interval: a chunk at its tick, the rest a chunk at a time after the mailbox.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let s = loop {
        let s = db.send(GetWriterStats).await.unwrap();
        if s.pending == 0 || std::time::Instant::now() > deadline {
            break s;
        }
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!((s.commits, s.rows_committed, s.pending), (3, n as u64, 0));
    assert_eq!(stored(dir.path()), n as i64);
}

#[actix_rt::test]
async fn an_awaited_persist_commits_once_the_mailbox_is_empty_with_the_rows_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = writer(dir.path()).start();
    // Sent without awaiting: nobody waits, so the rows wait for the next commit.
    db.do_send(Persist(vec![candle(0), candle(1)]));
    let s = db.send(GetWriterStats).await.unwrap();
    assert_eq!((s.commits, s.pending), (0, 2));
    assert_eq!(stored(dir.path()), 0);
    // Awaited: committed without a Flush and long before the interval, with the two above.
    db.send(Persist(vec![candle(2)])).await.unwrap().unwrap();
    let s = db.send(GetWriterStats).await.unwrap();
    assert_eq!((s.commits, s.rows_committed, s.pending), (1, 3, 0));
    assert_eq!(stored(dir.path()), 3);
}

#[actix_rt::test]
async fn awaited_persists_queued_together_share_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let db = writer(dir.path()).start();
    // All ten are in the mailbox before the writer runs (same thread): one drain, one
    // commit, ten answers.
    let asks: Vec<_> = (0..10).map(|i| db.send(Persist(vec![candle(i)]))).collect();
    for a in asks {
        a.await.unwrap().unwrap();
    }
    let s = db.send(GetWriterStats).await.unwrap();
    assert_eq!((s.commits, s.rows_committed, s.pending), (1, 10, 0));
    assert_eq!(stored(dir.path()), 10);
}

fn signal(i: i64) -> messages::Signal {
    use chrono::TimeZone;
    let t = chrono::Utc
        .timestamp_opt(1_700_000_000 + 60 * i, 0)
        .unwrap();
    messages::Signal {
        signal_id: Uuid::from_u128(i as u128 + 1),
        timestamp: t,
        symbol: "NIFTY".into(),
        strategy: "ma_crossover".into(),
        action: messages::Action::Buy,
        price: 100.0,
        stop_loss: 99.0,
        target: 102.0,
        confidence: 0.5,
        expected_move_pct: 1.0,
        metadata: messages::SignalMetadata {
            candle_time: t,
            ema_fast: 1.0,
            ema_slow: 1.0,
        },
    }
}

fn decision(s: &messages::Signal) -> Row {
    Row::Decision(Box::new(messages::ExecutorDecision {
        signal_id: s.signal_id,
        decided_at: s.timestamp,
        symbol: s.symbol.clone(),
        mode: messages::Mode::Logging,
        outcome: messages::Outcome::Logged,
        underlying_price: s.price,
        detail: String::new(),
        strategy: s.strategy.clone(),
        signal_time: s.metadata.candle_time.timestamp(),
    }))
}

#[actix_rt::test]
async fn persisted_signals_are_answered_with_whether_each_was_already_decided() {
    let dir = tempfile::tempdir().unwrap();
    let db = writer(dir.path()).start();
    let (a, b, c) = (signal(0), signal(1), signal(2));
    // a decided and committed earlier; b's decision still pending; c never decided.
    db.send(Persist(vec![
        Row::Signal(Box::new(a.clone())),
        decision(&a),
    ]))
    .await
    .unwrap()
    .unwrap();
    db.do_send(Persist(vec![
        Row::Signal(Box::new(b.clone())),
        decision(&b),
    ]));
    let answer = db
        .send(PersistSignals(vec![a.clone(), b.clone(), c.clone()]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer, Some(vec![true, true, false]));
    // The answer came after the commit: all three signals are stored, once each.
    let n: i64 = rusqlite::Connection::open(dir.path().join("a.db"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM trading_signals", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3);
    // The signals' own commit left b's rows, which nobody awaited, for the next one.
    let s = db.send(GetWriterStats).await.unwrap();
    assert_eq!((s.commits, s.pending), (2, 2));
}

#[actix_rt::test]
async fn signals_are_committed_ahead_of_rows_nobody_waits_for() {
    let dir = tempfile::tempdir().unwrap();
    let db = writer(dir.path()).start();
    db.do_send(Persist((0..50).map(candle).collect()));
    let answer = db
        .send(PersistSignals(vec![signal(0)]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer, Some(vec![false]));
    let signals = |dir: &Path| -> i64 {
        rusqlite::Connection::open(dir.join("a.db"))
            .unwrap()
            .query_row("SELECT COUNT(*) FROM trading_signals", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!((signals(dir.path()), stored(dir.path())), (1, 0));
    let s = db.send(GetWriterStats).await.unwrap();
    assert_eq!((s.commits, s.rows_committed, s.pending), (1, 1, 50));
    // The candles go with the next full commit (here a Flush; else the interval).
    assert_eq!(db.send(Flush).await.unwrap().unwrap(), 50);
    assert_eq!((signals(dir.path()), stored(dir.path())), (1, 50));
}

/// SQLite whose next `fail` writes fail (a full disk, say).
struct Flaky {
    inner: SqliteStore,
    fail: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

impl Store for Flaky {
    fn backend(&self) -> &'static str {
        "flaky"
    }
    fn write(&mut self, rows: &[Row]) -> crate::error::Result<()> {
        use std::sync::atomic::Ordering::SeqCst;
        if self.fail.load(SeqCst) > 0 {
            self.fail.fetch_sub(1, SeqCst);
            return Err(crate::error::Error::store("flaky", "write", "disk full"));
        }
        self.inner.write(rows)
    }
    fn signals(
        &mut self,
        q: &messages::SignalQuery,
    ) -> crate::error::Result<Vec<messages::Signal>> {
        self.inner.signals(q)
    }
    fn is_signal_processed(&mut self, key: messages::SignalKey) -> crate::error::Result<bool> {
        self.inner.is_signal_processed(key)
    }
    fn processed_since(&mut self, since: i64) -> crate::error::Result<Vec<Uuid>> {
        self.inner.processed_since(since)
    }
    fn history(
        &mut self,
        symbol: &str,
        interval: Timeframe,
        limit: usize,
    ) -> crate::error::Result<Vec<CandleRow>> {
        self.inner.history(symbol, interval, limit)
    }
    fn positions_by_signal(
        &mut self,
        id: Uuid,
    ) -> crate::error::Result<Vec<messages::PositionRecord>> {
        self.inner.positions_by_signal(id)
    }
    fn open_positions(&mut self) -> crate::error::Result<Vec<messages::PositionRecord>> {
        self.inner.open_positions()
    }
    fn closed_positions_since(
        &mut self,
        since: i64,
    ) -> crate::error::Result<Vec<messages::PositionRecord>> {
        self.inner.closed_positions_since(since)
    }
    fn row_counts(&mut self) -> crate::error::Result<Vec<(String, u64)>> {
        self.inner.row_counts()
    }
    fn health(&mut self) -> messages::StoreHealth {
        self.inner.health()
    }
}

#[actix_rt::test]
async fn a_signal_is_answered_only_once_a_commit_holding_it_succeeded() {
    let dir = tempfile::tempdir().unwrap();
    let fail = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(1));
    let store = Flaky {
        inner: SqliteStore::open(&dir.path().join("a.db")).unwrap(),
        fail: fail.clone(),
    };
    let m = crate::metrics::Registry::new(true).db_writer;
    let db = DbWriter::new(Box::new(store), 1000, HOUR, m).start();
    // Both queued before the writer runs: the Flush's full commit (signal included) fails;
    // the signal's own commit, once the mailbox is empty, must still write it.
    let signal_ack = db.send(PersistSignals(vec![signal(0)]));
    let flush = db.send(Flush);
    assert!(flush.await.unwrap().is_err(), "the first write fails");
    assert_eq!(signal_ack.await.unwrap().unwrap(), Some(vec![false]));
    let n: i64 = rusqlite::Connection::open(dir.path().join("a.db"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM trading_signals", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1, "answered, so committed");
    let s = db.send(GetWriterStats).await.unwrap();
    assert_eq!((s.failed_commits, s.commits, s.pending), (1, 1, 0));
}

#[actix_rt::test]
async fn after_a_restart_an_awaited_persist_still_commits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let db = Supervisor::start(move |_| writer(&path));
    // The panic comes while the commit for the first Persist is scheduled: the restart
    // cancels that commit and commits the rows itself.
    let first = db.send(Persist(vec![candle(0)]));
    db.do_send(InjectPanic);
    first.await.unwrap().unwrap();
    assert_eq!(db.send(GetRestarts).await.unwrap(), 1);
    let second = db.send(Persist(vec![candle(1)]));
    // Without a commit scheduled again this would wait for the hour's interval.
    tokio::time::timeout(Duration::from_secs(60), second)
        .await
        .expect("committed without waiting for the interval")
        .unwrap()
        .unwrap();
    assert_eq!(stored(dir.path()), 2);
}
