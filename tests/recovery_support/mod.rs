//! What the recovery tests share: a ClickHouse server of their own, the engine as a child
//! process, and the oracle (the server's rows over HTTP, the outbox rows from the SQLite file)
//! with the checks every store the engine leaves must pass.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use messages::{PositionRecord, PositionStatus, Row};

use crate::common;

/// A ClickHouse server of the test's own, stopped when dropped.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub http: u16,
    pub tcp: u16,
}

impl Server {
    pub fn new(http: u16, tcp: u16) -> Server {
        let s = Server {
            dir: tempfile::tempdir().unwrap(),
            http,
            tcp,
        };
        s.ctl("start");
        s
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }

    pub fn ctl(&self, arg: &str) {
        let out = Command::new("bash")
            .arg(common::root().join("scripts/clickhouse.sh"))
            .arg(arg)
            .env("CLICKHOUSE_DIR", self.dir.path().join("ch"))
            .env("CLICKHOUSE_HTTP_PORT", self.http.to_string())
            .env("CLICKHOUSE_TCP_PORT", self.tcp.to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "clickhouse.sh {arg}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn sql(&self, q: &str) -> String {
        common::ch_sql_at(&self.url(), q)
    }

    pub fn num(&self, q: &str) -> u64 {
        common::ch_num_at(&self.url(), q)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(common::root().join("scripts/clickhouse.sh"))
            .arg("stop")
            .env("CLICKHOUSE_DIR", self.dir.path().join("ch"))
            .env("CLICKHOUSE_HTTP_PORT", self.http.to_string())
            .env("CLICKHOUSE_TCP_PORT", self.tcp.to_string())
            .output();
    }
}

/// One engine process; killed if the test fails while it runs.
pub struct Engine {
    pub child: Child,
    pub log: Option<std::thread::JoinHandle<String>>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Engine {
    /// `run --store clickhouse --mode paper` with `extra` arguments.
    pub fn start(cfg: &Path, extra: &[&str]) -> Engine {
        Engine::spawn(cfg, "clickhouse", extra, &[])
    }

    /// [`Engine::start`] with environment variables.
    pub fn start_env(cfg: &Path, extra: &[&str], env: &[(&str, &str)]) -> Engine {
        Engine::spawn(cfg, "clickhouse", extra, env)
    }

    /// `run --store STORE --mode paper` with `extra` arguments and environment variables.
    pub fn spawn(cfg: &Path, store: &str, extra: &[&str], env: &[(&str, &str)]) -> Engine {
        let mut child = Command::new(env!("CARGO_BIN_EXE_alphastocks"))
            .current_dir(common::root())
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .args(["run", "--store", store, "--mode", "paper"])
            .args(extra)
            .arg("--config")
            .arg(cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = child.stderr.take().unwrap();
        let log = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        Engine {
            child,
            log: Some(log),
        }
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL; returns the log.
    pub fn kill(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.log.take().unwrap().join().unwrap()
    }

    /// The exit status if the process ends within `limit` (else it keeps running).
    pub fn exited_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let t = Instant::now();
        while t.elapsed() < limit {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Waits (at most 60 s) for the exit; returns its status and the log.
    pub fn wait(mut self) -> (ExitStatus, String) {
        let t = Instant::now();
        let st = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(t.elapsed() < Duration::from_secs(60), "engine did not stop");
            std::thread::sleep(Duration::from_millis(50));
        };
        (st, self.log.take().unwrap().join().unwrap())
    }
}

pub fn config(dir: &Path, url: &str, db: &str) -> PathBuf {
    let mut v = common::default_json();
    v["storage"]["data_dir"] = dir.to_string_lossy().into_owned().into();
    v["storage"]["clickhouse"]["url"] = url.into();
    v["storage"]["clickhouse"]["database"] = db.into();
    v["storage"]["clickhouse"]["timeout_seconds"] = 2.into();
    v["strategies"]["ma_crossover"]["timeframe"] = "minute".into();
    v["feed"]["simulated"]["speed"] = 6000.0.into();
    let o = &mut v["options_trading"];
    o["entry_filters"]["min_signal_strength"] = 0.0.into();
    o["entry_filters"]["min_expected_move_pct"] = 0.0.into();
    o["risk_management"]["max_concurrent_positions"] = 3.into();
    o["risk_management"]["max_daily_loss_pct"] = 100.0.into();
    common::write_config(dir, &v)
}

pub fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The outbox rows, in order (the file is read while the engine may be writing: WAL).
pub fn outbox(db: &Path) -> Vec<Row> {
    if !db.exists() {
        return Vec::new();
    }
    let c = rusqlite::Connection::open(db).unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    let mut st = c
        .prepare("SELECT payload FROM outbox ORDER BY seq")
        .unwrap();
    let rows = st
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|p| serde_json::from_str(&p.unwrap()).unwrap())
        .collect();
    rows
}

pub fn outbox_len(db: &Path) -> u64 {
    if !db.exists() {
        return 0;
    }
    common::count(db, "outbox") as u64
}

/// Latest version per position id of `rows`.
pub fn latest(
    rows: impl IntoIterator<Item = PositionRecord>,
) -> BTreeMap<uuid::Uuid, PositionRecord> {
    let mut m: BTreeMap<uuid::Uuid, PositionRecord> = BTreeMap::new();
    for p in rows {
        if m.get(&p.position_id)
            .map_or(true, |h| h.version <= p.version)
        {
            m.insert(p.position_id, p);
        }
    }
    m
}

pub fn outbox_positions(rows: &[Row]) -> Vec<PositionRecord> {
    rows.iter()
        .filter_map(|r| match r {
            Row::Position(p) => Some((**p).clone()),
            _ => None,
        })
        .collect()
}

/// The server's positions (latest version each, FINAL) as records.
pub fn server_positions(s: &Server, db: &str) -> Vec<PositionRecord> {
    s.sql(&format!(
        "SELECT position_id, version, signal_id, toUInt8(status), toUnixTimestamp(entry_time), \
         toUnixTimestamp(exit_time), exit_premium, realized_pnl FROM {db}.positions FINAL FORMAT TSV"
    ))
    .lines()
    .map(|l| {
        let f: Vec<&str> = l.split('\t').collect();
        let t = |x: &str| chrono::DateTime::from_timestamp(x.parse().unwrap(), 0).unwrap();
        PositionRecord {
            position_id: f[0].parse().unwrap(),
            version: f[1].parse().unwrap(),
            signal_id: f[2].parse().unwrap(),
            status: if f[3] == "2" {
                PositionStatus::Closed
            } else {
                PositionStatus::Open
            },
            entry_time: t(f[4]),
            exit_time: (f[5] != "0").then(|| t(f[5])),
            exit_premium: f[6].parse().unwrap(),
            realized_pnl: f[7].parse().unwrap(),
            ..blank_position()
        }
    })
    .collect()
}

pub fn blank_position() -> PositionRecord {
    serde_json::from_value(serde_json::json!({
        "position_id": uuid::Uuid::nil(), "version": 0, "signal_id": uuid::Uuid::nil(),
        "symbol": "", "option_symbol": "", "strike": 0.0, "option_type": "CE",
        "expiry": "2024-01-25", "mode": "paper", "status": "OPEN", "lots": 0, "lot_size": 0,
        "quantity": 0, "remaining_quantity": 0, "entry_time": "2024-01-01T00:00:00Z",
        "entry_premium": 0.0, "stop_loss_premium": 0.0, "target_premium": 0.0,
        "current_premium": 0.0, "unrealized_pnl": 0.0, "exit_time": null, "exit_premium": 0.0,
        "exit_reason": "", "realized_pnl": 0.0, "updated_at": "2024-01-01T00:00:00Z"
    }))
    .unwrap()
}

/// Candles (symbol, timeframe, ts) → (open, high, low, close) rendered as text.
pub type Candles = HashMap<(String, String, i64), String>;

pub fn server_candles(s: &Server, db: &str) -> Candles {
    s.sql(&format!(
        "SELECT symbol, timeframe, toUnixTimestamp(timestamp), open, high, low, close FROM {db}.historical_data FINAL FORMAT TSV"
    ))
    .lines()
    .map(|l| {
        let f: Vec<&str> = l.split('\t').collect();
        (
            (f[0].to_string(), f[1].to_string(), f[2].parse().unwrap()),
            format!(
                "{} {} {} {}",
                f[3].parse::<f64>().unwrap(),
                f[4].parse::<f64>().unwrap(),
                f[5].parse::<f64>().unwrap(),
                f[6].parse::<f64>().unwrap()
            ),
        )
    })
    .collect()
}

pub fn outbox_candles(rows: &[Row]) -> Candles {
    rows.iter()
        .filter_map(|r| match r {
            Row::Candle(c) => Some((
                (c.symbol.to_string(), c.interval.as_str().to_string(), c.ts),
                format!("{} {} {} {}", c.open, c.high, c.low, c.close),
            )),
            _ => None,
        })
        .collect()
}

/// The most positions open at once, from entry and exit times (data time).
pub fn max_open_at_once(ps: &[PositionRecord]) -> usize {
    let mut events: Vec<(i64, i32)> = Vec::new();
    for p in ps {
        events.push((p.entry_time.timestamp(), 1));
        if let Some(x) = p.exit_time {
            events.push((x.timestamp(), -1));
        }
    }
    // Exits before entries at the same second (a slot freed and taken in one candle).
    events.sort();
    let (mut now, mut max) = (0i32, 0i32);
    for (_, d) in events {
        now += d;
        max = max.max(now);
    }
    max as usize
}

/// Stops background merges of the trading tables, so that the raw-row checks below see every
/// row ever inserted (a merge would collapse a second version of a key into one).
pub fn stop_merges(s: &Server, db: &str) {
    for t in [
        "trading_signals",
        "executor_decisions",
        "positions",
        "historical_data",
    ] {
        s.sql(&format!("SYSTEM STOP MERGES {db}.{t}"));
    }
}

/// Checks that hold for any store the engine leaves: nothing stored twice with other
/// contents (raw rows and FINAL), no signal decided twice, every stored signal decided.
/// Returns the number of rows compared.
pub fn assert_store_consistent(s: &Server, db: &str) -> u64 {
    let none = |what: &str, q: String| {
        let body = s.sql(&q);
        if !body.trim().is_empty() && what.starts_with("a signal id") {
            let id = body.split_whitespace().next().unwrap_or_default();
            let rows = s.sql(&format!(
                "SELECT *, _part FROM {db}.trading_signals WHERE signal_id = toUUID('{id}') FORMAT Vertical"
            ));
            panic!("{what}:\n{body}\n{rows}");
        }
        assert!(body.trim().is_empty(), "{what}:\n{body}");
    };
    none(
        "a signal id stored twice (FINAL)",
        format!("SELECT signal_id, count() FROM {db}.trading_signals FINAL GROUP BY signal_id HAVING count() > 1"),
    );
    none(
        "a signal id stored with different contents",
        format!("SELECT signal_id FROM {db}.trading_signals GROUP BY signal_id HAVING uniqExact(timestamp, symbol, strategy, action, price, confidence, target, stop_loss, expected_move_pct, candle_time, ema_fast, ema_slow, metadata, created_at) > 1"),
    );
    none(
        "a signal decided twice (two decisions with different contents)",
        format!("SELECT signal_id FROM {db}.executor_decisions GROUP BY signal_id HAVING uniqExact(decided_at, mode, outcome, reason, underlying_price, detail) > 1"),
    );
    none(
        "a signal with two positions",
        format!("SELECT signal_id FROM {db}.positions FINAL GROUP BY signal_id HAVING uniqExact(position_id) > 1"),
    );
    none(
        "a position version stored with different contents",
        format!("SELECT position_id, version FROM {db}.positions GROUP BY position_id, version HAVING uniqExact(status, current_premium, exit_premium, exit_reason, realized_pnl, remaining_quantity, updated_at) > 1"),
    );
    none(
        "a candle stored with different contents",
        format!("SELECT symbol, timeframe, timestamp FROM {db}.historical_data GROUP BY symbol, timeframe, timestamp HAVING uniqExact(open, high, low, close, volume) > 1"),
    );
    none(
        "a stored signal never decided",
        format!("SELECT signal_id FROM {db}.trading_signals FINAL WHERE signal_id NOT IN (SELECT signal_id FROM {db}.executor_decisions)"),
    );
    [
        "trading_signals",
        "executor_decisions",
        "positions",
        "historical_data",
    ]
    .iter()
    .map(|t| s.num(&format!("SELECT count() FROM {db}.{t}")))
    .sum()
}

// ------------------------------------------------------------------ rows for the store test

pub fn sig(i: i64) -> messages::Signal {
    use chrono::TimeZone;
    let ts = 1_704_166_200 + i * 900;
    messages::Signal {
        signal_id: messages::signal_id(
            "NIFTY",
            "ma_crossover",
            messages::Timeframe::Minute15,
            ts,
            messages::Action::Buy,
        ),
        timestamp: chrono::Utc.timestamp_opt(ts + 900, 0).unwrap(),
        symbol: "NIFTY".into(),
        strategy: "ma_crossover".into(),
        action: messages::Action::Buy,
        price: 24_000.05 + i as f64,
        stop_loss: 23_760.0,
        target: 24_480.1,
        confidence: 0.75,
        expected_move_pct: 2.0,
        metadata: messages::SignalMetadata {
            candle_time: chrono::Utc.timestamp_opt(ts, 0).unwrap(),
            ema_fast: 24_001.123456789012,
            ema_slow: 1534.9368338013753,
        },
    }
}

pub fn decided(s: &messages::Signal) -> Row {
    Row::Decision(Box::new(messages::ExecutorDecision {
        signal_id: s.signal_id,
        decided_at: s.timestamp,
        symbol: s.symbol.clone(),
        mode: messages::Mode::Paper,
        outcome: messages::Outcome::Opened,
        underlying_price: s.price,
        detail: String::new(),
        strategy: "ma_crossover".into(),
        signal_time: s.metadata.candle_time.timestamp(),
    }))
}

pub fn pos(id: u128, s: &messages::Signal, version: u64, status: PositionStatus) -> Row {
    let mut p = blank_position();
    p.position_id = uuid::Uuid::from_u128(id);
    p.signal_id = s.signal_id;
    p.version = version;
    p.status = status;
    p.symbol = "NIFTY".into();
    p.entry_time = s.timestamp;
    p.updated_at = s.timestamp;
    p.current_premium = 100.05 + version as f64;
    if status == PositionStatus::Closed {
        p.exit_time = Some(s.timestamp);
        p.exit_premium = 150.0;
        p.exit_reason = "TARGET_REACHED".into();
    }
    Row::Position(Box::new(p))
}

pub fn bar(i: i64, close: f64) -> Row {
    Row::Candle(messages::CandleRow {
        symbol: "NIFTY".into(),
        interval: messages::Timeframe::Minute15,
        ts: 1_704_080_700 + i * 900,
        open: 100.0,
        high: 200.0,
        low: 50.0,
        close,
        volume: 1_000.0,
    })
}
