//! Persistence against a real ClickHouse server (started by the test command: scripts/test.sh).
//! Every test works in its own database and drops it at the end.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use actors::config::{ClickHouse, StorageBackend};
use actors::store::clickhouse::ClickHouseStore;
use actors::store::sqlite::SqliteStore;
use actors::store::Store;
use chrono::{NaiveDate, TimeZone, Utc};
use messages::*;
use uuid::Uuid;

fn ch_cfg(db: &str, url: &str) -> ClickHouse {
    ClickHouse {
        url: url.into(),
        database: db.into(),
        user: "default".into(),
        password: String::new(),
        timeout_seconds: 5,
    }
}

struct DropDb(String);
impl Drop for DropDb {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| {
            common::ch_sql(&format!("DROP DATABASE IF EXISTS {}", self.0))
        });
    }
}

fn signal(i: i64, symbol: &str) -> Signal {
    let ts = 1_704_166_200 + i * 900;
    let action = if i % 2 == 0 {
        Action::Buy
    } else {
        Action::Sell
    };
    Signal {
        signal_id: signal_id(symbol, "ma_crossover", Timeframe::Minute15, ts, action),
        timestamp: Utc.timestamp_opt(ts + 900, 0).unwrap(),
        symbol: symbol.into(),
        strategy: "ma_crossover".into(),
        action,
        price: 24_000.05 + i as f64,
        stop_loss: 23_760.0,
        target: 24_480.1,
        confidence: 0.75,
        expected_move_pct: 2.0,
        metadata: SignalMetadata {
            candle_time: Utc.timestamp_opt(ts, 0).unwrap(),
            ema_fast: 24_001.5,
            ema_slow: 24_000.25,
        },
    }
}

fn decision(s: &Signal) -> Row {
    Row::Decision(Box::new(ExecutorDecision {
        signal_id: s.signal_id,
        decided_at: s.timestamp,
        symbol: s.symbol.clone(),
        mode: Mode::Logging,
        outcome: Outcome::Logged,
        underlying_price: s.price,
        detail: String::new(),
        strategy: "ma_crossover".into(),
        signal_time: s.metadata.candle_time.timestamp(),
    }))
}

fn position(id: u128, signal: Uuid, version: u64, status: PositionStatus) -> Row {
    Row::Position(Box::new(PositionRecord {
        position_id: Uuid::from_u128(id),
        version,
        signal_id: signal,
        symbol: "NIFTY".into(),
        option_symbol: "NIFTY24JAN24000CE".into(),
        strike: 24_000.0,
        option_type: OptionType::CE,
        expiry: NaiveDate::from_ymd_opt(2024, 1, 25).unwrap(),
        mode: Mode::Paper,
        status,
        lots: 2,
        lot_size: 50,
        quantity: 100,
        remaining_quantity: 100,
        entry_time: Utc.timestamp_opt(1_704_170_000, 0).unwrap(),
        entry_premium: 120.5,
        stop_loss_premium: 84.35,
        target_premium: 192.8,
        current_premium: 130.0 + version as f64,
        unrealized_pnl: 950.0,
        exit_time: (status == PositionStatus::Closed)
            .then(|| Utc.timestamp_opt(1_704_180_000, 0).unwrap()),
        exit_premium: if status == PositionStatus::Closed {
            140.0
        } else {
            0.0
        },
        exit_reason: if status == PositionStatus::Closed {
            "TARGET_REACHED".into()
        } else {
            String::new()
        },
        realized_pnl: if status == PositionStatus::Closed {
            1950.0
        } else {
            0.0
        },
        updated_at: Utc
            .timestamp_opt(1_704_170_000 + version as i64, 0)
            .unwrap(),
        strategy: "ma_crossover".into(),
        // Every item distinct, so a swapped column shows.
        charges: messages::Charges {
            brokerage: 2000 * version as i64,
            stt: if status == PositionStatus::Closed {
                140
            } else {
                0
            },
            exchange_txn: 597,
            sebi: 2,
            stamp_duty: 36,
            gst: 467,
            total: 3102
                + 2000 * (version as i64 - 1)
                + if status == PositionStatus::Closed {
                    140
                } else {
                    0
                },
        },
        net_pnl: if status == PositionStatus::Closed {
            1950.0 - 52.42
        } else {
            -31.02
        },
    }))
}

fn candle(i: i64) -> Row {
    Row::Candle(CandleRow {
        symbol: "NIFTY".into(),
        interval: Timeframe::Minute15,
        ts: 1_704_080_700 + i * 900,
        open: 100.0,
        high: 101.0,
        low: 99.0,
        close: 100.0 + i as f64,
        volume: 1_000.0,
    })
}

#[test]
fn store_round_trip_on_a_real_server() {
    let db = common::ch_db("roundtrip");
    let _drop = DropDb(db.clone());
    let mut st = ClickHouseStore::open(
        &ch_cfg(&db, &common::ch_url()),
        SqliteStore::in_memory().unwrap(),
    )
    .unwrap();
    assert!(st.health().connected);
    assert_eq!(
        st.init_schema().unwrap(),
        Vec::<u32>::new(),
        "migrations already applied at open"
    );
    assert_eq!(
        common::ch_num(&format!("SELECT count() FROM {db}.schema_migrations")),
        actors::store::schema::MIGRATIONS.len() as u64
    );

    let sigs: Vec<Signal> = (0..4)
        .map(|i| signal(i, if i < 3 { "NIFTY" } else { "BANKNIFTY" }))
        .collect();
    let mut rows: Vec<Row> = sigs
        .iter()
        .map(|s| Row::Signal(Box::new(s.clone())))
        .collect();
    rows.push(decision(&sigs[0]));
    rows.extend((0..5).map(candle));
    rows.push(position(1, sigs[1].signal_id, 1, PositionStatus::Open));
    rows.push(position(2, sigs[2].signal_id, 1, PositionStatus::Open));
    st.write(&rows).unwrap();
    // Versioned change of position 1; a repeated signal batch; candles re-imported.
    st.write(&[position(1, sigs[1].signal_id, 2, PositionStatus::Closed)])
        .unwrap();
    st.write(&rows[..4]).unwrap();
    st.write(&(0..5).map(candle).collect::<Vec<_>>()).unwrap();

    let all = st.signals(&SignalQuery::default()).unwrap();
    let mut expected = sigs.clone();
    expected.reverse();
    assert_eq!(all, expected, "newest first, each once");
    assert_eq!(
        common::ch_num(&format!("SELECT count() FROM {db}.trading_signals")),
        4,
        "no physical duplicate"
    );
    let q = SignalQuery {
        symbol: Some("NIFTY".into()),
        strategy: Some("ma_crossover".into()),
        start: Some(sigs[1].timestamp),
        end: Some(sigs[2].timestamp),
    };
    assert_eq!(
        st.signals(&q).unwrap(),
        vec![sigs[2].clone(), sigs[1].clone()]
    );

    let h = st.history("NIFTY", Timeframe::Minute15, 3).unwrap();
    assert_eq!(
        h.iter().map(|c| c.close).collect::<Vec<_>>(),
        vec![102.0, 103.0, 104.0]
    );
    assert_eq!(h[0].ts, 1_704_080_700 + 2 * 900);

    assert!(
        st.is_signal_processed(SignalKey::of(&sigs[0])).unwrap(),
        "decision"
    );
    assert!(
        st.is_signal_processed(SignalKey::of(&sigs[1])).unwrap(),
        "position"
    );
    assert!(!st.is_signal_processed(SignalKey::of(&sigs[3])).unwrap());
    assert_eq!(st.processed_since(0).unwrap(), vec![sigs[0].signal_id]);

    let p1 = st.positions_by_signal(sigs[1].signal_id).unwrap();
    assert_eq!(p1.len(), 1);
    assert_eq!(
        (p1[0].version, p1[0].status, p1[0].exit_premium),
        (2, PositionStatus::Closed, 140.0)
    );
    assert!(p1[0].exit_time.is_some());
    if let Row::Position(p) = position(1, sigs[1].signal_id, 2, PositionStatus::Closed) {
        assert_eq!(
            p1[0], *p,
            "a closed version's charges and net P&L round-trip"
        );
    }
    let open = st.open_positions().unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].position_id, Uuid::from_u128(2));
    assert_eq!(open[0].exit_time, None);
    if let Row::Position(p) = position(2, sigs[2].signal_id, 1, PositionStatus::Open) {
        assert_eq!(open[0], *p, "every field round-trips");
    }

    let counts = st.row_counts().unwrap();
    assert!(counts.contains(&("trading_signals".into(), 4)));
    assert!(counts.contains(&("executor_decisions".into(), 1)));

    // Metric samples land in performance_metrics.
    let at = chrono::DateTime::from_timestamp(1_704_080_700, 0).unwrap();
    let mut reg = actors::metrics::Registry::new(true);
    reg.add_strategy("ma_crossover");
    let snap = reg.snapshot();
    let rows: Vec<Row> = actors::metrics::samples(&snap, at)
        .into_iter()
        .map(|m| Row::Metric(Box::new(m)))
        .collect();
    assert_eq!(rows.len(), 6 * 8, "eight series per running actor");
    st.write(&rows).unwrap();
    assert_eq!(
        common::ch_sql(&format!(
            "SELECT component, metric, value FROM {db}.performance_metrics WHERE metric = 'handled_total' ORDER BY component FORMAT TSV"
        )),
        "data_manager\thandled_total\t0\ndb_writer\thandled_total\t0\noptions_executor\thandled_total\t0\nposition_manager\thandled_total\t0\nsignal_manager\thandled_total\t0\nstrategy:ma_crossover\thandled_total\t0\n"
    );

    // strategy_performance: a period written twice keeps the newest; no Sharpe is NULL.
    let perf = |pnl: f64, computed: i64, sharpe: Option<f64>| {
        Row::Performance(Box::new(messages::StrategyPerformance {
            strategy: "ema_5_13_5m".into(),
            symbol: "NIFTY".into(),
            mode: Mode::Paper,
            period_start: chrono::NaiveDate::from_ymd_opt(2024, 7, 1).unwrap(),
            period_end: chrono::NaiveDate::from_ymd_opt(2024, 7, 1).unwrap(),
            total_trades: 3,
            winning_trades: 1,
            losing_trades: 2,
            total_pnl: pnl,
            max_drawdown: 812.25,
            sharpe_ratio: sharpe,
            win_rate: 100.0 / 3.0,
            avg_win: 1200.5,
            avg_loss: -406.13,
            computed_at: chrono::DateTime::from_timestamp(computed, 0).unwrap(),
        }))
    };
    st.write(&[perf(-100.0, 1_719_828_000, Some(1.5))]).unwrap();
    st.write(&[perf(-412.25, 1_719_828_060, None)]).unwrap();
    assert_eq!(
        common::ch_sql(&format!(
            "SELECT strategy, symbol, mode, period_start, total_trades, total_pnl, max_drawdown, sharpe_ratio, avg_loss FROM {db}.strategy_performance FINAL FORMAT TSV"
        )),
        "ema_5_13_5m\tNIFTY\tPAPER\t2024-07-01\t3\t-412.25\t812.25\t\\N\t-406.13\n"
    );
}

#[test]
fn outage_goes_to_the_outbox_and_ships_in_order_once_back() {
    // A server of our own on other ports, so stopping it disturbs no other test.
    let dir = tempfile::tempdir().unwrap();
    let script = common::root().join("scripts/clickhouse.sh");
    let ctl = |arg: &str| {
        let out = Command::new("bash")
            .arg(&script)
            .arg(arg)
            .env("CLICKHOUSE_DIR", dir.path().join("ch"))
            .env("CLICKHOUSE_HTTP_PORT", "18123")
            .env("CLICKHOUSE_TCP_PORT", "19000")
            .output()
            .unwrap();
        assert!(
            out.status.success() || arg == "stop",
            "{arg}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    ctl("start");
    let url = "http://127.0.0.1:18123";
    let db = common::ch_db("outage");
    let outbox_path = dir.path().join("outbox.db");
    let mut st =
        ClickHouseStore::open(&ch_cfg(&db, url), SqliteStore::open(&outbox_path).unwrap()).unwrap();
    let sigs: Vec<Signal> = (0..30).map(|i| signal(i, "NIFTY")).collect();
    let batch = |r: std::ops::Range<usize>| -> Vec<Row> {
        sigs[r]
            .iter()
            .flat_map(|s| [Row::Signal(Box::new(s.clone())), decision(s)])
            .collect()
    };
    st.write(&batch(0..10)).unwrap();
    assert_eq!(
        common::ch_num_at(url, &format!("SELECT count() FROM {db}.trading_signals")),
        10
    );

    ctl("stop");
    st.write(&batch(10..20))
        .expect("accepted into the outbox while the server is down");
    let h = st.health();
    assert!(!h.connected);
    assert_eq!(h.outbox_pending, 20);
    assert!(
        st.is_signal_processed(SignalKey::of(&sigs[15])).unwrap(),
        "decisions in the outbox count"
    );
    drop(st);

    // The engine restarts while the server is still down: the outbox is durable.
    let mut st =
        ClickHouseStore::open(&ch_cfg(&db, url), SqliteStore::open(&outbox_path).unwrap()).unwrap();
    assert_eq!(st.health().outbox_pending, 20);
    ctl("start");
    std::thread::sleep(Duration::from_millis(1200)); // past the reconnect back-off
    st.write(&batch(20..30)).unwrap();
    let h = st.health();
    assert!(h.connected);
    assert_eq!(h.outbox_pending, 0);
    assert_eq!(
        common::ch_num_at(url, &format!("SELECT count() FROM {db}.trading_signals")),
        30
    );
    assert_eq!(
        common::ch_num_at(
            url,
            &format!("SELECT uniqExact(signal_id) FROM {db}.trading_signals")
        ),
        30
    );
    assert_eq!(
        common::ch_num_at(url, &format!("SELECT count() FROM {db}.executor_decisions")),
        30
    );
    // Shipped in order: the outbox rows (10..20) went in before the new batch (20..30).
    let order = common::ch_sql_at(url, &format!("SELECT groupArray(toUInt32(price - 24000.05)) FROM (SELECT price, _part FROM {db}.trading_signals ORDER BY _part, price)"));
    assert_eq!(
        order.trim(),
        format!(
            "[{}]",
            (0..30).map(|i| i.to_string()).collect::<Vec<_>>().join(",")
        )
    );
    ctl("stop");
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_alphastocks"));
    c.current_dir(common::root()).env("RUST_LOG", "info");
    c
}

fn engine_config(dir: &std::path::Path, db: &str) -> std::path::PathBuf {
    let mut v = common::default_json();
    v["storage"]["data_dir"] = dir.to_string_lossy().into_owned().into();
    v["storage"]["clickhouse"]["database"] = db.into();
    v["storage"]["clickhouse"]["url"] = common::ch_url().into();
    common::write_config(dir, &v)
}

#[test]
fn sigkill_mid_replay_then_rerun_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::ch_db("sigkill");
    let _drop = DropDb(db.clone());
    let cfg = engine_config(dir.path(), &db);
    let replay = |out: &str, rate: Option<&str>| {
        let mut c = bin();
        c.args(["replay", "--store", "clickhouse", "--data"])
            .arg(common::sample())
            .arg("--config")
            .arg(&cfg)
            .arg("--out")
            .arg(dir.path().join(out));
        if let Some(r) = rate {
            c.args(["--max-rate", r]);
        }
        c
    };
    // Run 1 at 2000 bars/s (~3 s for the sample), killed with SIGKILL once rows are landing.
    let mut child = replay("a", Some("2000"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let signals_table = format!("{db}.trading_signals");
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let exists = common::ch_num(&format!("SELECT count() FROM system.tables WHERE database = '{db}' AND name = 'trading_signals'"));
        if exists == 1 && common::ch_num(&format!("SELECT count() FROM {signals_table}")) > 20 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "no rows landed");
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = common::ch_num(&format!("SELECT count() FROM {signals_table}"));

    // Run 2, to the end.
    let out = replay("b", None).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Signal> = std::fs::read_to_string(dir.path().join("b/signals.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let total = lines.len() as u64;
    assert!(
        partial < total,
        "the kill landed mid-replay ({partial} of {total})"
    );
    // Every write passes through the outbox: a kill between a table's insert and its removal
    // from the outbox ships those rows again — identical rows, which FINAL shows once. Never
    // a second version of a row with other contents.
    for (t, content) in [
        (
            "trading_signals",
            "timestamp, symbol, strategy, action, price, confidence, target, stop_loss, expected_move_pct, candle_time, ema_fast, ema_slow, metadata, created_at",
        ),
        (
            "executor_decisions",
            "decided_at, symbol, mode, outcome, reason, underlying_price, detail, strategy",
        ),
    ] {
        let fin = common::ch_num(&format!("SELECT count() FROM {db}.{t} FINAL"));
        let uniq = common::ch_num(&format!("SELECT uniqExact(signal_id) FROM {db}.{t}"));
        assert_eq!(
            (fin, uniq),
            (total, total),
            "{t}: every signal once, none lost, none twice"
        );
        let two = common::ch_num(&format!(
            "SELECT count() FROM (SELECT signal_id FROM {db}.{t} GROUP BY signal_id HAVING uniqExact({content}) > 1)"
        ));
        assert_eq!(two, 0, "{t}: a signal with two different rows");
    }
    // The second run recognised what the first had decided.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let decided_before = common::ch_num(&format!(
        "SELECT count() FROM {db}.executor_decisions FINAL WHERE decided_at < now() - 0"
    ));
    assert_eq!(decided_before, total);
    if partial > 0 {
        assert!(stdout.contains("already_processed"), "{stdout}");
    }
    let ids: std::collections::HashSet<_> = lines.iter().map(|s| s.signal_id).collect();
    assert_eq!(ids.len() as u64, total);
}

#[test]
fn db_init_check_import_and_history_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::ch_db("cli");
    let _drop = DropDb(db.clone());
    let cfg = engine_config(dir.path(), &db);
    for _ in 0..2 {
        let out = bin()
            .args(["db", "init", "--store", "clickhouse", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        common::ch_num(&format!("SELECT count() FROM {db}.schema_migrations")),
        actors::store::schema::MIGRATIONS.len() as u64,
        "applied once"
    );
    let out = bin()
        .args([
            "data",
            "import",
            "--symbol",
            "NIFTY",
            "--interval",
            "15minute",
            "--store",
            "clickhouse",
            "--csv",
        ])
        .arg(common::sample())
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        common::ch_num(&format!("SELECT count() FROM {db}.historical_data FINAL")),
        6250
    );
    let out = bin()
        .args(["db", "check", "--store", "clickhouse", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("connected: true") && text.contains("18.16") || text.contains("server:"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("historical_data") && l.trim_end().ends_with("6250")),
        "{text}"
    );

    // The engine starts with the last `periods` (1000) candles of NIFTY from ClickHouse.
    let out = bin()
        .args([
            "run",
            "--duration",
            "1",
            "--store",
            "clickhouse",
            "--config",
        ])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("loaded 1000 15minute candles of NIFTY"),
        "{err}"
    );

    // A dead server: check says so and exits non-zero.
    let out = bin()
        .args(["db", "check", "--store", "clickhouse", "--config"])
        .arg(&cfg)
        .env("CLICKHOUSE_URL", "http://127.0.0.1:1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("connected: false"));
}

#[test]
fn replay_refuses_to_start_while_clickhouse_is_down() {
    // The engine recovers from the server's rows plus the outbox; with the server down that
    // view is partial, and it does not trade on it (docs/reliability.md): exit 75, said why.
    let dir = tempfile::tempdir().unwrap();
    let cfg = engine_config(dir.path(), &common::ch_db("down"));
    let out = bin()
        .args(["replay", "--store", "clickhouse", "--data"])
        .arg(common::sample())
        .arg("--config")
        .arg(&cfg)
        .arg("--out")
        .arg(dir.path().join("o"))
        .env("CLICKHOUSE_URL", "http://127.0.0.1:1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{stderr}");
    assert!(
        stderr.contains("does not answer at start")
            && stderr.contains("never trades on a partial view")
            && stderr.contains("http://127.0.0.1:1"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("o/signals.jsonl").exists(),
        "nothing traded"
    );
    assert_eq!(
        common::count(&dir.path().join("alphastocks.db"), "outbox"),
        0
    );
    let _ = StorageBackend::Auto;
}
